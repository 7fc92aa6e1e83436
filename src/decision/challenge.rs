//! Refusals as HTTP responses: status, `WWW-Authenticate` challenges (RFC 6750 section 3,
//! RFC 9449 section 7.1) and a small JSON body, so a client learns exactly why and how to retry.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::jose::alg::Algorithm;
use crate::decision::Scheme;
use crate::config::DpopMode;
use crate::error::{Error, TokenError};

/// A local response to send instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// Response headers, `WWW-Authenticate` possibly more than once.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body `{"error": ..., "error_description": ...}`.
    pub body: String,
}

/// Builds the refusal for `error`. `used` is the scheme the client used, if it got that far.
pub fn refusal(error: &Error, used: Option<Scheme>, mode: DpopMode, algs: &[Algorithm]) -> Refusal {
    let description = sanitize(&format!("{error}"));
    let mut headers = Vec::with_capacity(3);
    let dpop_challenge = |params: &str| {
        let names: Vec<&str> = algs.iter().map(|a| a.name()).collect();
        if params.is_empty() {
            format!("DPoP algs=\"{}\"", names.join(" "))
        } else {
            format!("DPoP algs=\"{}\", {params}", names.join(" "))
        }
    };
    let body = match error.code() {
        None if matches!(error, Error::KeysUnavailable | Error::IntrospectionUnavailable) => json_body("temporarily_unavailable", &description),
        None => {
            // No credentials: a bare challenge for every scheme the filter accepts.
            if mode != DpopMode::Required {
                headers.push(("www-authenticate", String::from("Bearer")));
            }
            if mode != DpopMode::Disabled {
                headers.push(("www-authenticate", dpop_challenge("")));
            }
            json_body("invalid_request", &description)
        }
        Some(code) => {
            let mut params = format!("error=\"{}\", error_description=\"{description}\"", code.as_str());
            if let Error::Token(TokenError::InsufficientScope(scopes)) = error {
                params.push_str(&format!(", scope=\"{}\"", sanitize(scopes)));
            }
            let dpop = match error {
                Error::Proof(_) | Error::UseNonce => true,
                Error::Token(TokenError::BoundTokenAsBearer | TokenError::DpopRequired) => true,
                _ => used == Some(Scheme::Dpop) || mode == DpopMode::Required,
            };
            headers.push(("www-authenticate", if dpop { dpop_challenge(&params) } else { format!("Bearer {params}") }));
            json_body(code.as_str(), &description)
        }
    };
    headers.push(("content-type", String::from("application/json")));
    headers.push(("cache-control", String::from("no-store")));
    Refusal { status: error.status(), headers, body }
}

/// Puts every `WWW-Authenticate` challenge of `refusal` into one header, comma-separated (RFC 9110
/// section 11.6.1 allows a list of challenges in one field), for a host whose local responses
/// keep only the last copy of a repeated header.
pub fn join_challenges(refusal: &mut Refusal) {
    let challenges: Vec<String> =
        refusal.headers.iter().filter(|(k, _)| *k == "www-authenticate").map(|(_, v)| v.clone()).collect();
    if challenges.len() < 2 {
        return;
    }
    let at = refusal.headers.iter().position(|(k, _)| *k == "www-authenticate").unwrap_or(0);
    refusal.headers.retain(|(k, _)| *k != "www-authenticate");
    refusal.headers.insert(at.min(refusal.headers.len()), ("www-authenticate", challenges.join(", ")));
}

fn json_body(code: &str, description: &str) -> String {
    serde_json::json!({ "error": code, "error_description": description }).to_string()
}

/// Keeps a value safe inside a quoted-string: no quotes, backslashes or control characters.
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c == '"' || c == '\\' || c.is_control() { '\'' } else { c }).collect()
}
