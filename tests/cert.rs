//! Client-certificate thumbprints (RFC 8705 section 3.1) from each form a host or a proxy shows a
//! certificate in. The expected values were computed by OpenSSL, not by this crate:
//! `openssl x509 -outform DER | openssl dgst -sha256` (hex) and the same, base64url.

use std::cell::Cell;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use dpop_gate::decision::cert::{
    client_thumbprint, from_escaped_pem, from_host, from_pem, from_sha256_hex, CertificateForm, Thumbprint,
    MAX_PEM_BYTES,
};
use dpop_gate::error::{Error, RequestError};

const PEM_A: &str = include_str!("data/certs/client-a.pem");
const PEM_B: &str = include_str!("data/certs/client-b.pem");
const X5T_A: &str = "NmYXo6o29e8gNYykT6Dm-M2vfdMC3XjHMNM1ZrGDX8k";
const HEX_A: &str = "366617a3aa36f5ef20358ca44fa0e6f8cdaf7dd302dd78c730d33566b1835fc9";
const X5T_B: &str = "tK3K2mhWcNPSsPweKBYB8OUgUbLA3qRhnS7zUHqsYuk";

fn x5t(t: Option<Thumbprint>) -> Option<String> {
    t.map(|t| URL_SAFE_NO_PAD.encode(t))
}

/// Percent-encodes every byte outside `safe` (`%XX`, upper-case hex).
fn escape(text: &str, safe: &[u8]) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || safe.contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[test]
fn pem_gives_the_openssl_thumbprint() {
    assert_eq!(x5t(from_pem(PEM_A.as_bytes())).as_deref(), Some(X5T_A));
    assert_eq!(x5t(from_pem(PEM_B.as_bytes())).as_deref(), Some(X5T_B));
    // CRLF line ends, no trailing newline, blank lines around: the same certificate.
    let crlf = PEM_A.replace('\n', "\r\n");
    assert_eq!(x5t(from_pem(crlf.as_bytes())).as_deref(), Some(X5T_A));
    assert_eq!(x5t(from_pem(PEM_A.trim_end().as_bytes())).as_deref(), Some(X5T_A));
    assert_eq!(x5t(from_pem(format!("\n\n{PEM_A}\n").as_bytes())).as_deref(), Some(X5T_A));
    // The base64 on one line, as some proxies forward it.
    let one_line: String = PEM_A
        .lines()
        .map(|l| if l.starts_with("-----") { format!("{l} ") } else { l.to_string() })
        .collect();
    assert_eq!(x5t(from_pem(one_line.as_bytes())).as_deref(), Some(X5T_A));
}

#[test]
fn hex_digest_gives_the_same_thumbprint() {
    assert_eq!(x5t(from_sha256_hex(HEX_A)).as_deref(), Some(X5T_A));
    assert_eq!(x5t(from_sha256_hex(&HEX_A.to_uppercase())).as_deref(), Some(X5T_A));
    assert_eq!(x5t(from_host(CertificateForm::Sha256Hex, HEX_A)).as_deref(), Some(X5T_A));
    assert_eq!(x5t(from_host(CertificateForm::Pem, PEM_A)).as_deref(), Some(X5T_A));
    for bad in ["", &HEX_A[..62], &format!("{HEX_A}00"), &HEX_A.replace('6', "g"), &format!(" {}", &HEX_A[1..]), &HEX_A.replace("36", "+6")]
    {
        assert_eq!(from_sha256_hex(bad), None, "{bad:?}");
    }
    // Non-ASCII never slices a character apart: refused, no panic.
    let wide = "é".repeat(32);
    assert_eq!(from_sha256_hex(&wide), None);
}

#[test]
fn url_encoded_pem_as_proxies_forward_it() {
    // nginx `$ssl_client_escaped_cert` (everything but unreserved characters escaped), a form that
    // leaves the base64 characters alone (AWS ALB's), and only the line ends escaped.
    for escaped in [escape(PEM_A, b"-._~"), escape(PEM_A, b"-._~+/="), PEM_A.replace('\n', "%0A").replace(' ', "%20")] {
        assert_eq!(x5t(from_escaped_pem(&escaped)).as_deref(), Some(X5T_A), "{escaped}");
    }
    // Lower-case escapes too.
    let lower = escape(PEM_A, b"-._~").replace("%2B", "%2b").replace("%0A", "%0a");
    assert_eq!(x5t(from_escaped_pem(&lower)).as_deref(), Some(X5T_A));
    // `+` is base64 here, never a space.
    assert!(PEM_A.contains('+'));
    assert_eq!(x5t(from_escaped_pem(&escape(PEM_A, b"-._~+"))).as_deref(), Some(X5T_A));
    for bad in ["%", "%0", "%G0", "%%", "abc%"] {
        let broken = format!("{}{bad}", escape(PEM_A, b"-._~"));
        assert_eq!(from_escaped_pem(&broken), None, "{bad:?}");
    }
}

#[test]
fn anything_but_one_certificate_is_refused() {
    let body: String = PEM_A.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(&body).unwrap();
    let pem_of = |der: &[u8]| {
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", base64::engine::general_purpose::STANDARD.encode(der))
    };
    assert_eq!(x5t(from_pem(pem_of(&der).as_bytes())).as_deref(), Some(X5T_A));
    let mut longer = der.clone();
    longer.push(0);
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("blank", "\n \n".into()),
        ("two certificates (a chain)", format!("{PEM_A}{PEM_B}")),
        ("a key beside it", format!("{PEM_A}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")),
        ("text before", format!("subject=CN=a\n{PEM_A}")),
        ("another label", PEM_A.replace("CERTIFICATE", "X509 CRL")),
        ("no end line", PEM_A.replace("-----END CERTIFICATE-----", "")),
        ("bad base64", PEM_A.replacen('M', "!", 2)),
        ("unpadded base64", pem_of(&der).replace('=', "")),
        ("truncated DER", pem_of(&der[..der.len() - 1])),
        ("a byte after the DER", pem_of(&longer)),
        ("not a SEQUENCE", pem_of(&[0x04, 0x01, 0x00])),
        ("empty DER", pem_of(&[])),
        ("raw DER as text", String::from_utf8_lossy(&der).into_owned()),
    ];
    for (name, pem) in cases {
        assert_eq!(from_pem(pem.as_bytes()), None, "{name}");
        assert_eq!(from_escaped_pem(&escape(&pem, b"-._~")), None, "{name}, escaped");
    }
    // Oversize input is refused before decoding, padded with blanks that would otherwise be skipped.
    let padded = format!("{}{PEM_A}", " ".repeat(MAX_PEM_BYTES));
    assert_eq!(from_pem(padded.as_bytes()), None);
    assert_eq!(from_escaped_pem(&format!("{}{PEM_A}", "%20".repeat(MAX_PEM_BYTES / 3))), None);
    assert!(from_pem(format!("{}{PEM_A}", " ".repeat(1000)).as_bytes()).is_some(), "a little blank space is fine");
}

/// Which source counts: with a forwarded-certificate header configured only the header, and the
/// connection is never asked; without one only the connection, whatever headers the client sent.
#[test]
fn the_source_is_the_header_only_in_header_mode() {
    let asked = Cell::new(0);
    let connection = |t: Option<Thumbprint>| {
        let asked = &asked;
        move || {
            asked.set(asked.get() + 1);
            t
        }
    };
    let a = from_pem(PEM_A.as_bytes());
    let b = from_pem(PEM_B.as_bytes());
    let escaped_a = escape(PEM_A, b"-._~");

    // No header mode: the connection's certificate, a client's header copy is ignored.
    assert_eq!(client_thumbprint(false, &[&escaped_a], connection(b)), Ok(b));
    assert_eq!(client_thumbprint(false, &[&escaped_a], connection(None)), Ok(None));
    assert_eq!(asked.get(), 2);

    // Header mode: the header, never the connection.
    asked.set(0);
    assert_eq!(client_thumbprint(true, &[&escaped_a], connection(b)), Ok(a));
    assert_eq!(client_thumbprint(true, &[], connection(b)), Ok(None));
    assert_eq!(client_thumbprint(true, &[""], connection(b)), Ok(None), "the proxy's empty value: no certificate");
    assert_eq!(
        client_thumbprint(true, &[&escaped_a, &escaped_a], connection(a)),
        Err(Error::Request(RequestError::MultipleCertificateHeaders))
    );
    assert_eq!(
        client_thumbprint(true, &["not a certificate"], connection(a)),
        Err(Error::Request(RequestError::BadCertificateHeader))
    );
    // Envoy joins repeated headers with a comma: that is no certificate either.
    let joined = format!("{escaped_a},{escaped_a}");
    assert_eq!(client_thumbprint(true, &[&joined], connection(a)), Err(Error::Request(RequestError::BadCertificateHeader)));
    assert_eq!(asked.get(), 0, "the connection was asked in header mode");

    let e = Error::Request(RequestError::BadCertificateHeader);
    assert_eq!((e.status(), e.reason()), (400, "request_certificate_header"));
    let e = Error::Request(RequestError::MultipleCertificateHeaders);
    assert_eq!((e.status(), e.reason()), (400, "request_multiple_certificate_headers"));
}
