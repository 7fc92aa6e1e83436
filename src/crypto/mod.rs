//! The filter's own signature verifiers, for the algorithms where RustCrypto is too slow in wasm32
//! (no 64×64-bit multiply): ES256 on P-256 and RSA PKCS#1 v1.5 / PSS. Both are held to RustCrypto
//! by `tests/differential.rs` and `fuzz/verify_differential`. ES384 (`p384`) and EdDSA
//! (`ed25519-dalek`) are used from their crates, in [`crate::jose::jwk`]. `roca` tells RSA moduli
//! that can be factored (CVE-2017-15361) from the others.

pub mod p256;
mod p256_table;
pub(crate) mod roca;
pub mod rsa;
