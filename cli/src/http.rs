//! One HTTP exchange, shown as it happened: no redirects followed (neither the filter's callouts
//! nor a gateway's refusal follow one) and every status returned as data, not as an error.

use std::fmt;
use std::time::Duration;

/// A response: status, headers (lower-case names, repeats kept) and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, at most the limit asked for.
    pub body: Vec<u8>,
}

impl Reply {
    /// Every value of header `name` (lower-case).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why there is no response.
#[derive(Debug)]
pub enum HttpError {
    /// The request cannot be built (bad URL, header name or value).
    Request(String),
    /// No response: connection refused, DNS, TLS, timeout.
    Transport(String),
    /// The body is larger than the limit.
    TooLarge(u64),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Request(e) => write!(f, "cannot build the request: {e}"),
            HttpError::Transport(e) => write!(f, "no response: {e}"),
            HttpError::TooLarge(n) => write!(f, "response body is larger than {n} bytes"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A client that reports statuses as data and follows no redirect; `timeout` bounds the whole call.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .allow_non_standard_methods(true)
        .timeout_global(Some(timeout))
        .user_agent(concat!("dpop-gate/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Sends one request and reads at most `max_body` bytes of the answer.
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    max_body: u64,
) -> Result<Reply, HttpError> {
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let result = match body {
        Some(b) => req.body(b.to_vec()).map(|r| agent.run(r)),
        None => req.body(()).map(|r| agent.run(r)),
    };
    let mut resp = result.map_err(|e| HttpError::Request(e.to_string()))?.map_err(|e| match e {
        ureq::Error::BadUri(u) => HttpError::Request(format!("bad URL: {u}")),
        e => HttpError::Transport(e.to_string()),
    })?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = resp.body_mut().with_config().limit(max_body).read_to_vec().map_err(|e| match e {
        ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge(max_body),
        e => HttpError::Transport(e.to_string()),
    })?;
    Ok(Reply { status, headers, body })
}
