//! The request decision end to end, natively: headers in, allow/deny (with the exact reason) out.
//! Tokens and proofs are signed here with fixed ES256 keys; the host state is `common::FakeState`.

use std::collections::HashMap;

use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

mod common;
use common::{b64, key, public_jwk, sign, thumbprint, FakeState};

use dpop_gate::config::{Config, DpopMode};
use dpop_gate::decision::{authorize, credentials, request_uri, Outcome, Request, RequestHeaders, Scheme};
use dpop_gate::error::{Error, JwsError, ProofError, RequestError, TokenError};
use dpop_gate::jose::jwk::JwkSet;

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com/realms/test";
const URI: &str = "https://api.example.com/orders";

fn token(claims: Value) -> String {
    sign(&key(1), json!({"alg": "ES256", "typ": "JWT", "kid": "idp-1"}), claims)
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "svc-partner", "scope": "read write",
           "realm_access": {"roles": ["partner", "webhook"]}})
}

fn bound_claims(holder: &SigningKey) -> Value {
    let mut c = claims();
    c["cnf"] = json!({"jkt": thumbprint(holder)});
    c
}

fn proof(holder: &SigningKey, method: &str, uri: &str, access_token: &str, jti: &str) -> String {
    let ath = b64(&Sha256::digest(access_token.as_bytes()));
    sign(
        holder,
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(holder, None)}),
        json!({"jti": jti, "htm": method, "htu": uri, "iat": NOW, "ath": ath}),
    )
}

fn config(extra: Value) -> Config {
    let mut c = json!({"issuer": ISS, "jwks": {"keys": [public_jwk(&key(1), Some("idp-1"))]}, "audiences": ["api"],
                       "claims_to_headers": {"sub": "x-sub", "realm_access.roles": "x-roles", "realm_access": "x-obj"}});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    Config::parse(c.to_string().as_bytes()).unwrap()
}

fn decide(cfg: &Config, state: &mut FakeState, method: &str, authorization: &[&str], dpop: &[&str]) -> Outcome {
    let req = Request { method, authorization, dpop, uri: Some(URI) };
    authorize(cfg, &req, state, NOW)
}

fn denied(o: Outcome) -> Error {
    match o {
        Outcome::Deny(e) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn allowed(o: Outcome) -> dpop_gate::decision::Grant {
    match o {
        Outcome::Allow(g) => g,
        other => panic!("expected allow, got {other:?}"),
    }
}

#[test]
fn valid_bearer_is_allowed_with_claim_headers() {
    let cfg = config(json!({}));
    let mut st = FakeState::for_config(&cfg);
    let t = token(claims());
    let g = allowed(decide(&cfg, &mut st, "GET", &[&format!("Bearer {t}")], &[]));
    assert_eq!(g.token.exp, NOW + 300);
    let h: HashMap<_, _> = g.headers.into_iter().collect();
    assert_eq!(h.get("x-sub").map(String::as_str), Some("svc-partner"));
    assert_eq!(h.get("x-roles").map(String::as_str), Some("partner,webhook"));
    assert!(!h.contains_key("x-obj"), "objects are not forwarded");
}

#[test]
fn scheme_is_case_insensitive_and_token_cache_is_used() {
    let cfg = config(json!({}));
    let mut st = FakeState::for_config(&cfg);
    let t = token(claims());
    allowed(decide(&cfg, &mut st, "GET", &[&format!("bearer {t}")], &[]));
    allowed(decide(&cfg, &mut st, "GET", &[&format!("BEARER  {t}")], &[]));
    assert_eq!(st.token_hits, 1);
}

#[test]
fn cached_token_still_expires() {
    let cfg = config(json!({"clock_skew_seconds": 0}));
    let mut st = FakeState::for_config(&cfg);
    let t = token(claims());
    let auth = format!("Bearer {t}");
    allowed(decide(&cfg, &mut st, "GET", &[&auth], &[]));
    let req = Request { method: "GET", authorization: &[&auth], dpop: &[], uri: Some(URI) };
    assert_eq!(denied(authorize(&cfg, &req, &mut st, NOW + 301)), Error::Token(TokenError::Expired));
}

#[test]
fn http_level_malformations_are_invalid_request() {
    let t = token(claims());
    let two = [format!("Bearer {t}"), format!("Bearer {t}")];
    let cases: Vec<(Vec<&str>, Vec<&str>, Error)> = vec![
        (vec![], vec![], Error::NoCredentials),
        (vec![&two[0], &two[1]], vec![], Error::Request(RequestError::MultipleAuthorization)),
        (vec!["Bearer"], vec![], Error::Request(RequestError::BadAuthorization)),
        (vec!["Bearer "], vec![], Error::Request(RequestError::BadAuthorization)),
        (vec!["Basic dXNlcjpwYXNz"], vec![], Error::Request(RequestError::BadAuthorization)),
        (vec!["Bearer a b"], vec![], Error::Request(RequestError::BadAuthorization)),
        (vec!["Bearer a\"b"], vec![], Error::Request(RequestError::BadAuthorization)),
        (vec![&two[0]], vec!["p1", "p2"], Error::Request(RequestError::MultipleDpop)),
        (vec!["DPoP abc"], vec![], Error::Request(RequestError::DpopProofMissing)),
    ];
    for (authz, dpop, want) in cases {
        let req = Request { method: "GET", authorization: &authz, dpop: &dpop, uri: Some(URI) };
        assert_eq!(credentials(&req, DpopMode::Optional).unwrap_err(), want, "{authz:?} {dpop:?}");
    }
    let req = Request { method: "GET", authorization: &["DPoP abc"], dpop: &["p"], uri: Some(URI) };
    assert_eq!(credentials(&req, DpopMode::Disabled).unwrap_err(), Error::Request(RequestError::BadAuthorization));
    let c = credentials(&req, DpopMode::Optional).unwrap();
    assert_eq!((c.scheme, c.token, c.proof), (Scheme::Dpop, "abc", Some("p")));
}

#[test]
fn token_failures_are_precise() {
    let cfg = config(json!({"scopes_required": ["read", "admin"]}));
    let mut st = FakeState::for_config(&cfg);
    let deny = |st: &mut FakeState, t: String| denied(decide(&cfg, st, "GET", &[&format!("Bearer {t}")], &[]));

    assert_eq!(deny(&mut st, token(claims())), Error::Token(TokenError::InsufficientScope("read admin".into())));
    let cfg = config(json!({}));
    let deny = |st: &mut FakeState, t: String| denied(decide(&cfg, st, "GET", &[&format!("Bearer {t}")], &[]));
    let mut c = claims();
    c["iss"] = json!(format!("{ISS}/"));
    assert_eq!(deny(&mut st, token(c)), Error::Token(TokenError::Issuer));
    let mut c = claims();
    c["aud"] = json!(["other"]);
    assert_eq!(deny(&mut st, token(c)), Error::Token(TokenError::Audience));
    let mut c = claims();
    c["exp"] = json!(NOW - 120);
    assert_eq!(deny(&mut st, token(c)), Error::Token(TokenError::Expired));
    // Signed by another key under the issuer's kid.
    let forged = sign(&key(9), json!({"alg": "ES256", "kid": "idp-1"}), claims());
    assert_eq!(deny(&mut st, forged), Error::Token(TokenError::Jws(JwsError::SignatureInvalid)));
    let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(claims().to_string().as_bytes()));
    assert_eq!(deny(&mut st, none), Error::Token(TokenError::Jws(JwsError::AlgNone)));
    assert_eq!(deny(&mut st, "a".repeat(9000)), Error::Token(TokenError::Jws(JwsError::TooLarge)));
}

#[test]
fn keys_not_yet_known_pause_and_unknown_kid_asks_for_refetch() {
    let cfg = Config::parse(format!(r#"{{"issuer":"{ISS}"}}"#).as_bytes()).unwrap();
    let mut st = FakeState::for_config(&cfg);
    let auth = format!("Bearer {}", token(claims()));
    assert!(matches!(decide(&cfg, &mut st, "GET", &[&auth], &[]), Outcome::NeedKeys(0)));
    st.unavailable = true;
    assert_eq!(denied(decide(&cfg, &mut st, "GET", &[&auth], &[])), Error::KeysUnavailable);
    st.keys[0] =
        Some(JwkSet::parse(json!({"keys": [public_jwk(&key(2), Some("other"))]}).to_string().as_bytes()).unwrap());
    assert!(matches!(decide(&cfg, &mut st, "GET", &[&auth], &[]), Outcome::UnknownKid(0)));
    st.keys[0] =
        Some(JwkSet::parse(json!({"keys": [public_jwk(&key(1), Some("idp-1"))]}).to_string().as_bytes()).unwrap());
    allowed(decide(&cfg, &mut st, "GET", &[&auth], &[]));
}

#[test]
fn the_tokens_iss_picks_the_issuer_and_same_kid_elsewhere_does_not_help() {
    let cfg = Config::parse(
        json!({"issuers": [
            {"issuer": ISS, "jwks": {"keys": [public_jwk(&key(1), Some("shared-kid"))]}},
            {"issuer": "https://evil.example", "jwks": {"keys": [public_jwk(&key(7), Some("shared-kid"))]}}
        ]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let mut st = FakeState::for_config(&cfg);
    // Signed by the untrusted issuer's key, claiming the trusted issuer.
    let forged = sign(&key(7), json!({"alg": "ES256", "kid": "shared-kid"}), claims());
    let e = denied(decide(&cfg, &mut st, "GET", &[&format!("Bearer {forged}")], &[]));
    assert_eq!(e, Error::Token(TokenError::Jws(JwsError::SignatureInvalid)));
    let mut c = claims();
    c["iss"] = json!("https://evil.example");
    let theirs = sign(&key(7), json!({"alg": "ES256", "kid": "shared-kid"}), c);
    allowed(decide(&cfg, &mut st, "GET", &[&format!("Bearer {theirs}")], &[]));
}

#[test]
fn valid_dpop_is_allowed_once() {
    let cfg = config(json!({}));
    let mut st = FakeState::for_config(&cfg);
    let holder = key(3);
    let t = token(bound_claims(&holder));
    let p = proof(&holder, "POST", URI, &t, "jti-1");
    allowed(decide(&cfg, &mut st, "POST", &[&format!("DPoP {t}")], &[&p]));
    assert_eq!(denied(decide(&cfg, &mut st, "POST", &[&format!("DPoP {t}")], &[&p])), Error::Proof(ProofError::Replay));
}

#[test]
fn dpop_binding_and_downgrades_are_refused() {
    let cfg = config(json!({}));
    let mut st = FakeState::for_config(&cfg);
    let holder = key(3);
    let bound = token(bound_claims(&holder));
    let plain = token(claims());
    // DPoP-bound token sent as Bearer.
    assert_eq!(
        denied(decide(&cfg, &mut st, "GET", &[&format!("Bearer {bound}")], &[])),
        Error::Token(TokenError::BoundTokenAsBearer)
    );
    // Plain token under the DPoP scheme, even with a valid proof.
    let p = proof(&holder, "GET", URI, &plain, "jti-2");
    assert_eq!(
        denied(decide(&cfg, &mut st, "GET", &[&format!("DPoP {plain}")], &[&p])),
        Error::Token(TokenError::UnboundTokenAsDpop)
    );
    // A proof by another key than the token's cnf.jkt.
    let thief = key(4);
    let p = proof(&thief, "GET", URI, &bound, "jti-3");
    assert_eq!(
        denied(decide(&cfg, &mut st, "GET", &[&format!("DPoP {bound}")], &[&p])),
        Error::Token(TokenError::JktMismatch)
    );
    // Wrong method and wrong URI.
    let p = proof(&holder, "POST", URI, &bound, "jti-4");
    assert_eq!(denied(decide(&cfg, &mut st, "GET", &[&format!("DPoP {bound}")], &[&p])), Error::Proof(ProofError::Htm));
    let p = proof(&holder, "GET", "https://api.example.com/admin", &bound, "jti-5");
    assert_eq!(denied(decide(&cfg, &mut st, "GET", &[&format!("DPoP {bound}")], &[&p])), Error::Proof(ProofError::Htu));
    // The proof's ath must be of this token.
    let p = proof(&holder, "GET", URI, &plain, "jti-6");
    assert_eq!(denied(decide(&cfg, &mut st, "GET", &[&format!("DPoP {bound}")], &[&p])), Error::Proof(ProofError::Ath));
}

#[test]
fn dpop_required_refuses_plain_bearer() {
    let cfg = config(json!({"dpop": "required"}));
    let mut st = FakeState::for_config(&cfg);
    let plain = token(claims());
    assert_eq!(
        denied(decide(&cfg, &mut st, "GET", &[&format!("Bearer {plain}")], &[])),
        Error::Token(TokenError::DpopRequired)
    );
}

#[test]
fn dpop_disabled_still_refuses_bound_tokens_as_bearer() {
    let cfg = config(json!({"dpop": "disabled"}));
    let mut st = FakeState::for_config(&cfg);
    let bound = token(bound_claims(&key(3)));
    assert_eq!(
        denied(decide(&cfg, &mut st, "GET", &[&format!("Bearer {bound}")], &[])),
        Error::Token(TokenError::BoundTokenAsBearer)
    );
}

#[test]
fn claim_values_with_control_characters_are_not_forwarded() {
    let cfg = config(json!({}));
    let mut st = FakeState::for_config(&cfg);
    let mut c = claims();
    c["sub"] = json!("evil\r\nx-injected: 1");
    let g = allowed(decide(&cfg, &mut st, "GET", &[&format!("Bearer {}", token(c))], &[]));
    assert!(g.headers.iter().all(|(k, _)| k != "x-sub"));
}

#[test]
fn request_uri_prefers_public_base_url_then_host() {
    assert_eq!(
        request_uri(Some("https://api.example.com"), Some("http"), Some("internal:8080"), "/a?b").unwrap(),
        "https://api.example.com/a?b"
    );
    assert_eq!(request_uri(None, Some("https"), Some("api.example.com"), "/a").unwrap(), "https://api.example.com/a");
    assert_eq!(request_uri(None, None, Some("api.example.com:8080"), "/").unwrap(), "http://api.example.com:8080/");
    assert_eq!(request_uri(None, None, None, "/"), None);
    assert_eq!(request_uri(None, None, Some("h"), "*"), None);
}

#[test]
fn a_returning_clients_proof_key_comes_from_the_state_cache() {
    let cfg = config(json!({}));
    let mut st = FakeState::for_config(&cfg);
    let holder = key(3);
    let t = token(bound_claims(&holder));
    for jti in ["k-1", "k-2", "k-3"] {
        let p = proof(&holder, "POST", URI, &t, jti);
        allowed(decide(&cfg, &mut st, "POST", &[&format!("DPoP {t}")], &[&p]));
    }
    // One client, one header segment: parsed once, then served (precomputed) from the cache.
    assert_eq!(st.proof_keys.len(), 1);
    assert_eq!(st.proof_keys.values().next().map(|(_, asked)| *asked), Some(3));
    // A cached key never vouches for another client: a thief's proof has its own header.
    let thief = key(4);
    let p = proof(&thief, "POST", URI, &t, "k-4");
    assert_eq!(
        denied(decide(&cfg, &mut st, "POST", &[&format!("DPoP {t}")], &[&p])),
        Error::Token(TokenError::JktMismatch)
    );
    assert_eq!(st.proof_keys.len(), 2);
}

#[test]
fn header_names_are_read_whatever_their_case() {
    // Kong's engine hands names over as the client spelt them; Envoy lower-cases them. The same
    // request must be read the same.
    let spelt = [
        (":method", "POST"),
        (":path", "/orders?x=1"),
        (":scheme", "http"),
        (":authority", "gateway.internal:8000"),
        ("Host", "api.example.com"),
        ("Authorization", "DPoP tok"),
        ("DPoP", "proof"),
        ("X-Other", "1"),
    ];
    let lower: Vec<(String, &str)> = spelt.iter().map(|(k, v)| (k.to_ascii_lowercase(), *v)).collect();
    let a = RequestHeaders::read(spelt);
    let b = RequestHeaders::read(lower.iter().map(|(k, v)| (k.as_str(), *v)));
    assert_eq!(a, b);
    assert_eq!((a.authorization, a.dpop, a.method), (vec!["DPoP tok"], vec!["proof"], "POST"));
    // The client's Host wins over the gateway's own :authority.
    assert_eq!(b.uri(None).as_deref(), Some("http://api.example.com/orders?x=1"));
    let shouted = RequestHeaders::read([("AUTHORIZATION", "Bearer a"), ("authorization", "Bearer b"), ("dPoP", "p")]);
    assert_eq!((shouted.authorization.len(), shouted.dpop.len()), (2, 1), "repeated headers stay apart");
    // And the decision sees two Authorization headers, whatever their spelling.
    let req = Request { method: "GET", authorization: &shouted.authorization, dpop: &[], uri: None };
    assert_eq!(credentials(&req, DpopMode::Optional), Err(Error::Request(RequestError::MultipleAuthorization)));
}

/// `require_at_jwt_typ`: off (the default), Keycloak's `typ: JWT` passes; on, only `at+jwt` does,
/// and the refusal comes before any signature check (a forged token of the wrong kind is refused
/// as such). The verified-token cache never lets a token skip the check: it holds only tokens that
/// passed it.
#[test]
fn require_at_jwt_typ_refuses_other_token_types() {
    let jwt = sign(&key(1), json!({"alg": "ES256", "typ": "JWT", "kid": "idp-1"}), claims());
    let at = sign(&key(1), json!({"alg": "ES256", "typ": "at+jwt", "kid": "idp-1"}), claims());
    let app = sign(&key(1), json!({"alg": "ES256", "typ": "application/AT+JWT", "kid": "idp-1"}), claims());
    let untyped = sign(&key(1), json!({"alg": "ES256", "kid": "idp-1"}), claims());
    let forged = sign(&key(9), json!({"alg": "ES256", "typ": "JWT", "kid": "idp-1"}), claims());

    let off = config(json!({}));
    assert!(!off.require_at_jwt_typ);
    let mut st = FakeState::for_config(&off);
    for t in [&jwt, &at, &app, &untyped] {
        allowed(decide(&off, &mut st, "GET", &[&format!("Bearer {t}")], &[]));
    }

    let on = config(json!({"require_at_jwt_typ": true}));
    let mut st = FakeState::for_config(&on);
    for t in [&at, &app] {
        allowed(decide(&on, &mut st, "GET", &[&format!("Bearer {t}")], &[]));
    }
    for t in [&jwt, &untyped, &forged] {
        let e = denied(decide(&on, &mut st, "GET", &[&format!("Bearer {t}")], &[]));
        assert_eq!(e, Error::Token(TokenError::Typ));
        assert_eq!((e.status(), e.reason()), (401, "token_typ"));
        assert_eq!(e.code().map(|c| c.as_str()), Some("invalid_token"));
    }
    // Also for a DPoP-bound token under the DPoP scheme: the token is checked before the proof.
    let holder = key(3);
    let bound = sign(&key(1), json!({"alg": "ES256", "typ": "JWT", "kid": "idp-1"}), bound_claims(&holder));
    let p = proof(&holder, "POST", URI, &bound, "typ-1");
    let e = denied(decide(&on, &mut st, "POST", &[&format!("DPoP {bound}")], &[&p]));
    assert_eq!(e, Error::Token(TokenError::Typ));
}

/// The token68 table (issue 17) accepts exactly RFC 7235's characters: every byte value, alone
/// and inside a token, against the RFC's definition written out.
#[test]
fn the_token68_table_is_rfc_7235() {
    for b in 0u8..=255 {
        let rfc = b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
        let Ok(text) = std::str::from_utf8(std::slice::from_ref(&b)).map(String::from).or_else(|_| {
            String::from_utf8(vec![0xC2, b]) // a non-ASCII byte, inside a UTF-8 sequence
        }) else {
            continue;
        };
        for value in [format!("Bearer {text}"), format!("Bearer abc{text}def")] {
            let auth = [value.as_str()];
            let req = Request { method: "GET", authorization: &auth, dpop: &[], uri: None };
            let ok = credentials(&req, DpopMode::Optional).is_ok();
            // A blank inside the value splits it (its own rule); everything else is the table's.
            if b != b' ' && b != b'\t' {
                assert_eq!(ok, rfc && text.len() == 1, "byte {b:#04x} in {value:?}");
            }
        }
    }
}

/// `same_text`, which decides a token-cache hit, agrees with `==` for every length around the
/// eight-byte words, with a difference at every position, and tells lengths apart.
#[test]
fn the_cached_token_comparison_is_equality() {
    use dpop_gate::decision::same_text;
    for len in 0..40usize {
        let a: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        assert!(same_text(&a, &a.clone()));
        for at in 0..len {
            let mut b = a.clone().into_bytes();
            b[at] = b'Z';
            let b = String::from_utf8(b).unwrap();
            assert!(!same_text(&a, &b), "{len} {at}");
            assert!(!same_text(&b, &a), "{len} {at}");
        }
        assert!(!same_text(&a, &format!("{a}x")));
        assert!(!same_text(&format!("{a}x"), &a));
    }
}
