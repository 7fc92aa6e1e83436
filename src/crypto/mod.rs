//! The filter's own signature verifiers, for the algorithms where RustCrypto is too slow in wasm32
//! (no 64×64-bit multiply): ES256 on P-256, ES384 on P-384 and RSA PKCS#1 v1.5 / PSS. All three
//! are held to RustCrypto by `tests/differential.rs`; P-256 and RSA by `fuzz/verify_differential`
//! too. EdDSA (`ed25519-dalek`) is used from its crate, in [`crate::jose::jwk`]. `roca` tells RSA
//! moduli that can be factored (CVE-2017-15361) from the others.
//!
//! [`backend`] is the one seam between the JOSE layer and the verifiers: the hand-written ones by
//! default, RustCrypto's `rsa`, `p256` and `p384` with the `rustcrypto` feature (the kill switch,
//! src/crypto/rustcrypto.rs). The hand-written modules stay built either way: the tests, fuzz
//! targets and benchmarks reach them by path.

pub mod p256;
mod p256_table;
pub mod p384;
mod p384_table;
pub(crate) mod roca;
pub mod rsa;
mod weierstrass;
#[cfg(feature = "rustcrypto")]
pub mod rustcrypto;

/// The low `out.len()` bytes, big-endian, of a number in limbs of `bits` bits (least significant
/// first): the one conversion out of limbs that RSA and both curves share.
fn limbs_to_be(limbs: &[u32], bits: u32, out: &mut [u8]) {
    let (mut acc, mut nbits) = (0u64, 0u32);
    let mut limbs = limbs.iter();
    for o in out.iter_mut().rev() {
        if nbits < 8 {
            acc |= u64::from(limbs.next().copied().unwrap_or(0)) << nbits;
            nbits += bits;
        }
        *o = acc as u8;
        acc >>= 8;
        nbits -= 8;
    }
}

/// The verifiers [`crate::jose::jwk`] uses: `RsaKey` for RS*/PS*, `P256Key` for ES256, with the
/// same methods in both backends.
pub mod backend {
    #[cfg(feature = "rustcrypto")]
    pub use super::rustcrypto::{P256Key, P384Key, RsaKey};
    #[cfg(not(feature = "rustcrypto"))]
    pub use super::{p256::P256Key, p384::P384Key, rsa::RsaKey};

    /// Which backend this build verifies with: `"hand-written"` or `"rustcrypto"`, so that a
    /// build can say which it is (tests/differential.rs checks it against the features).
    pub const NAME: &str = if cfg!(feature = "rustcrypto") { "rustcrypto" } else { "hand-written" };
}
