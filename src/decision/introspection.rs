//! Token introspection (RFC 7662), with signed answers (RFC 9701): the request to make, how its
//! answer is read, and what an answer means for the request that waits on it. No host calls and
//! no clock: the gateway ([`crate::gateway`]) makes the callout, keeps the answers and passes the
//! time in.
//!
//! An answer is the authorization server's statement about one token at one instant. It is used
//! exactly like a verified JWT's claims: `active: true` then `iss`, `exp`, `nbf`, `aud` and the
//! scopes are checked as for a JWT ([`token::check_claims`]), `cnf.jkt` binds the token to a DPoP
//! key and `cnf.x5t#S256` to a certificate. `active: false` is `invalid_token`. Anything else (no
//! answer, a status other than 200, a body that is not an answer, a signed answer that does not
//! verify) says nothing about the token: the request is answered 503, never 401 and never passed.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{ClientAuth, FetchUrl, IntrospectionConfig};
use crate::decision::token::{self, AccessToken, Claims, TokenPolicy};
use crate::error::{JwsError, TokenError};
use crate::jose::jwk::JwkSet;
use crate::jose::jws;

/// Largest introspection answer read: a few claims are a few hundred bytes, Keycloak's with
/// roles a few KiB. A larger answer is an endpoint problem (503), not a refusal of the token.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// The media type of an RFC 9701 signed answer (section 5), also its JOSE `typ`.
pub const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// Whether a token is a JWT for introspection's purposes: a compact JWS has exactly three
/// dot-separated segments. Anything else is opaque (an encrypted JWE, five segments, included).
pub fn is_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// The cache key of a token: SHA-256 of it under a label. The token itself is never kept; a
/// digest match is the exact token (a collision would need a SHA-256 second preimage).
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::new().chain_update("dpop-gate introspection\0").chain_update(token).finalize().into()
}

/// One introspection callout as data: `POST` to `upstream` with these headers and this form body.
/// Its `Debug` leaves out the headers and body, which carry the client secret and the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Callout {
    /// Envoy cluster or Kong `host:port`.
    pub upstream: String,
    /// Pseudo-headers first, then `content-type`, `accept` and, for `client_secret_basic`,
    /// `authorization`.
    pub headers: Vec<(&'static str, String)>,
    /// `application/x-www-form-urlencoded`.
    pub body: Vec<u8>,
}

impl fmt::Debug for Callout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callout").field("upstream", &self.upstream).finish_non_exhaustive()
    }
}

/// The introspection request for `token` (RFC 7662 section 2.1) at `endpoint`, through
/// `upstream` (default: the endpoint's `host:port`).
pub fn callout(cfg: &IntrospectionConfig, endpoint: &FetchUrl, upstream: Option<&str>, token: &str) -> Callout {
    let mut body = format!("token={}&token_type_hint=access_token", form_encode(token));
    let mut headers = alloc::vec![
        (":method", String::from("POST")),
        (":path", endpoint.path.clone()),
        (":authority", endpoint.authority.clone()),
        (":scheme", endpoint.scheme.clone()),
        ("content-type", String::from("application/x-www-form-urlencoded")),
        (
            "accept",
            String::from(if cfg.jwt_response { JWT_MEDIA_TYPE } else { "application/json" }),
        ),
    ];
    match cfg.auth {
        // RFC 6749 section 2.3.1: the id and the secret are form-encoded before Base64.
        ClientAuth::Basic => {
            let pair = format!("{}:{}", form_encode(&cfg.client_id), form_encode(cfg.client_secret.expose()));
            headers.push(("authorization", format!("Basic {}", STANDARD.encode(pair))));
        }
        ClientAuth::Post => {
            body.push_str(&format!(
                "&client_id={}&client_secret={}",
                form_encode(&cfg.client_id),
                form_encode(cfg.client_secret.expose())
            ));
        }
    }
    Callout {
        upstream: upstream.map_or_else(|| endpoint.default_upstream(), String::from),
        headers,
        body: body.into_bytes(),
    }
}

/// `application/x-www-form-urlencoded` of one value (unreserved characters kept, the rest `%XX`).
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the authorization server said about a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `active: true`, with every member of the answer (the token's claims).
    Active(Claims),
    /// `active: false`: the token is unknown, expired, revoked or not for this client.
    Inactive,
}

/// Why an answer says nothing about the token (all of these are 503 to the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntrospectionError {
    /// The callout failed (connection, timeout; Kong's `:dispatch_status`).
    Transport(String),
    /// The endpoint refused the gateway's client credentials (401 or 403): a configuration error.
    Credentials(u16),
    /// Another status than 200.
    Status(u16),
    /// The body is over [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// Not a JSON object with a boolean `active`.
    Malformed,
    /// `jwt_response` is on and the answer is plain JSON: a signed answer was required, and an
    /// unsigned one could come from anyone on the path.
    Unsigned,
    /// The signed answer does not parse or verify with the issuer's keys.
    Jwt(JwsError),
    /// The signed answer verified but is not for us: `typ`, `iss`, `aud` or `iat` is wrong, or
    /// `token_introspection` is missing (RFC 9701 section 5).
    JwtClaims(&'static str),
    /// No endpoint: none configured, and the discovery document has no `introspection_endpoint`.
    NoEndpoint,
}

impl fmt::Display for IntrospectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntrospectionError::Transport(why) => write!(f, "the introspection call failed: {why}"),
            IntrospectionError::Credentials(s) => write!(
                f,
                "the introspection endpoint refused the gateway's client credentials (status {s}): check \
                 `introspection.client_id`, `client_secret` and `auth`"
            ),
            IntrospectionError::Status(s) => write!(f, "the introspection endpoint answered status {s}"),
            IntrospectionError::TooLarge => write!(f, "the introspection answer exceeds {MAX_ANSWER_BYTES} bytes"),
            IntrospectionError::Malformed => f.write_str("the introspection answer is not a JSON object with a boolean active"),
            IntrospectionError::Unsigned => {
                f.write_str("the introspection answer is not signed and `jwt_response` requires it")
            }
            IntrospectionError::Jwt(e) => write!(f, "the signed introspection answer does not verify: {e}"),
            IntrospectionError::JwtClaims(c) => write!(f, "the signed introspection answer has a wrong or missing {c}"),
            IntrospectionError::NoEndpoint => f.write_str(
                "no introspection endpoint: configure `introspection.endpoint` (discovery has no introspection_endpoint)",
            ),
        }
    }
}

/// Reads an answer. `headers` are the callout's response headers (`:status`, `content-type`;
/// Kong's `:dispatch_status` on failure), `body` `None` when over [`MAX_ANSWER_BYTES`].
/// With `jwt_response`, only a signed answer verified with `keys` is accepted, and its
/// `iss` must be `issuer` and its `aud` name the gateway: its `client_id` (RFC 9701 section 5), or
/// one of the issuer's `audiences` (oidc-provider sets the introspected token's `aud`, the resource
/// server's identifier).
pub fn read_answer(
    cfg: &IntrospectionConfig,
    issuer: &str,
    audiences: &[String],
    keys: Option<&JwkSet>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Answer, IntrospectionError> {
    let mut status = None;
    let mut dispatch = None;
    let mut content_type = "";
    for (name, value) in headers {
        if *name == ":status" {
            status = Some(*value);
        } else if *name == ":dispatch_status" {
            dispatch = Some(*value);
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = value;
        }
    }
    match (status, dispatch) {
        (Some("200"), _) => {}
        (Some(s @ ("401" | "403")), _) => return Err(IntrospectionError::Credentials(s.parse().unwrap_or(401))),
        (Some(s), _) => {
            return Err(s.parse().map_or_else(|_| IntrospectionError::Transport(s.to_string()), IntrospectionError::Status))
        }
        (None, Some(d)) => return Err(IntrospectionError::Transport(d.to_string())),
        (None, None) => return Err(IntrospectionError::Transport(String::from("no status"))),
    }
    let body = body.ok_or(IntrospectionError::TooLarge)?;
    if body.len() > MAX_ANSWER_BYTES {
        return Err(IntrospectionError::TooLarge);
    }
    let media = content_type.split(';').next().unwrap_or("").trim();
    let object = if media.eq_ignore_ascii_case(JWT_MEDIA_TYPE) {
        if !cfg.jwt_response {
            // Not asked for: without keys to check it, it says nothing.
            return Err(IntrospectionError::Malformed);
        }
        signed_answer(cfg, issuer, audiences, keys, body)?
    } else if cfg.jwt_response {
        return Err(IntrospectionError::Unsigned);
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            _ => return Err(IntrospectionError::Malformed),
        }
    };
    match object.get("active") {
        Some(Value::Bool(true)) => Ok(Answer::Active(object)),
        Some(Value::Bool(false)) => Ok(Answer::Inactive),
        _ => Err(IntrospectionError::Malformed),
    }
}

/// RFC 9701 section 5: a JWS with `typ` `token-introspection+jwt`, signed by the issuer, `iss` the
/// issuer, `aud` the gateway's client id, an `iat`, and the answer in `token_introspection`.
fn signed_answer(
    cfg: &IntrospectionConfig,
    issuer: &str,
    audiences: &[String],
    keys: Option<&JwkSet>,
    body: &[u8],
) -> Result<Claims, IntrospectionError> {
    let text = core::str::from_utf8(body).map_err(|_| IntrospectionError::Jwt(JwsError::Segments))?.trim();
    let jws = jws::parse(text, MAX_ANSWER_BYTES).map_err(IntrospectionError::Jwt)?;
    let typ = jws.header.typ.as_deref().unwrap_or("");
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    if !typ.eq_ignore_ascii_case("token-introspection+jwt") {
        return Err(IntrospectionError::JwtClaims("typ"));
    }
    let keys = keys.ok_or(IntrospectionError::Jwt(JwsError::KeyNotFound))?;
    keys.verify(&jws).map_err(IntrospectionError::Jwt)?;
    let claims = jws.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(IntrospectionError::JwtClaims("iss"));
    }
    let names_us = |a: &str| a == cfg.client_id || audiences.iter().any(|want| want == a);
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => names_us(a),
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str().is_some_and(names_us)),
        _ => false,
    };
    if !aud_ok {
        return Err(IntrospectionError::JwtClaims("aud"));
    }
    if claims.get("iat").and_then(token::seconds).is_none() {
        return Err(IntrospectionError::JwtClaims("iat"));
    }
    match claims.get("token_introspection") {
        Some(Value::Object(inner)) => Ok(inner.clone()),
        _ => Err(IntrospectionError::JwtClaims("token_introspection")),
    }
}

/// An active answer's claims checked as a JWT's would be, for the token `text`: the result is
/// used like a verified JWT ([`AccessToken`]). `token_type`, when present, must agree with the
/// binding (RFC 9449 section 6.2: `DPoP` for a `cnf.jkt`-bound token, `Bearer` otherwise).
pub fn check_active(claims: Claims, text: &str, policy: &TokenPolicy<'_>, now: u64) -> Result<AccessToken, TokenError> {
    let token_type = match claims.get("token_type") {
        None => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(TokenError::ClaimType("token_type")),
    };
    let mut checked = token::check_claims(claims, policy, now)?;
    if let Some(t) = token_type {
        let agrees = if checked.jkt.is_some() { t.eq_ignore_ascii_case("dpop") } else { t.eq_ignore_ascii_case("bearer") };
        if !agrees {
            return Err(TokenError::TokenType);
        }
    }
    checked.text = text.into();
    Ok(checked)
}

/// Until when an answer may be used, at `now`: an active one `cache_seconds`, never past the
/// token's `exp`; an inactive one `negative_cache_seconds`. Used while `now < until`.
pub fn cache_until(cfg: &IntrospectionConfig, token: Option<&AccessToken>, now: u64) -> u64 {
    match token {
        Some(t) => now.saturating_add(cfg.cache_seconds).min(t.exp),
        None => now.saturating_add(cfg.negative_cache_seconds),
    }
}
