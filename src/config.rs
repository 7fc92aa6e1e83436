//! The filter's configuration: one JSON document, the same in Envoy (`StringValue`) and in Kong
//! (filter chain `config`), parsed and validated once in `on_configure`.
//!
//! Parsing is strict (unknown fields are refused, so a typo such as `audience` cannot silently
//! turn a check off) and every error names the field at fault, because the operator's only view of
//! it is one log line while the host refuses the listener or the filter chain.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::jose::alg::Algorithm;
use crate::jose::jwk::JwkSet;
use crate::dpop::nonce::Secret;

/// How DPoP is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpopMode {
    /// A DPoP-bound token (`cnf.jkt`) needs a valid proof under the `DPoP` scheme; a plain token
    /// passes as `Bearer`. The default.
    Optional,
    /// Only DPoP-bound tokens with a valid proof pass.
    Required,
    /// The `DPoP` scheme is refused. DPoP-bound tokens are still refused as `Bearer`: a token
    /// bound to a key must never be usable without that key.
    Disabled,
}

/// `dpop_nonce`: server nonces (RFC 9449 section 9). When configured, every DPoP proof must carry a
/// nonce this filter issued (see [`crate::dpop::nonce`]): a nonce that is not required protects nothing,
/// so there is no "optional" form.
#[derive(Debug, Clone)]
pub struct NonceConfig {
    /// `secret` (unpadded base64url, 32 to 64 bytes): share it between gateways that must accept
    /// each other's nonces. Default: a random secret made by the first worker and shared by all
    /// workers of this host through shared data.
    pub secret: Option<Secret>,
    /// `step_seconds`, default 60 (10-3600): a nonce is accepted in its step and the next.
    pub step_seconds: u64,
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery(FetchUrl),
    /// A configured `jwks_uri`.
    JwksUri(FetchUrl),
    /// A static JWK set from the configuration: nothing is fetched.
    Static(JwkSet),
}

/// One trusted issuer and what its tokens must carry.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// Must equal the token's `iss` exactly.
    pub issuer: String,
    /// Where the keys come from.
    pub keys: KeySource,
    /// Callout target for this issuer's fetches; `None`: the `host:port` of the fetched URL.
    pub upstream: Option<String>,
    /// Any-of; empty means `aud` is not checked.
    pub audiences: Vec<String>,
    /// All-of, from `scope` (space-separated) or `scp` (array).
    pub scopes_required: Vec<String>,
}

/// A claim copied to an upstream request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHeader {
    /// The claim path, split on `.`: `realm_access.roles` is `["realm_access", "roles"]`.
    pub path: Vec<String>,
    /// The header name, lower-cased.
    pub header: String,
}

/// The validated configuration. Field docs give the JSON name and default.
#[derive(Debug, Clone)]
pub struct Config {
    /// `issuer` or `issuers`: at least one.
    pub issuers: Vec<IssuerConfig>,
    /// `dpop`, default `optional`.
    pub dpop: DpopMode,
    /// `dpop_algs`, default every implemented algorithm.
    pub dpop_algs: Vec<Algorithm>,
    /// `dpop_max_age_seconds`, default 60: how old a proof's `iat` may be.
    pub dpop_max_age: u64,
    /// `clock_skew_seconds`, default 60 (as Envoy's `jwt_authn`): leeway for `exp`, `nbf`, `iat`.
    pub clock_skew: u64,
    /// `public_base_url` (`scheme://host[:port]`): the origin used to build `htu` when TLS ends in
    /// front of the proxy. Default: `http://` plus the request's `Host` header.
    pub public_base_url: Option<String>,
    /// `claims_to_headers`, default none.
    pub claims_to_headers: Vec<ClaimHeader>,
    /// `jwks_refresh_seconds`, default 300: background key refresh period.
    pub jwks_refresh: u64,
    /// `jwks_min_refetch_seconds`, default 30: at most one refetch per issuer in this interval when
    /// a token names an unknown `kid`.
    pub jwks_min_refetch: u64,
    /// `http_timeout_ms`, default 5000: timeout of discovery and JWKS callouts.
    pub http_timeout_ms: u64,
    /// `max_token_bytes`, default 8192: longer tokens and proofs are refused before decoding.
    pub max_token_bytes: usize,
    /// `token_cache_entries`, default 1024: verified tokens cached per worker (0 disables).
    pub token_cache_entries: usize,
    /// `dpop_nonce`, default none (no nonces).
    pub dpop_nonce: Option<NonceConfig>,
}

/// A configuration error: the field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The JSON path of the field, e.g. `issuers[1].jwks_uri`; empty for the document itself.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid configuration: {}", self.problem)
        } else {
            write!(f, "invalid configuration: field `{}`: {}", self.field, self.problem)
        }
    }
}

fn err(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError { field: field.into(), problem: problem.into() }
}

/// An `http(s)` URL split the way a callout needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` as written (lower-cased); the `:authority` of the callout.
    pub authority: String,
    /// Path and query, at least `/`; the `:path` of the callout.
    pub path: String,
}

/// The URL as written back: `scheme://authority/path`, which [`FetchUrl::parse`] reads again.
impl fmt::Display for FetchUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.path)
    }
}

impl FetchUrl {
    /// Parses an absolute `http`/`https` URL without userinfo or fragment.
    pub fn parse(url: &str) -> Option<FetchUrl> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        if url.len() > 2048 || url.contains('#') || url.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return None;
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        // `host`, `host:port`, `[v6]` or `[v6]:port`.
        let port = match authority.strip_prefix('[') {
            Some(v6) => {
                let (_, after) = v6.split_once(']')?;
                if after.is_empty() {
                    None
                } else {
                    Some(after.strip_prefix(':')?)
                }
            }
            None => match authority.split_once(':') {
                Some((host, port)) if !host.is_empty() => Some(port),
                Some(_) => return None,
                None => None,
            },
        };
        if let Some(port) = port {
            if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
        }
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Some(FetchUrl { scheme, authority: authority.to_ascii_lowercase(), path })
    }

    /// The callout target when none is configured: the URL's `host:port`, with the scheme's
    /// default port made explicit, so the same name works as a Kong target and an Envoy cluster.
    pub fn default_upstream(&self) -> String {
        let has_port = match self.authority.strip_prefix('[') {
            Some(v6) => v6.contains("]:"),
            None => self.authority.contains(':'),
        };
        if !has_port {
            let port = if self.scheme == "https" { 443 } else { 80 };
            format!("{}:{}", self.authority, port)
        } else {
            self.authority.clone()
        }
    }
}

/// The JSON document, as written by the operator.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: Option<String>,
    jwks_uri: Option<String>,
    jwks: Option<Value>,
    upstream: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default)]
    scopes_required: Vec<String>,
    issuers: Option<Vec<RawIssuer>>,
    dpop: Option<DpopMode>,
    dpop_algs: Option<Vec<String>>,
    dpop_max_age_seconds: Option<u64>,
    clock_skew_seconds: Option<u64>,
    public_base_url: Option<String>,
    #[serde(default)]
    claims_to_headers: serde_json::Map<String, Value>,
    jwks_refresh_seconds: Option<u64>,
    jwks_min_refetch_seconds: Option<u64>,
    http_timeout_ms: Option<u64>,
    max_token_bytes: Option<usize>,
    token_cache_entries: Option<usize>,
    dpop_nonce: Option<RawNonce>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNonce {
    secret: Option<String>,
    step_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    issuer: String,
    jwks_uri: Option<String>,
    jwks: Option<Value>,
    upstream: Option<String>,
    audiences: Option<Vec<String>>,
    scopes_required: Option<Vec<String>>,
}

/// Headers the filter owns or the host needs intact; a claim may not be written into them.
const RESERVED_HEADERS: [&str; 8] =
    ["authorization", "dpop", "host", "content-length", "transfer-encoding", "connection", "te", "upgrade"];

/// Largest configuration document accepted (a static JWK set makes up most of it).
const MAX_CONFIG_BYTES: usize = 256 * 1024;

impl Config {
    /// Parses and validates the configuration document.
    pub fn parse(json: &[u8]) -> Result<Config, ConfigError> {
        if json.len() > MAX_CONFIG_BYTES {
            return Err(err("", format!("document is larger than {MAX_CONFIG_BYTES} bytes")));
        }
        let raw: RawConfig = serde_json::from_slice(json).map_err(|e| err("", e.to_string()))?;
        let issuers = match raw.issuers {
            Some(list) => {
                if raw.issuer.is_some() || raw.jwks_uri.is_some() || raw.jwks.is_some() {
                    return Err(err("issuers", "use either `issuer` (with `jwks_uri`/`jwks`) or `issuers`, not both"));
                }
                if list.is_empty() {
                    return Err(err("issuers", "must list at least one issuer"));
                }
                // Top-level defaults are checked even when every entry overrides them.
                check_shared("", raw.upstream.as_deref(), &raw.audiences, &raw.scopes_required)?;
                let mut out = Vec::with_capacity(list.len());
                for (i, entry) in list.into_iter().enumerate() {
                    let at = format!("issuers[{i}]");
                    let issuer = issuer_config(
                        &at,
                        entry.issuer,
                        entry.jwks_uri,
                        entry.jwks,
                        entry.upstream.or_else(|| raw.upstream.clone()),
                        entry.audiences.unwrap_or_else(|| raw.audiences.clone()),
                        entry.scopes_required.unwrap_or_else(|| raw.scopes_required.clone()),
                    )?;
                    if out.iter().any(|o: &IssuerConfig| o.issuer == issuer.issuer) {
                        return Err(err(format!("{at}.issuer"), "is listed twice"));
                    }
                    out.push(issuer);
                }
                out
            }
            None => {
                let issuer = raw.issuer.ok_or_else(|| err("issuer", "is required (or `issuers`)"))?;
                let one = issuer_config(
                    "",
                    issuer,
                    raw.jwks_uri,
                    raw.jwks,
                    raw.upstream,
                    raw.audiences,
                    raw.scopes_required,
                )?;
                alloc::vec![one]
            }
        };

        let dpop_algs = match raw.dpop_algs {
            None => Algorithm::ALL.to_vec(),
            Some(names) => {
                if names.is_empty() {
                    return Err(err("dpop_algs", "must list at least one algorithm"));
                }
                let mut algs = Vec::with_capacity(names.len());
                for name in &names {
                    let alg = Algorithm::from_name(name)
                        .map_err(|_| err("dpop_algs", format!("`{name}` is not a supported asymmetric algorithm")))?;
                    if !algs.contains(&alg) {
                        algs.push(alg);
                    }
                }
                algs
            }
        };

        let public_base_url = match raw.public_base_url {
            None => None,
            Some(url) => Some(public_base(&url).ok_or_else(|| {
                err("public_base_url", "must be `http(s)://host[:port]` with no path, query or fragment")
            })?),
        };

        let mut claims_to_headers = Vec::with_capacity(raw.claims_to_headers.len());
        for (claim, header) in raw.claims_to_headers {
            let field = format!("claims_to_headers.{claim}");
            let header = match header {
                Value::String(h) => h.to_ascii_lowercase(),
                _ => return Err(err(field, "header name must be a string")),
            };
            if !is_header_name(&header) {
                return Err(err(field, format!("`{header}` is not a valid header name")));
            }
            if RESERVED_HEADERS.contains(&header.as_str()) {
                return Err(err(field, format!("`{header}` is reserved")));
            }
            if claims_to_headers.iter().any(|c: &ClaimHeader| c.header == header) {
                return Err(err(field, format!("header `{header}` is used twice")));
            }
            let path: Vec<String> = claim.split('.').map(ToOwned::to_owned).collect();
            if path.iter().any(String::is_empty) {
                return Err(err(field, "claim path has an empty segment"));
            }
            claims_to_headers.push(ClaimHeader { path, header });
        }

        let dpop_max_age = bounded("dpop_max_age_seconds", raw.dpop_max_age_seconds, 60, 1, 3600)?;
        let clock_skew = bounded("clock_skew_seconds", raw.clock_skew_seconds, 60, 0, 3600)?;
        let jwks_refresh = bounded("jwks_refresh_seconds", raw.jwks_refresh_seconds, 300, 10, 86_400)?;
        let jwks_min_refetch = bounded("jwks_min_refetch_seconds", raw.jwks_min_refetch_seconds, 30, 1, 86_400)?;
        let http_timeout_ms = bounded("http_timeout_ms", raw.http_timeout_ms, 5000, 100, 60_000)?;
        let max_token_bytes = bounded("max_token_bytes", raw.max_token_bytes.map(|v| v as u64), 8192, 256, 65_536)?;
        let token_cache_entries =
            bounded("token_cache_entries", raw.token_cache_entries.map(|v| v as u64), 1024, 0, 100_000)?;
        let dpop = raw.dpop.unwrap_or(DpopMode::Optional);
        let dpop_nonce = match raw.dpop_nonce {
            None => None,
            Some(_) if dpop == DpopMode::Disabled => {
                return Err(err("dpop_nonce", "needs `dpop` to be `optional` or `required`"))
            }
            Some(n) => Some(NonceConfig {
                secret: match n.secret {
                    None => None,
                    Some(text) => Some(
                        Secret::from_base64url(&text)
                            .ok_or_else(|| err("dpop_nonce.secret", "must be unpadded base64url of 32 to 64 bytes"))?,
                    ),
                },
                step_seconds: bounded("dpop_nonce.step_seconds", n.step_seconds, 60, 10, 3600)?,
            }),
        };

        Ok(Config {
            issuers,
            dpop,
            dpop_algs,
            dpop_max_age,
            clock_skew,
            public_base_url,
            claims_to_headers,
            jwks_refresh,
            jwks_min_refetch,
            http_timeout_ms,
            max_token_bytes: max_token_bytes as usize,
            token_cache_entries: token_cache_entries as usize,
            dpop_nonce,
        })
    }

    /// The issuer entry for a token's `iss`, by exact string equality.
    pub fn issuer_index(&self, iss: &str) -> Option<usize> {
        self.issuers.iter().position(|i| i.issuer == iss)
    }
}

fn bounded(field: &str, value: Option<u64>, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(err(field, format!("must be between {min} and {max}")));
    }
    Ok(v)
}

fn issuer_config(
    at: &str,
    issuer: String,
    jwks_uri: Option<String>,
    jwks: Option<Value>,
    upstream: Option<String>,
    audiences: Vec<String>,
    scopes_required: Vec<String>,
) -> Result<IssuerConfig, ConfigError> {
    let field = |name: &str| {
        if at.is_empty() {
            name.to_owned()
        } else {
            format!("{at}.{name}")
        }
    };
    let issuer_url = FetchUrl::parse(&issuer)
        .filter(|u| !u.path.contains('?'))
        .ok_or_else(|| err(field("issuer"), "must be an absolute http(s) URL without query or fragment"))?;
    let keys = match (jwks_uri, jwks) {
        (Some(_), Some(_)) => return Err(err(field("jwks"), "use either `jwks_uri` or `jwks`, not both")),
        (Some(uri), None) => KeySource::JwksUri(
            FetchUrl::parse(&uri).ok_or_else(|| err(field("jwks_uri"), "must be an absolute http(s) URL"))?,
        ),
        (None, Some(doc)) => {
            let bytes = serde_json::to_vec(&doc).map_err(|e| err(field("jwks"), e.to_string()))?;
            let set = JwkSet::parse(&bytes).map_err(|e| err(field("jwks"), e.to_string()))?;
            if set.keys.is_empty() {
                return Err(err(field("jwks"), "holds no usable verification key"));
            }
            KeySource::Static(set)
        }
        (None, None) => {
            let base = issuer_url.path.trim_end_matches('/');
            let path = format!("{base}/.well-known/openid-configuration");
            KeySource::Discovery(FetchUrl { path, ..issuer_url })
        }
    };
    check_shared(at, upstream.as_deref(), &audiences, &scopes_required)?;
    Ok(IssuerConfig { issuer, keys, upstream, audiences, scopes_required })
}

/// Checks the fields an issuer entry may inherit from the top level; `at` prefixes field names.
fn check_shared(at: &str, upstream: Option<&str>, audiences: &[String], scopes: &[String]) -> Result<(), ConfigError> {
    let field = |name: &str| if at.is_empty() { name.to_owned() } else { format!("{at}.{name}") };
    if let Some(u) = upstream {
        if u.is_empty() || u.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return Err(err(field("upstream"), "must be a non-empty cluster name or host:port"));
        }
    }
    if audiences.iter().any(String::is_empty) {
        return Err(err(field("audiences"), "entries must be non-empty"));
    }
    if scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
        return Err(err(field("scopes_required"), "entries must be non-empty scope names without spaces"));
    }
    Ok(())
}

/// `scheme://host[:port]`, lower-cased, with a default port removed so it compares like `htu`.
fn public_base(url: &str) -> Option<String> {
    let u = FetchUrl::parse(url.trim_end_matches('/'))?;
    if u.path != "/" {
        return None;
    }
    let default = if u.scheme == "https" { ":443" } else { ":80" };
    let authority = u.authority.strip_suffix(default).unwrap_or(&u.authority);
    Some(format!("{}://{}", u.scheme, authority))
}

/// RFC 9110 `token` characters, which is what a header field name is.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
