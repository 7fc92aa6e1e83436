//! JOSE: the algorithms this filter verifies, compact JWS parsing, and JSON Web Keys (RFC 7515,
//! 7517, 7518, 7638, 8037). Nothing here knows about tokens, proofs or requests.

pub mod alg;
pub mod jwk;
pub mod jws;
