//! Certificate-bound access tokens (RFC 8705 section 3) through the gateway engine, against fake
//! hosts that show the connection's certificate as Envoy does (hex SHA-256) and as Kong's engine
//! does (PEM), and with a TLS-terminating proxy's forwarded header. Every refusal is checked for
//! its status, its error code and its counter; every pass for the certificate lookups it cost.

mod common;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::{b64, key, public_jwk, sign, thumbprint, FakeHost, FakeState, FakeStore, Semantics};
use dpop_gate::config::{Config, MtlsMode};
use dpop_gate::decision::cert::CertificateForm;
use dpop_gate::decision::{authorize, Outcome, Request, RequestHeaders};
use dpop_gate::error::{Error, TokenError};
use dpop_gate::gateway::{HostFacts, Verdict, Worker};

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com/realms/test";
const PEM_A: &str = include_str!("data/certs/client-a.pem");
const PEM_B: &str = include_str!("data/certs/client-b.pem");
/// The certificates' thumbprints (OpenSSL's, see tests/cert.rs) and their hex SHA-256.
const X5T_A: &str = "NmYXo6o29e8gNYykT6Dm-M2vfdMC3XjHMNM1ZrGDX8k";
const HEX_A: &str = "366617a3aa36f5ef20358ca44fa0e6f8cdaf7dd302dd78c730d33566b1835fc9";
const HEX_B: &str = "b4adcada685670d3d2b0fc1e281601f0e52051b2c0dea4619d2ef3507aac62e9";
const URI: &str = "https://api.example.com/webhook";

fn claims(cnf: Option<Value>) -> Value {
    let mut c = json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "partner"});
    if let Some(cnf) = cnf {
        c["cnf"] = cnf;
    }
    c
}

fn token(cnf: Option<Value>) -> String {
    sign(&key(1), json!({"alg": "ES256", "typ": "at+jwt", "kid": "k"}), claims(cnf))
}

fn bound_to_a() -> String {
    token(Some(json!({"x5t#S256": X5T_A})))
}

fn config(extra: &str) -> Config {
    let jwks = json!({"keys": [public_jwk(&key(1), Some("k"))]});
    Config::parse(format!(r#"{{"issuer":"{ISS}","audiences":["api"],"jwks":{jwks}{extra}}}"#).as_bytes()).unwrap()
}

/// URL-encoded PEM as nginx's `$ssl_client_escaped_cert` writes it.
fn escaped(pem: &str) -> String {
    pem.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// One request through a fresh worker for `facts` and `extra` configuration, the host showing
/// `connection` as the connection's certificate. Returns the verdict and the host (for its reads
/// and counters).
fn run<'s>(
    store: &'s FakeStore,
    facts: HostFacts,
    extra: &str,
    connection: Option<&str>,
    headers: &[(&str, &str)],
) -> (Verdict, FakeHost<'s>) {
    let mut host = FakeHost::new(store);
    host.peer_certificate = connection.map(String::from);
    let mut w = Worker::new(config(extra), facts, Some([7; 32]));
    w.init_shared(&mut host).unwrap();
    let v = decide(&mut w, &mut host, 1, headers);
    (v, host)
}

fn decide(w: &mut Worker, host: &mut FakeHost, ctx: u32, headers: &[(&str, &str)]) -> Verdict {
    let mut pairs = vec![(":method", "POST"), (":path", "/webhook"), (":scheme", "https"), ("host", "api.example.com")];
    pairs.extend_from_slice(headers);
    let cfg = w.config().clone();
    let h = RequestHeaders::read_for(pairs, &cfg.claims_to_headers, cfg.mtls_certificate_header.as_deref());
    let v = w.on_request(host, ctx, &h, NOW);
    w.flush_counts(host); // as if a tick came: the host's counters are exact after it
    v
}

#[track_caller]
fn assert_refused(v: &Verdict, host: &FakeHost, status: u16, code: &str, reason: &str) {
    match v {
        Verdict::Refuse(r) => {
            assert_eq!(r.status, status, "{r:?}");
            let body: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["error"], code, "{r:?}");
            let challenge = r.headers.iter().find(|(k, _)| *k == "www-authenticate").map(|(_, v)| v.as_str());
            assert!(challenge.is_some_and(|c| c.contains(&format!("error=\"{code}\""))), "{r:?}");
            assert_eq!(host.count_of(&format!("refused_{reason}")), 1, "{:?}", host.counts);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[track_caller]
fn assert_allowed(v: &Verdict) {
    assert!(matches!(v, Verdict::Allow(_)), "expected Allow, got {v:?}");
}

/// Envoy and Kong's engine, each with the certificate of client A and of client B as it shows them.
fn hosts() -> [(HostFacts, Semantics, &'static str, &'static str); 2] {
    [(HostFacts::ENVOY, Semantics::Envoy, HEX_A, HEX_B), (HostFacts::NGX_WASM, Semantics::Kong, PEM_A, PEM_B)]
}

#[test]
fn a_bound_token_passes_only_with_its_certificate() {
    for (facts, semantics, a, b) in hosts() {
        let auth = format!("Bearer {}", bound_to_a());
        let auth = [("authorization", auth.as_str())];
        let store = FakeStore::new(semantics);

        let (v, host) = run(&store, facts, "", Some(a), &auth);
        assert_allowed(&v);
        assert_eq!(host.certificate_reads, [facts.certificate], "{facts:?}: read once, in the host's form");

        let (v, host) = run(&store, facts, "", Some(b), &auth);
        assert_refused(&v, &host, 401, "invalid_token", "token_cert_mismatch");

        // No certificate: nothing, or what each host answers on a connection without one.
        for none in [None, Some("")] {
            let (v, host) = run(&store, facts, "", none, &auth);
            assert_refused(&v, &host, 401, "invalid_token", "token_cert_missing");
        }
        // The other host's form is no certificate here.
        let (v, host) = run(&store, facts, "", Some(if a == HEX_A { PEM_A } else { HEX_A }), &auth);
        assert_refused(&v, &host, 401, "invalid_token", "token_cert_missing");
    }
}

#[test]
fn the_hot_path_reads_no_certificate() {
    for (facts, semantics, a, _) in hosts() {
        let store = FakeStore::new(semantics);
        let plain = format!("Bearer {}", token(None));
        let (v, host) = run(&store, facts, "", Some(a), &[("authorization", &plain)]);
        assert_allowed(&v);
        assert!(host.certificate_reads.is_empty(), "an unbound token cost a certificate lookup");
        // `mtls: required` refuses an unbound token without a lookup either.
        let (v, host) = run(&store, facts, r#","mtls":"required""#, Some(a), &[("authorization", &plain)]);
        assert_refused(&v, &host, 401, "invalid_token", "token_cert_required");
        assert!(host.certificate_reads.is_empty());
    }
}

#[test]
fn required_and_disabled_modes() {
    for (facts, semantics, a, _) in hosts() {
        let store = FakeStore::new(semantics);
        let bound = format!("Bearer {}", bound_to_a());
        let (v, _) = run(&store, facts, r#","mtls":"required""#, Some(a), &[("authorization", &bound)]);
        assert_allowed(&v);
        // Disabled: a bound token is refused even with its certificate, which is never looked up.
        let (v, host) = run(&store, facts, r#","mtls":"disabled""#, Some(a), &[("authorization", &bound)]);
        assert_refused(&v, &host, 401, "invalid_token", "token_cert_disabled");
        assert!(host.certificate_reads.is_empty());
        let plain = format!("Bearer {}", token(None));
        let (v, _) = run(&store, facts, r#","mtls":"disabled""#, None, &[("authorization", &plain)]);
        assert_allowed(&v);
    }
    assert_eq!(config("").mtls, MtlsMode::Optional);
}

#[test]
fn the_verified_token_cache_never_skips_the_certificate() {
    for (facts, semantics, a, b) in hosts() {
        let store = FakeStore::new(semantics);
        let mut host = FakeHost::new(&store);
        let mut w = Worker::new(config(""), facts, Some([7; 32]));
        w.init_shared(&mut host).unwrap();
        let auth = format!("Bearer {}", bound_to_a());
        host.peer_certificate = Some(a.into());
        assert_allowed(&decide(&mut w, &mut host, 1, &[("authorization", &auth)]));
        host.peer_certificate = Some(b.into());
        assert_refused(&decide(&mut w, &mut host, 2, &[("authorization", &auth)]), &host, 401, "invalid_token", "token_cert_mismatch");
        host.peer_certificate = None;
        assert_refused(&decide(&mut w, &mut host, 3, &[("authorization", &auth)]), &host, 401, "invalid_token", "token_cert_missing");
        assert_eq!(host.count_of("token_cache_hits"), 2);
    }
}

#[test]
fn a_malformed_binding_is_refused_not_ignored() {
    for bad in [json!(""), json!("AAAA"), json!(format!("{X5T_A}=")), json!(format!("{X5T_A}AA")), json!(HEX_A), json!(7), json!(null), json!([X5T_A])] {
        let store = FakeStore::new(Semantics::Envoy);
        let t = format!("Bearer {}", token(Some(json!({"x5t#S256": bad}))));
        let (v, host) = run(&store, HostFacts::ENVOY, "", Some(HEX_A), &[("authorization", &t)]);
        assert_refused(&v, &host, 401, "invalid_token", "token_claims");
    }
}

/// A token bound by both `cnf.jkt` and `cnf.x5t#S256` must satisfy both; a wrong certificate is
/// refused before the proof is looked at, so the proof is not spent.
#[test]
fn a_token_bound_both_ways_needs_the_proof_and_the_certificate() {
    let holder = key(3);
    let both = token(Some(json!({"x5t#S256": X5T_A, "jkt": thumbprint(&holder)})));
    let proof = |signer: &p256::ecdsa::SigningKey, jti: &str| {
        sign(
            signer,
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(signer, None)}),
            json!({"jti": jti, "htm": "POST", "htu": URI, "iat": NOW, "ath": b64(&Sha256::digest(both.as_bytes()))}),
        )
    };
    let dpop = format!("DPoP {both}");
    for (facts, semantics, a, b) in hosts() {
        let store = FakeStore::new(semantics);
        let mut host = FakeHost::new(&store);
        let mut w = Worker::new(config(""), facts, Some([7; 32]));
        w.init_shared(&mut host).unwrap();
        let p1 = proof(&holder, "p1");

        host.peer_certificate = Some(b.into());
        let v = decide(&mut w, &mut host, 1, &[("authorization", &dpop), ("dpop", &p1)]);
        assert_refused(&v, &host, 401, "invalid_token", "token_cert_mismatch");
        host.peer_certificate = Some(a.into());
        assert_allowed(&decide(&mut w, &mut host, 2, &[("authorization", &dpop), ("dpop", &p1)]));
        // The same proof again is a replay: it was recorded once, by the request that passed.
        let v = decide(&mut w, &mut host, 3, &[("authorization", &dpop), ("dpop", &p1)]);
        assert_refused(&v, &host, 401, "invalid_dpop_proof", "proof_replay");
        // The right certificate without the proof, or with a proof by another key.
        let bearer = format!("Bearer {both}");
        let v = decide(&mut w, &mut host, 4, &[("authorization", &bearer)]);
        assert_refused(&v, &host, 401, "invalid_token", "token_scheme");
        let v = decide(&mut w, &mut host, 5, &[("authorization", &dpop), ("dpop", &proof(&key(4), "p2"))]);
        assert_refused(&v, &host, 401, "invalid_token", "token_jkt_mismatch");
    }
}

/// `mtls_certificate_header`: only the header counts, the connection is never asked; without it, a
/// client's copy of such a header is never read, whatever it is called.
#[test]
fn the_forwarded_header_counts_only_in_header_mode() {
    let header = r#","mtls_certificate_header":"X-Client-Cert""#;
    let auth = format!("Bearer {}", bound_to_a());
    let (a, b) = (escaped(PEM_A), escaped(PEM_B));
    for (facts, semantics, conn_a, _) in hosts() {
        let store = FakeStore::new(semantics);
        let (v, host) = run(&store, facts, header, None, &[("authorization", &auth), ("x-client-cert", &a)]);
        assert_allowed(&v);
        assert!(host.certificate_reads.is_empty(), "header mode asked the connection");
        // Spelt as Kong's engine hands it over.
        let (v, _) = run(&store, facts, header, None, &[("Authorization", &auth), ("X-Client-Cert", &a)]);
        assert_allowed(&v);
        let (v, host) = run(&store, facts, header, Some(conn_a), &[("authorization", &auth), ("x-client-cert", &b)]);
        assert_refused(&v, &host, 401, "invalid_token", "token_cert_mismatch");
        // The connection's right certificate does not stand in for a missing header.
        let (v, host) = run(&store, facts, header, Some(conn_a), &[("authorization", &auth)]);
        assert_refused(&v, &host, 401, "invalid_token", "token_cert_missing");
        let two = [("authorization", auth.as_str()), ("x-client-cert", &b), ("x-client-cert", &a)];
        let (v, host) = run(&store, facts, header, None, &two);
        assert_refused(&v, &host, 400, "invalid_request", "request_multiple_certificate_headers");
        // A PEM that is not escaped at all decodes to itself (it holds no `%`).
        let (v, _) = run(&store, facts, header, None, &[("authorization", &auth), ("x-client-cert", PEM_A)]);
        assert_allowed(&v);
        let (v, host) = run(&store, facts, header, None, &[("authorization", &auth), ("x-client-cert", "%ZZ")]);
        assert_refused(&v, &host, 400, "invalid_request", "request_certificate_header");

        // Header mode off: the same header is nobody's certificate.
        for name in ["x-client-cert", "x-ssl-client-cert", "ssl-client-cert", "x-forwarded-client-cert"] {
            let (v, host) = run(&store, facts, "", None, &[("authorization", &auth), (name, &a)]);
            assert_refused(&v, &host, 401, "invalid_token", "token_cert_missing");
        }
    }
}

/// Envoy hands a filter only the first copy of a repeated custom header through a single lookup:
/// with the forwarded-certificate header present, the whole header map is read, so a second copy
/// is seen (and refused); without it, a cached-token request still costs one lookup.
#[test]
fn a_present_forwarded_header_makes_every_copy_visible() {
    let w = Worker::new(config(r#","mtls_certificate_header":"x-client-cert""#), HostFacts::ENVOY, Some([7; 32]));
    assert!(w.needs_all_headers(|name| name == "x-client-cert"));
    assert!(!w.needs_all_headers(|_| false));
    let w = Worker::new(config(""), HostFacts::ENVOY, Some([7; 32]));
    assert!(!w.needs_all_headers(|name| name == "x-client-cert"), "not in header mode: not read");
}

/// A request paused for keys keeps its forwarded certificate and is decided with it.
#[test]
fn a_paused_request_keeps_its_forwarded_certificate() {
    let cfg = Config::parse(
        format!(r#"{{"issuer":"{ISS}","jwks_uri":"{ISS}/certs","audiences":["api"],"mtls_certificate_header":"x-client-cert"}}"#)
            .as_bytes(),
    )
    .unwrap();
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = Worker::new(cfg, HostFacts::ENVOY, Some([7; 32]));
    w.init_shared(&mut host).unwrap();
    let auth = format!("Bearer {}", bound_to_a());
    let (a, b) = (escaped(PEM_A), escaped(PEM_B));
    assert_eq!(decide(&mut w, &mut host, 1, &[("authorization", &auth), ("x-client-cert", &a)]), Verdict::Pause);
    assert_eq!(decide(&mut w, &mut host, 2, &[("authorization", &auth), ("x-client-cert", &b)]), Verdict::Pause);
    let jwks = json!({"keys": [public_jwk(&key(1), Some("k"))]}).to_string();
    let token = host.callouts[0].0;
    let verdicts = w.on_callout(&mut host, token, &[(":status", "200")], Some(jwks.as_bytes()), 1, NOW);
    w.flush_counts(&mut host);
    assert_eq!(verdicts.len(), 2);
    for (ctx, v) in verdicts {
        match ctx {
            1 => assert_allowed(&v),
            _ => assert_refused(&v, &host, 401, "invalid_token", "token_cert_mismatch"),
        }
    }
}

/// A host that shows no certificates (`State`'s default, which `FakeState` keeps): every bound
/// token is refused.
#[test]
fn a_host_without_certificates_refuses_bound_tokens() {
    let cfg = config("");
    let mut state = FakeState::for_config(&cfg);
    let auth = format!("Bearer {}", bound_to_a());
    let req = Request { method: "GET", authorization: &[&auth], dpop: &[], uri: None };
    match authorize(&cfg, &req, &mut state, NOW) {
        Outcome::Deny(e) => {
            assert_eq!(e, Error::Token(TokenError::CertificateMissing));
            assert_eq!((e.status(), e.reason()), (401, "token_cert_missing"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn configuration_of_the_forwarded_header() {
    let parse = |extra: &str| Config::parse(format!(r#"{{"issuer":"{ISS}"{extra}}}"#).as_bytes());
    let cfg = parse(r#","mtls_certificate_header":"X-Client-Cert""#).unwrap();
    assert_eq!(cfg.mtls_certificate_header.as_deref(), Some("x-client-cert"));
    for (extra, field, problem) in [
        (r#","mtls":"disabled","mtls_certificate_header":"x-client-cert""#, "mtls_certificate_header", "needs `mtls` to be `optional` or `required`"),
        (r#","mtls_certificate_header":"Authorization""#, "mtls_certificate_header", "`authorization` is reserved"),
        (r#","mtls_certificate_header":"x client""#, "mtls_certificate_header", "is not a valid header name"),
        (r#","mtls_certificate_header":":path""#, "mtls_certificate_header", "is not a valid header name"),
        (r#","claims_to_headers":{"sub":"x-client-cert"},"mtls_certificate_header":"X-Client-Cert""#, "mtls_certificate_header", "also in `claims_to_headers`"),
        (r#","mtls":"Required""#, "mtls", r#"expected one of "optional", "required", "disabled", got "Required""#),
    ] {
        let e = parse(extra).expect_err(extra);
        assert_eq!(e.field, field, "{e}");
        assert!(e.problem.contains(problem), "{e}");
    }
}

#[test]
fn refusal_wording() {
    for (e, text) in [
        (TokenError::CertificateMissing, "bound to a client certificate and none was presented"),
        (TokenError::CertificateMismatch, "cnf.x5t#S256 does not match the client certificate"),
        (TokenError::CertificateRequired, "a certificate-bound access token is required"),
        (TokenError::CertificateBindingDisabled, "certificate-bound access tokens are not accepted here"),
    ] {
        let e = Error::Token(e);
        assert!(e.to_string().contains(text), "{e}");
        assert_eq!(e.code().map(|c| c.as_str()), Some("invalid_token"));
        assert_eq!(e.status(), 401);
    }
    assert_eq!(HostFacts::ENVOY.certificate, CertificateForm::Sha256Hex);
    assert_eq!(HostFacts::NGX_WASM.certificate, CertificateForm::Pem);
}
