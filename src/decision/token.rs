//! Access-token claims (RFC 7519 section 4.1, RFC 9068, RFC 8693 `scope`, RFC 7800 `cnf`, RFC 8705
//! `cnf.x5t#S256`).
//!
//! The signature is checked elsewhere ([`crate::jose::jwk::JwkSet::verify`]); this module decides whether
//! a verified token's claims satisfy the configured policy at a given time, and keeps what later
//! steps need: the expiry (for the verified-token cache), the `cnf.jkt` binding (for DPoP), the
//! `cnf.x5t#S256` binding (for the client certificate) and the claims (for header forwarding).
//! The time is a parameter: nothing here reads a clock.

use alloc::string::String;
use serde_json::Value;

use crate::decision::cert::Thumbprint;
use crate::error::TokenError;
use crate::jose::jws::b64_decode;
pub use crate::jose::jws::Claims;

/// What an access token must satisfy, borrowed from the issuer's configuration.
#[derive(Debug, Clone, Copy)]
pub struct TokenPolicy<'a> {
    /// The token's `iss` must equal this exactly.
    pub issuer: &'a str,
    /// Any-of: the token's `aud` (string or array) must contain one; empty means not checked.
    pub audiences: &'a [String],
    /// All-of: each must be in `scope` (space-separated) or `scp` (array, or space-separated).
    pub scopes_required: &'a [String],
    /// Leeway in seconds for `exp`, `nbf` and `iat`.
    pub clock_skew: u64,
}

/// A token whose claims passed [`check_claims`].
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// `exp`, seconds since the epoch.
    pub exp: u64,
    /// `nbf`, if present.
    pub nbf: Option<u64>,
    /// `cnf.jkt`: the RFC 7638 thumbprint of the key the token is bound to (RFC 9449 section 6.1).
    pub jkt: Option<String>,
    /// `cnf.x5t#S256`, decoded: the SHA-256 thumbprint of the client certificate the token is
    /// bound to (RFC 8705 section 3.1).
    pub x5t_s256: Option<Thumbprint>,
    /// Every claim, for policy and header forwarding.
    pub claims: Claims,
    /// The token as presented (compact JWS), set by the decision before it caches the token: a
    /// cache hit needs the same text ([`crate::decision::token_cache_key`]).
    pub(crate) text: String,
}

impl AccessToken {
    /// Re-checks the time-dependent claims, for a token taken from the verified-token cache.
    pub fn check_time(&self, now: u64, skew: u64) -> Result<(), TokenError> {
        // RFC 7519 4.1.4: the current time must be *before* `exp`.
        if now >= self.exp.saturating_add(skew) {
            return Err(TokenError::Expired);
        }
        // RFC 7519 4.1.5: the current time must be at or after `nbf`.
        if self.nbf.is_some_and(|nbf| now.saturating_add(skew) < nbf) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }
}

/// The token's `iss`, read before verification to pick the issuer's keys.
pub fn issuer(claims: &Claims) -> Result<&str, TokenError> {
    match claims.get("iss") {
        None => Err(TokenError::Issuer),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(TokenError::ClaimType("iss")),
    }
}

/// RFC 9068 section 4: the JOSE header `typ` of a JWT access token is `at+jwt`, which RFC 7515
/// section 4.1.9 lets a producer write as `application/at+jwt`; media types compare
/// case-insensitively. Anything else, a missing `typ` included, is refused: that is what tells an
/// access token from an ID token or a logout token signed with the same keys.
pub fn check_typ(typ: Option<&str>) -> Result<(), TokenError> {
    let Some(typ) = typ else { return Err(TokenError::Typ) };
    let prefix = "application/";
    let subtype = match typ.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => typ.get(prefix.len()..).unwrap_or(""),
        _ => typ,
    };
    if subtype.eq_ignore_ascii_case("at+jwt") {
        Ok(())
    } else {
        Err(TokenError::Typ)
    }
}

/// Checks a verified token's claims against `policy` at `now`.
///
/// Order: `iss`, the types of `exp`/`nbf`/`iat`/`aud`/`cnf`, then `exp`, `nbf`, `iat`, `aud`, and
/// the scopes last, so only an otherwise valid token earns `insufficient_scope` (403).
pub fn check_claims(claims: Claims, policy: &TokenPolicy<'_>, now: u64) -> Result<AccessToken, TokenError> {
    if issuer(&claims)? != policy.issuer {
        return Err(TokenError::Issuer);
    }
    let exp = numeric_date(&claims, "exp")?.ok_or(TokenError::ExpMissing)?;
    let nbf = numeric_date(&claims, "nbf")?;
    let iat = numeric_date(&claims, "iat")?;
    let (jkt, x5t_s256) = match claims.get("cnf") {
        None => (None, None),
        Some(Value::Object(cnf)) => {
            let jkt = match cnf.get("jkt") {
                None => None,
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(_) => return Err(TokenError::ClaimType("cnf")),
            };
            // Exactly 32 bytes of unpadded base64url: anything else binds to no certificate, and
            // a bound token is never taken for an unbound one.
            let x5t = match cnf.get("x5t#S256") {
                None => None,
                Some(Value::String(s)) => Some(
                    b64_decode(s)
                        .ok()
                        .and_then(|b| Thumbprint::try_from(b.as_slice()).ok())
                        .ok_or(TokenError::ClaimType("cnf"))?,
                ),
                Some(_) => return Err(TokenError::ClaimType("cnf")),
            };
            (jkt, x5t)
        }
        Some(_) => return Err(TokenError::ClaimType("cnf")),
    };
    let token = AccessToken { exp, nbf, jkt, x5t_s256, claims, text: String::new() };
    token.check_time(now, policy.clock_skew)?;
    if iat.is_some_and(|iat| iat > now.saturating_add(policy.clock_skew)) {
        return Err(TokenError::IssuedInFuture);
    }
    check_audience(&token.claims, policy.audiences)?;
    check_scopes(&token.claims, policy.scopes_required)?;
    Ok(token)
}

/// A NumericDate claim (RFC 7519 section 2): a non-negative JSON number, fractions truncated.
/// Absent is `None`; any other type (a string such as `"1700000000"` included) is refused.
fn numeric_date(claims: &Claims, name: &'static str) -> Result<Option<u64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => seconds(v).map(Some).ok_or(TokenError::ClaimType(name)),
    }
}

/// A NumericDate value as whole seconds: a JSON number from 0 to below 2^64, fractions truncated.
pub(crate) fn seconds(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    // `as` truncates toward zero; the range check keeps it exact and non-negative.
    n.as_u64().or_else(|| n.as_f64().filter(|f| (0.0..1.8e19).contains(f)).map(|f| f as u64))
}

/// `aud` is a string or an array of strings (RFC 7519 4.1.3); one must be configured.
fn check_audience(claims: &Claims, audiences: &[String]) -> Result<(), TokenError> {
    if audiences.is_empty() {
        return Ok(());
    }
    let accepted = |a: &str| audiences.iter().any(|want| want == a);
    match claims.get("aud") {
        None => Err(TokenError::Audience),
        Some(Value::String(a)) if accepted(a) => Ok(()),
        Some(Value::String(_)) => Err(TokenError::Audience),
        Some(Value::Array(list)) => {
            let mut found = false;
            for item in list {
                match item {
                    Value::String(a) => found |= accepted(a),
                    _ => return Err(TokenError::ClaimType("aud")),
                }
            }
            if found {
                Ok(())
            } else {
                Err(TokenError::Audience)
            }
        }
        Some(_) => Err(TokenError::ClaimType("aud")),
    }
}

/// Every required scope must be granted, by `scope` (RFC 8693 4.2: space-separated string) or
/// `scp` (an array, as Okta and Azure AD issue it, or a space-separated string).
fn check_scopes(claims: &Claims, required: &[String]) -> Result<(), TokenError> {
    if required.is_empty() {
        return Ok(());
    }
    let has = |want: &str| -> bool {
        let in_string = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| s.split(' ').any(|g| g == want));
        in_string(claims.get("scope"))
            || in_string(claims.get("scp"))
            || claims
                .get("scp")
                .and_then(Value::as_array)
                .is_some_and(|list| list.iter().any(|g| g.as_str() == Some(want)))
    };
    if required.iter().all(|s| has(s)) {
        Ok(())
    } else {
        Err(TokenError::InsufficientScope(required.join(" ")))
    }
}
