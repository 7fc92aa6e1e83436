//! Compact JWS parsing (RFC 7515 section 7.1): three unpadded base64url segments.
//!
//! Parsing is separate from verification so the caller can look at the (unverified) header and
//! payload to pick a key (`kid`, `iss`) before paying for a signature check. Nothing here fetches
//! anything: `jku`, `x5u` and `x5c` are ignored on purpose.

use alloc::string::String;
use alloc::vec::Vec;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::jose::alg::Algorithm;
use crate::error::JwsError;
use crate::jose::jwk::Jwk;

/// The JSON object of a JWS payload (the JWT claims).
pub type Claims = Map<String, Value>;

/// The protected header members this filter reads. Unknown members are ignored (RFC 7515 4.1);
/// `crit` is honoured by refusing any extension it names.
#[derive(Debug, Clone)]
pub struct Header {
    /// The signature algorithm; `none`, HS* and unknown names never reach this type.
    pub alg: Algorithm,
    /// `typ`, compared case-insensitively by the callers that care (`dpop+jwt`).
    pub typ: Option<String>,
    /// Key id, used to pick a key from a JWK set.
    pub kid: Option<String>,
    /// The embedded public key, left as JSON: only DPoP proofs use it (see [`crate::dpop`]).
    pub jwk: Option<Value>,
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug, Clone)]
pub struct Jws<'a> {
    /// The protected header.
    pub header: Header,
    /// The payload as a JSON object.
    pub claims: Claims,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    signing_input: &'a str,
    /// The decoded signature.
    signature: Vec<u8>,
}

/// Decodes one unpadded base64url segment, refusing padding and any character outside the alphabet.
pub fn b64_decode(segment: &str) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| JwsError::Base64)
}

/// Encodes bytes as unpadded base64url.
pub fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Parses a compact JWS of at most `max_len` bytes.
///
/// The length check comes first so an oversize input costs nothing. The header must be a JSON
/// object with a supported `alg`; `crit` (any value) and `b64: false` are refused because this
/// filter implements no JWS extension.
pub fn parse(input: &str, max_len: usize) -> Result<Jws<'_>, JwsError> {
    if input.len() > max_len {
        return Err(JwsError::TooLarge);
    }
    let mut parts = input.split('.');
    let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => return Err(JwsError::Segments),
    };
    let header_bytes = b64_decode(h)?;
    let payload_bytes = b64_decode(p)?;
    let signature = b64_decode(s)?;
    let header = parse_header(&header_bytes)?;
    let claims = match serde_json::from_slice::<Value>(&payload_bytes) {
        Ok(Value::Object(map)) => map,
        _ => return Err(JwsError::PayloadJson),
    };
    let signing_input = &input[..h.len() + 1 + p.len()];
    Ok(Jws { header, claims, signing_input, signature })
}

fn parse_header(bytes: &[u8]) -> Result<Header, JwsError> {
    let mut map = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => map,
        _ => return Err(JwsError::HeaderJson),
    };
    if map.contains_key("crit") {
        return Err(JwsError::CritUnsupported);
    }
    match map.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(_) => return Err(JwsError::B64False),
    }
    let alg = match map.get("alg") {
        None => return Err(JwsError::AlgMissing),
        Some(Value::String(name)) => Algorithm::from_name(name)?,
        Some(_) => return Err(JwsError::HeaderJson),
    };
    let typ = opt_string(&mut map, "typ")?;
    let kid = opt_string(&mut map, "kid")?;
    let jwk = match map.remove("jwk") {
        None => None,
        Some(v @ Value::Object(_)) => Some(v),
        Some(_) => return Err(JwsError::HeaderJson),
    };
    Ok(Header { alg, typ, kid, jwk })
}

fn opt_string(map: &mut Map<String, Value>, name: &str) -> Result<Option<String>, JwsError> {
    match map.remove(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwsError::HeaderJson),
    }
}

impl Jws<'_> {
    /// Verifies the signature with `key`, which must suit the header's `alg` (no algorithm
    /// confusion: an RSA key never verifies an ES256 signature, and so on).
    pub fn verify(&self, key: &Jwk) -> Result<(), JwsError> {
        key.verify(self.header.alg, self.signing_input.as_bytes(), &self.signature)
    }

    /// The bytes the signature covers.
    pub fn signing_input(&self) -> &str {
        self.signing_input
    }
}
