//! The request-phase decision: credentials from the request, the access token's checks
//! ([`token`]), DPoP, and the refusal a client is sent ([`challenge`]).

mod authz;
pub mod challenge;
pub mod token;

pub use authz::*;
