//! DPoP proofs (RFC 9449 section 4.3): everything a resource server checks that needs no host
//! state, plus the replay-store interface the host backs with shared data.
//!
//! [`verify_proof`] runs the cheap checks (header, claim shapes, `htm`, `htu`, `iat`, `ath`)
//! before the signature, so a junk proof never costs a signature verification. What needs state
//! is left to the caller, in this order: the token's `cnf.jkt` against [`Proof::jkt`]
//! ([`check_binding`]), then the `jti` against a [`ReplayStore`] under [`replay_key`].

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jose::alg::Algorithm;
use crate::error::{JwkError, JwsError, ProofError, TokenError};
use crate::dpop::htu;
use crate::jose::jwk::Jwk;
use crate::jose::jws::{self, b64_encode, Claims};

/// Longest `jti` accepted: real ones are UUIDs or 16-32 random bytes in base64url.
pub const MAX_JTI_BYTES: usize = 256;

/// What a proof must satisfy, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ProofPolicy<'a> {
    /// Accepted `alg` values (`dpop_algs`).
    pub algs: &'a [Algorithm],
    /// How old `iat` may be, in seconds (`dpop_max_age_seconds`), before the skew.
    pub max_age: u64,
    /// Leeway in seconds, both ways.
    pub clock_skew: u64,
    /// Longest proof accepted, checked before any decoding.
    pub max_len: usize,
}

/// A proof that passed [`verify_proof`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The proof's `jti`.
    pub jti: String,
    /// RFC 7638 thumbprint of the proof's `jwk`: must equal the token's `cnf.jkt`.
    pub jkt: String,
    /// The proof's `iat`.
    pub iat: u64,
    /// The proof's `nonce`, if any (RFC 9449 section 9).
    pub nonce: Option<String>,
}

impl Proof {
    /// Until when the proof's `jti` must be remembered: after that `iat` is out of the window and
    /// a replay is refused as too old anyway.
    pub fn replay_expiry(&self, policy: &ProofPolicy<'_>) -> u64 {
        self.iat.saturating_add(policy.max_age).saturating_add(policy.clock_skew)
    }
}

/// Checks the proof `proof` for a request with `method` to `request_uri` (absolute, query
/// allowed), carrying `access_token` (whose hash must be the proof's `ath`), at time `now`.
pub fn verify_proof(
    proof: &str,
    method: &str,
    request_uri: &str,
    access_token: Option<&str>,
    policy: &ProofPolicy<'_>,
    now: u64,
) -> Result<Proof, ProofError> {
    verify_proof_with(proof, method, request_uri, access_token, policy, now, &mut parse_key)
}

/// Where [`verify_proof_with`] takes a proof's key from: `(header, jwk)` to the parsed key.
pub type KeyFor<'a> = dyn FnMut(&str, &Value) -> Result<Rc<Jwk>, JwkError> + 'a;

/// [`verify_proof`], taking the proof's key from `key_for(header, jwk)`: `header` is the proof's
/// protected-header segment as sent and `jwk` its decoded `jwk` member. A client signs every proof
/// with the same key and sends the same header, so a host can keep the parsed (and precomputed,
/// [`Jwk::precompute`]) keys of returning clients under the exact header text; [`parse_key`]
/// parses every time.
pub fn verify_proof_with(
    proof: &str,
    method: &str,
    request_uri: &str,
    access_token: Option<&str>,
    policy: &ProofPolicy<'_>,
    now: u64,
    key_for: &mut KeyFor<'_>,
) -> Result<Proof, ProofError> {
    let jws = jws::parse(proof, policy.max_len).map_err(ProofError::Jws)?;
    // Media types compare case-insensitively (RFC 2045); the `application/` prefix is not
    // accepted, as RFC 9449 4.2 names the exact value.
    if !jws.header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) {
        return Err(ProofError::Typ);
    }
    if !policy.algs.contains(&jws.header.alg) {
        return Err(ProofError::Jws(JwsError::AlgNotAllowed));
    }
    let jwk_value = jws.header.jwk.as_ref().ok_or(ProofError::JwkMissing)?;
    let header = proof.split('.').next().unwrap_or_default();
    let jwk = key_for(header, jwk_value).map_err(ProofError::Jwk)?;

    let claims = &jws.claims;
    let jti = string_claim(claims, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(ProofError::Claim("jti"));
    }
    let htm = string_claim(claims, "htm")?;
    let htu = string_claim(claims, "htu")?;
    let iat = claims.get("iat").and_then(crate::decision::token::seconds).ok_or(ProofError::Claim("iat"))?;
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(ProofError::Claim("nonce")),
    };

    if htm != method {
        return Err(ProofError::Htm);
    }
    if !htu::matches(htu, request_uri) {
        return Err(ProofError::Htu);
    }
    if iat > now.saturating_add(policy.clock_skew) {
        return Err(ProofError::IatInFuture);
    }
    if now > iat.saturating_add(policy.max_age).saturating_add(policy.clock_skew) {
        return Err(ProofError::IatTooOld);
    }
    if let Some(token) = access_token {
        match claims.get("ath") {
            Some(Value::String(ath)) if *ath == ath_of(token) => {}
            _ => return Err(ProofError::Ath),
        }
    }

    jws.verify(&jwk).map_err(ProofError::Jws)?;
    Ok(Proof { jti: String::from(jti), jkt: jwk.thumbprint(), iat, nonce })
}

/// The key source of [`verify_proof`]: the header's `jwk`, parsed anew.
pub fn parse_key(_header: &str, jwk: &Value) -> Result<Rc<Jwk>, JwkError> {
    Jwk::from_value(jwk).map(Rc::new)
}

/// RFC 9449 section 4.2 `ath`: base64url(SHA-256(ASCII access token)).
pub fn ath_of(access_token: &str) -> String {
    b64_encode(&Sha256::digest(access_token.as_bytes()))
}

fn string_claim<'c>(claims: &'c Claims, name: &'static str) -> Result<&'c str, ProofError> {
    match claims.get(name) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(ProofError::Claim(name)),
    }
}

/// The token's `cnf.jkt` must be the proof key's thumbprint (RFC 9449 section 6.1). A token with no
/// binding cannot be used with a proof ([`TokenError::UnboundTokenAsDpop`]).
pub fn check_binding(token_jkt: Option<&str>, proof: &Proof) -> Result<(), TokenError> {
    match token_jkt {
        None => Err(TokenError::UnboundTokenAsDpop),
        Some(jkt) if jkt == proof.jkt => Ok(()),
        Some(_) => Err(TokenError::JktMismatch),
    }
}

/// The replay-store key of a proof: its `jti` is unique per client key, so the key is the pair
/// (thumbprint, `jti`), NUL-separated (neither can contain NUL: both are JSON-decoded strings
/// checked elsewhere, and a thumbprint is base64url).
pub fn replay_key(proof: &Proof) -> String {
    let mut k = String::with_capacity(proof.jkt.len() + 1 + proof.jti.len());
    k.push_str(&proof.jkt);
    k.push('\0');
    k.push_str(&proof.jti);
    k
}

/// Where seen proofs are remembered. The filter backs it with host shared data, shared by every
/// worker ([`crate::dpop::replay`]); [`MemoryReplayStore`] is the reference implementation.
pub trait ReplayStore {
    /// Records `key` until `expires_at`. [`ProofError::Replay`] if it is already recorded and
    /// live; [`ProofError::ReplayStoreUnavailable`] if it cannot be recorded (fail closed).
    fn check_and_record(&mut self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError>;
}

/// An in-memory replay store of bounded capacity: when full of live entries it refuses new ones.
#[derive(Debug, Clone, Default)]
pub struct MemoryReplayStore {
    capacity: usize,
    entries: BTreeMap<String, u64>,
}

impl MemoryReplayStore {
    /// A store holding at most `capacity` live entries.
    pub fn new(capacity: usize) -> Self {
        MemoryReplayStore { capacity, entries: BTreeMap::new() }
    }
}

impl ReplayStore for MemoryReplayStore {
    fn check_and_record(&mut self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError> {
        if self.entries.get(key).is_some_and(|&exp| exp >= now) {
            return Err(ProofError::Replay);
        }
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, exp| *exp >= now);
            if self.entries.len() >= self.capacity {
                return Err(ProofError::ReplayStoreUnavailable);
            }
        }
        self.entries.insert(String::from(key), expires_at);
        Ok(())
    }
}
