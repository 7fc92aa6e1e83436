//! JSON Web Keys and key sets (RFC 7517, RFC 7518 section 6, RFC 8037), RFC 7638 thumbprints,
//! and signature verification with a parsed key.
//!
//! Keys are validated once, when parsed (RSA modulus size and exponent, EC point on the curve and
//! not the identity, Ed25519 point decodes and is not of small order), so a cached key never needs
//! checking again and [`Jwk::verify`] does no parsing.
//!
//! Supported keys: `RSA` (RS256/384/512, PS256/384/512), `EC` on `P-256` (ES256 only) and `P-384`
//! (ES384 only), `OKP` on `Ed25519` (EdDSA). Everything else, `oct` included, is refused: an HMAC
//! secret has no business in a set of verification keys.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::crypto::backend::{P256Key, P384Key, RsaKey};
use crate::crypto::roca;
use crate::error::{JwkError, JwsError};
use crate::jose::alg::Algorithm;
use crate::jose::jws::{b64_decode, b64_encode, Jws};

/// Smallest accepted RSA modulus, in bits (RFC 7518 section 3.3: "2048 bits or larger").
const RSA_MIN_BITS: usize = 2048;
/// Largest accepted RSA modulus, in bits: bounds the cost of one verification.
const RSA_MAX_BITS: usize = 8192;
/// Members that only a private (or symmetric) key carries (RFC 7518 sections 6.3.2, 6.2.2, 6.4;
/// RFC 8037 section 2). A JWKS that leaks one is refused key by key rather than half-trusted.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The parsed key material; validated at parse time.
#[derive(Debug, Clone)]
enum Key {
    /// RSA key with its Montgomery constants (src/crypto/rsa.rs), or for the `rsa` crate with
    /// the `rustcrypto` feature (src/crypto/rustcrypto.rs).
    Rsa(RsaKey),
    /// P-256 point with its precomputed table (src/crypto/p256.rs), or for the `p256` crate with
    /// the `rustcrypto` feature.
    P256(P256Key),
    /// P-384 point with its table (src/crypto/p384.rs), or for the `p384` crate with the
    /// `rustcrypto` feature.
    P384(P384Key),
    /// Ed25519 point.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl Key {
    /// Whether the key type and curve fit `alg` (RFC 7518 section 3.1, RFC 8037 section 3.1).
    fn fits(&self, alg: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, alg),
            (Key::Rsa(_), RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
                | (Key::P256(_), ES256)
                | (Key::P384(_), ES384)
                | (Key::Ed25519(_), EdDSA)
        )
    }
}

/// A parsed public verification key.
#[derive(Debug, Clone)]
pub struct Jwk {
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `alg`, if the JWK pins one: the key then verifies only that algorithm.
    pub alg: Option<Algorithm>,
    key: Key,
    /// The RFC 7638 thumbprint input, built from the member strings exactly as received (they are
    /// checked to be base64url, so they need no JSON escaping), so the thumbprint is the sender's.
    thumbprint_input: String,
}

impl Jwk {
    /// Parses one public JWK. Private members are refused ([`JwkError::PrivateKey`]), `use` other
    /// than `sig` and `key_ops` without `verify` are refused ([`JwkError::NotForVerification`]).
    ///
    /// Order of checks: object ([`JwkError::Json`]), `kty` (missing: `MissingMember("kty")`;
    /// `oct` or unknown: [`JwkError::UnsupportedKeyType`]), private members, `use`/`key_ops`,
    /// `alg`, then the key material. An `alg` member that is not an implemented algorithm for this
    /// key type (`HS256`, `RSA-OAEP`, `ES384` on a P-256 key, ...) is
    /// [`JwkError::UnsupportedKeyType`]: the key is not usable for any signature we accept.
    /// A member of the wrong JSON type is [`JwkError::Json`]. An RSA modulus with the ROCA
    /// fingerprint (CVE-2017-15361, src/crypto/roca.rs) is [`JwkError::RsaWeakKey`]: well-formed but
    /// factorable, so it proves nothing, whether it signs access tokens or DPoP proofs.
    pub fn from_value(value: &Value) -> Result<Jwk, JwkError> {
        let obj = value.as_object().ok_or(JwkError::Json)?;
        let kty = str_member(obj, "kty")?;
        if !matches!(kty, "RSA" | "EC" | "OKP") {
            return Err(JwkError::UnsupportedKeyType);
        }
        if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err(JwkError::PrivateKey);
        }
        check_intended_use(obj)?;
        let alg = match obj.get("alg") {
            None => None,
            Some(Value::String(name)) => Some(Algorithm::from_name(name).map_err(|_| JwkError::UnsupportedKeyType)?),
            Some(_) => return Err(JwkError::Json),
        };
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(JwkError::Json),
        };
        let (key, thumbprint_input) = match kty {
            "RSA" => parse_rsa(obj)?,
            "EC" => parse_ec(obj)?,
            _ => parse_okp(obj)?,
        };
        if let Some(a) = alg {
            if !key.fits(a) {
                return Err(JwkError::UnsupportedKeyType);
            }
        }
        Ok(Jwk { kid, alg, key, thumbprint_input })
    }

    /// Spends a little time once so that later verifications with this key are faster: builds
    /// the larger P-256 table (src/crypto/p256.rs: about three verifications' work, then each
    /// ES256 check costs about half). For keys that verify many signatures: every key of a JWK
    /// set ([`JwkSet::parse`] calls it) and a DPoP client's key kept across requests. Other key
    /// types have nothing to precompute.
    pub fn precompute(&mut self) {
        if let Key::P256(key) = &mut self.key {
            key.precompute();
        }
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url without padding.
    pub fn thumbprint(&self) -> String {
        b64_encode(&Sha256::digest(self.thumbprint_input.as_bytes()))
    }

    /// Whether this key may verify `alg`: key type and curve match, and `alg` (if pinned) agrees.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.key.fits(alg) && self.alg.map_or(true, |pinned| pinned == alg)
    }

    /// Verifies `signature` over `message` with `alg`. [`JwsError::KeyAlgMismatch`] when the key
    /// does not suit `alg`; [`JwsError::SignatureLength`] for a signature of the wrong size
    /// (RSA: not the modulus length; ECDSA: not the raw `r||s` of 64 or 96 bytes; EdDSA: not 64).
    /// Every other failure is [`JwsError::SignatureInvalid`].
    ///
    /// RS*/PS* run in src/crypto/rsa.rs and ES256 in src/crypto/p256.rs (the `rsa` and `p256` crates
    /// are 10-30× slower in wasm), or in those crates with the `rustcrypto` feature
    /// ([`crate::crypto::backend`]). PS*: the salt length must equal the hash length (RFC 7518
    /// section 3.5). ECDSA accepts both `s` and `n - s` (JWS does not require low-S).
    /// EdDSA uses `verify_strict` (rejects non-canonical `S` and small-order `R`).
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), JwsError> {
        if !self.supports(alg) {
            return Err(JwsError::KeyAlgMismatch);
        }
        match &self.key {
            Key::Rsa(key) => {
                // Length first (RFC 8017 8.2.2 step 1); `s < n` (RFC 8017 5.2.2) is checked by
                // the public operation, for PKCS#1 v1.5 and PSS alike: `s + n` never verifies.
                if signature.len() != key.size() {
                    return Err(JwsError::SignatureLength);
                }
                let ok = match alg {
                    Algorithm::RS256 => key.verify_pkcs1v15(&SHA256_PREFIX, &Sha256::digest(message), signature),
                    Algorithm::RS384 => key.verify_pkcs1v15(&SHA384_PREFIX, &Sha384::digest(message), signature),
                    Algorithm::RS512 => key.verify_pkcs1v15(&SHA512_PREFIX, &Sha512::digest(message), signature),
                    Algorithm::PS256 => key.verify_pss::<Sha256>(&Sha256::digest(message), signature),
                    Algorithm::PS384 => key.verify_pss::<Sha384>(&Sha384::digest(message), signature),
                    Algorithm::PS512 => key.verify_pss::<Sha512>(&Sha512::digest(message), signature),
                    _ => return Err(JwsError::KeyAlgMismatch),
                };
                if ok {
                    Ok(())
                } else {
                    Err(JwsError::SignatureInvalid)
                }
            }
            Key::P256(key) => {
                let sig: &[u8; 64] =
                    ecdsa_signature(signature, 32)?.try_into().map_err(|_| JwsError::SignatureLength)?;
                if key.verify(&Sha256::digest(message).into(), sig) {
                    Ok(())
                } else {
                    Err(JwsError::SignatureInvalid)
                }
            }
            Key::P384(key) => {
                let sig: &[u8; 96] =
                    ecdsa_signature(signature, 48)?.try_into().map_err(|_| JwsError::SignatureLength)?;
                if key.verify(&Sha384::digest(message).into(), sig) {
                    Ok(())
                } else {
                    Err(JwsError::SignatureInvalid)
                }
            }
            Key::Ed25519(vk) => {
                let bytes: &[u8; 64] = signature.try_into().map_err(|_| JwsError::SignatureLength)?;
                let sig = ed25519_dalek::Signature::from_bytes(bytes);
                vk.verify_strict(message, &sig).map_err(|_| JwsError::SignatureInvalid)
            }
        }
    }
}

/// DER `DigestInfo` prefixes for EMSA-PKCS1-v1_5 (RFC 8017 9.2, note 1): SHA-256, -384, -512 with
/// the explicit NULL parameter. The form without NULL is refused, as the `rsa` crate does.
const SHA256_PREFIX: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];
const SHA384_PREFIX: [u8; 19] =
    [0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30];
const SHA512_PREFIX: [u8; 19] =
    [0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40];

/// Checks a raw ECDSA `r||s` signature of `2 * half` bytes. A zero `r` or `s` is refused here
/// explicitly (never a valid signature; the classic "psychic signatures" bug) before the crate
/// refuses it again.
fn ecdsa_signature(sig: &[u8], half: usize) -> Result<&[u8], JwsError> {
    if sig.len() != 2 * half {
        return Err(JwsError::SignatureLength);
    }
    let (r, s) = sig.split_at(half);
    if r.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0) {
        return Err(JwsError::SignatureInvalid);
    }
    Ok(sig)
}

/// A required string member: missing is `MissingMember`, another JSON type is `Json`.
fn str_member<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JwkError> {
    match obj.get(name) {
        None => Err(JwkError::MissingMember(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(JwkError::Json),
    }
}

/// A required base64url member, returned with its decoded bytes.
fn b64_member<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<(&'a str, Vec<u8>), JwkError> {
    let s = str_member(obj, name)?;
    let bytes = b64_decode(s).map_err(|_| JwkError::BadMember(name))?;
    Ok((s, bytes))
}

/// `use` (RFC 7517 4.2) and `key_ops` (4.3): a key published for encryption only is not trusted
/// for signatures.
fn check_intended_use(obj: &Map<String, Value>) -> Result<(), JwkError> {
    match obj.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(_)) => return Err(JwkError::NotForVerification),
        Some(_) => return Err(JwkError::Json),
    }
    match obj.get("key_ops") {
        None => Ok(()),
        Some(Value::Array(ops)) => {
            let mut verify = false;
            for op in ops {
                match op {
                    Value::String(s) => verify |= s == "verify",
                    _ => return Err(JwkError::Json),
                }
            }
            if verify {
                Ok(())
            } else {
                Err(JwkError::NotForVerification)
            }
        }
        Some(_) => Err(JwkError::Json),
    }
}

/// Strips leading zero octets (RFC 7518 6.3.1.1 forbids them, but some libraries emit one).
fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or(&[])
}

fn parse_rsa(obj: &Map<String, Value>) -> Result<(Key, String), JwkError> {
    let (n_str, n_raw) = b64_member(obj, "n")?;
    let (e_str, e_raw) = b64_member(obj, "e")?;
    let n = strip_zeros(&n_raw);
    let bits = match n.first() {
        None => 0,
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    };
    if bits < RSA_MIN_BITS {
        return Err(JwkError::RsaModulusTooSmall);
    }
    // An even modulus is not a product of two odd primes: not an RSA key.
    if bits > RSA_MAX_BITS || n.last().map_or(true, |&b| b & 1 == 0) {
        return Err(JwkError::RsaBadKey);
    }
    let e = strip_zeros(&e_raw);
    if e.len() > 4 {
        return Err(JwkError::RsaBadKey);
    }
    let e = e.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    if e < 3 || e & 1 == 0 {
        return Err(JwkError::RsaBadKey);
    }
    // A well-formed key that anyone with the CPU time can factor (src/crypto/roca.rs).
    if roca::has_fingerprint(n) {
        return Err(JwkError::RsaWeakKey);
    }
    let key = RsaKey::new(n, e).ok_or(JwkError::RsaBadKey)?;
    let input = format!("{{\"e\":\"{e_str}\",\"kty\":\"RSA\",\"n\":\"{n_str}\"}}");
    Ok((Key::Rsa(key), input))
}

fn parse_ec(obj: &Map<String, Value>) -> Result<(Key, String), JwkError> {
    let crv = str_member(obj, "crv")?;
    let len = match crv {
        "P-256" => 32,
        "P-384" => 48,
        _ => return Err(JwkError::UnsupportedKeyType),
    };
    let (x_str, x) = b64_member(obj, "x")?;
    let (y_str, y) = b64_member(obj, "y")?;
    // RFC 7518 6.2.1.2/6.2.1.3: exactly the full coordinate length, leading zeros included.
    if x.len() != len {
        return Err(JwkError::BadMember("x"));
    }
    if y.len() != len {
        return Err(JwkError::BadMember("y"));
    }
    // Both check that the point is on the curve (coordinates below p); an affine point can't be
    // the identity. P-256 also builds the key's precomputed table here, once.
    let key = match (<&[u8; 32]>::try_from(x.as_slice()), <&[u8; 32]>::try_from(y.as_slice())) {
        (Ok(x), Ok(y)) => Key::P256(P256Key::new(x, y).ok_or(JwkError::BadPoint)?),
        _ => match (<&[u8; 48]>::try_from(x.as_slice()), <&[u8; 48]>::try_from(y.as_slice())) {
            (Ok(x), Ok(y)) => Key::P384(P384Key::new(x, y).ok_or(JwkError::BadPoint)?),
            _ => return Err(JwkError::BadPoint),
        },
    };
    let input = format!("{{\"crv\":\"{crv}\",\"kty\":\"EC\",\"x\":\"{x_str}\",\"y\":\"{y_str}\"}}");
    Ok((key, input))
}

fn parse_okp(obj: &Map<String, Value>) -> Result<(Key, String), JwkError> {
    if str_member(obj, "crv")? != "Ed25519" {
        return Err(JwkError::UnsupportedKeyType);
    }
    let (x_str, x) = b64_member(obj, "x")?;
    let x: &[u8; 32] = x.as_slice().try_into().map_err(|_| JwkError::BadMember("x"))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(x).map_err(|_| JwkError::BadPoint)?;
    // A small-order key verifies nothing under `verify_strict`; say so at parse time.
    if key.is_weak() {
        return Err(JwkError::BadPoint);
    }
    let input = format!("{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{x_str}\"}}");
    Ok((Key::Ed25519(key), input))
}

/// A JWK set: the keys of one issuer.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    /// The usable keys, in document order. Keys of unknown type or unusable for verification are
    /// skipped at parse time instead of failing the whole set.
    pub keys: Vec<Jwk>,
    /// Positions in the document's `keys` array of the RSA keys skipped because they have the
    /// ROCA fingerprint ([`JwkError::RsaWeakKey`]). Unlike a key of a type we do not implement,
    /// such a key is one the issuer meant to use, and a broken one: the filter logs and counts
    /// them, and a static `jwks` in the configuration that holds one is refused.
    pub weak_keys: Vec<usize>,
}

impl JwkSet {
    /// Largest accepted JWKS document. Real sets are a few KiB (a 4096-bit RSA JWK is under 1 KiB);
    /// the bound caps parsing cost and memory for a hostile or broken `jwks_uri`.
    pub const MAX_BYTES: usize = 256 * 1024;
    /// Most entries in `keys` (usable or not). Without a `kid`, a token is tried against every key
    /// that supports its `alg`, so this also bounds the verifications one token can cost. The
    /// whole set is refused rather than truncated, so a dropped key can't fail later as a confusing
    /// `KeyNotFound`.
    pub const MAX_KEYS: usize = 100;

    /// Parses `{"keys": [...]}`, skipping keys that do not parse.
    ///
    /// [`JwkError::SetTooLarge`] over [`Self::MAX_BYTES`] or [`Self::MAX_KEYS`];
    /// [`JwkError::Json`] if the document is not an object with a `keys` array. A set whose keys
    /// are all unusable parses to an empty set (every token then fails with `KeyNotFound`);
    /// keys skipped for the ROCA fingerprint are listed in [`JwkSet::weak_keys`].
    pub fn parse(json: &[u8]) -> Result<JwkSet, JwkError> {
        if json.len() > Self::MAX_BYTES {
            return Err(JwkError::SetTooLarge);
        }
        let doc: Value = serde_json::from_slice(json).map_err(|_| JwkError::Json)?;
        let entries = match doc.get("keys") {
            Some(Value::Array(entries)) => entries,
            _ => return Err(JwkError::Json),
        };
        if entries.len() > Self::MAX_KEYS {
            return Err(JwkError::SetTooLarge);
        }
        let mut keys = Vec::with_capacity(entries.len());
        let mut weak_keys = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match Jwk::from_value(entry) {
                Ok(mut key) => {
                    key.precompute();
                    keys.push(key);
                }
                Err(JwkError::RsaWeakKey) => weak_keys.push(index),
                Err(_) => {}
            }
        }
        Ok(JwkSet { keys, weak_keys })
    }

    /// Verifies `jws` with the set: by `kid` when the header has one, else with each key that
    /// supports the `alg`. Returns the key that verified.
    ///
    /// Candidates are the keys that [`Jwk::supports`] the header `alg` (and, with a header `kid`,
    /// carry that exact `kid`). No candidate: [`JwsError::KeyNotFound`]. Candidates but none
    /// verifies: their common error if they all failed alike (e.g. `SignatureLength`), else
    /// [`JwsError::SignatureInvalid`].
    pub fn verify(&self, jws: &Jws<'_>) -> Result<&Jwk, JwsError> {
        let alg = jws.header.alg;
        let kid = jws.header.kid.as_deref();
        let mut failure: Option<JwsError> = None;
        for key in &self.keys {
            if !key.supports(alg) || (kid.is_some() && key.kid.as_deref() != kid) {
                continue;
            }
            match jws.verify(key) {
                Ok(()) => return Ok(key),
                Err(e) => {
                    failure = Some(match failure {
                        Some(prev) if prev != e => JwsError::SignatureInvalid,
                        _ => e,
                    })
                }
            }
        }
        Err(failure.unwrap_or(JwsError::KeyNotFound))
    }
}
