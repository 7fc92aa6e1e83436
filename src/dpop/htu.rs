//! The comparison of a DPoP proof's `htu` with the request URI (RFC 9449 section 4.3 item 9):
//! both sides without query and fragment, after RFC 3986 syntax-based (section 6.2.2) and
//! scheme-based (section 6.2.3) normalisation.
//!
//! Both sides go through the same [`normalize`], so no spelling trick (case, default port,
//! percent-encoding of unreserved characters, dot segments) can make two different resources
//! compare equal, or the same resource compare different. Anything that is not a plain absolute
//! `http(s)` URI (userinfo, a bad percent-escape, control or non-ASCII characters, a bad port) is
//! refused rather than guessed at.

use alloc::string::String;
use alloc::vec::Vec;

/// Longest URI compared; longer ones are refused (proofs are already bounded by `max_token_bytes`).
pub const MAX_URI_BYTES: usize = 8192;

/// Whether a proof's `htu` designates the request URI `request`.
pub fn matches(htu: &str, request: &str) -> bool {
    match (normalize(htu), normalize(request)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `scheme://host[:port]/path`, normalised, without query and fragment; `None` if `uri` is not an
/// absolute `http`/`https` URI this filter can compare safely.
pub fn normalize(uri: &str) -> Option<String> {
    if uri.len() > MAX_URI_BYTES || !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let uri = uri.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = normalize_authority(authority, default_port)?;
    let path = remove_dot_segments(&normalize_percent(path)?);
    let mut out = String::with_capacity(scheme.len() + 3 + authority.len() + path.len());
    out.push_str(&scheme);
    out.push_str("://");
    out.push_str(&authority);
    out.push_str(&path);
    Some(out)
}

/// Lower-cased host, and the port unless it is the scheme's default (or empty).
fn normalize_authority(authority: &str, default_port: u16) -> Option<String> {
    if authority.contains(['@', '%']) {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inner, after) = v6.split_once(']')?;
            if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
                return None;
            }
            let port = if after.is_empty() { "" } else { after.strip_prefix(':')? };
            (&authority[..inner.len() + 2], port)
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, p),
            None => (authority, ""),
        },
    };
    if host.is_empty() || (host.contains(':') && !host.starts_with('[')) {
        return None;
    }
    let mut out = host.to_ascii_lowercase();
    if !port.is_empty() {
        if port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u16 = port.parse().ok()?;
        if n != default_port {
            out.push_str(&alloc::format!(":{n}"));
        }
    }
    Some(out)
}

/// Percent-escapes with upper-case hex digits, and escaped unreserved characters decoded
/// (RFC 3986 6.2.2.1 and 6.2.2.2). A `%` not followed by two hex digits is refused.
fn normalize_percent(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let (h, l) = (*bytes.get(i + 1)?, *bytes.get(i + 2)?);
        let decoded = hex_value(h)? << 4 | hex_value(l)?;
        if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
            out.push(char::from(decoded));
        } else {
            // The same two hex digits, upper case (RFC 3986 6.2.2.1).
            out.push('%');
            out.push(char::from(h.to_ascii_uppercase()));
            out.push(char::from(l.to_ascii_uppercase()));
        }
        i += 3;
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 section 5.2.4 on an absolute path; an empty path is `/` (section 6.2.3).
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments = path.strip_prefix('/').unwrap_or(path);
    let mut last_was_dot = false;
    for seg in segments.split('/') {
        last_was_dot = true;
        match seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => {
                out.push(s);
                last_was_dot = false;
            }
        }
    }
    if last_was_dot {
        out.push("");
    }
    let mut s = String::with_capacity(path.len() + 1);
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}
