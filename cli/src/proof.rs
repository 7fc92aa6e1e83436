//! DPoP proofs (RFC 9449 section 4.2), as the blog's `main.py` makes them, done properly: a
//! random `jti`, `htu` without query and fragment, `ath` and `nonce` when asked, and an `iat`
//! that can be back-dated for an authorization server whose clock runs behind.

use std::fmt;

use dpop_gate::dpop::ath_of;
use dpop_gate::dpop::htu;
use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jws::b64_encode;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Map, Value};

use crate::key::{KeyError, SigningKey};

/// What a proof is for.
#[derive(Debug, Clone, Copy)]
pub struct ProofFor<'a> {
    /// `htm`: the request method.
    pub method: &'a str,
    /// The request URL; `htu` is this without query and fragment.
    pub url: &'a str,
    /// The access token sent with the proof: its hash is `ath`.
    pub access_token: Option<&'a str>,
    /// A server nonce (`DPoP-Nonce`) to echo as `nonce`.
    pub nonce: Option<&'a str>,
    /// Seconds added to the current time for `iat` (negative: in the past).
    pub iat_offset: i64,
}

/// Why no proof was made.
#[derive(Debug)]
pub enum ProofError {
    /// The URL is not an absolute http(s) URL the filter can compare.
    Url(String),
    /// The method is not an HTTP token.
    Method(String),
    /// `iat` would be negative.
    Iat,
    /// The key cannot sign.
    Key(KeyError),
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::Url(u) => write!(
                f,
                "bad URL {u:?}: it must be an absolute http:// or https:// URL (no user info, printable ASCII)"
            ),
            ProofError::Method(m) => write!(f, "bad method {m:?}: it must be an HTTP method name such as GET or POST"),
            ProofError::Iat => f.write_str("--iat-offset puts iat before 1970"),
            ProofError::Key(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ProofError {}

impl From<KeyError> for ProofError {
    fn from(e: KeyError) -> Self {
        ProofError::Key(e)
    }
}

/// `url` without query and fragment: the `htu` a proof carries (RFC 9449 section 4.2). Refused
/// when the filter's own normalisation ([`htu::normalize`]) cannot read it, since no gateway
/// would then accept the proof.
pub fn htu_of(url: &str) -> Result<String, ProofError> {
    if htu::normalize(url).is_none() {
        return Err(ProofError::Url(url.to_string()));
    }
    Ok(url.split(['?', '#']).next().unwrap_or_default().to_string())
}

/// Checks that `method` is an RFC 9110 token, as `htm` and the request line need.
pub fn check_method(method: &str) -> Result<(), ProofError> {
    let ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ProofError::Method(method.to_string()))
    }
}

/// A compact JWS of `header` and `claims` signed by `key` with `alg` (set as the header's `alg`).
pub fn sign_compact(
    key: &SigningKey,
    alg: Algorithm,
    mut header: Map<String, Value>,
    claims: &Value,
) -> Result<String, KeyError> {
    header.insert("alg".into(), alg.name().into());
    let h = b64_encode(Value::Object(header).to_string().as_bytes());
    let p = b64_encode(claims.to_string().as_bytes());
    let input = format!("{h}.{p}");
    let sig = key.sign(alg, input.as_bytes())?;
    Ok(format!("{input}.{}", b64_encode(&sig)))
}

/// 128 random bits, base64url: a `jti` no other proof will ever carry.
pub fn random_jti() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b64_encode(&b)
}

/// A proof by `key` with `alg` for `what`, at `now` (seconds since the epoch).
pub fn make_proof(key: &SigningKey, alg: Algorithm, what: &ProofFor<'_>, now: u64) -> Result<String, ProofError> {
    check_method(what.method)?;
    let htu = htu_of(what.url)?;
    let iat = i64::try_from(now)
        .ok()
        .and_then(|n| n.checked_add(what.iat_offset))
        .filter(|i| *i >= 0)
        .ok_or(ProofError::Iat)?;
    let mut header = Map::new();
    header.insert("typ".into(), "dpop+jwt".into());
    header.insert("jwk".into(), key.public_jwk());
    let mut claims = json!({"jti": random_jti(), "htm": what.method, "htu": htu, "iat": iat});
    if let Some(token) = what.access_token {
        claims["ath"] = ath_of(token).into();
    }
    if let Some(nonce) = what.nonce {
        claims["nonce"] = nonce.into();
    }
    Ok(sign_compact(key, alg, header, &claims)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_drops_query_and_fragment_and_refuses_what_the_filter_cannot_compare() {
        assert_eq!(htu_of("https://api.example.com/orders?id=1#x").unwrap(), "https://api.example.com/orders");
        for bad in ["api.example.com/x", "ftp://x/y", "https://user@x/y", "http://x/a b", "", "https://[::1/"] {
            assert!(matches!(htu_of(bad), Err(ProofError::Url(_))), "{bad:?} accepted");
        }
    }

    #[test]
    fn methods_must_be_tokens() {
        check_method("PATCH").unwrap();
        for bad in ["", "GET POST", "G\u{e9}T", "GET\n"] {
            assert!(check_method(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn iat_offset_cannot_go_before_the_epoch() {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let what = ProofFor { method: "GET", url: "https://x/", access_token: None, nonce: None, iat_offset: -10 };
        assert!(matches!(make_proof(&key, Algorithm::ES256, &what, 5), Err(ProofError::Iat)));
    }
}
