//! The `rustcrypto` backend: RS*/PS* with RustCrypto's `rsa` and ES256 with its `p256`, behind the
//! same types and methods as the hand-written verifiers (src/crypto/rsa.rs, src/crypto/p256.rs), so
//! [`crate::jose::jwk`] does not know which one runs ([`super::backend`] picks one at build time).
//!
//! Why it exists: it is the kill switch. Should the hand-written code ever be in doubt, building
//! with `--features rustcrypto` swaps in the widely reviewed crates (slower in wasm32: no native
//! 64×64-bit multiply) without touching anything else; `make test` runs the whole native suite
//! under both backends, so the switch is known to work before it is needed.
//!
//! The checks `Jwk::verify` relies on are made here exactly as the hand-written code makes them:
//! a signature must be the modulus length and below `n` (RFC 8017 5.2.2; the `rsa` crate's PSS
//! path does not check `s < n` itself), PSS salts are exactly the hash length (RFC 7518 3.5), and
//! ECDSA accepts high `s` (JWS does not require low-S; neither does `p256`).

use alloc::vec::Vec;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::{BigUint, Pkcs1v15Sign, Pss};
use sha2::digest::{Digest, DynDigest};

/// Largest modulus the `rsa` crate is allowed to take (its own default stops at 4096 bits); the
/// JWK parser's bound (8192 bits) is the one that applies.
const MAX_BITS: usize = 8192;

/// A validated RSA public key for the `rsa` crate.
#[derive(Debug, Clone)]
pub struct RsaKey {
    key: rsa::RsaPublicKey,
    /// The modulus, big-endian, no leading zero octet: `s < n` is a comparison of equal-length
    /// byte strings.
    n: Vec<u8>,
}

impl RsaKey {
    /// As `crypto::rsa::RsaKey::new`: `None` for an empty, even or too small modulus, a leading
    /// zero octet, or an even exponent below 3; the `rsa` crate's own checks on top.
    pub fn new(n_be: &[u8], e: u32) -> Option<RsaKey> {
        let top = *n_be.first()?;
        if top == 0 || (n_be.len() == 1 && top < 3) || n_be.last().is_some_and(|b| b & 1 == 0) {
            return None;
        }
        if e < 3 || e & 1 == 0 {
            return None;
        }
        let key =
            rsa::RsaPublicKey::new_with_max_size(BigUint::from_bytes_be(n_be), BigUint::from(e), MAX_BITS).ok()?;
        Some(RsaKey { key, n: n_be.to_vec() })
    }

    /// Modulus length in bytes: the only valid signature length.
    pub fn size(&self) -> usize {
        self.n.len()
    }

    /// The modulus length and `s < n` (RFC 8017 5.2.2 step 1, 8.2.2 step 1).
    fn in_range(&self, sig: &[u8]) -> bool {
        sig.len() == self.n.len() && sig < self.n.as_slice()
    }

    /// RSASSA-PKCS1-v1_5 verification of a precomputed digest with DigestInfo `prefix`.
    pub fn verify_pkcs1v15(&self, prefix: &[u8], hash: &[u8], sig: &[u8]) -> bool {
        let scheme = Pkcs1v15Sign { hash_len: Some(hash.len()), prefix: prefix.into() };
        self.in_range(sig) && self.key.verify(scheme, hash, sig).is_ok()
    }

    /// RSASSA-PSS verification with MGF1 over `D` and a salt exactly as long as the hash.
    pub fn verify_pss<D: Digest + DynDigest + Send + Sync + 'static>(&self, m_hash: &[u8], sig: &[u8]) -> bool {
        self.in_range(sig) && self.key.verify(Pss::new::<D>(), m_hash, sig).is_ok()
    }
}

/// A validated P-256 public key for the `p256` crate.
#[derive(Debug, Clone)]
pub struct P256Key {
    key: p256::ecdsa::VerifyingKey,
}

impl P256Key {
    /// The affine point (big-endian coordinates) must be on the curve with both coordinates
    /// below p, as SEC 1 2.3.4 and `p256` require.
    pub fn new(x: &[u8; 32], y: &[u8; 32]) -> Option<P256Key> {
        let point = p256::EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
        let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point).ok()?;
        Some(P256Key { key })
    }

    /// Nothing to precompute: `p256` keeps no per-key table.
    pub fn precompute(&mut self) {}

    /// Whether a per-key table is built: never, in this backend.
    pub fn is_precomputed(&self) -> bool {
        false
    }

    /// ECDSA verification of the SHA-256 `digest` with a raw `r || s` signature; `r` and `s`
    /// must be in `[1, n-1]` (`Signature::from_slice`).
    pub fn verify(&self, digest: &[u8; 32], sig: &[u8; 64]) -> bool {
        p256::ecdsa::Signature::from_slice(sig).is_ok_and(|sig| self.key.verify_prehash(digest, &sig).is_ok())
    }
}

/// A validated P-384 public key for the `p384` crate.
#[derive(Debug, Clone)]
pub struct P384Key {
    key: p384::ecdsa::VerifyingKey,
}

impl P384Key {
    /// As `crypto::p384::P384Key::new`: on the curve, both coordinates below p (SEC 1 2.3.4).
    pub fn new(x: &[u8; 48], y: &[u8; 48]) -> Option<P384Key> {
        let point = p384::EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
        let key = p384::ecdsa::VerifyingKey::from_encoded_point(&point).ok()?;
        Some(P384Key { key })
    }

    /// ECDSA verification of the SHA-384 `digest` with a raw `r || s` signature; `r` and `s`
    /// must be in `[1, n-1]` (`Signature::from_slice`).
    pub fn verify(&self, digest: &[u8; 48], sig: &[u8; 96]) -> bool {
        p384::ecdsa::Signature::from_slice(sig).is_ok_and(|sig| self.key.verify_prehash(digest, &sig).is_ok())
    }
}
