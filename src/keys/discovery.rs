//! OpenID Connect Discovery 1.0 (and RFC 8414) metadata: only what the filter needs from it.

use alloc::string::String;
use serde::Deserialize;

use crate::config::FetchUrl;

/// Largest discovery document accepted; real ones are a few KiB.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// Why a discovery document was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Over [`MAX_DISCOVERY_BYTES`].
    TooLarge,
    /// Not a JSON object with string `issuer` and `jwks_uri`.
    Json,
    /// `issuer` differs from the configured issuer (OIDC Discovery section 4.3: it must be
    /// identical, or a hijacked discovery endpoint could hand out another issuer's keys).
    IssuerMismatch,
    /// `jwks_uri` is not an absolute http(s) URL.
    JwksUri,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
}

/// Reads `jwks_uri` from a discovery document published for `issuer`.
pub fn jwks_uri(document: &[u8], issuer: &str) -> Result<FetchUrl, DiscoveryError> {
    if document.len() > MAX_DISCOVERY_BYTES {
        return Err(DiscoveryError::TooLarge);
    }
    let meta: Metadata = serde_json::from_slice(document).map_err(|_| DiscoveryError::Json)?;
    if meta.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch);
    }
    FetchUrl::parse(&meta.jwks_uri).ok_or(DiscoveryError::JwksUri)
}

#[derive(Deserialize)]
struct IntrospectionMetadata {
    issuer: String,
    introspection_endpoint: Option<String>,
}

/// Reads `introspection_endpoint` (RFC 8414 section 2) from a discovery document published for
/// `issuer`; `Ok(None)` when it has none or it is not an absolute http(s) URL.
pub fn introspection_endpoint(document: &[u8], issuer: &str) -> Result<Option<FetchUrl>, DiscoveryError> {
    if document.len() > MAX_DISCOVERY_BYTES {
        return Err(DiscoveryError::TooLarge);
    }
    let meta: IntrospectionMetadata = serde_json::from_slice(document).map_err(|_| DiscoveryError::Json)?;
    if meta.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch);
    }
    Ok(meta.introspection_endpoint.as_deref().and_then(FetchUrl::parse))
}

impl core::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DiscoveryError::TooLarge => "discovery document is too large",
            DiscoveryError::Json => "discovery document lacks string issuer and jwks_uri",
            DiscoveryError::IssuerMismatch => "discovery document issuer differs from the configured issuer",
            DiscoveryError::JwksUri => "discovery jwks_uri is not an absolute http(s) URL",
        })
    }
}
