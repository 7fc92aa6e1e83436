//! Proof keys as JWK files: made on first use (mode 0600), read back in any form a JWK library
//! writes, the blog's jwcrypto `private.json` (an RSA JWK with `n, e, d, p, q, dp, dq, qi`)
//! included.
//!
//! The public half and its RFC 7638 thumbprint go through the filter's own JWK parser
//! ([`dpop_gate::jose::jwk::Jwk`]), so a key this tool accepts is a key the filter accepts, and the
//! thumbprint printed is the one the filter compares with a token's `cnf.jkt`.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jwk::Jwk;
use dpop_gate::jose::jws::{b64_decode, b64_encode};
use rand_core::{OsRng, RngCore};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::BigUint;
use serde_json::{Map, Value};

/// RSA keys this tool makes. The filter refuses moduli below 2048 bits.
const RSA_BITS: usize = 2048;

/// Why a key cannot be read, made or used.
#[derive(Debug)]
pub enum KeyError {
    /// The file cannot be read (missing parent, a directory, no permission, ...).
    Read(PathBuf, io::Error),
    /// The file cannot be created or written.
    Write(PathBuf, io::Error),
    /// The file is not a JSON object.
    Json(PathBuf, String),
    /// `kty`/`crv` is not one this tool signs with.
    Unsupported(String),
    /// A required member is missing or malformed.
    Member(&'static str),
    /// The JWK has only public members: a proof needs the private key.
    PublicOnly,
    /// The private parts do not form a valid key (RSA components inconsistent, scalar out of range).
    Invalid(String),
    /// The public key is one the filter refuses (e.g. RSA under 2048 bits).
    Refused(dpop_gate::error::JwkError),
    /// `--alg` does not fit the key.
    AlgMismatch(Algorithm, &'static str),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Read(p, e) => write!(f, "cannot read key file {}: {e}", p.display()),
            KeyError::Write(p, e) => write!(f, "cannot create key file {}: {e}", p.display()),
            KeyError::Json(p, e) => write!(f, "key file {} is not a JWK (a JSON object): {e}", p.display()),
            KeyError::Unsupported(what) => {
                write!(f, "unsupported key type {what}: use EC P-256/P-384, OKP Ed25519 or RSA")
            }
            KeyError::Member(m) => write!(f, "JWK member {m} is missing or malformed"),
            KeyError::PublicOnly => f.write_str("the JWK has no private key (member d): a proof must be signed"),
            KeyError::Invalid(e) => write!(f, "the JWK is not a valid private key: {e}"),
            KeyError::Refused(e) => write!(f, "the filter would refuse this key: {e}"),
            KeyError::AlgMismatch(alg, kind) => write!(f, "--alg {} cannot sign with a {kind} key", alg.name()),
        }
    }
}

impl std::error::Error for KeyError {}

/// The private key material.
enum Secret {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A private signing key and the algorithm it signs with unless told otherwise.
pub struct SigningKey {
    secret: Secret,
    /// The JWK's `alg` if it had one (this tool writes it), else the key type's usual algorithm.
    pub alg: Algorithm,
}

impl SigningKey {
    /// A fresh key for `alg`: P-256, P-384, Ed25519, or RSA 2048 for RS*/PS*.
    pub fn generate(alg: Algorithm) -> Result<SigningKey, KeyError> {
        use Algorithm::*;
        let secret = match alg {
            ES256 => Secret::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            ES384 => Secret::P384(p384::ecdsa::SigningKey::random(&mut OsRng)),
            EdDSA => {
                let mut seed = [0u8; 32];
                OsRng.fill_bytes(&mut seed);
                Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Secret::Rsa(Box::new(
                rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).map_err(|e| KeyError::Invalid(e.to_string()))?,
            )),
        };
        Ok(SigningKey { secret, alg })
    }

    /// Reads a private JWK. Members this tool does not use (`kid`, `use`, `key_ops`, `dp`, ...)
    /// are ignored; RSA without `p`/`q` recovers them from `n, e, d`.
    pub fn from_jwk(jwk: &Value) -> Result<SigningKey, KeyError> {
        let obj = jwk.as_object().ok_or(KeyError::Member("kty"))?;
        let kty = str_member(obj, "kty")?;
        let crv = obj.get("crv").and_then(Value::as_str).unwrap_or("");
        if !obj.contains_key("d") && matches!(kty, "EC" | "OKP" | "RSA") {
            return Err(KeyError::PublicOnly);
        }
        let secret = match (kty, crv) {
            ("EC", "P-256") => Secret::P256(
                p256::ecdsa::SigningKey::from_slice(&fixed(obj, "d", 32)?)
                    .map_err(|e| KeyError::Invalid(e.to_string()))?,
            ),
            ("EC", "P-384") => Secret::P384(
                p384::ecdsa::SigningKey::from_slice(&fixed(obj, "d", 48)?)
                    .map_err(|e| KeyError::Invalid(e.to_string()))?,
            ),
            ("OKP", "Ed25519") => {
                let d: [u8; 32] = fixed(obj, "d", 32)?.try_into().map_err(|_| KeyError::Member("d"))?;
                Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&d))
            }
            ("RSA", _) => {
                let int = |name| bytes(obj, name).map(|b| BigUint::from_bytes_be(&b));
                let primes = match (obj.contains_key("p"), obj.contains_key("q")) {
                    (true, true) => vec![int("p")?, int("q")?],
                    _ => Vec::new(),
                };
                let key = rsa::RsaPrivateKey::from_components(int("n")?, int("e")?, int("d")?, primes)
                    .map_err(|e| KeyError::Invalid(e.to_string()))?;
                Secret::Rsa(Box::new(key))
            }
            (kty, "") => return Err(KeyError::Unsupported(kty.to_string())),
            (kty, crv) => return Err(KeyError::Unsupported(format!("{kty} {crv}"))),
        };
        let default = match &secret {
            Secret::P256(_) => Algorithm::ES256,
            Secret::P384(_) => Algorithm::ES384,
            Secret::Ed25519(_) => Algorithm::EdDSA,
            // jwcrypto's default for RSA, and what the blog's main.py signs with.
            Secret::Rsa(_) => Algorithm::RS256,
        };
        let alg = match obj.get("alg").and_then(Value::as_str) {
            Some(name) => Algorithm::from_name(name).map_err(|_| KeyError::Member("alg"))?,
            None => default,
        };
        let key = SigningKey { secret, alg };
        key.check_alg(alg)?;
        key.verifier()?;
        Ok(key)
    }

    /// The key type, as a person names it.
    pub fn kind(&self) -> &'static str {
        match self.secret {
            Secret::P256(_) => "EC P-256",
            Secret::P384(_) => "EC P-384",
            Secret::Ed25519(_) => "OKP Ed25519",
            Secret::Rsa(_) => "RSA",
        }
    }

    /// Whether this key signs `alg`; the error names both.
    pub fn check_alg(&self, alg: Algorithm) -> Result<(), KeyError> {
        use Algorithm::*;
        let fits = matches!(
            (&self.secret, alg),
            (Secret::P256(_), ES256)
                | (Secret::P384(_), ES384)
                | (Secret::Ed25519(_), EdDSA)
                | (Secret::Rsa(_), RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
        );
        if fits {
            Ok(())
        } else {
            Err(KeyError::AlgMismatch(alg, self.kind()))
        }
    }

    /// The public JWK, exactly the members a DPoP header `jwk` carries (never a private one).
    pub fn public_jwk(&self) -> Value {
        Value::Object(self.public_members())
    }

    fn public_members(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: &str| {
            m.insert(k.into(), Value::from(v));
        };
        match &self.secret {
            Secret::P256(k) => {
                let p = p256::EncodedPoint::from(k.verifying_key());
                put("kty", "EC");
                put("crv", "P-256");
                put("x", &b64_encode(p.x().map(|x| &x[..]).unwrap_or_default()));
                put("y", &b64_encode(p.y().map(|y| &y[..]).unwrap_or_default()));
            }
            Secret::P384(k) => {
                let p = p384::EncodedPoint::from(k.verifying_key());
                put("kty", "EC");
                put("crv", "P-384");
                put("x", &b64_encode(p.x().map(|x| &x[..]).unwrap_or_default()));
                put("y", &b64_encode(p.y().map(|y| &y[..]).unwrap_or_default()));
            }
            Secret::Ed25519(k) => {
                put("kty", "OKP");
                put("crv", "Ed25519");
                put("x", &b64_encode(k.verifying_key().as_bytes()));
            }
            Secret::Rsa(k) => {
                put("kty", "RSA");
                put("n", &b64_encode(&k.n().to_bytes_be()));
                put("e", &b64_encode(&k.e().to_bytes_be()));
            }
        }
        m
    }

    /// The private JWK as this tool writes it: every member jwcrypto writes, and `alg`.
    pub fn private_jwk(&self) -> Value {
        let mut obj = self.public_members();
        match &self.secret {
            Secret::P256(k) => {
                obj.insert("d".into(), b64_encode(&k.to_bytes()).into());
            }
            Secret::P384(k) => {
                obj.insert("d".into(), b64_encode(&k.to_bytes()).into());
            }
            Secret::Ed25519(k) => {
                obj.insert("d".into(), b64_encode(&k.to_bytes()).into());
            }
            Secret::Rsa(k) => {
                let b = |n: &BigUint| Value::from(b64_encode(&n.to_bytes_be()));
                obj.insert("d".into(), b(k.d()));
                if let [p, q] = k.primes() {
                    obj.insert("p".into(), b(p));
                    obj.insert("q".into(), b(q));
                }
                if let (Some(dp), Some(dq), Some(qi)) = (k.dp(), k.dq(), k.crt_coefficient()) {
                    obj.insert("dp".into(), b(dp));
                    obj.insert("dq".into(), b(dq));
                    obj.insert("qi".into(), b(&qi));
                }
            }
        }
        obj.insert("alg".into(), self.alg.name().into());
        Value::Object(obj)
    }

    /// The public key as the filter parses it: refuses what the filter would refuse.
    pub fn verifier(&self) -> Result<Jwk, KeyError> {
        Jwk::from_value(&self.public_jwk()).map_err(KeyError::Refused)
    }

    /// RFC 7638 thumbprint of the public key: a DPoP-bound token's `cnf.jkt`.
    pub fn thumbprint(&self) -> Result<String, KeyError> {
        self.verifier().map(|k| k.thumbprint())
    }

    /// A JWS signature over `message` with `alg`, in JWS form (ECDSA as raw `r || s`).
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
        use sha2::{Sha256, Sha384, Sha512};
        self.check_alg(alg)?;
        Ok(match &self.secret {
            Secret::P256(k) => Signer::<p256::ecdsa::Signature>::sign(k, message).to_bytes().to_vec(),
            Secret::P384(k) => Signer::<p384::ecdsa::Signature>::sign(k, message).to_bytes().to_vec(),
            Secret::Ed25519(k) => Signer::<ed25519_dalek::Signature>::sign(k, message).to_bytes().to_vec(),
            Secret::Rsa(k) => {
                let k = (**k).clone();
                let rng = &mut OsRng;
                match alg {
                    Algorithm::RS256 => {
                        rsa::pkcs1v15::SigningKey::<Sha256>::new(k).sign_with_rng(rng, message).to_vec()
                    }
                    Algorithm::RS384 => {
                        rsa::pkcs1v15::SigningKey::<Sha384>::new(k).sign_with_rng(rng, message).to_vec()
                    }
                    Algorithm::RS512 => {
                        rsa::pkcs1v15::SigningKey::<Sha512>::new(k).sign_with_rng(rng, message).to_vec()
                    }
                    // Salt as long as the hash, which RFC 7518 3.5 (and the filter) require.
                    Algorithm::PS256 => {
                        rsa::pss::BlindedSigningKey::<Sha256>::new(k).sign_with_rng(rng, message).to_vec()
                    }
                    Algorithm::PS384 => {
                        rsa::pss::BlindedSigningKey::<Sha384>::new(k).sign_with_rng(rng, message).to_vec()
                    }
                    Algorithm::PS512 => {
                        rsa::pss::BlindedSigningKey::<Sha512>::new(k).sign_with_rng(rng, message).to_vec()
                    }
                    _ => return Err(KeyError::AlgMismatch(alg, "RSA")),
                }
            }
        })
    }
}

fn str_member<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, KeyError> {
    obj.get(name).and_then(Value::as_str).ok_or(KeyError::Member(name))
}

fn bytes(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    b64_decode(str_member(obj, name)?).map_err(|_| KeyError::Member(name))
}

/// A scalar member of exactly `len` bytes (leading zeros included, RFC 7518 6.2.2.1), also
/// accepting the shorter form some libraries write.
fn fixed(obj: &Map<String, Value>, name: &'static str, len: usize) -> Result<Vec<u8>, KeyError> {
    let b = bytes(obj, name)?;
    if b.is_empty() || b.len() > len {
        return Err(KeyError::Member(name));
    }
    let mut out = vec![0u8; len - b.len()];
    out.extend_from_slice(&b);
    Ok(out)
}

/// Reads the private JWK at `path`.
pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
    let text = fs::read(path).map_err(|e| KeyError::Read(path.to_path_buf(), e))?;
    let jwk: Value = serde_json::from_slice(&text).map_err(|e| KeyError::Json(path.to_path_buf(), e.to_string()))?;
    if !jwk.is_object() {
        return Err(KeyError::Json(path.to_path_buf(), "not an object".into()));
    }
    SigningKey::from_jwk(&jwk)
}

/// The key at `path`, made for `alg` (default ES256) if the file does not exist. A new file is
/// created with mode 0600 and never overwrites one that appeared meanwhile. `alg`, if given,
/// must fit an existing key and then overrides its default algorithm. The flag says whether the
/// key was created.
pub fn load_or_create(path: &Path, alg: Option<Algorithm>) -> Result<(SigningKey, bool), KeyError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let key = SigningKey::generate(alg.unwrap_or(Algorithm::ES256))?;
            write_new(path, &key)?;
            Ok((key, true))
        }
        _ => {
            let mut key = load(path)?;
            if let Some(alg) = alg {
                key.check_alg(alg)?;
                key.alg = alg;
            }
            Ok((key, false))
        }
    }
}

fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let werr = |e| KeyError::Write(path.to_path_buf(), e);
    let mut file = options.open(path).map_err(werr)?;
    let text = serde_json::to_string_pretty(&key.private_jwk()).map_err(|e| werr(io::Error::other(e)))?;
    file.write_all(text.as_bytes()).and_then(|()| file.write_all(b"\n")).map_err(werr)
}

/// A warning when the key file can be read by others (as ssh warns): `None` when it is private.
pub fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "warning: key file {} is readable by others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_algorithm_round_trips_through_its_private_jwk() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let again = SigningKey::from_jwk(&key.private_jwk()).unwrap();
            assert_eq!(again.alg, alg);
            assert_eq!(again.public_jwk(), key.public_jwk(), "{alg:?}");
            assert_eq!(again.thumbprint().unwrap(), key.thumbprint().unwrap());
        }
    }

    #[test]
    fn public_jwk_carries_no_private_member() {
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA, Algorithm::PS256] {
            let public = SigningKey::generate(alg).unwrap().public_jwk();
            for m in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(public.get(m).is_none(), "{alg:?} public JWK has {m}");
            }
            assert!(matches!(SigningKey::from_jwk(&public), Err(KeyError::PublicOnly)));
        }
    }

    #[test]
    fn rsa_without_primes_is_recovered_from_n_e_d() {
        let key = SigningKey::generate(Algorithm::RS256).unwrap();
        let mut jwk = key.private_jwk();
        for m in ["p", "q", "dp", "dq", "qi"] {
            jwk.as_object_mut().unwrap().remove(m);
        }
        assert_eq!(SigningKey::from_jwk(&jwk).unwrap().thumbprint().unwrap(), key.thumbprint().unwrap());
    }

    #[test]
    fn inconsistent_or_unsupported_keys_are_refused() {
        let key = SigningKey::generate(Algorithm::RS256).unwrap();
        let mut jwk = key.private_jwk();
        jwk["d"] = Value::from(b64_encode(&[7u8; 256]));
        assert!(matches!(SigningKey::from_jwk(&jwk), Err(KeyError::Invalid(_))), "a wrong d must not load");
        let oct = json!({"kty": "oct", "k": "AAAA"});
        assert!(matches!(SigningKey::from_jwk(&oct), Err(KeyError::Unsupported(_))));
        let x448 = json!({"kty": "OKP", "crv": "X448", "d": "AAAA", "x": "AAAA"});
        assert!(matches!(SigningKey::from_jwk(&x448), Err(KeyError::Unsupported(_))));
        let es = SigningKey::generate(Algorithm::ES256).unwrap();
        assert!(matches!(es.check_alg(Algorithm::RS256), Err(KeyError::AlgMismatch(..))));
        let mut pinned = es.private_jwk();
        pinned["alg"] = "ES384".into();
        assert!(matches!(SigningKey::from_jwk(&pinned), Err(KeyError::AlgMismatch(..))));
    }
}
