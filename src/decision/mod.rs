//! The request-phase decision: credentials from the request, the access token's checks
//! ([`token`]), the certificate binding ([`cert`]), DPoP, and the refusal a client is sent
//! ([`challenge`]).

mod authz;
pub mod cert;
pub mod challenge;
pub mod introspection;
pub mod token;

pub use authz::*;
