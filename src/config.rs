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
use core::cell::Cell;
use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::dpop::nonce::Secret;
use crate::error::JwkError;
use crate::jose::alg::Algorithm;
use crate::jose::jwk::{Jwk, JwkSet};

/// How DPoP is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// How certificate-bound access tokens (RFC 8705 section 3, `cnf.x5t#S256`) are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtlsMode {
    /// A certificate-bound token needs the client certificate it is bound to; other tokens pass.
    /// The default.
    Optional,
    /// Only certificate-bound tokens with their certificate pass.
    Required,
    /// Certificate-bound tokens are refused: a token bound to a key must never be usable without
    /// that key, and this gateway does not look at certificates.
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
    /// `introspection` (RFC 7662), default none: this issuer's tokens are validated locally only.
    pub introspection: Option<IntrospectionConfig>,
}

/// Which tokens of an issuer are introspected (`introspection.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntrospectionMode {
    /// `"off"`, the default: nothing is introspected (the other fields are still checked).
    Off,
    /// `"opaque"`: tokens that are not JWTs (not three dot-separated segments) are introspected;
    /// JWTs are validated locally as without introspection.
    Opaque,
    /// `"always"`: opaque tokens as with `opaque`, and every JWT is validated locally *and*
    /// introspected, so a revoked JWT is refused within `cache_seconds`.
    Always,
}

/// How the gateway authenticates to the introspection endpoint (RFC 7662 section 2.1 leaves it
/// to the server; RFC 6749 section 2.3.1 defines both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`, the default: `Authorization: Basic` of the form-encoded id and secret.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// A client secret: its `Debug` never shows it, so a logged configuration cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: &str) -> ClientSecret {
        ClientSecret(secret.to_owned())
    }
    /// The secret itself, for the callout's credentials only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// An issuer's `introspection` (RFC 7662; RFC 9701 for JWT responses).
#[derive(Debug, Clone)]
pub struct IntrospectionConfig {
    /// `endpoint`; `None`: `introspection_endpoint` from the issuer's discovery document.
    pub endpoint: Option<FetchUrl>,
    /// `client_id` of the gateway at the authorization server (required).
    pub client_id: String,
    /// `client_secret` (required).
    pub client_secret: ClientSecret,
    /// `auth`, default `client_secret_basic`.
    pub auth: ClientAuth,
    /// `mode`, default `off`.
    pub mode: IntrospectionMode,
    /// `cache_seconds`, default 60 (0-3600): how long an active answer is used, never past the
    /// token's `exp`. It bounds how long a revoked token keeps passing.
    pub cache_seconds: u64,
    /// `negative_cache_seconds`, default 10 (0-3600): how long an `active: false` answer is used.
    pub negative_cache_seconds: u64,
    /// `jwt_response`, default false: ask for and require RFC 9701 signed answers
    /// (`application/token-introspection+jwt`), verified with the issuer's keys.
    pub jwt_response: bool,
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
    /// `require_at_jwt_typ`, default false: the access token's JOSE header `typ` must be `at+jwt`
    /// (RFC 9068 section 4). Off by default because Keycloak issues `typ: JWT`.
    pub require_at_jwt_typ: bool,
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
    /// `mtls`, default `optional`.
    pub mtls: MtlsMode,
    /// `mtls_certificate_header` (lower-cased), default none: TLS ends at a proxy in front, which
    /// forwards the client certificate in this request header as URL-encoded PEM. Only then is a
    /// header ever read as a certificate, and then the connection's own certificate is not.
    pub mtls_certificate_header: Option<String>,
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

/// The top-level fields, in the README's order. The parser reads these and refuses any other, so a
/// field it accepts is necessarily in this list (the tests rely on that to cover every field).
pub const FIELDS: [&str; 23] = [
    "issuer",
    "jwks_uri",
    "jwks",
    "upstream",
    "audiences",
    "scopes_required",
    "introspection",
    "issuers",
    "clock_skew_seconds",
    "require_at_jwt_typ",
    "dpop",
    "dpop_algs",
    "dpop_max_age_seconds",
    "dpop_nonce",
    "mtls",
    "mtls_certificate_header",
    "public_base_url",
    "claims_to_headers",
    "jwks_refresh_seconds",
    "jwks_min_refetch_seconds",
    "http_timeout_ms",
    "max_token_bytes",
    "token_cache_entries",
];

/// The fields of one `issuers[...]` entry.
pub const ISSUER_FIELDS: [&str; 7] =
    ["issuer", "jwks_uri", "jwks", "upstream", "audiences", "scopes_required", "introspection"];

/// The fields of `introspection`.
pub const INTROSPECTION_FIELDS: [&str; 8] = [
    "endpoint",
    "client_id",
    "client_secret",
    "auth",
    "mode",
    "cache_seconds",
    "negative_cache_seconds",
    "jwt_response",
];

/// The fields of `dpop_nonce`.
pub const NONCE_FIELDS: [&str; 2] = ["secret", "step_seconds"];

/// Headers the filter owns or the host needs intact; a claim may not be written into them.
const RESERVED_HEADERS: [&str; 8] =
    ["authorization", "dpop", "host", "content-length", "transfer-encoding", "connection", "te", "upgrade"];

/// Largest configuration document accepted (a static JWK set makes up most of it).
const MAX_CONFIG_BYTES: usize = 256 * 1024;

// What each field expects, in the README's words: the second half of "expected ..., got ...".
const EXPECT_DOCUMENT: &str = r#"a JSON object such as {"issuer": "https://idp.example.com/realms/acme"}"#;
const EXPECT_ISSUER: &str = r#"the issuer URL as a string, such as "https://idp.example.com/realms/acme""#;
const EXPECT_JWKS_URI: &str = r#"a URL as a string, such as "https://idp.example.com/certs""#;
const EXPECT_JWKS: &str = r#"a JWK set: an object such as {"keys": [...]}"#;
const EXPECT_UPSTREAM: &str = "a string: an Envoy cluster name or a Kong host:port";
const EXPECT_AUDIENCES: &str = r#"an array of strings, such as ["https://api.example.com"]"#;
const EXPECT_SCOPES: &str = r#"an array of strings, such as ["orders:write"]"#;
const EXPECT_ISSUERS: &str = r#"an array of issuer objects, such as [{"issuer": "https://idp.example.com"}]"#;
const EXPECT_ISSUER_ENTRY: &str = r#"an object such as {"issuer": "https://idp.example.com"}"#;
const EXPECT_MODE: &str = r#"one of "optional", "required", "disabled""#;
const EXPECT_ALGS: &str = r#"an array of algorithm names, such as ["ES256", "EdDSA"]"#;
const EXPECT_BASE_URL: &str = r#"a string such as "https://api.example.com""#;
const EXPECT_CLAIMS: &str = r#"an object mapping claim paths to header names, such as {"sub": "x-auth-sub"}"#;
const EXPECT_HEADER: &str = r#"a header name as a string, such as "x-auth-sub""#;
const EXPECT_CERT_HEADER: &str = r#"a header name as a string, such as "x-client-cert""#;
const EXPECT_NONCE: &str = r#"an object such as {"step_seconds": 60}, or {} for the defaults"#;
const EXPECT_BOOL: &str = "true or false";
const EXPECT_SECRET: &str = "a string: unpadded base64url of 32 to 64 bytes";
const EXPECT_INTROSPECTION: &str = r#"an object such as {"mode": "opaque", "client_id": "gateway", "client_secret": "..."}"#;
const EXPECT_ENDPOINT: &str = r#"a URL as a string, such as "https://idp.example.com/realms/acme/protocol/openid-connect/token/introspect""#;
const EXPECT_CLIENT_ID: &str = r#"a string such as "gateway""#;
const EXPECT_CLIENT_SECRET: &str = "a string: the client secret";
const EXPECT_AUTH: &str = r#"one of "client_secret_basic", "client_secret_post""#;
const EXPECT_INTROSPECTION_MODE: &str = r#"one of "off", "opaque", "always""#;

impl Config {
    /// Parses and validates the configuration document.
    ///
    /// The document is read into a JSON value first and then walked field by field, rather than
    /// deserialized into Rust types, so that every refusal can name the field (`issuers[1].audiences[0]`)
    /// and say what it expects in the README's words instead of serde's (`expected u64`).
    pub fn parse(json: &[u8]) -> Result<Config, ConfigError> {
        if json.len() > MAX_CONFIG_BYTES {
            return Err(err("", format!("document is larger than {MAX_CONFIG_BYTES} bytes")));
        }
        let doc = read_json(json)?;
        let top = Object::new(String::new(), &doc, EXPECT_DOCUMENT, &FIELDS)?;

        // The fields an `issuers` entry inherits, checked even when every entry overrides them.
        // Unlike most fields, these (and `claims_to_headers`) refuse `null`, as the Kong schema
        // does: their default is an empty list, not "unset".
        let upstream = top.opt("upstream").map(|(f, v)| read_upstream(&f, v)).transpose()?;
        let audiences = match top.present("audiences") {
            None => Vec::new(),
            Some((f, v)) => read_audiences(&f, v)?,
        };
        let scopes_required = match top.present("scopes_required") {
            None => Vec::new(),
            Some((f, v)) => read_scopes(&f, v)?,
        };
        let issuer = top.opt("issuer").map(|(f, v)| string(&f, v, EXPECT_ISSUER)).transpose()?;
        let jwks_uri = top.opt("jwks_uri").map(|(f, v)| string(&f, v, EXPECT_JWKS_URI)).transpose()?;
        let jwks = top.opt("jwks");
        let introspection = top.opt("introspection");

        let issuers = match top.opt("issuers") {
            Some((field, list)) => {
                if issuer.is_some() || jwks_uri.is_some() || jwks.is_some() {
                    return Err(err(field, "use either `issuer` (with `jwks_uri`/`jwks`) or `issuers`, not both"));
                }
                if let Some((f, _)) = introspection {
                    return Err(err(f, "with `issuers`, give `introspection` in each entry that needs it"));
                }
                let list = list.as_array().ok_or_else(|| wrong(&field, EXPECT_ISSUERS, list))?;
                if list.is_empty() {
                    return Err(err(field, "must list at least one issuer"));
                }
                let mut out = Vec::with_capacity(list.len());
                for (i, entry) in list.iter().enumerate() {
                    let entry = Object::new(format!("{field}[{i}]"), entry, EXPECT_ISSUER_ENTRY, &ISSUER_FIELDS)?;
                    let (issuer_field, issuer) = match entry.present("issuer") {
                        None => return Err(err(entry.field("issuer"), "is required: the issuer URL of this entry")),
                        Some((f, v)) => (f.clone(), string(&f, v, EXPECT_ISSUER)?),
                    };
                    let issuer = issuer_config(
                        &entry,
                        issuer,
                        entry.opt("jwks_uri").map(|(f, v)| string(&f, v, EXPECT_JWKS_URI)).transpose()?,
                        entry.opt("jwks"),
                        match entry.opt("upstream") {
                            Some((f, v)) => Some(read_upstream(&f, v)?),
                            None => upstream.clone(),
                        },
                        match entry.opt("audiences") {
                            Some((f, v)) => read_audiences(&f, v)?,
                            None => audiences.clone(),
                        },
                        match entry.opt("scopes_required") {
                            Some((f, v)) => read_scopes(&f, v)?,
                            None => scopes_required.clone(),
                        },
                        entry.opt("introspection"),
                    )?;
                    if out.iter().any(|o: &IssuerConfig| o.issuer == issuer.issuer) {
                        return Err(err(issuer_field, "is listed twice"));
                    }
                    out.push(issuer);
                }
                out
            }
            None => {
                let issuer = issuer.ok_or_else(|| err("issuer", "is required (or `issuers`)"))?;
                alloc::vec![issuer_config(
                    &top,
                    issuer,
                    jwks_uri,
                    jwks,
                    upstream,
                    audiences,
                    scopes_required,
                    introspection
                )?]
            }
        };
        // An opaque token names no issuer: only one issuer can be the one that introspects them.
        let opaque: Vec<&IssuerConfig> = issuers
            .iter()
            .filter(|i| i.introspection.as_ref().is_some_and(|c| c.mode != IntrospectionMode::Off))
            .collect();
        if let [_, second, ..] = opaque.as_slice() {
            let at = issuers.iter().position(|i| i.issuer == second.issuer).unwrap_or_default();
            return Err(err(
                format!("issuers[{at}].introspection.mode"),
                "only one issuer may introspect tokens: an opaque token does not say which issuer made it",
            ));
        }

        let dpop_algs = match top.opt("dpop_algs") {
            None => Algorithm::ALL.to_vec(),
            Some((field, v)) => {
                let names = array(&field, v, EXPECT_ALGS)?;
                if names.is_empty() {
                    return Err(err(field, "must list at least one algorithm"));
                }
                let expected = format!("an algorithm name, one of {}", quoted(Algorithm::ALL.map(Algorithm::name)));
                let mut algs = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let at = format!("{field}[{i}]");
                    let name = string(&at, name, &expected)?;
                    let alg = Algorithm::from_name(name).map_err(|_| {
                        err(&*at, format!("`{name}` is not a supported asymmetric algorithm; expected {expected}"))
                    })?;
                    if !algs.contains(&alg) {
                        algs.push(alg);
                    }
                }
                algs
            }
        };

        let public_base_url = match top.opt("public_base_url") {
            None => None,
            Some((field, v)) => {
                let url = string(&field, v, EXPECT_BASE_URL)?;
                Some(
                    public_base(url)
                        .ok_or_else(|| err(field, "must be `http(s)://host[:port]` with no path, query or fragment"))?,
                )
            }
        };

        let claims_to_headers = match top.present("claims_to_headers") {
            None => Vec::new(),
            Some((field, v)) => claim_headers(&field, v)?,
        };

        let dpop_max_age = whole(top.opt("dpop_max_age_seconds"), "seconds", 60, 1, 3600)?;
        let clock_skew = whole(top.opt("clock_skew_seconds"), "seconds", 60, 0, 3600)?;
        let require_at_jwt_typ = boolean(top.opt("require_at_jwt_typ"), false)?;
        let jwks_refresh = whole(top.opt("jwks_refresh_seconds"), "seconds", 300, 10, 86_400)?;
        let jwks_min_refetch = whole(top.opt("jwks_min_refetch_seconds"), "seconds", 30, 1, 86_400)?;
        let http_timeout_ms = whole(top.opt("http_timeout_ms"), "milliseconds", 5000, 100, 60_000)?;
        let max_token_bytes = whole(top.opt("max_token_bytes"), "bytes", 8192, 256, 65_536)?;
        let token_cache_entries = whole(top.opt("token_cache_entries"), "entries", 1024, 0, 100_000)?;
        let dpop = mode(top.opt("dpop"), [DpopMode::Optional, DpopMode::Required, DpopMode::Disabled])?;
        let mtls = mode(top.opt("mtls"), [MtlsMode::Optional, MtlsMode::Required, MtlsMode::Disabled])?;
        let mtls_certificate_header = match top.opt("mtls_certificate_header") {
            None => None,
            Some((field, v)) => {
                let header = string(&field, v, EXPECT_CERT_HEADER)?.to_ascii_lowercase();
                if mtls == MtlsMode::Disabled {
                    return Err(err(field, "needs `mtls` to be `optional` or `required`"));
                }
                if !is_header_name(&header) {
                    return Err(err(field, format!("`{header}` is not a valid header name")));
                }
                if RESERVED_HEADERS.contains(&header.as_str()) {
                    return Err(err(field, format!("`{header}` is reserved")));
                }
                if claims_to_headers.iter().any(|c| c.header == header) {
                    return Err(err(field, format!("`{header}` is also in `claims_to_headers`")));
                }
                Some(header)
            }
        };
        let dpop_nonce = match top.opt("dpop_nonce") {
            None => None,
            Some((field, v)) => {
                let n = Object::new(field, v, EXPECT_NONCE, &NONCE_FIELDS)?;
                if dpop == DpopMode::Disabled {
                    return Err(err("dpop_nonce", "needs `dpop` to be `optional` or `required`"));
                }
                let secret = match n.opt("secret") {
                    None => None,
                    Some((f, v)) => Some(
                        Secret::from_base64url(string(&f, v, EXPECT_SECRET)?)
                            .ok_or_else(|| err(f, "must be unpadded base64url of 32 to 64 bytes"))?,
                    ),
                };
                Some(NonceConfig { secret, step_seconds: whole(n.opt("step_seconds"), "seconds", 60, 10, 3600)? })
            }
        };

        Ok(Config {
            issuers,
            dpop,
            dpop_algs,
            dpop_max_age,
            clock_skew,
            require_at_jwt_typ,
            public_base_url,
            claims_to_headers,
            jwks_refresh,
            jwks_min_refetch,
            http_timeout_ms,
            // Both bounds are far below `u32::MAX`, so the casts are exact on wasm32 too.
            max_token_bytes: max_token_bytes as usize,
            token_cache_entries: token_cache_entries as usize,
            dpop_nonce,
            mtls,
            mtls_certificate_header,
        })
    }

    /// The issuer entry for a token's `iss`, by exact string equality.
    pub fn issuer_index(&self, iss: &str) -> Option<usize> {
        self.issuers.iter().position(|i| i.issuer == iss)
    }
}

/// One object of the document with its JSON path, read field by field.
struct Object<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    /// `value` as an object whose fields are all in `known`; else the first other field is refused,
    /// so that a typo such as `audience` cannot silently leave a check off.
    fn new(path: String, value: &'a Value, expected: &str, known: &[&str]) -> Result<Object<'a>, ConfigError> {
        let map = value.as_object().ok_or_else(|| wrong(&path, expected, value))?;
        if let Some(name) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(unknown_field(&path, name, known));
        }
        Ok(Object { path, map })
    }

    /// The JSON path of a field of this object.
    fn field(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The field's path and value if it is present, `null` included.
    fn present(&self, name: &str) -> Option<(String, &'a Value)> {
        self.map.get(name).map(|v| (self.field(name), v))
    }

    /// The field's path and value if it is present and not `null`: for most fields `null` means
    /// "the default", as an absent field does.
    fn opt(&self, name: &str) -> Option<(String, &'a Value)> {
        self.present(name).filter(|(_, v)| !v.is_null())
    }
}

/// A configuration error for a value of the wrong form: "expected <expected>, got <what was given>".
fn wrong(field: &str, expected: &str, found: &Value) -> ConfigError {
    err(field, format!("expected {expected}, got {}", describe(found)))
}

/// A value as the operator wrote it, for "got ...". Strings are not repeated (one could be a secret
/// written under the wrong field); the error's field says where to look.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// `"a", "b", "c"`: a list of names as they are written in JSON.
fn quoted<const N: usize>(names: [&str; N]) -> String {
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

fn string<'v>(field: &str, value: &'v Value, expected: &str) -> Result<&'v str, ConfigError> {
    value.as_str().ok_or_else(|| wrong(field, expected, value))
}

fn array<'v>(field: &str, value: &'v Value, expected: &str) -> Result<&'v [Value], ConfigError> {
    value.as_array().map(Vec::as_slice).ok_or_else(|| wrong(field, expected, value))
}

/// A bounded whole number; absent or `null` is `default`. One message for a wrong type and for a
/// value out of range, since both are answered by the same sentence.
fn whole(field: Option<(String, &Value)>, unit: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    let Some((field, value)) = field else { return Ok(default) };
    match value.as_u64() {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => {
            let expected = format!("a whole number of {unit} from {min} to {max}");
            match value.as_str() {
                Some(s) if s.len() <= 20 && serde_json::from_str::<Number>(s.trim()).is_ok() => Err(err(
                    field,
                    format!("expected {expected}, got the string \"{}\": write the number without quotes", s.trim()),
                )),
                _ => Err(wrong(&field, &expected, value)),
            }
        }
    }
}

/// One of the three modes, named `optional`, `required` and `disabled` in that order; absent or
/// `null` is the first.
fn mode<T: Copy>(field: Option<(String, &Value)>, modes: [T; 3]) -> Result<T, ConfigError> {
    let [optional, required, disabled] = modes;
    let Some((field, value)) = field else { return Ok(optional) };
    match value.as_str() {
        Some("optional") => Ok(optional),
        Some("required") => Ok(required),
        Some("disabled") => Ok(disabled),
        // The mode names are short and never secret: repeat a wrong one (`"Required"`).
        Some(name) if name.len() <= 20 && name.bytes().all(|b| b.is_ascii_graphic()) => {
            Err(err(field, format!("expected {EXPECT_MODE}, got \"{name}\"")))
        }
        _ => Err(wrong(&field, EXPECT_MODE, value)),
    }
}

/// `true` or `false`; absent or `null` is `default`.
fn boolean(field: Option<(String, &Value)>, default: bool) -> Result<bool, ConfigError> {
    match field {
        None => Ok(default),
        Some((field, value)) => value.as_bool().ok_or_else(|| wrong(&field, EXPECT_BOOL, value)),
    }
}

fn read_upstream(field: &str, value: &Value) -> Result<String, ConfigError> {
    let u = string(field, value, EXPECT_UPSTREAM)?;
    if u.is_empty() || u.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(err(field, "must be a non-empty cluster name or host:port"));
    }
    Ok(u.to_owned())
}

fn read_audiences(field: &str, value: &Value) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for (i, entry) in array(field, value, EXPECT_AUDIENCES)?.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let audience = string(&at, entry, "a string")?;
        if audience.is_empty() {
            return Err(err(at, "must be non-empty"));
        }
        out.push(audience.to_owned());
    }
    Ok(out)
}

fn read_scopes(field: &str, value: &Value) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for (i, entry) in array(field, value, EXPECT_SCOPES)?.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let scope = string(&at, entry, "a string")?;
        if scope.is_empty() || scope.contains(' ') {
            return Err(err(at, "must be a non-empty scope name without spaces"));
        }
        out.push(scope.to_owned());
    }
    Ok(out)
}

fn claim_headers(field: &str, value: &Value) -> Result<Vec<ClaimHeader>, ConfigError> {
    let map = value.as_object().ok_or_else(|| wrong(field, EXPECT_CLAIMS, value))?;
    let mut out = Vec::with_capacity(map.len());
    for (claim, header) in map {
        let field = format!("{field}.{claim}");
        let header = string(&field, header, EXPECT_HEADER)?.to_ascii_lowercase();
        if !is_header_name(&header) {
            return Err(err(field, format!("`{header}` is not a valid header name")));
        }
        if RESERVED_HEADERS.contains(&header.as_str()) {
            return Err(err(field, format!("`{header}` is reserved")));
        }
        if out.iter().any(|c: &ClaimHeader| c.header == header) {
            return Err(err(field, format!("header `{header}` is used twice")));
        }
        let path: Vec<String> = claim.split('.').map(ToOwned::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(err(field, "claim path has an empty segment"));
        }
        out.push(ClaimHeader { path, header });
    }
    Ok(out)
}

/// A static JWK set, read by the same [`JwkSet::parse`] as a fetched one.
fn jwk_set(field: &str, value: &Value) -> Result<JwkSet, ConfigError> {
    let doc = value.as_object().ok_or_else(|| wrong(field, EXPECT_JWKS, value))?;
    let keys_field = format!("{field}.keys");
    let entries = match doc.get("keys") {
        None => return Err(err(keys_field, r#"is required: a JWK set is {"keys": [...]}"#)),
        Some(keys) => array(&keys_field, keys, "an array of JWK objects")?,
    };
    if entries.len() > JwkSet::MAX_KEYS {
        return Err(err(
            keys_field,
            format!("holds {} keys; at most {} are accepted", entries.len(), JwkSet::MAX_KEYS),
        ));
    }
    let bytes = serde_json::to_vec(value).map_err(|_| err(field, "cannot be read as a JWK set"))?;
    let set = JwkSet::parse(&bytes).map_err(|e| err(field, e.to_string()))?;
    // A fetched set skips ROCA keys (the issuer may rotate); a configured one is the operator's
    // own text, so name the broken entry instead of ignoring it.
    if let Some(index) = set.weak_keys.first() {
        return Err(err(format!("{keys_field}[{index}]"), JwkError::RsaWeakKey.to_string()));
    }
    if set.keys.is_empty() {
        // Every entry was skipped: say why the first one was, which is usually why all were.
        let why = entries.first().map(|key| match key {
            Value::Object(_) => Jwk::from_value(key).err().map(|e| e.to_string()).unwrap_or_default(),
            other => format!("expected a JWK object, got {}", describe(other)),
        });
        return Err(err(
            field,
            match why {
                Some(why) => format!("holds no usable verification key (`{keys_field}[0]`: {why})"),
                None => "holds no usable verification key".to_owned(),
            },
        ));
    }
    Ok(set)
}

/// `introspection`, read for an issuer whose keys come from `keys`.
fn introspection_config(field: &str, value: &Value, keys: &KeySource) -> Result<IntrospectionConfig, ConfigError> {
    let o = Object::new(field.to_owned(), value, EXPECT_INTROSPECTION, &INTROSPECTION_FIELDS)?;
    let endpoint = match o.opt("endpoint") {
        None => None,
        Some((f, v)) => Some(
            FetchUrl::parse(string(&f, v, EXPECT_ENDPOINT)?).ok_or_else(|| err(f, "must be an absolute http(s) URL"))?,
        ),
    };
    if endpoint.is_none() && !matches!(keys, KeySource::Discovery(_)) {
        return Err(err(
            o.field("endpoint"),
            "is required when the issuer's keys are configured (`jwks_uri` or `jwks`): without discovery there is \
             no `introspection_endpoint` to default to",
        ));
    }
    let required = |name: &str, expected: &str| -> Result<String, ConfigError> {
        match o.present(name) {
            None => Err(err(o.field(name), "is required")),
            Some((f, v)) => {
                let s = string(&f, v, expected)?;
                if s.is_empty() || s.bytes().any(|b| b < b' ' || b == 0x7f) {
                    return Err(err(f, "must be non-empty, without control characters"));
                }
                Ok(s.to_owned())
            }
        }
    };
    let client_id = required("client_id", EXPECT_CLIENT_ID)?;
    let client_secret = ClientSecret(required("client_secret", EXPECT_CLIENT_SECRET)?);
    let auth = match o.opt("auth") {
        None => ClientAuth::Basic,
        Some((f, v)) => match v.as_str() {
            Some("client_secret_basic") => ClientAuth::Basic,
            Some("client_secret_post") => ClientAuth::Post,
            Some(name) if name.len() <= 32 && name.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(err(f, format!("expected {EXPECT_AUTH}, got \"{name}\"")))
            }
            _ => return Err(wrong(&f, EXPECT_AUTH, v)),
        },
    };
    let mode = match o.opt("mode") {
        None => IntrospectionMode::Off,
        Some((f, v)) => match v.as_str() {
            Some("off") => IntrospectionMode::Off,
            Some("opaque") => IntrospectionMode::Opaque,
            Some("always") => IntrospectionMode::Always,
            Some(name) if name.len() <= 20 && name.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(err(f, format!("expected {EXPECT_INTROSPECTION_MODE}, got \"{name}\"")))
            }
            _ => return Err(wrong(&f, EXPECT_INTROSPECTION_MODE, v)),
        },
    };
    Ok(IntrospectionConfig {
        endpoint,
        client_id,
        client_secret,
        auth,
        mode,
        cache_seconds: whole(o.opt("cache_seconds"), "seconds", 60, 0, 3600)?,
        negative_cache_seconds: whole(o.opt("negative_cache_seconds"), "seconds", 10, 0, 3600)?,
        jwt_response: boolean(o.opt("jwt_response"), false)?,
    })
}

/// One issuer: `at` is the object it is read from (the document itself, or an `issuers` entry),
/// for the field names of its errors.
#[allow(clippy::too_many_arguments)]
fn issuer_config(
    at: &Object<'_>,
    issuer: &str,
    jwks_uri: Option<&str>,
    jwks: Option<(String, &Value)>,
    upstream: Option<String>,
    audiences: Vec<String>,
    scopes_required: Vec<String>,
    introspection: Option<(String, &Value)>,
) -> Result<IssuerConfig, ConfigError> {
    let issuer_url = FetchUrl::parse(issuer)
        .filter(|u| !u.path.contains('?'))
        .ok_or_else(|| err(at.field("issuer"), "must be an absolute http(s) URL without query or fragment"))?;
    let keys = match (jwks_uri, jwks) {
        (Some(_), Some((field, _))) => return Err(err(field, "use either `jwks_uri` or `jwks`, not both")),
        (Some(uri), None) => KeySource::JwksUri(
            FetchUrl::parse(uri).ok_or_else(|| err(at.field("jwks_uri"), "must be an absolute http(s) URL"))?,
        ),
        (None, Some((field, doc))) => KeySource::Static(jwk_set(&field, doc)?),
        (None, None) => {
            let base = issuer_url.path.trim_end_matches('/');
            let path = format!("{base}/.well-known/openid-configuration");
            KeySource::Discovery(FetchUrl { path, ..issuer_url })
        }
    };
    let introspection = introspection.map(|(f, v)| introspection_config(&f, v, &keys)).transpose()?;
    Ok(IssuerConfig { issuer: issuer.to_owned(), keys, upstream, audiences, scopes_required, introspection })
}

/// The refusal of a field the parser does not know, with the likely intended one when a known
/// field is close (`audience` for `audiences`), or where the field belongs when it is elsewhere.
fn unknown_field(path: &str, name: &str, known: &[&str]) -> ConfigError {
    let field = if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
    let problem = if !path.is_empty() && FIELDS.contains(&name) {
        format!("is not a field here: `{name}` is a top-level field")
    } else if path.is_empty() && INTROSPECTION_FIELDS.contains(&name) {
        format!("is not a top-level field; did you mean `introspection.{name}`?")
    } else if path.is_empty() && NONCE_FIELDS.contains(&name) {
        format!("is not a top-level field; did you mean `dpop_nonce.{name}`?")
    } else if let Some(close) = closest(name, known) {
        format!("is not a known field; did you mean `{close}`?")
    } else {
        format!(
            "is not a known field; expected one of {}",
            known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        )
    };
    err(field, problem)
}

/// The known name nearest to `name`: at most two edits away, or `name` is the start of it
/// (`clock_skew` for `clock_skew_seconds`). Short or very long names get no suggestion.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    if name.len() < 4 || name.len() > 64 {
        return None;
    }
    let name = name.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&name, k), *k))
        .filter(|(d, k)| *d <= 2 || k.starts_with(name.as_str()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over bytes, one row of the table at a time: `row[j]` is the distance from
/// the part of `a` read so far to `b[..=j]`; the column of the empty prefix of `b` is implicit.
fn edit_distance(a: &str, b: &str) -> usize {
    let mut row: Vec<usize> = (1..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        // The empty prefix's column: `i` in the previous row, `i + 1` in this one.
        let (mut diagonal, mut left) = (i, i + 1);
        for (cb, cell) in b.bytes().zip(row.iter_mut()) {
            let distance = (diagonal + usize::from(ca != cb)).min(*cell + 1).min(left + 1);
            diagonal = *cell;
            *cell = distance;
            left = distance;
        }
    }
    row.last().copied().unwrap_or(a.len())
}

/// Reads the document into a JSON value. Unlike `serde_json::from_slice::<Value>`, a key given twice
/// in one object is refused (the last one would silently win), and syntax errors say where in the
/// operator's words.
fn read_json(json: &[u8]) -> Result<Value, ConfigError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Err(err("", format!("the document is empty; expected {EXPECT_DOCUMENT}")));
    }
    let duplicate = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(json);
    let read = Strict { path: String::new(), duplicate: &duplicate }.deserialize(&mut de).and_then(|v| {
        de.end()?;
        Ok(v)
    });
    read.map_err(|e| match duplicate.take() {
        Some(field) => err(field, "is given twice; give each field once"),
        None => err("", syntax_problem(&e)),
    })
}

/// A JSON syntax error in plain words, with its line and column.
fn syntax_problem(e: &serde_json::Error) -> String {
    let at = format!("line {}, column {}", e.line(), e.column());
    if e.classify() == serde_json::error::Category::Eof {
        return format!("the document is not valid JSON: it ends at {at} before the JSON is complete");
    }
    // serde_json's text is "<what> at line L column C"; keep <what>, reworded where it is jargon.
    let text = e.to_string();
    let what = text.strip_suffix(&format!(" at line {} column {}", e.line(), e.column())).unwrap_or(&text);
    let what = match what {
        "trailing characters" => "unexpected text after the end of the JSON value",
        "expected value" => "expected a JSON value",
        "expected ident" => "expected `true`, `false` or `null`",
        "key must be a string" => "expected a field name in double quotes",
        "recursion limit exceeded" => "nested too deeply",
        other => other,
    };
    format!("the document is not valid JSON: {what} at {at}")
}

/// A `Value` reader that records the JSON path of the first key given twice in one object.
struct Strict<'c> {
    path: String,
    duplicate: &'c Cell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, and serde_json refuses numbers beyond f64; fail closed anyway.
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = format!("{}[{}]", self.path, items.len());
            match seq.next_element_seed(Strict { path, duplicate: self.duplicate })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
            if out.contains_key(&key) {
                self.duplicate.set(Some(path));
                return Err(de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(Strict { path, duplicate: self.duplicate })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
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
