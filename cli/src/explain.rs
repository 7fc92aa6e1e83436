//! `dpop-gate explain`: why the gateway allows or refuses a request, check by check.
//!
//! The verdict is the filter's own: [`authz::authorize`] runs natively with a [`State`] that holds
//! keys fetched the way the filter fetches them (issuer discovery, `jwks_uri`, the core's parsers)
//! and an in-memory replay store; the response is [`challenge::refusal`] of its error, so it is
//! byte for byte what the gateway sends. The check lines around it only *show*: each carries the
//! values the check looks at (times with their skew, both sides of `htu` normalised, thumbprints)
//! and a status placed by the decision's one error. Checks run in a fixed order and stop at the
//! first failure, so every check before the failing one passed and every one after it was not
//! reached; [`check_of`] names the check each error comes from.

use std::fmt::Write as _;
use std::rc::Rc;

use dpop_gate::config::{Config, DpopMode, FetchUrl, IssuerConfig, KeySource, MtlsMode};
use dpop_gate::decision::challenge;
use dpop_gate::decision::token::AccessToken;
use dpop_gate::decision::{self as authz, Keys, Outcome, Request, Scheme, State};
use dpop_gate::dpop::htu;
use dpop_gate::dpop::{self, MemoryReplayStore, ReplayStore};
use dpop_gate::error::{Error, JwsError, ProofError, TokenError};
use dpop_gate::jose::jwk::{Jwk, JwkSet};
use dpop_gate::jose::jws::{self, Claims};
use dpop_gate::keys::discovery;
use dpop_gate::keys::{self as jwks, FetchError};
use serde_json::Value;

/// Where a check's continuation lines start: under its detail (`  FAIL  ` and the label column).
const INDENT: &str = "                        ";

/// The checks, in the order the decision makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// One `Authorization` header with a known scheme and a token68, one `DPoP` header at most.
    Credentials,
    /// The token's size and JWS structure, header and `alg`.
    TokenJws,
    /// `typ: at+jwt` (RFC 9068), with `require_at_jwt_typ`.
    TokenTyp,
    /// The token's `iss` is a configured issuer.
    Issuer,
    /// The issuer's keys can be had.
    Keys,
    /// A key for the token's `kid` (or `alg`).
    Key,
    /// The token's signature.
    Signature,
    /// The registered claims have the right types (`exp` present).
    ClaimTypes,
    /// `exp`.
    Exp,
    /// `nbf`.
    Nbf,
    /// The token's `iat`.
    Iat,
    /// `aud`.
    Audience,
    /// Required scopes.
    Scopes,
    /// The certificate binding (`cnf.x5t#S256`, RFC 8705) under `mtls`. This tool presents no
    /// client certificate, so a certificate-bound token fails here.
    Certificate,
    /// The scheme fits the token: a DPoP-bound token only with `DPoP`, `dpop: required`.
    Scheme,
    /// The proof's size and JWS structure.
    ProofJws,
    /// `typ: dpop+jwt`.
    ProofTyp,
    /// The proof's `alg` is in `dpop_algs`.
    ProofAlg,
    /// The header's `jwk`: present, public, usable.
    ProofJwk,
    /// `jti`, `htm`, `htu`, `iat` present as strings/numbers, `nonce` a string.
    ProofClaims,
    /// `htm` is the request method.
    Htm,
    /// `htu` is the request URI.
    Htu,
    /// The proof's `iat` window.
    ProofIat,
    /// `ath` is the token's hash.
    Ath,
    /// The proof's signature by its `jwk`.
    ProofSignature,
    /// The token's `cnf.jkt` is the proof key's thumbprint.
    Binding,
    /// The server nonce (`dpop_nonce`).
    Nonce,
    /// The `jti` was not seen before.
    Replay,
}

impl Check {
    fn label(self) -> &'static str {
        match self {
            Check::Credentials => "credentials",
            Check::TokenJws => "token JWS",
            Check::TokenTyp => "token typ",
            Check::Issuer => "issuer",
            Check::Keys => "keys",
            Check::Key => "key",
            Check::Signature => "signature",
            Check::ClaimTypes => "claim types",
            Check::Exp => "exp",
            Check::Nbf => "nbf",
            Check::Iat => "iat",
            Check::Audience => "aud",
            Check::Scopes => "scopes",
            Check::Certificate => "certificate",
            Check::Scheme => "scheme",
            Check::ProofJws => "proof JWS",
            Check::ProofTyp => "proof typ",
            Check::ProofAlg => "proof alg",
            Check::ProofJwk => "proof jwk",
            Check::ProofClaims => "proof claims",
            Check::Htm => "htm",
            Check::Htu => "htu",
            Check::ProofIat => "proof iat",
            Check::Ath => "ath",
            Check::ProofSignature => "proof signature",
            Check::Binding => "binding",
            Check::Nonce => "nonce",
            Check::Replay => "replay",
        }
    }
}

/// The check a refusal comes from.
pub fn check_of(error: &Error) -> Check {
    use JwsError as J;
    match error {
        Error::NoCredentials | Error::Request(_) => Check::Credentials,
        // The command line does not introspect: an opaque token, or mode `always`, stops here.
        Error::KeysUnavailable | Error::IntrospectionUnavailable => Check::Keys,
        Error::UseNonce => Check::Nonce,
        Error::Token(t) => match t {
            TokenError::Jws(J::KeyNotFound) => Check::Key,
            TokenError::Jws(J::SignatureInvalid | J::SignatureLength | J::KeyAlgMismatch | J::AlgNotAllowed) => {
                Check::Signature
            }
            TokenError::Jws(_) => Check::TokenJws,
            TokenError::Typ => Check::TokenTyp,
            TokenError::Issuer | TokenError::ClaimType("iss") => Check::Issuer,
            TokenError::ClaimType("aud") | TokenError::Audience => Check::Audience,
            TokenError::ExpMissing | TokenError::ClaimType(_) => Check::ClaimTypes,
            TokenError::Expired => Check::Exp,
            TokenError::NotYetValid => Check::Nbf,
            TokenError::IssuedInFuture => Check::Iat,
            TokenError::InsufficientScope(_) => Check::Scopes,
            TokenError::BoundTokenAsBearer | TokenError::UnboundTokenAsDpop | TokenError::DpopRequired => Check::Scheme,
            TokenError::JktMismatch | TokenError::TokenType | TokenError::IntrospectionBinding => Check::Binding,
            TokenError::Inactive => Check::TokenJws,
            TokenError::CertificateMissing
            | TokenError::CertificateMismatch
            | TokenError::CertificateRequired
            | TokenError::CertificateBindingDisabled => Check::Certificate,
        },
        Error::Proof(p) => match p {
            ProofError::Jws(J::AlgNotAllowed) => Check::ProofAlg,
            ProofError::Jws(J::SignatureInvalid | J::SignatureLength | J::KeyAlgMismatch) => Check::ProofSignature,
            ProofError::Jws(_) => Check::ProofJws,
            ProofError::Typ => Check::ProofTyp,
            ProofError::JwkMissing | ProofError::Jwk(_) => Check::ProofJwk,
            ProofError::Claim(_) => Check::ProofClaims,
            ProofError::Htm => Check::Htm,
            ProofError::Htu => Check::Htu,
            ProofError::IatTooOld | ProofError::IatInFuture => Check::ProofIat,
            ProofError::Ath => Check::Ath,
            ProofError::Replay | ProofError::ReplayStoreUnavailable => Check::Replay,
        },
    }
}

/// Fetches `url` (a `GET` with `accept: application/json`), reading at most `max` bytes.
pub type Fetcher<'a> = dyn FnMut(&FetchUrl, usize) -> Result<Vec<u8>, FetchError> + 'a;

/// What to explain.
pub struct Inputs<'a> {
    /// The filter configuration.
    pub config: &'a Config,
    /// The access token.
    pub token: &'a str,
    /// The `Authorization` scheme the client uses.
    pub scheme: Scheme,
    /// The `DPoP` header, if any.
    pub proof: Option<&'a str>,
    /// The request method.
    pub method: &'a str,
    /// The URL the client addressed (its scheme, `Host` and path are what the gateway sees).
    pub url: Option<&'a str>,
    /// Keys to use instead of fetching (`--jwks`); static keys in the configuration stay.
    pub jwks: Option<JwkSet>,
    /// The time of the decision.
    pub now: u64,
}

/// The verdict and its account.
pub struct Explanation {
    /// Whether the gateway forwards the request.
    pub allowed: bool,
    /// The check that refused it.
    pub failed: Option<Check>,
    /// The report: checks, decision, response.
    pub text: String,
}

#[derive(Clone)]
enum IssuerKeys {
    NotFetched,
    Ready(Rc<JwkSet>),
    Unavailable,
}

/// The filter's host state, natively: fetched keys, no token cache, a fresh replay store, and no
/// host nonce secret (the gateway's own random one cannot be known here).
struct NativeState {
    keys: Vec<IssuerKeys>,
    replay: MemoryReplayStore,
}

impl State for NativeState {
    fn keys(&self, index: usize) -> Keys<'_> {
        match self.keys.get(index) {
            Some(IssuerKeys::Ready(set)) => Keys::Ready(set),
            Some(IssuerKeys::NotFetched) => Keys::Pending,
            Some(IssuerKeys::Unavailable) | None => Keys::Unavailable,
        }
    }
    fn cached_token(&mut self, _hash: &[u8; 32]) -> Option<Rc<AccessToken>> {
        None
    }
    fn store_token(&mut self, _hash: [u8; 32], _token: Rc<AccessToken>) {}
    fn record_proof(&mut self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError> {
        self.replay.check_and_record(key, expires_at, now)
    }
}

/// Explains one request; `fetch` makes the key fetches the filter would make.
pub fn explain(inp: &Inputs<'_>, fetch: &mut Fetcher<'_>) -> Explanation {
    let cfg = inp.config;
    let scheme_name = match inp.scheme {
        Scheme::Bearer => "Bearer",
        Scheme::Dpop => "DPoP",
    };
    let authorization = format!("{scheme_name} {}", inp.token);
    let authorization = [authorization.as_str()];
    let proofs: Vec<&str> = inp.proof.into_iter().collect();
    let uri = inp.url.and_then(|u| request_uri(cfg, u));
    let req = Request { method: inp.method, authorization: &authorization, dpop: &proofs, uri: uri.as_deref() };

    let mut state = NativeState {
        keys: cfg
            .issuers
            .iter()
            .map(|i| match (&i.keys, &inp.jwks) {
                (KeySource::Static(set), _) => IssuerKeys::Ready(Rc::new(set.clone())),
                (_, Some(set)) => IssuerKeys::Ready(Rc::new(set.clone())),
                _ => IssuerKeys::NotFetched,
            })
            .collect(),
        replay: MemoryReplayStore::new(16),
    };
    let mut key_log: Vec<String> = Vec::new();
    let outcome = loop {
        match authz::authorize(cfg, &req, &mut state, inp.now) {
            Outcome::NeedKeys(i) if matches!(state.keys.get(i), Some(IssuerKeys::NotFetched)) => {
                let got = fetch_keys(&cfg.issuers[i], fetch, &mut key_log);
                state.keys[i] = got.map_or(IssuerKeys::Unavailable, |s| IssuerKeys::Ready(Rc::new(s)));
            }
            // Fetched a moment ago: the gateway's one refetch would find the same keys.
            Outcome::UnknownKid(_) => break Err(Outcome::unknown_kid_refusal()),
            Outcome::NeedKeys(_) => break Err(Error::KeysUnavailable),
            Outcome::Introspect(_) => break Err(Error::IntrospectionUnavailable),
            Outcome::Allow(grant) => break Ok(grant),
            Outcome::Deny(e) => break Err(e),
        }
    };
    let failed = outcome.as_ref().err().map(check_of);

    let mut rows: Vec<(Check, String)> = Vec::new();
    let facts = Facts::gather(inp, &req, &state);
    facts.rows(inp, &key_log, &mut rows);

    let mut text = String::new();
    for (check, detail) in &rows {
        let status = match failed {
            Some(f) if *check == f => "FAIL",
            Some(f) if *check > f => "--",
            _ => "ok",
        };
        let detail = match (failed, &outcome) {
            (Some(f), Err(e)) if *check == f => format!("{detail}\n{INDENT}=> {e}"),
            _ => detail.clone(),
        };
        let _ = writeln!(text, "  {status:<4}  {:<15} {detail}", check.label());
    }
    if let Some(f) = failed {
        if !rows.iter().any(|(c, _)| *c == f) {
            if let Err(e) = &outcome {
                let _ = writeln!(text, "  {:<4}  {:<15} {e}", "FAIL", f.label());
            }
        }
        if rows.iter().any(|(c, _)| *c > f) {
            let _ = writeln!(text, "  (--: not checked; the gateway stops at the first failure)");
        }
    }
    if cfg.dpop_nonce.as_ref().is_some_and(|n| n.secret.is_none()) && failed == Some(Check::Nonce) {
        let _ = writeln!(
            text,
            "  note: dpop_nonce has no secret here: the gateway's own random secret cannot be known, so this \
             tool refuses every nonce (configure dpop_nonce.secret to explain nonces)"
        );
    }

    match &outcome {
        Ok(grant) => {
            let _ = writeln!(text, "\ndecision: allowed; the upstream gets");
            let _ = writeln!(text, "  authorization: Bearer <the token, {} bytes>", inp.token.len());
            for (name, value) in &grant.headers {
                let _ = writeln!(text, "  {name}: {value}");
            }
            let _ = writeln!(text, "  (no dpop header; client copies of the claim headers removed)");
            if let Some(nonce) = &grant.nonce {
                let _ = writeln!(text, "  and the client gets a fresh dpop-nonce: {nonce}");
            }
        }
        Err(error) => {
            let mut refusal = challenge::refusal(error, Some(inp.scheme), cfg.dpop, &cfg.dpop_algs);
            if matches!(error, Error::UseNonce) {
                if let Some(nonce) = authz::fresh_nonce(cfg, &mut state, inp.now) {
                    refusal.headers.push(("dpop-nonce", nonce));
                }
            }
            let _ = writeln!(text, "\ndecision: refused ({}); the gateway answers", error.reason());
            let _ = writeln!(text, "  status: {}", refusal.status);
            for (name, value) in &refusal.headers {
                let _ = writeln!(text, "  {name}: {value}");
            }
            if matches!(error, Error::UseNonce) && !refusal.headers.iter().any(|(n, _)| *n == "dpop-nonce") {
                let _ = writeln!(text, "  dpop-nonce: <a fresh nonce under the gateway's secret>");
            }
            let _ = writeln!(text, "  body: {}", refusal.body);
        }
    }
    Explanation { allowed: outcome.is_ok(), failed, text }
}

/// The request URI as the gateway builds it from what the client sends: `public_base_url` (if
/// configured) or the URL's scheme and authority (the `Host` header), then the path and query.
fn request_uri(cfg: &Config, url: &str) -> Option<String> {
    let u = FetchUrl::parse(url)?;
    authz::request_uri(cfg.public_base_url.as_deref(), Some(&u.scheme), Some(&u.authority), &u.path)
}

/// Fetches an issuer's keys as the filter does, logging each step.
fn fetch_keys(issuer: &IssuerConfig, fetch: &mut Fetcher<'_>, log: &mut Vec<String>) -> Option<JwkSet> {
    let jwks_url = match &issuer.keys {
        KeySource::Static(set) => return Some(set.clone()),
        KeySource::JwksUri(url) => url.clone(),
        KeySource::Discovery(url) => {
            let got = fetch(url, discovery::MAX_DISCOVERY_BYTES)
                .and_then(|body| discovery::jwks_uri(&body, &issuer.issuer).map_err(FetchError::Discovery));
            match got {
                Ok(jwks_uri) => {
                    log.push(format!("discovery GET {url}: jwks_uri {jwks_uri}"));
                    jwks_uri
                }
                Err(e) => {
                    log.push(format!("discovery GET {url}: {e}"));
                    return None;
                }
            }
        }
    };
    match fetch(&jwks_url, jwks::MAX_JWKS_BYTES).and_then(|body| jwks::parse_jwks(&body)) {
        Ok(set) => {
            log.push(format!("JWKS GET {jwks_url}: {}", describe_keys(&set)));
            Some(set)
        }
        Err(e) => {
            log.push(format!("JWKS GET {jwks_url}: {e}"));
            None
        }
    }
}

fn describe_keys(set: &JwkSet) -> String {
    let kids: Vec<String> = set
        .keys
        .iter()
        .map(|k| match (&k.kid, k.alg) {
            (Some(kid), Some(alg)) => format!("{kid} ({})", alg.name()),
            (Some(kid), None) => kid.clone(),
            (None, Some(alg)) => format!("no kid ({})", alg.name()),
            (None, None) => "no kid".to_string(),
        })
        .collect();
    format!("{} usable key(s): {}", set.keys.len(), kids.join(", "))
}

/// What the checks look at, read again for display (never to decide).
struct Facts<'a> {
    creds: Result<authz::Credentials<'a>, Error>,
    token: Result<jws::Jws<'a>, JwsError>,
    issuer: Option<usize>,
    keys: Option<Rc<JwkSet>>,
    proof: Option<Result<jws::Jws<'a>, JwsError>>,
    uri: Option<String>,
}

impl<'a> Facts<'a> {
    fn gather(inp: &Inputs<'a>, req: &Request<'a>, state: &NativeState) -> Facts<'a> {
        let cfg = inp.config;
        let token = jws::parse(inp.token, cfg.max_token_bytes);
        let issuer = token
            .as_ref()
            .ok()
            .and_then(|t| t.claims.get("iss"))
            .and_then(Value::as_str)
            .and_then(|iss| cfg.issuer_index(iss));
        let keys = issuer.and_then(|i| match state.keys.get(i) {
            Some(IssuerKeys::Ready(set)) => Some(set.clone()),
            _ => None,
        });
        Facts {
            creds: authz::credentials(req, cfg.dpop),
            token,
            issuer,
            keys,
            proof: inp.proof.map(|p| jws::parse(p, cfg.max_token_bytes)),
            uri: req.uri.map(str::to_string),
        }
    }

    fn rows(&self, inp: &Inputs<'_>, key_log: &[String], rows: &mut Vec<(Check, String)>) {
        let cfg = inp.config;
        let now = inp.now;
        let skew = cfg.clock_skew;
        rows.push((
            Check::Credentials,
            match &self.creds {
                Ok(c) => format!(
                    "{} scheme, {}",
                    if c.scheme == Scheme::Dpop { "DPoP" } else { "Bearer" },
                    if c.proof.is_some() { "one DPoP proof header" } else { "no DPoP header" }
                ),
                Err(_) => format!("Authorization: {} <token, {} bytes>", scheme_label(inp.scheme), inp.token.len()),
            },
        ));
        let token = match &self.token {
            Ok(t) => t,
            Err(_) => {
                rows.push((Check::TokenJws, format!("{} bytes: not a compact JWS the filter reads", inp.token.len())));
                return;
            }
        };
        rows.push((
            Check::TokenJws,
            format!(
                "alg {}, kid {}, typ {}",
                token.header.alg.name(),
                token.header.kid.as_deref().unwrap_or("(none)"),
                token.header.typ.as_deref().unwrap_or("(none)")
            ),
        ));
        if cfg.require_at_jwt_typ {
            let typ = token.header.typ.as_deref().map_or("(none)".to_string(), |t| format!("{t:?}"));
            rows.push((Check::TokenTyp, format!("typ {typ}; require_at_jwt_typ: at+jwt")));
        }
        let claims = &token.claims;
        let iss = claims.get("iss").map_or("(none)".to_string(), show);
        rows.push((
            Check::Issuer,
            match self.issuer {
                Some(i) if cfg.issuers.len() > 1 => format!("iss {iss}: configured issuer #{i}"),
                Some(_) => format!("iss {iss}: the configured issuer"),
                None => format!(
                    "iss {iss}; configured: {}",
                    cfg.issuers.iter().map(|i| format!("{:?}", i.issuer)).collect::<Vec<_>>().join(", ")
                ),
            },
        ));
        let Some(index) = self.issuer else { return };
        let issuer = &cfg.issuers[index]; // ok: from issuer_index
        let source = match (&issuer.keys, &inp.jwks) {
            (KeySource::Static(set), _) => format!("static jwks in the configuration: {}", describe_keys(set)),
            (_, Some(set)) => format!("--jwks file (not fetched): {}", describe_keys(set)),
            (KeySource::Discovery(u) | KeySource::JwksUri(u), None) => {
                let target = issuer.upstream.clone().unwrap_or_else(|| u.default_upstream());
                let mut s = key_log.join(&format!("\n{INDENT}"));
                let _ = write!(
                    s,
                    "\n{INDENT}(the gateway's callouts go to upstream `{target}`: an Envoy cluster of that name, Kong's host:port)"
                );
                s
            }
        };
        rows.push((Check::Keys, source));
        let Some(keys) = &self.keys else { return };
        let verified = keys.verify(token);
        rows.push((
            Check::Key,
            match (&verified, &token.header.kid) {
                (Err(JwsError::KeyNotFound), Some(kid)) => {
                    format!("no key with kid {kid:?} for {}", token.header.alg.name())
                }
                (Err(JwsError::KeyNotFound), None) => {
                    format!("no key for {} (the token has no kid)", token.header.alg.name())
                }
                (_, Some(kid)) => format!("kid {kid:?} found"),
                (_, None) => format!("no kid: every key for {} tried", token.header.alg.name()),
            },
        ));
        rows.push((Check::Signature, format!("{} signature by the issuer's key", token.header.alg.name())));
        rows.push((Check::ClaimTypes, "exp present; exp, nbf, iat numbers; cnf an object".to_string()));
        rows.push((
            Check::Exp,
            match seconds(claims.get("exp")) {
                Some(exp) if now < exp => {
                    format!("exp {exp} ({}): expires in {} s (allowed skew {skew} s)", utc(exp), exp - now)
                }
                Some(exp) => format!("exp {exp} ({}): expired {} s ago (allowed skew {skew} s)", utc(exp), now - exp),
                None => format!("exp {}", claims.get("exp").map_or("(missing)".to_string(), show)),
            },
        ));
        rows.push((Check::Nbf, time_claim("nbf", claims, now, skew)));
        rows.push((Check::Iat, time_claim("iat", claims, now, skew)));
        rows.push((
            Check::Audience,
            if issuer.audiences.is_empty() {
                format!(
                    "aud {}: not checked (no audiences configured)",
                    claims.get("aud").map_or("(none)".to_string(), show)
                )
            } else {
                format!(
                    "aud {}; accepted: {}",
                    claims.get("aud").map_or("(none)".to_string(), show),
                    issuer.audiences.join(", ")
                )
            },
        ));
        rows.push((
            Check::Scopes,
            if issuer.scopes_required.is_empty() {
                "none required".to_string()
            } else {
                let granted: Vec<String> = ["scope", "scp"]
                    .iter()
                    .filter_map(|k| claims.get(*k).map(|v| format!("{k} {}", show(v))))
                    .collect();
                let granted = if granted.is_empty() { "none".to_string() } else { granted.join(", ") };
                format!("required: {}; granted: {granted}", issuer.scopes_required.join(" "))
            },
        ));
        let x5t = claims.get("cnf").and_then(|c| c.get("x5t#S256")).and_then(Value::as_str);
        rows.push((
            Check::Certificate,
            format!(
                "{}; mtls mode {}",
                x5t.map_or("not certificate-bound (no cnf.x5t#S256)".to_string(), |t| {
                    format!("bound to the client certificate with x5t#S256 {t} (this tool presents none)")
                }),
                match cfg.mtls {
                    MtlsMode::Optional => "optional",
                    MtlsMode::Required => "required",
                    MtlsMode::Disabled => "disabled",
                }
            ),
        ));
        let jkt = claims.get("cnf").and_then(|c| c.get("jkt")).and_then(Value::as_str);
        rows.push((
            Check::Scheme,
            format!(
                "{} scheme; token {}; dpop mode {}",
                scheme_label(inp.scheme),
                jkt.map_or("not DPoP-bound (no cnf.jkt)".to_string(), |j| format!("DPoP-bound (cnf.jkt {j})")),
                match cfg.dpop {
                    DpopMode::Optional => "optional",
                    DpopMode::Required => "required",
                    DpopMode::Disabled => "disabled",
                }
            ),
        ));
        if inp.scheme == Scheme::Dpop {
            self.proof_rows(inp, jkt, rows);
        }
    }

    fn proof_rows(&self, inp: &Inputs<'_>, jkt: Option<&str>, rows: &mut Vec<(Check, String)>) {
        let cfg = inp.config;
        let (now, skew) = (inp.now, cfg.clock_skew);
        let proof = match &self.proof {
            None => return,
            Some(Err(_)) => {
                rows.push((Check::ProofJws, "not a compact JWS the filter reads".to_string()));
                return;
            }
            Some(Ok(p)) => p,
        };
        let c = &proof.claims;
        rows.push((Check::ProofJws, format!("{} bytes", inp.proof.map_or(0, str::len))));
        rows.push((
            Check::ProofTyp,
            format!("typ {}", proof.header.typ.as_deref().map_or("(none)".to_string(), |t| format!("{t:?}"))),
        ));
        let algs: Vec<&str> = cfg.dpop_algs.iter().map(|a| a.name()).collect();
        rows.push((Check::ProofAlg, format!("alg {}; dpop_algs: {}", proof.header.alg.name(), algs.join(" "))));
        let key = proof.header.jwk.as_ref().map(Jwk::from_value);
        rows.push((
            Check::ProofJwk,
            match (&key, &proof.header.jwk) {
                (Some(Ok(k)), Some(v)) => format!(
                    "{} {}, thumbprint {}",
                    v.get("kty").and_then(Value::as_str).unwrap_or("?"),
                    v.get("crv").and_then(Value::as_str).unwrap_or(""),
                    k.thumbprint()
                ),
                (Some(Err(e)), _) => format!("unusable: {e}"),
                _ => "(no jwk in the header)".to_string(),
            },
        ));
        rows.push((Check::ProofClaims, format!("jti {}", c.get("jti").map_or("(missing)".to_string(), show))));
        let htm = c.get("htm").map_or("(missing)".to_string(), show);
        rows.push((Check::Htm, format!("htm {htm}; request method {:?}", inp.method)));
        let htu_claim = c.get("htu").and_then(Value::as_str);
        let norm = |u: Option<&str>| {
            u.and_then(htu::normalize).unwrap_or_else(|| "(not a comparable http(s) URI)".to_string())
        };
        rows.push((
            Check::Htu,
            format!(
                "htu {}\n{INDENT}  normalised {}\n{INDENT}request URI {}\n{INDENT}  normalised {}",
                htu_claim.map_or("(missing)".to_string(), |h| format!("{h:?}")),
                norm(htu_claim),
                self.uri.as_deref().map_or("(none: no --url)".to_string(), |u| format!("{u:?}")),
                norm(self.uri.as_deref()),
            ),
        ));
        rows.push((
            Check::ProofIat,
            match seconds(c.get("iat")) {
                Some(iat) if iat > now => format!("proof iat is {} s in the future (allowed skew {skew} s)", iat - now),
                Some(iat) => format!(
                    "proof iat is {} s old (allowed: dpop_max_age_seconds {} + skew {skew} s)",
                    now - iat,
                    cfg.dpop_max_age
                ),
                None => "no numeric iat".to_string(),
            },
        ));
        let ath = c.get("ath").map_or("(missing)".to_string(), show);
        rows.push((Check::Ath, format!("ath {ath}; SHA-256 of the token {:?}", dpop::ath_of(inp.token))));
        rows.push((Check::ProofSignature, format!("{} signature by the header's jwk", proof.header.alg.name())));
        let thumb = match &key {
            Some(Ok(k)) => k.thumbprint(),
            _ => "(no usable key)".to_string(),
        };
        rows.push((Check::Binding, format!("token cnf.jkt {}; proof key {thumb}", jkt.unwrap_or("(none)"))));
        rows.push((
            Check::Nonce,
            match &cfg.dpop_nonce {
                None => "no dpop_nonce configured".to_string(),
                Some(n) => format!(
                    "proof nonce {}; dpop_nonce step {} s",
                    c.get("nonce").map_or("(none)".to_string(), show),
                    n.step_seconds
                ),
            },
        ));
        rows.push((
            Check::Replay,
            format!(
                "jti first seen here; the gateway remembers it for {} s (dpop_max_age_seconds + skew)",
                cfg.dpop_max_age + skew
            ),
        ));
    }
}

fn scheme_label(s: Scheme) -> &'static str {
    match s {
        Scheme::Bearer => "Bearer",
        Scheme::Dpop => "DPoP",
    }
}

fn show(v: &Value) -> String {
    v.to_string()
}

/// A NumericDate as the filter reads it (non-negative, fractions truncated).
fn seconds(v: Option<&Value>) -> Option<u64> {
    let n = v?.as_number()?;
    n.as_u64().or_else(|| n.as_f64().filter(|f| (0.0..1.8e19).contains(f)).map(|f| f as u64))
}

fn time_claim(name: &str, claims: &Claims, now: u64, skew: u64) -> String {
    match (claims.get(name), seconds(claims.get(name))) {
        (None, _) => format!("{name} absent"),
        (Some(_), Some(t)) if t > now => {
            format!("{name} {t} ({}): {} s in the future (allowed skew {skew} s)", utc(t), t - now)
        }
        (Some(_), Some(t)) => format!("{name} {t} ({}): {} s ago", utc(t), now - t),
        (Some(v), None) => format!("{name} {}", show(v)),
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn utc(t: u64) -> String {
    let (days, secs) = ((t / 86_400) as i64, t % 86_400);
    // H. Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn checks_are_ordered_as_the_decision_makes_them() {
        use ProofError as P;
        let order = [
            check_of(&Error::NoCredentials),
            check_of(&Error::Token(TokenError::Jws(JwsError::Segments))),
            check_of(&Error::Token(TokenError::Typ)),
            check_of(&Error::Token(TokenError::Issuer)),
            check_of(&Error::KeysUnavailable),
            check_of(&Error::Token(TokenError::Jws(JwsError::KeyNotFound))),
            check_of(&Error::Token(TokenError::Jws(JwsError::SignatureInvalid))),
            check_of(&Error::Token(TokenError::ExpMissing)),
            check_of(&Error::Token(TokenError::Expired)),
            check_of(&Error::Token(TokenError::NotYetValid)),
            check_of(&Error::Token(TokenError::IssuedInFuture)),
            check_of(&Error::Token(TokenError::Audience)),
            check_of(&Error::Token(TokenError::InsufficientScope("s".into()))),
            check_of(&Error::Token(TokenError::BoundTokenAsBearer)),
            check_of(&Error::Proof(P::Jws(JwsError::Base64))),
            check_of(&Error::Proof(P::Typ)),
            check_of(&Error::Proof(P::Jws(JwsError::AlgNotAllowed))),
            check_of(&Error::Proof(P::JwkMissing)),
            check_of(&Error::Proof(P::Claim("jti"))),
            check_of(&Error::Proof(P::Htm)),
            check_of(&Error::Proof(P::Htu)),
            check_of(&Error::Proof(P::IatInFuture)),
            check_of(&Error::Proof(P::Ath)),
            check_of(&Error::Proof(P::Jws(JwsError::SignatureInvalid))),
            check_of(&Error::Token(TokenError::JktMismatch)),
            check_of(&Error::UseNonce),
            check_of(&Error::Proof(P::Replay)),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }
}
