//! `dpop-gate explain`: for each forged request, the check that fails is the one marked FAIL, with
//! the values behind it, and the response printed is exactly the filter's
//! ([`challenge::refusal`] of the decision's error). Keys come from the configuration, a --jwks
//! file, or discovery from a loopback issuer.

mod util;

use dpop_gate::config::DpopMode;
use dpop_gate::decision::challenge;
use dpop_gate::decision::Scheme;
use dpop_gate::error::{Error, JwsError, ProofError, TokenError};
use dpop_gate::jose::alg::Algorithm;
use dpop_gate_cli::key::SigningKey;
use dpop_gate_cli::proof::{make_proof, sign_compact, ProofFor};
use serde_json::{json, Map, Value};
use util::{closed_port, h, run_in, Run, Server, TempDir};

const NOW: u64 = 1_800_000_000;
const ISSUER: &str = "https://idp.example.com/realms/test";
const URL: &str = "https://api.example.com/webhook";
const AUD: &str = "https://api.example.com";

struct World {
    dir: TempDir,
    issuer_key: SigningKey,
    client: SigningKey,
}

impl World {
    fn new(name: &str) -> World {
        World {
            dir: TempDir::new(name),
            issuer_key: SigningKey::generate(Algorithm::ES256).unwrap(),
            client: SigningKey::generate(Algorithm::ES256).unwrap(),
        }
    }

    fn jwks(&self) -> Value {
        let mut k = self.issuer_key.public_jwk();
        k["kid"] = "k1".into();
        json!({"keys": [k]})
    }

    /// A configuration with the issuer's keys inline, plus `extra`.
    fn config(&self, extra: Value) -> String {
        let mut cfg = json!({
            "issuer": ISSUER,
            "audiences": [AUD],
            "scopes_required": ["webhook:write"],
            "clock_skew_seconds": 5,
            "jwks": self.jwks(),
            "claims_to_headers": {"azp": "x-auth-client"},
        });
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        self.dir.write("config.json", &cfg.to_string())
    }

    /// A DPoP-bound token for the client's key, with `over` replacing claims (null removes).
    fn token(&self, over: Value) -> String {
        self.token_by(&self.issuer_key, "k1", over)
    }

    fn token_by(&self, key: &SigningKey, kid: &str, over: Value) -> String {
        let mut claims = json!({
            "iss": ISSUER, "aud": AUD, "azp": "webhook-partner", "scope": "webhook:write",
            "iat": NOW - 10, "exp": NOW + 300, "cnf": {"jkt": self.client.thumbprint().unwrap()},
        });
        for (k, v) in over.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        let mut header = Map::new();
        header.insert("kid".into(), kid.into());
        header.insert("typ".into(), "at+jwt".into());
        sign_compact(key, Algorithm::ES256, header, &claims).unwrap()
    }

    fn proof(&self, key: &SigningKey, method: &str, url: &str, token: &str, iat_offset: i64) -> String {
        let what = ProofFor { method, url, access_token: Some(token), nonce: None, iat_offset };
        make_proof(key, Algorithm::ES256, &what, NOW).unwrap()
    }

    fn explain(&self, config: &str, token: &str, proof: Option<&str>, extra: &[&str]) -> Run {
        let now = NOW.to_string();
        let mut args = vec!["explain", "--config", config, "--token", token, "-X", "POST", "--url", URL, "--now", &now];
        if let Some(p) = proof {
            args.extend(["--proof", p]);
        }
        args.extend(extra);
        run_in(&self.dir.0, &args)
    }
}

/// The check line of `label`, e.g. `FAIL  proof iat`.
fn status_of(r: &Run, label: &str) -> String {
    let line = r
        .stdout
        .lines()
        .find(|l| l.len() > 8 && l[8..].starts_with(&format!("{label:<15} ")))
        .unwrap_or_else(|| panic!("no {label} line: {r:?}"));
    line[2..6].trim().to_string()
}

/// The decision failed at `label` (and only there), refused with exactly the filter's response.
fn assert_refused(r: &Run, label: &str, error: &Error, scheme: Scheme, mode: DpopMode) {
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(status_of(r, label), "FAIL", "{r:?}");
    assert_eq!(r.stdout.matches("  FAIL  ").count(), 1, "{r:?}");
    assert!(r.stdout.contains(&format!("=> {error}")), "the core's reason is shown: {r:?}");
    let refusal = challenge::refusal(error, Some(scheme), mode, &Algorithm::ALL);
    let mut expected =
        format!("\ndecision: refused ({}); the gateway answers\n  status: {}\n", error.reason(), refusal.status);
    for (name, value) in &refusal.headers {
        expected.push_str(&format!("  {name}: {value}\n"));
    }
    expected.push_str(&format!("  body: {}\n", refusal.body));
    assert!(r.stdout.ends_with(&expected), "wanted the filter's response\n{expected}in {r:?}");
}

#[test]
fn a_valid_dpop_request_is_allowed_with_every_check_shown() {
    let w = World::new("ok");
    let cfg = w.config(json!({}));
    let token = w.token(json!({}));
    let proof = w.proof(&w.client, "POST", URL, &token, 0);
    let r = w.explain(&cfg, &token, Some(&proof), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    for label in [
        "credentials",
        "token JWS",
        "issuer",
        "keys",
        "key",
        "signature",
        "exp",
        "nbf",
        "iat",
        "aud",
        "scopes",
        "certificate",
        "scheme",
        "proof JWS",
        "proof typ",
        "proof alg",
        "proof jwk",
        "proof claims",
        "htm",
        "htu",
        "proof iat",
        "ath",
        "proof signature",
        "binding",
        "nonce",
        "replay",
    ] {
        assert_eq!(status_of(&r, label), "ok", "{label}: {r:?}");
    }
    assert!(r.stdout.contains("exp 1800000300 (2027-01-15T08:05:00Z): expires in 300 s (allowed skew 5 s)"), "{r:?}");
    assert!(r.stdout.contains("proof iat is 0 s old"), "{r:?}");
    assert!(r.stdout.contains(&format!("proof key {}", w.client.thumbprint().unwrap())), "{r:?}");
    let allowed = format!(
        "\ndecision: allowed; the upstream gets\n  authorization: Bearer <the token, {} bytes>\n  x-auth-client: webhook-partner\n  (no dpop header",
        token.len()
    );
    assert!(r.stdout.contains(&allowed), "{r:?}");
}

#[test]
fn a_proof_ahead_of_the_gateways_clock_is_plain_to_see() {
    // The blog's Keycloak case: "DPoP proof is not active". Here the gateway's skew is 5 s.
    let w = World::new("iat");
    let cfg = w.config(json!({}));
    let token = w.token(json!({}));
    let proof = w.proof(&w.client, "POST", URL, &token, 30);
    let r = w.explain(&cfg, &token, Some(&proof), &[]);
    assert_refused(&r, "proof iat", &Error::Proof(ProofError::IatInFuture), Scheme::Dpop, DpopMode::Optional);
    assert!(r.stdout.contains("proof iat is 30 s in the future (allowed skew 5 s)"), "{r:?}");
    assert_eq!(status_of(&r, "htu"), "ok", "{r:?}");
    assert_eq!(status_of(&r, "ath"), "--", "not reached: {r:?}");

    let old = w.proof(&w.client, "POST", URL, &token, -100);
    let r = w.explain(&cfg, &token, Some(&old), &[]);
    assert_refused(&r, "proof iat", &Error::Proof(ProofError::IatTooOld), Scheme::Dpop, DpopMode::Optional);
    assert!(r.stdout.contains("proof iat is 100 s old (allowed: dpop_max_age_seconds 60 + skew 5 s)"), "{r:?}");
}

#[test]
fn a_token_that_is_not_a_jws() {
    let w = World::new("notjws");
    let cfg = w.config(json!({}));
    let r = w.explain(&cfg, "opaque-token-value", None, &[]);
    assert_refused(
        &r,
        "token JWS",
        &Error::Token(TokenError::Jws(JwsError::Segments)),
        Scheme::Bearer,
        DpopMode::Optional,
    );
    assert!(r.stdout.contains("=> access token: JWS must have exactly three segments"), "{r:?}");
}

#[test]
fn token_claims_expired_audience_scope_issuer() {
    let w = World::new("claims");
    let cfg = w.config(json!({}));
    let t = w.token(json!({"exp": NOW - 100}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_refused(&r, "exp", &Error::Token(TokenError::Expired), Scheme::Dpop, DpopMode::Optional);
    assert!(r.stdout.contains("expired 100 s ago (allowed skew 5 s)"), "{r:?}");
    assert_eq!(status_of(&r, "aud"), "--", "{r:?}");

    let t = w.token(json!({"aud": ["https://other.example.com"]}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_refused(&r, "aud", &Error::Token(TokenError::Audience), Scheme::Dpop, DpopMode::Optional);
    assert!(r.stdout.contains(r#"aud ["https://other.example.com"]; accepted: https://api.example.com"#), "{r:?}");

    let t = w.token(json!({"scope": "webhook:read"}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_refused(
        &r,
        "scopes",
        &Error::Token(TokenError::InsufficientScope("webhook:write".into())),
        Scheme::Dpop,
        DpopMode::Optional,
    );
    assert!(r.stdout.contains("  status: 403\n"), "{r:?}");
    assert!(r.stdout.contains(r#"required: webhook:write; granted: scope "webhook:read""#), "{r:?}");

    let t = w.token(json!({"iss": "https://evil.example.com"}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_refused(&r, "issuer", &Error::Token(TokenError::Issuer), Scheme::Dpop, DpopMode::Optional);

    // An ID token (typ JWT) where an access token is required (RFC 9068).
    let typed = w.config(json!({"require_at_jwt_typ": true}));
    let mut header = Map::new();
    header.insert("kid".into(), "k1".into());
    header.insert("typ".into(), "JWT".into());
    let claims = json!({"iss": ISSUER, "aud": AUD, "scope": "webhook:write", "exp": NOW + 300});
    let id_token = sign_compact(&w.issuer_key, Algorithm::ES256, header, &claims).unwrap();
    let r = w.explain(&typed, &id_token, None, &[]);
    assert_refused(&r, "token typ", &Error::Token(TokenError::Typ), Scheme::Bearer, DpopMode::Optional);
    assert!(r.stdout.contains(r#"typ "JWT"; require_at_jwt_typ: at+jwt"#), "{r:?}");
    let t = w.token(json!({"cnf": null}));
    assert_eq!(w.explain(&typed, &t, None, &[]).code, 0, "typ at+jwt passes");

    let t = w.token(json!({"nbf": NOW + 60}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_refused(&r, "nbf", &Error::Token(TokenError::NotYetValid), Scheme::Dpop, DpopMode::Optional);
    assert!(r.stdout.contains("nbf 1800000060 (2027-01-15T08:01:00Z): 60 s in the future (allowed skew 5 s)"), "{r:?}");
}

#[test]
fn keys_unknown_kid_and_forged_signature() {
    let w = World::new("keys");
    let cfg = w.config(json!({}));
    let t = w.token_by(&w.issuer_key, "k2", json!({}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_refused(&r, "key", &Error::Token(TokenError::Jws(JwsError::KeyNotFound)), Scheme::Dpop, DpopMode::Optional);
    assert!(r.stdout.contains(r#"no key with kid "k2" for ES256"#), "{r:?}");

    let forger = SigningKey::generate(Algorithm::ES256).unwrap();
    let t = w.token_by(&forger, "k1", json!({}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_refused(
        &r,
        "signature",
        &Error::Token(TokenError::Jws(JwsError::SignatureInvalid)),
        Scheme::Dpop,
        DpopMode::Optional,
    );
}

#[test]
fn htu_both_sides_normalised_and_public_base_url() {
    let w = World::new("htu");
    let cfg = w.config(json!({}));
    let t = w.token(json!({}));
    let proof = w.proof(&w.client, "POST", "HTTPS://API.example.com:443/admin/../other", &t, 0);
    let r = w.explain(&cfg, &t, Some(&proof), &[]);
    assert_refused(&r, "htu", &Error::Proof(ProofError::Htu), Scheme::Dpop, DpopMode::Optional);
    assert!(r.stdout.contains("htu \"HTTPS://API.example.com:443/admin/../other\""), "{r:?}");
    assert!(r.stdout.contains("normalised https://api.example.com/other\n"), "{r:?}");
    assert!(r.stdout.contains("request URI \"https://api.example.com/webhook\""), "{r:?}");
    assert!(r.stdout.contains("normalised https://api.example.com/webhook\n"), "{r:?}");

    // TLS ends in front of the gateway: the client calls https://api.example.com, the gateway
    // sees plain http on its own port and builds the URI from public_base_url.
    let cfg = w.config(json!({"public_base_url": "https://api.example.com"}));
    let proof = w.proof(&w.client, "POST", URL, &t, 0);
    let now = NOW.to_string();
    let args = [
        "explain",
        "--config",
        &cfg,
        "--token",
        &t,
        "--proof",
        &proof,
        "-X",
        "POST",
        "--url",
        "http://10.0.0.7:8080/webhook",
        "--now",
        &now,
    ];
    let r = run_in(&w.dir.0, &args);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("request URI \"https://api.example.com/webhook\""), "{r:?}");

    let wrong_method = w.explain(&cfg, &t, Some(&w.proof(&w.client, "GET", URL, &t, 0)), &[]);
    assert_refused(&wrong_method, "htm", &Error::Proof(ProofError::Htm), Scheme::Dpop, DpopMode::Optional);
}

#[test]
fn stolen_token_downgrade_and_unbound_token() {
    let w = World::new("binding");
    let cfg = w.config(json!({}));
    let t = w.token(json!({}));
    let thief = SigningKey::generate(Algorithm::ES256).unwrap();
    let r = w.explain(&cfg, &t, Some(&w.proof(&thief, "POST", URL, &t, 0)), &[]);
    assert_refused(&r, "binding", &Error::Token(TokenError::JktMismatch), Scheme::Dpop, DpopMode::Optional);
    assert!(
        r.stdout.contains(&format!(
            "token cnf.jkt {}; proof key {}",
            w.client.thumbprint().unwrap(),
            thief.thumbprint().unwrap()
        )),
        "{r:?}"
    );

    let r = w.explain(&cfg, &t, None, &["--scheme", "bearer"]);
    assert_refused(&r, "scheme", &Error::Token(TokenError::BoundTokenAsBearer), Scheme::Bearer, DpopMode::Optional);

    let unbound = w.token(json!({"cnf": null}));
    let r = w.explain(&cfg, &unbound, Some(&w.proof(&w.client, "POST", URL, &unbound, 0)), &[]);
    assert_refused(&r, "scheme", &Error::Token(TokenError::UnboundTokenAsDpop), Scheme::Dpop, DpopMode::Optional);
    let r = w.explain(&cfg, &unbound, None, &[]);
    assert_eq!(r.code, 0, "a plain token as Bearer passes in optional mode: {r:?}");
    let required = w.config(json!({"dpop": "required"}));
    let r = w.explain(&required, &unbound, None, &[]);
    assert_refused(&r, "scheme", &Error::Token(TokenError::DpopRequired), Scheme::Bearer, DpopMode::Required);
}

/// A certificate-bound token (RFC 8705): this tool presents no client certificate, so the gateway's
/// answer to a request without one is what it shows; `mtls: disabled` refuses the token anyway.
#[test]
fn a_certificate_bound_token_without_its_certificate() {
    let w = World::new("mtls");
    let cfg = w.config(json!({}));
    let x5t = "NmYXo6o29e8gNYykT6Dm-M2vfdMC3XjHMNM1ZrGDX8k";
    let bound = w.token(json!({"cnf": {"x5t#S256": x5t}}));
    let r = w.explain(&cfg, &bound, None, &[]);
    assert_refused(&r, "certificate", &Error::Token(TokenError::CertificateMissing), Scheme::Bearer, DpopMode::Optional);
    assert!(r.stdout.contains(&format!("bound to the client certificate with x5t#S256 {x5t}")), "{r:?}");
    let disabled = w.config(json!({"mtls": "disabled"}));
    let r = w.explain(&disabled, &bound, None, &[]);
    assert_refused(&r, "certificate", &Error::Token(TokenError::CertificateBindingDisabled), Scheme::Bearer, DpopMode::Optional);
    let required = w.config(json!({"mtls": "required"}));
    let unbound = w.token(json!({"cnf": null}));
    let r = w.explain(&required, &unbound, None, &[]);
    assert_refused(&r, "certificate", &Error::Token(TokenError::CertificateRequired), Scheme::Bearer, DpopMode::Optional);
    assert!(r.stdout.contains("not certificate-bound (no cnf.x5t#S256); mtls mode required"), "{r:?}");
}

#[test]
fn server_nonce_refusal_carries_the_nonce_to_retry_with() {
    let w = World::new("nonce");
    let secret = "q0uWbLOqjxKdBlf3GXkF0Vd7NmG4PJrhP7wQe2nA1Yk";
    let cfg = w.config(json!({"dpop_nonce": {"secret": secret, "step_seconds": 60}}));
    let t = w.token(json!({}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(status_of(&r, "nonce"), "FAIL", "{r:?}");
    let key = dpop_gate::dpop::nonce::Secret::from_base64url(secret).unwrap();
    let nonce = dpop_gate::dpop::nonce::issue(&key, 60, NOW);
    assert!(r.stdout.contains(&format!("  dpop-nonce: {nonce}\n")), "{r:?}");

    let what = ProofFor { method: "POST", url: URL, access_token: Some(&t), nonce: Some(&nonce), iat_offset: 0 };
    let with_nonce = make_proof(&w.client, Algorithm::ES256, &what, NOW).unwrap();
    let r = w.explain(&cfg, &t, Some(&with_nonce), &[]);
    assert_eq!(r.code, 0, "the retry with the nonce passes: {r:?}");
}

#[test]
fn keys_by_discovery_as_the_filter_fetches_them() {
    let w = World::new("discovery");
    let jwks = w.jwks().to_string();
    let server = Server::start(move |_, req| {
        let issuer = format!("http://{}/realms/test", req.header("host").unwrap_or_default());
        match req.target.as_str() {
            "/realms/test/.well-known/openid-configuration" => {
                (200, vec![], json!({"issuer": issuer, "jwks_uri": format!("{issuer}/certs")}).to_string())
            }
            "/realms/test/certs" => (200, vec![h("content-type", "application/json")], jwks.clone()),
            _ => (404, vec![], String::new()),
        }
    });
    let issuer = server.url("/realms/test");
    let cfg = w
        .dir
        .write("discovery.json", &json!({"issuer": issuer, "audiences": [AUD], "clock_skew_seconds": 5}).to_string());
    let t = w.token(json!({"iss": issuer}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&format!("discovery GET {issuer}/.well-known/openid-configuration: jwks_uri {issuer}/certs\n{:24}JWKS GET {issuer}/certs: 1 usable key(s): k1", "")), "{r:?}");
    assert!(r.stdout.contains(&format!("upstream `127.0.0.1:{}`", server.port)), "{r:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|s| s.method == "GET" && s.header("accept") == Some("application/json")), "{seen:?}");

    // The issuer's server is down: the filter fails closed with 503.
    let dead = format!("http://127.0.0.1:{}/realms/test", closed_port());
    let cfg = w.dir.write("dead.json", &json!({"issuer": dead}).to_string());
    let t = w.token(json!({"iss": dead}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_refused(&r, "keys", &Error::KeysUnavailable, Scheme::Dpop, DpopMode::Optional);
    assert!(r.stdout.contains("discovery GET") && r.stdout.contains("callout failed"), "{r:?}");

    // ... unless the keys are given.
    let jwks_file = w.dir.write("jwks.json", &w.jwks().to_string());
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &["--jwks", &jwks_file]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("--jwks file (not fetched): 1 usable key(s): k1"), "{r:?}");
}

#[test]
fn discovery_of_another_issuer_is_refused() {
    let w = World::new("mismatch");
    let server = Server::start(|_, _| {
        (
            200,
            vec![],
            json!({"issuer": "https://evil.example.com", "jwks_uri": "https://evil.example.com/keys"}).to_string(),
        )
    });
    let issuer = server.url("/realms/test");
    let cfg = w.dir.write("c.json", &json!({"issuer": issuer}).to_string());
    let t = w.token(json!({"iss": issuer}));
    let r = w.explain(&cfg, &t, Some(&w.proof(&w.client, "POST", URL, &t, 0)), &[]);
    assert_refused(&r, "keys", &Error::KeysUnavailable, Scheme::Dpop, DpopMode::Optional);
    assert!(r.stdout.contains("discovery document issuer differs from the configured issuer"), "{r:?}");
}

#[test]
fn unusable_input_is_exit_2() {
    let w = World::new("bad");
    let good = w.config(json!({}));
    let bad = w.dir.write("bad.json", &json!({"issuer": ISSUER, "audience": [AUD]}).to_string());
    let expected = dpop_gate::config::Config::parse(&std::fs::read(&bad).unwrap()).unwrap_err().to_string();
    let kong = w.dir.write(
        "kong.yaml",
        &format!("_format_version: \"3.0\"\nplugins:\n  - name: dpop_gate\n    config: {{issuer: \"{ISSUER}\"}}\n  - name: dpop_gate\n    config: {{issuer: \"{ISSUER}\", dpop: required}}\n"),
    );
    let t = w.token(json!({}));
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--config", &bad, "--token", &t], format!("{bad}: {expected}")),
        (vec!["--config", "missing.json", "--token", &t], "cannot read missing.json".into()),
        (vec!["--config", &good, "--token", &t, "--url", "not-a-url"], "bad URL".into()),
        (vec!["--config", &good, "--token", &t, "--proof", "x.y.z"], "--url".into()),
        (vec!["--config", &good, "--token", &t, "--jwks", &good], "JWK set holds no usable verification key".into()),
        (vec!["--config", &kong, "--token", &t], "holds 2 configurations: choose one with --at".into()),
        (
            vec!["--config", &kong, "--token", &t, "--at", "plugins[7]"],
            "no dpop_gate configuration at \"plugins[7]\"".into(),
        ),
    ];
    for (args, message) in cases {
        let mut full = vec!["explain"];
        full.extend(args.iter());
        let r = run_in(&w.dir.0, &full);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(&message), "{args:?}: wanted {message:?}: {r:?}");
    }
    // (A token that is not a JWS: refused before any key is needed, so nothing is fetched.)
    let r = run_in(&w.dir.0, &["explain", "--config", &kong, "--at", "plugins[1]", "--token", "opaque"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.starts_with(&format!("configuration: {kong}: plugins[1]\n  issuer {ISSUER}; dpop required;")),
        "{r:?}"
    );
}
