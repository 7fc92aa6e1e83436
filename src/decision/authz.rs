//! The request-phase decision: from one request's facts, the configuration, the known keys and
//! the replay store, allow (with the headers to forward) or refuse (with the exact reason).
//!
//! Everything host-specific stays behind [`State`], so the whole decision, every scheme and
//! downgrade rule included, is tested natively. The proxy-wasm glue implements `State` over its
//! caches and shared data, and turns [`Outcome::NeedKeys`] / [`Outcome::UnknownKid`] into callouts.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::Value;

use crate::config::{ClaimHeader, Config, DpopMode, IntrospectionMode, MtlsMode};
use crate::decision::introspection;
use crate::decision::cert::Thumbprint;
use crate::dpop::{self, ProofPolicy};
use crate::error::{Error, JwkError, ProofError, RequestError, TokenError};
use crate::jose::jwk::{Jwk, JwkSet};
use crate::jose::jws;
use crate::dpop::nonce::{self, Freshness, Secret};
use crate::decision::token::{self, AccessToken, TokenPolicy};

/// The authentication scheme a client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750.
    Bearer,
    /// RFC 9449.
    Dpop,
}

/// The facts of one request the decision needs, borrowed from the host's header map.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The request method (`:method`).
    pub method: &'a str,
    /// Every `Authorization` header value.
    pub authorization: &'a [&'a str],
    /// Every `DPoP` header value.
    pub dpop: &'a [&'a str],
    /// The absolute URI the client addressed, see [`request_uri`]; `None` if it cannot be built
    /// (no `Host`), which only matters for DPoP.
    pub uri: Option<&'a str>,
}

/// The credentials of a request, after the HTTP-level checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// The scheme used.
    pub scheme: Scheme,
    /// The access token.
    pub token: &'a str,
    /// The DPoP proof, if a `DPoP` header was sent.
    pub proof: Option<&'a str>,
}

/// What the issuer's keys look like right now, as far as the host knows.
pub enum Keys<'a> {
    /// Keys are known.
    Ready(&'a JwkSet),
    /// No keys yet, a fetch is (or can be) under way: pause the request.
    Pending,
    /// No keys and none can be had: fail closed.
    Unavailable,
}

/// Host-side state the decision consults.
pub trait State {
    /// The keys of the issuer at `index` in [`Config::issuers`].
    fn keys(&self, index: usize) -> Keys<'_>;
    /// The verified token cached under this key ([`token_cache_key`]), if any; the decision
    /// uses it only if its text is the presented token's.
    fn cached_token(&mut self, hash: &[u8; 32]) -> Option<Rc<AccessToken>>;
    /// The cached token was the presented one, byte for byte, and was used: a cache hit, for the
    /// counters. (A lookup can find another token under the same key, a forgery keeping a cached
    /// token's signature: that one is verified afresh and is no hit.)
    fn token_cache_hit(&mut self) {}
    /// Caches a verified token (the cache decides about capacity and lifetime).
    fn store_token(&mut self, hash: [u8; 32], token: Rc<AccessToken>);
    /// Records a DPoP proof's replay key until `expires_at`; see [`dpop::ReplayStore`].
    fn record_proof(&mut self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError>;
    /// The DPoP nonce secret shared by the host's workers, asked for only when `dpop_nonce` is
    /// configured without a `secret`. `None` (the default: a host that has none) refuses every
    /// proof with [`Error::UseNonce`]: failing closed.
    fn nonce_secret(&mut self) -> Option<Secret> {
        None
    }
    /// The key of a DPoP proof whose protected-header segment is `header` and whose `jwk` member
    /// is `jwk` (see [`dpop::verify_proof_with`]). The default parses it every time; the filter
    /// keeps the keys of returning clients, precomputed.
    fn proof_key(&mut self, header: &str, jwk: &Value) -> Result<Rc<Jwk>, JwkError> {
        dpop::parse_key(header, jwk)
    }
    /// The thumbprint of the request's client certificate (see [`crate::decision::cert`]), asked
    /// for only when the token is certificate-bound: the host reads it only then. `Ok(None)`: no
    /// certificate; an error refuses the request (a forwarded certificate header that cannot be
    /// used). The default (a host that has none) is no certificate: bound tokens are refused.
    fn client_certificate(&mut self) -> Result<Option<Thumbprint>, Error> {
        Ok(None)
    }
    /// The introspection answer kept for the token with this digest
    /// ([`introspection::digest`]) at issuer `index`, if it may still be used. `None` (the
    /// default: a host that keeps none) makes the decision ask for a callout
    /// ([`Outcome::Introspect`]).
    /// `token` is the presented token, for the answer's use as its [`AccessToken`].
    fn introspected(&mut self, index: usize, token: &str, digest: &[u8; 32]) -> Option<Introspected> {
        let _ = (index, token, digest);
        None
    }
}

/// An introspection answer as the decision uses it.
#[derive(Debug, Clone)]
pub enum Introspected {
    /// Active, and its claims passed the issuer's checks at the time of the answer: used like a
    /// verified JWT (its time is checked again at each use).
    Active(Rc<AccessToken>),
    /// `active: false`.
    Inactive,
    /// Active, but its claims fail the issuer's checks (wrong `aud`, missing scope, ...).
    Refused(TokenError),
    /// No answer can be had now (only for the requests that waited for the failed call).
    Unavailable,
}

/// A request that passed.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The verified access token, to forward as `Authorization: Bearer`.
    pub token: Rc<AccessToken>,
    /// The configured claim headers, `(name, value)`, for claims the token has.
    pub headers: Vec<(String, String)>,
    /// A fresh DPoP nonce to send in the response's `DPoP-Nonce` header: the proof's nonce was
    /// from the previous step (RFC 9449 section 9.1: the server may supply a new nonce any time).
    pub nonce: Option<String>,
}

/// The decision.
#[derive(Debug)]
pub enum Outcome {
    /// Forward the request.
    Allow(Grant),
    /// Refuse it.
    Deny(Error),
    /// No keys yet for this issuer: fetch them and decide again.
    NeedKeys(usize),
    /// The issuer's keys have no key for the token's `kid`: the host may refetch once
    /// (rate-limited) and decide again, or refuse with [`Outcome::unknown_kid_refusal`].
    UnknownKid(usize),
    /// The token must be introspected at this issuer and no answer is known: call its
    /// introspection endpoint and decide again with the answer.
    Introspect(usize),
}

impl Outcome {
    /// The refusal for an unknown `kid` when no refetch is allowed.
    pub fn unknown_kid_refusal() -> Error {
        Error::Token(TokenError::Jws(crate::error::JwsError::KeyNotFound))
    }
}

/// Extracts the credentials: exactly one `Authorization` header with the `Bearer` or `DPoP`
/// scheme (case-insensitive) and a token68 value, and at most one `DPoP` header.
pub fn credentials<'a>(req: &Request<'a>, mode: DpopMode) -> Result<Credentials<'a>, Error> {
    let value = match req.authorization {
        [] => return Err(Error::NoCredentials),
        [one] => *one,
        _ => return Err(Error::Request(RequestError::MultipleAuthorization)),
    };
    let proof = match req.dpop {
        [] => None,
        [one] => Some(*one),
        _ => return Err(Error::Request(RequestError::MultipleDpop)),
    };
    let (scheme, token) = split_authorization(value).ok_or(Error::Request(RequestError::BadAuthorization))?;
    if token.is_empty() || !token.bytes().all(is_token68) {
        return Err(Error::Request(RequestError::BadAuthorization));
    }
    let scheme = match Scheme::from_name(scheme) {
        Some(Scheme::Bearer) => Scheme::Bearer,
        Some(Scheme::Dpop) if mode != DpopMode::Disabled => {
            if proof.is_none() {
                return Err(Error::Request(RequestError::DpopProofMissing));
            }
            Scheme::Dpop
        }
        _ => return Err(Error::Request(RequestError::BadAuthorization)),
    };
    Ok(Credentials { scheme, token, proof })
}

/// An `Authorization` value as `(scheme, token)`: surrounding blanks dropped, blanks between.
/// `None` without a blank after the scheme. The token's characters are not checked here.
pub fn split_authorization(value: &str) -> Option<(&str, &str)> {
    let (scheme, token) = value.trim_matches([' ', '\t']).split_once([' ', '\t'])?;
    Some((scheme, token.trim_start_matches([' ', '\t'])))
}

impl Scheme {
    /// The scheme named `name`, case-insensitively (RFC 9110 section 11.1).
    pub fn from_name(name: &str) -> Option<Scheme> {
        if name.eq_ignore_ascii_case("bearer") {
            Some(Scheme::Bearer)
        } else if name.eq_ignore_ascii_case("dpop") {
            Some(Scheme::Dpop)
        } else {
            None
        }
    }
}

/// RFC 7235 `token68` characters (`=` padding included).
fn is_token68(b: u8) -> bool {
    TOKEN68.get(usize::from(b)).copied().unwrap_or(false)
}

/// [`is_token68`] as a table: one load per byte of a ~1 KB token on every request, where testing
/// ranges and then seven punctuation bytes took about 1 µs per request in wasm.
#[allow(clippy::cast_possible_truncation, clippy::indexing_slicing)] // b < 256, evaluated at compile time
static TOKEN68: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
        b += 1;
    }
    table
};

/// The absolute URI the client addressed, for comparison with a proof's `htu`.
///
/// Built from `public_base_url` when configured (TLS ends in front of the proxy), else from the
/// request's scheme and its `Host` header. Never from the host's own idea of the authority: Kong
/// fills `:authority` with `server_name:port`, which is not what the client signed.
pub fn request_uri(
    public_base_url: Option<&str>,
    scheme: Option<&str>,
    host: Option<&str>,
    path: &str,
) -> Option<String> {
    let path = if path.starts_with('/') {
        path
    } else {
        return None;
    };
    match public_base_url {
        Some(base) => Some(format!("{base}{path}")),
        None => {
            let host = host.filter(|h| !h.is_empty())?;
            let scheme = match scheme {
                Some(s) if s.eq_ignore_ascii_case("https") => "https",
                _ => "http",
            };
            Some(format!("{scheme}://{host}{path}"))
        }
    }
}

/// The request headers the decision reads, picked from a host's header map. Names are compared
/// case-insensitively: Envoy hands them over lower-cased, Kong's engine as the client spelt them
/// (`Authorization`, `DPoP`, `Host`), and the decision must not depend on which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders<'a> {
    /// Every `Authorization` value, in order.
    pub authorization: Vec<&'a str>,
    /// Every `DPoP` value, in order.
    pub dpop: Vec<&'a str>,
    /// `:method` (empty when absent).
    pub method: &'a str,
    /// `:path` (empty when absent).
    pub path: &'a str,
    /// `:scheme`.
    pub scheme: Option<&'a str>,
    /// `:authority`.
    pub authority: Option<&'a str>,
    /// `Host`.
    pub host: Option<&'a str>,
    /// How many copies of each configured claim header (in `claims_to_headers` order) the client
    /// sent; empty unless asked for ([`RequestHeaders::read_for`]).
    pub claim_copies: Vec<usize>,
    /// Every value of the `mtls_certificate_header`; always empty when none is configured, so no
    /// header can pass for a certificate then.
    pub certificate: Vec<&'a str>,
}

impl<'a> RequestHeaders<'a> {
    /// Picks the headers the decision needs from `(name, value)` pairs.
    pub fn read(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> RequestHeaders<'a> {
        RequestHeaders::read_for(pairs, &[], None)
    }

    /// [`RequestHeaders::read`], also counting the client's copies of each configured claim header
    /// (a host that cannot remove request headers must know them) and keeping the values of the
    /// configured `mtls_certificate_header`.
    pub fn read_for(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        claims: &[ClaimHeader],
        certificate_header: Option<&str>,
    ) -> RequestHeaders<'a> {
        let mut h = RequestHeaders { claim_copies: alloc::vec![0; claims.len()], ..RequestHeaders::default() };
        for (name, value) in pairs {
            if let Some(i) = claims.iter().position(|c| name.eq_ignore_ascii_case(&c.header)) {
                if let Some(n) = h.claim_copies.get_mut(i) {
                    *n += 1;
                }
            } else if certificate_header.is_some_and(|c| name.eq_ignore_ascii_case(c)) {
                h.certificate.push(value);
            } else if name.eq_ignore_ascii_case("authorization") {
                h.authorization.push(value);
            } else if name.eq_ignore_ascii_case("dpop") {
                h.dpop.push(value);
            } else if name.eq_ignore_ascii_case("host") {
                h.host = Some(value);
            } else if name.eq_ignore_ascii_case(":method") {
                h.method = value;
            } else if name.eq_ignore_ascii_case(":path") {
                h.path = value;
            } else if name.eq_ignore_ascii_case(":scheme") {
                h.scheme = Some(value);
            } else if name.eq_ignore_ascii_case(":authority") {
                h.authority = Some(value);
            }
        }
        h
    }

    /// The absolute URI the client addressed (see [`request_uri`]). Kong's engine keeps the
    /// client's `Host` header and fills `:authority` with its own server name; Envoy turns `Host`
    /// into `:authority`. The client's view is `Host` when present.
    pub fn uri(&self, public_base_url: Option<&str>) -> Option<String> {
        request_uri(public_base_url, self.scheme, self.host.or(self.authority), self.path)
    }
}

/// Decides one request at time `now` (seconds since the epoch).
pub fn authorize(cfg: &Config, req: &Request<'_>, state: &mut dyn State, now: u64) -> Outcome {
    match decide(cfg, req, state, now) {
        Ok(grant) => Outcome::Allow(grant),
        Err(Step::Deny(e)) => Outcome::Deny(e),
        Err(Step::NeedKeys(i)) => Outcome::NeedKeys(i),
        Err(Step::UnknownKid(i)) => Outcome::UnknownKid(i),
        Err(Step::Introspect(i)) => Outcome::Introspect(i),
    }
}

enum Step {
    Deny(Error),
    NeedKeys(usize),
    UnknownKid(usize),
    Introspect(usize),
}

impl From<Error> for Step {
    fn from(e: Error) -> Self {
        Step::Deny(e)
    }
}

fn decide(cfg: &Config, req: &Request<'_>, state: &mut dyn State, now: u64) -> Result<Grant, Step> {
    let creds = credentials(req, cfg.dpop)?;
    let token = verified_token(cfg, creds.token, state, now)?;
    // Before the proof: a request with the wrong certificate costs no proof check and leaves no
    // entry in the replay store.
    check_certificate(cfg, &token, state)?;

    let mut fresh_nonce = None;
    match (creds.scheme, token.jkt.as_deref()) {
        (Scheme::Bearer, Some(_)) => return Err(Error::Token(TokenError::BoundTokenAsBearer).into()),
        (Scheme::Bearer, None) if cfg.dpop == DpopMode::Required => {
            return Err(Error::Token(TokenError::DpopRequired).into())
        }
        (Scheme::Bearer, None) => {}
        (Scheme::Dpop, None) => return Err(Error::Token(TokenError::UnboundTokenAsDpop).into()),
        (Scheme::Dpop, Some(jkt)) => {
            let proof_text = creds.proof.ok_or(Error::Request(RequestError::DpopProofMissing))?;
            let uri = req.uri.ok_or(Error::Proof(ProofError::Htu))?;
            let policy = ProofPolicy {
                algs: &cfg.dpop_algs,
                max_age: cfg.dpop_max_age,
                clock_skew: cfg.clock_skew,
                max_len: cfg.max_token_bytes,
            };
            let proof =
                dpop::verify_proof_with(proof_text, req.method, uri, Some(creds.token), &policy, now, &mut |h, v| {
                    state.proof_key(h, v)
                })
                .map_err(Error::Proof)?;
            dpop::check_binding(Some(jkt), &proof).map_err(Error::Token)?;
            // After the signature (a nonce failure tells the client to retry, which only a key
            // holder can), before the replay store (a refused proof uses no store capacity).
            fresh_nonce = check_nonce(cfg, state, proof.nonce.as_deref(), now)?;
            state.record_proof(&dpop::replay_key(&proof), proof.replay_expiry(&policy), now).map_err(Error::Proof)?;
        }
    }

    let headers = claim_headers(cfg, &token.claims);
    Ok(Grant { token, headers, nonce: fresh_nonce })
}

/// RFC 8705 section 3: a certificate-bound token (`cnf.x5t#S256`) passes only with the client
/// certificate whose SHA-256 thumbprint it names, whatever the scheme (a token bound by `cnf.jkt`
/// too must also pass the DPoP checks). The certificate is asked of the host only for such a token.
fn check_certificate(cfg: &Config, token: &AccessToken, state: &mut dyn State) -> Result<(), Error> {
    match (cfg.mtls, token.x5t_s256.as_ref()) {
        (MtlsMode::Disabled, Some(_)) => Err(Error::Token(TokenError::CertificateBindingDisabled)),
        (MtlsMode::Required, None) => Err(Error::Token(TokenError::CertificateRequired)),
        (MtlsMode::Optional | MtlsMode::Disabled, None) => Ok(()),
        (MtlsMode::Optional | MtlsMode::Required, Some(bound)) => match state.client_certificate()? {
            None => Err(Error::Token(TokenError::CertificateMissing)),
            Some(presented) if presented == *bound => Ok(()),
            Some(_) => Err(Error::Token(TokenError::CertificateMismatch)),
        },
    }
}

/// RFC 9449 section 9: with `dpop_nonce` configured, the proof's `nonce` must be one this server
/// issued for the current or the previous step. Returns the fresh nonce to send when it was from
/// the previous step.
fn check_nonce(
    cfg: &Config,
    state: &mut dyn State,
    proof_nonce: Option<&str>,
    now: u64,
) -> Result<Option<String>, Error> {
    let Some(nc) = &cfg.dpop_nonce else {
        return Ok(None);
    };
    let secret = nonce_secret(cfg, state).ok_or(Error::UseNonce)?;
    match nonce::verify(&secret, nc.step_seconds, now, proof_nonce) {
        Ok(Freshness::Current) => Ok(None),
        Ok(Freshness::Previous) => Ok(Some(nonce::issue(&secret, nc.step_seconds, now))),
        Err(_) => Err(Error::UseNonce),
    }
}

/// The nonce to send in `DPoP-Nonce` at `now` (with a [`Error::UseNonce`] refusal, or when a
/// client's nonce is getting old); `None` when nonces are off or no secret can be had.
pub fn fresh_nonce(cfg: &Config, state: &mut dyn State, now: u64) -> Option<String> {
    let nc = cfg.dpop_nonce.as_ref()?;
    Some(nonce::issue(&nonce_secret(cfg, state)?, nc.step_seconds, now))
}

/// The configured secret, else the host's.
fn nonce_secret(cfg: &Config, state: &mut dyn State) -> Option<Secret> {
    match cfg.dpop_nonce.as_ref()?.secret.as_ref() {
        Some(secret) => Some(secret.clone()),
        None => state.nonce_secret(),
    }
}

/// The token, checked: an opaque token by introspection (if an issuer introspects them), a JWT
/// locally and, in mode `always`, by introspection as well.
fn verified_token(cfg: &Config, token: &str, state: &mut dyn State, now: u64) -> Result<Rc<AccessToken>, Step> {
    if token.len() > cfg.max_token_bytes {
        return Err(Error::Token(TokenError::Jws(crate::error::JwsError::TooLarge)).into());
    }
    // The configuration first: counting the dots is a pass over the ~1 KB token, on every request
    // of a filter that introspects nothing.
    let introspecting =
        cfg.issuers.iter().position(|i| i.introspection.as_ref().is_some_and(|c| c.mode != IntrospectionMode::Off));
    if let Some(index) = introspecting.filter(|_| !introspection::is_jwt(token)) {
        return introspected(cfg, index, token, None, state, now);
    }
    let local = local_token(cfg, token, state, now)?;
    let index = token::issuer(&local.claims).ok().and_then(|iss| cfg.issuer_index(iss));
    let always = index.and_then(|i| cfg.issuers.get(i)).and_then(|i| i.introspection.as_ref())
        .is_some_and(|c| c.mode == IntrospectionMode::Always);
    match index {
        Some(index) if always => introspected(cfg, index, token, Some(local), state, now),
        _ => Ok(local),
    }
}

/// The answer of issuer `index`'s introspection about `token`, as a token to use: the answer's
/// claims for an opaque token, the locally verified JWT (`local`) in mode `always`, whose
/// `cnf.jkt` the answer must not contradict.
fn introspected(
    cfg: &Config,
    index: usize,
    token: &str,
    local: Option<Rc<AccessToken>>,
    state: &mut dyn State,
    now: u64,
) -> Result<Rc<AccessToken>, Step> {
    let signed = cfg.issuers.get(index).and_then(|i| i.introspection.as_ref()).is_some_and(|c| c.jwt_response);
    match state.introspected(index, token, &introspection::digest(token)) {
        None if signed => match state.keys(index) {
            // A signed answer is verified with the issuer's keys: have them before asking.
            Keys::Ready(_) => Err(Step::Introspect(index)),
            Keys::Pending => Err(Step::NeedKeys(index)),
            Keys::Unavailable => Err(Error::KeysUnavailable.into()),
        },
        None => Err(Step::Introspect(index)),
        Some(Introspected::Unavailable) => Err(Error::IntrospectionUnavailable.into()),
        Some(Introspected::Inactive) => Err(Error::Token(TokenError::Inactive).into()),
        Some(Introspected::Refused(e)) => Err(Error::Token(e).into()),
        Some(Introspected::Active(answer)) => {
            answer.check_time(now, cfg.clock_skew).map_err(Error::Token)?;
            match local {
                None => Ok(answer),
                Some(jwt) if answer.jkt.is_some() && answer.jkt != jwt.jkt => {
                    Err(Error::Token(TokenError::IntrospectionBinding).into())
                }
                Some(jwt) => Ok(jwt),
            }
        }
    }
}

/// The JWT from the cache, or parsed, verified with the issuer's keys and checked.
fn local_token(cfg: &Config, token: &str, state: &mut dyn State, now: u64) -> Result<Rc<AccessToken>, Step> {
    if token.len() > cfg.max_token_bytes {
        return Err(Error::Token(TokenError::Jws(crate::error::JwsError::TooLarge)).into());
    }
    let key = token_cache_key(token);
    // A hit counts only for the very same token text: the key is not a digest.
    if let Some(cached) = state.cached_token(&key).filter(|c| same_text(&c.text, token)) {
        state.token_cache_hit();
        cached.check_time(now, cfg.clock_skew).map_err(Error::Token)?;
        return Ok(cached);
    }
    let jws = jws::parse(token, cfg.max_token_bytes).map_err(|e| Error::Token(TokenError::Jws(e)))?;
    // Before the signature: a token of the wrong kind costs no verification.
    if cfg.require_at_jwt_typ {
        token::check_typ(jws.header.typ.as_deref()).map_err(Error::Token)?;
    }
    let iss = token::issuer(&jws.claims).map_err(Error::Token)?;
    let index = cfg.issuer_index(iss).ok_or(Error::Token(TokenError::Issuer))?;
    let issuer = cfg.issuers.get(index).ok_or(Error::Token(TokenError::Issuer))?;
    let keys = match state.keys(index) {
        Keys::Ready(keys) => keys,
        Keys::Pending => return Err(Step::NeedKeys(index)),
        Keys::Unavailable => return Err(Error::KeysUnavailable.into()),
    };
    match keys.verify(&jws) {
        Ok(_) => {}
        Err(crate::error::JwsError::KeyNotFound) => return Err(Step::UnknownKid(index)),
        Err(e) => return Err(Error::Token(TokenError::Jws(e)).into()),
    }
    let policy = TokenPolicy {
        issuer: &issuer.issuer,
        audiences: &issuer.audiences,
        scopes_required: &issuer.scopes_required,
        clock_skew: cfg.clock_skew,
    };
    let mut checked = token::check_claims(jws.claims, &policy, now).map_err(Error::Token)?;
    checked.text = token.into();
    let checked = Rc::new(checked);
    state.store_token(key, checked.clone());
    Ok(checked)
}

/// The verified-token cache key of a token: its last 32 bytes (the tail of its signature),
/// zero-padded when shorter. Not a digest: [`State::cached_token`] hits count only when the cached
/// token's text equals the presented token byte for byte, so two tokens sharing a key cost a
/// verification (and the later one replaces the other in the cache), never a false hit; a forger
/// cannot make a valid token share a key on purpose without forging its signature. Hashing the
/// whole token instead (SHA-256 of ~1.2 KB: ~7 µs in wasm) was half the cost of a cached Bearer
/// request.
pub fn token_cache_key(token: &str) -> [u8; 32] {
    // The first of the chunks counted from the end: the last 32 bytes, or all of a shorter token.
    let tail = token.as_bytes().rchunks(32).next().unwrap_or_default();
    let mut key = [0u8; 32];
    for (k, t) in key.iter_mut().zip(tail) {
        *k = *t;
    }
    key
}

/// Whether a cached token's text is the presented token, byte for byte. Eight bytes at a time:
/// wasm32's `memcmp` (what `==` on strings calls) goes byte by byte, ~1 µs for a 1.2 KB token on
/// every cached request. No early exit either: how far a guess matches a cached token (someone
/// else's credential) is not told by how long the comparison takes.
pub fn same_text(cached: &str, presented: &str) -> bool {
    let (a, b) = (cached.as_bytes(), presented.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    };
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = wa.remainder().iter().zip(wb.remainder()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    let words = wa.zip(wb).fold(0u64, |acc, (x, y)| acc | (word(x) ^ word(y)));
    words == 0 && tail == 0
}

/// Renders the configured claims as header values: strings as they are, numbers and booleans as
/// JSON text, arrays joined with `,`. Objects, nulls and any value holding a control character
/// are left out rather than forwarded half-right.
fn claim_headers(cfg: &Config, claims: &token::Claims) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ch in &cfg.claims_to_headers {
        let mut value = None;
        let mut map = Some(claims);
        for (i, seg) in ch.path.iter().enumerate() {
            let v = map.and_then(|m| m.get(seg.as_str()));
            if i + 1 == ch.path.len() {
                value = v;
            } else {
                map = v.and_then(Value::as_object);
            }
        }
        if let Some(rendered) = value.and_then(render_claim) {
            out.push((ch.header.clone(), rendered));
        }
    }
    out
}

fn render_claim(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|i| match i {
                    Value::Array(_) | Value::Object(_) | Value::Null => None,
                    scalar => render_claim(scalar),
                })
                .collect();
            parts?.join(",")
        }
        Value::Object(_) | Value::Null => return None,
    };
    if s.len() > 8192 || s.bytes().any(|b| b < b' ' && b != b'\t' || b == 0x7f) {
        return None;
    }
    Some(s)
}
