//! `dpop-gate request` against a loopback server: the proof it sends passes the filter's
//! verification for the request actually made, a `use_dpop_nonce` answer (resource server or
//! authorization server form) is retried exactly once with the nonce it carries, and status,
//! challenge and body are shown.

mod util;

use dpop_gate::dpop::{verify_proof, ProofPolicy};
use dpop_gate::jose::alg::Algorithm;
use util::{closed_port, h, now, run_in, Server, TempDir};

const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJjbmYiOnsiamt0IjoieCJ9fQ.c2ln";
const CHALLENGE: &str =
    r#"DPoP algs="ES256 EdDSA", error="use_dpop_nonce", error_description="a DPoP nonce is required""#;

fn policy() -> ProofPolicy<'static> {
    ProofPolicy { algs: &Algorithm::ALL, max_age: 60, clock_skew: 5, max_len: 16384 }
}

#[test]
fn retries_once_with_the_resource_servers_nonce() {
    let server = Server::start(|n, req| match (n, req.header("dpop")) {
        (0, _) => (
            401,
            vec![h("www-authenticate", CHALLENGE), h("dpop-nonce", "nonce-1")],
            r#"{"error":"use_dpop_nonce"}"#.into(),
        ),
        _ => (200, vec![h("content-type", "application/json")], r#"{"received":true}"#.into()),
    });
    let dir = TempDir::new("nonce");
    let url = server.url("/webhook?id=1");
    let r = run_in(
        &dir.0,
        &["request", "--token", TOKEN, "--url", &url, "-d", r#"{"event":"x"}"#, "-H", "Content-Type: application/json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "{\"received\":true}\n", "the body on standard output");
    assert!(r.stderr.contains("HTTP 401\nwww-authenticate: DPoP algs="), "{r:?}");
    assert!(r.stderr.contains("dpop-nonce: nonce-1"), "{r:?}");
    assert!(r.stderr.contains("retrying once"), "{r:?}");
    assert!(r.stderr.ends_with("HTTP 200\n"), "{r:?}");

    let seen = server.seen();
    assert_eq!(seen.len(), 2, "exactly one retry: {seen:?}");
    let mut jkts = Vec::new();
    for (i, s) in seen.iter().enumerate() {
        assert_eq!((s.method.as_str(), s.target.as_str()), ("POST", "/webhook?id=1"), "-d makes a POST");
        assert_eq!(s.header("authorization"), Some(format!("DPoP {TOKEN}").as_str()));
        assert_eq!(s.header("content-type"), Some("application/json"));
        assert_eq!(s.body, br#"{"event":"x"}"#);
        let proof = verify_proof(s.header("dpop").unwrap(), "POST", &url, Some(TOKEN), &policy(), now())
            .unwrap_or_else(|e| panic!("request {i}: the filter refuses the proof: {e:?}"));
        assert_eq!(proof.nonce.as_deref(), if i == 0 { None } else { Some("nonce-1") });
        jkts.push(proof.jkt);
    }
    assert_eq!(jkts[0], jkts[1], "one key");
    let t = run_in(&dir.0, &["key", "thumbprint", "dpop-key.json"]);
    assert_eq!(t.stdout.trim(), jkts[0]);
}

#[test]
fn a_second_nonce_refusal_is_shown_not_retried() {
    let server =
        Server::start(|_, _| (401, vec![h("www-authenticate", CHALLENGE), h("dpop-nonce", "again")], "no".into()));
    let dir = TempDir::new("nonce2");
    let r = run_in(&dir.0, &["request", "--token", TOKEN, "--url", &server.url("/x")]);
    assert_eq!(r.code, 1, "a 4xx answer is exit 1: {r:?}");
    assert_eq!(server.seen().len(), 2, "{r:?}");
    assert_eq!(r.stdout, "no\n");
}

#[test]
fn an_invalid_proof_challenge_is_not_a_nonce_request() {
    let challenge =
        r#"DPoP algs="ES256", error="invalid_dpop_proof", error_description="DPoP proof iat is in the future""#;
    let server =
        Server::start(move |_, _| (401, vec![h("www-authenticate", challenge), h("dpop-nonce", "n")], "{}".into()));
    let dir = TempDir::new("invalid");
    let r = run_in(&dir.0, &["request", "--token", TOKEN, "--url", &server.url("/x"), "--iat-offset", "300"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(server.seen().len(), 1, "{r:?}");
    assert!(r.stderr.contains("error=\"invalid_dpop_proof\""), "{r:?}");
    let iat_ahead =
        verify_proof(server.seen()[0].header("dpop").unwrap(), "GET", &server.url("/x"), Some(TOKEN), &policy(), now());
    assert_eq!(
        iat_ahead,
        Err(dpop_gate::error::ProofError::IatInFuture),
        "--iat-offset applies to the request's proof"
    );
}

#[test]
fn a_token_request_with_basic_client_authentication_and_the_authorization_servers_nonce() {
    // RFC 9449 section 8: an authorization server asks for a nonce with 400 and a JSON error.
    let server = Server::start(|n, _| match n {
        0 => (400, vec![h("dpop-nonce", "as-nonce")], r#"{"error":"use_dpop_nonce"}"#.into()),
        _ => (200, vec![], r#"{"access_token":"t","token_type":"DPoP"}"#.into()),
    });
    let dir = TempDir::new("token");
    let url = server.url("/realms/test/protocol/openid-connect/token");
    let r = run_in(
        &dir.0,
        &["request", "--url", &url, "-u", "webhook partner:s3cr/t", "-d", "grant_type=client_credentials"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(r#""token_type":"DPoP""#), "{r:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (i, s) in seen.iter().enumerate() {
        // base64("webhook+partner:s3cr%2Ft")
        assert_eq!(s.header("authorization"), Some("Basic d2ViaG9vaytwYXJ0bmVyOnMzY3IlMkZ0"));
        assert_eq!(s.header("content-type"), Some("application/x-www-form-urlencoded"), "a form unless told");
        let proof = verify_proof(s.header("dpop").unwrap(), "POST", &url, None, &policy(), now()).unwrap();
        assert_eq!(proof.nonce.as_deref(), if i == 0 { None } else { Some("as-nonce") });
        let claims = dpop_gate::jose::jws::parse(s.header("dpop").unwrap(), 16384).unwrap().claims;
        assert!(claims.get("ath").is_none(), "no token, no ath");
    }
}

#[test]
fn bearer_scheme_sends_no_proof() {
    let server = Server::start(|_, _| (200, vec![], "ok".into()));
    let dir = TempDir::new("bearer");
    let r = run_in(
        &dir.0,
        &["request", "--token", TOKEN, "--scheme", "bearer", "--url", &server.url("/x"), "-X", "DELETE", "-v"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.starts_with(&format!("> DELETE {}\n> authorization: Bearer {TOKEN}\nHTTP 200\n", server.url("/x"))),
        "-v shows the request: {r:?}"
    );
    let seen = server.seen();
    assert_eq!(seen[0].method, "DELETE");
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(seen[0].header("dpop"), None);
    assert!(!dir.path("dpop-key.json").exists(), "no proof, no key");
}

#[test]
fn bad_input_and_no_response_are_exit_2() {
    let dir = TempDir::new("reqbad");
    let dead = format!("http://127.0.0.1:{}/x", closed_port());
    let cases: &[(&[&str], &str)] = &[
        (&["request", "--token", TOKEN, "--url", "not a url"], "bad URL"),
        (&["request", "--token", TOKEN, "--url", "file:///etc/passwd"], "bad URL"),
        (&["request", "--token", "two words", "--url", "http://127.0.0.1/x"], "--token is not a token68"),
        (&["request", "--token", "", "--url", "http://127.0.0.1/x"], "--token is empty"),
        (&["request", "--token", "@nonexistent-token-file", "--url", "http://127.0.0.1/x"], "cannot read --token"),
        (&["request", "--token", TOKEN, "--url", "http://127.0.0.1/x", "-H", "no-colon"], "bad header"),
        (&["request", "--token", TOKEN, "--url", "http://127.0.0.1/x", "-H", "Authorization: Basic x"], "choose one"),
        (&["request", "--token", TOKEN, "--url", "http://127.0.0.1/x", "-u", "a:b"], "cannot be used with"),
        (&["request", "--token", TOKEN, "--url", &dead], "no response"),
    ];
    for (args, message) in cases {
        let r = run_in(&dir.0, args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(message), "{args:?}: wanted {message:?}: {r:?}");
    }
}
