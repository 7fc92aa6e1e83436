//! DPoP (RFC 9449) as a resource server checks it: the proof itself ([`verify_proof`] and its
//! binding to the token), the `htu` comparison ([`htu`]), server nonces ([`nonce`]) and the layout
//! of the shared `jti` replay store ([`replay`]).

pub mod htu;
pub mod nonce;
mod proof;
pub mod replay;

pub use proof::*;
