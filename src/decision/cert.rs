//! Certificate-bound access tokens (RFC 8705 section 3): the thumbprint of the client certificate,
//! `base64url(SHA-256(DER))`, made from whatever form a host or a TLS-terminating proxy shows the
//! certificate in, so that comparing it with a token's `cnf.x5t#S256` is comparing 32 bytes.
//!
//! The forms: Envoy shows the connection's certificate as the lower-case hex SHA-256 of its DER
//! (`connection.sha256_peer_certificate_digest`); Kong's engine as PEM (`ngx.ssl_client_raw_cert`,
//! nginx's `$ssl_client_raw_cert`); a TLS-terminating proxy in front as URL-encoded PEM in a request
//! header (nginx's `$ssl_client_escaped_cert`, Envoy's `%DOWNSTREAM_PEER_CERT%`). Nothing here
//! parses the certificate beyond its outer DER envelope: the binding is to these exact bytes, which
//! only the TLS stack that verified the client's signature over its handshake can vouch for.

use alloc::vec::Vec;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::{Error, RequestError};

/// A certificate's SHA-256 thumbprint: the decoded `x5t#S256`.
pub type Thumbprint = [u8; 32];

/// Longest PEM (or URL-encoded PEM) accepted: a client certificate is 1-2 KiB; anything this large
/// is refused before any decoding.
pub const MAX_PEM_BYTES: usize = 16 * 1024;

/// How a host shows the certificate of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateForm {
    /// Lower-case hex of the SHA-256 of the DER (Envoy's `connection.sha256_peer_certificate_digest`).
    Sha256Hex,
    /// PEM (nginx's `$ssl_client_raw_cert`, `ngx.ssl_client_raw_cert` in Kong's engine).
    Pem,
}

/// The thumbprint of a certificate a host showed in `form`; `None` when the text is empty (no
/// certificate: what both hosts answer on a connection without one) or not of that form.
pub fn from_host(form: CertificateForm, text: &str) -> Option<Thumbprint> {
    match form {
        CertificateForm::Sha256Hex => from_sha256_hex(text),
        CertificateForm::Pem => from_pem(text.as_bytes()),
    }
}

/// 64 hex digits (either case) as the 32 bytes they spell.
pub fn from_sha256_hex(hex: &str) -> Option<Thumbprint> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = hex_digit(*hi)? << 4 | hex_digit(*lo)?;
    }
    Some(out)
}

/// One PEM `CERTIFICATE` block (RFC 7468 section 5.1), surrounding blank lines allowed, nothing else
/// around it: a chain or a key beside it is refused rather than guessed at.
pub fn from_pem(pem: &[u8]) -> Option<Thumbprint> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    if pem.len() > MAX_PEM_BYTES {
        return None;
    }
    let pem = pem.trim_ascii();
    let body = pem.strip_prefix(BEGIN)?.strip_suffix(END)?;
    let text: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(&text).ok()?;
    is_der_sequence(&der).then(|| Sha256::digest(&der).into())
}

/// A URL-encoded PEM certificate, as a TLS-terminating proxy forwards it (`%XX` escapes; `+` is a
/// base64 character here, not a space).
pub fn from_escaped_pem(value: &str) -> Option<Thumbprint> {
    if value.len() > MAX_PEM_BYTES {
        return None;
    }
    from_pem(&percent_decode(value.as_bytes())?)
}

/// The client certificate's thumbprint for one request. With a forwarded-certificate header
/// configured (`mtls_certificate_header`), only that header counts, and `connection` is never
/// asked; without one, only the connection's certificate counts and no header is ever looked at.
/// `Ok(None)`: no certificate. A header that is present but unusable (several copies, not one
/// URL-encoded PEM certificate) is a malformed request: the trusted proxy sets exactly one.
pub fn client_thumbprint(
    header_mode: bool,
    forwarded: &[&str],
    connection: impl FnOnce() -> Option<Thumbprint>,
) -> Result<Option<Thumbprint>, Error> {
    if !header_mode {
        return Ok(connection());
    }
    match forwarded {
        [] => Ok(None),
        [""] => Ok(None),
        [one] => from_escaped_pem(one).map(Some).ok_or(Error::Request(RequestError::BadCertificateHeader)),
        _ => Err(Error::Request(RequestError::MultipleCertificateHeaders)),
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let (hi, lo) = (*tail.first()?, *tail.get(1)?);
            out.push(hex_digit(hi)? << 4 | hex_digit(lo)?);
            rest = tail.get(2..)?;
        } else {
            out.push(b);
            rest = tail;
        }
    }
    Some(out)
}

/// The bytes are exactly one DER SEQUENCE (tag 0x30, definite length), as every X.509
/// certificate is: a truncated or padded decoding is refused.
fn is_der_sequence(der: &[u8]) -> bool {
    let Some((&0x30, rest)) = der.split_first() else { return false };
    let Some((&first, rest)) = rest.split_first() else { return false };
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return false;
        }
        let (digits, rest) = rest.split_at(n);
        (digits.iter().fold(0usize, |acc, d| acc << 8 | usize::from(*d)), rest)
    };
    len == rest.len()
}
