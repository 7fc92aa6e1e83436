//! Token introspection (RFC 7662, RFC 9701 answers) through the gateway engine, against the fake
//! hosts: every branch of the semantics, the caches, single-flight, and the attacks (a forged
//! signed answer, a `token_type` that contradicts the binding, a bound token as Bearer, a cached
//! negative answer, the endpoint down with and without a cached answer).

mod common;

use serde_json::{json, Value};

use common::{b64, key, public_jwk, sign, thumbprint, FakeHost, FakeStore, Semantics};
use dpop_gate::config::Config;
use dpop_gate::decision::introspection::{self, Answer, IntrospectionError};
use dpop_gate::decision::RequestHeaders;
use dpop_gate::gateway::{HeaderEdit, HostFacts, Level, Verdict, Worker};

const NOW: u64 = 1_700_000_000;
const ISS: &str = "http://idp.test:8080/realms/test";
const ENDPOINT: &str = "http://idp.test:8080/realms/test/protocol/openid-connect/token/introspect";
const OPAQUE: &str = "opaque-token-AAAAAAAAAAAAAAAAAAAAAAAA";
const SECRET: &str = "gateway-s3cret";

fn jwks() -> String {
    json!({"keys": [public_jwk(&key(1), Some("k"))]}).to_string()
}

/// A configuration with static keys, `introspection` members `intro` (JSON members, leading
/// comma) and top-level members `extra`.
fn config(intro: &str, extra: &str) -> Config {
    let mode = if intro.contains("\"mode\"") { "" } else { r#","mode":"opaque""# };
    let doc = format!(
        r#"{{"issuer":"{ISS}","jwks":{},"audiences":["api"],"introspection":{{"endpoint":"{ENDPOINT}","client_id":"gateway","client_secret":"{SECRET}"{mode}{intro}}}{extra}}}"#,
        jwks()
    );
    Config::parse(doc.as_bytes()).unwrap()
}

fn worker(facts: HostFacts, intro: &str, extra: &str) -> Worker {
    Worker::new(config(intro, extra), facts, Some([7; 32]))
}

fn request<'a>(authorization: &'a str, extra: &[(&'a str, &'a str)], w: &Worker) -> RequestHeaders<'a> {
    let mut pairs = vec![(":method", "POST"), (":path", "/webhook"), ("Host", "api.test"), ("Authorization", authorization)];
    pairs.extend_from_slice(extra);
    RequestHeaders::read_for(pairs, &w.config().claims_to_headers, w.config().mtls_certificate_header.as_deref())
}

fn active(extra: Value) -> String {
    let mut a = json!({"active": true, "iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "partner",
                       "scope": "webhook:write", "client_id": "partner-app", "token_type": "Bearer"});
    if let (Some(a), Some(e)) = (a.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                a.remove(k);
            } else {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    a.to_string()
}

fn ok(w: &mut Worker, host: &mut FakeHost, token: u32, body: &str, ctx: u32, now: u64) -> Vec<(u32, Verdict)> {
    w.on_callout(host, token, &[(":status", "200"), ("content-type", "application/json")], Some(body.as_bytes()), ctx, now)
}

fn refused(v: &Verdict) -> (u16, String) {
    match v {
        Verdict::Refuse(r) => (r.status, r.body.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn allowed(v: &Verdict) -> &[HeaderEdit] {
    match v {
        Verdict::Allow(edits) => edits,
        other => panic!("expected Allow, got {other:?}"),
    }
}

/// The one verdict for `ctx` among `verdicts`.
fn only(verdicts: &[(u32, Verdict)], ctx: u32) -> &Verdict {
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(verdicts[0].0, ctx);
    &verdicts[0].1
}

/// A request with a new token pauses and makes one introspection call; returns its token.
fn asks(w: &mut Worker, host: &mut FakeHost, ctx: u32, auth: &str, extra: &[(&str, &str)], now: u64) -> u32 {
    let before = host.posts.len();
    assert_eq!(w.on_request(host, ctx, &request(auth, extra, w), now), Verdict::Pause);
    assert_eq!(host.posts.len(), before + 1, "one introspection call");
    host.posts.last().unwrap().0
}

#[test]
fn an_opaque_token_passes_with_the_answers_claims_as_headers() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, "", r#","claims_to_headers":{"sub":"x-sub","client_id":"x-client"}"#);
    w.init_shared(&mut host).unwrap();
    let auth = format!("Bearer {OPAQUE}");
    let t = asks(&mut w, &mut host, 1, &auth, &[], NOW);
    // The callout: POST, form body with the token, Basic credentials, to the endpoint's host:port.
    let (_, headers, body) = host.posts[0].clone();
    let h = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(h(":method"), "POST");
    assert_eq!(h(":path"), "/realms/test/protocol/openid-connect/token/introspect");
    assert_eq!(h("content-type"), "application/x-www-form-urlencoded");
    assert_eq!(h("accept"), "application/json");
    let basic = format!("Basic {}", base64_std(&format!("gateway:{SECRET}")));
    assert_eq!(h("authorization"), basic);
    assert_eq!(String::from_utf8(body).unwrap(), format!("token={OPAQUE}&token_type_hint=access_token"));
    assert_eq!(host.callouts[0].1, "idp.test:8080");
    let v = ok(&mut w, &mut host, t, &active(json!({})), 1, NOW);
    let edits = allowed(only(&v, 1));
    assert!(edits.contains(&HeaderEdit::Set("x-sub".into(), "partner".into())), "{edits:?}");
    assert!(edits.contains(&HeaderEdit::Set("x-client".into(), "partner-app".into())), "{edits:?}");
    w.flush_counts(&mut host);
    assert_eq!(host.count_of("introspection_calls"), 1);
    // Cached: the next request is decided at once, no call.
    let v = w.on_request(&mut host, 2, &request(&auth, &[], &w), NOW + 1);
    allowed(&v);
    assert_eq!(host.posts.len(), 1);
    w.flush_counts(&mut host);
    assert_eq!(host.count_of("introspection_cache_hits"), 1);
}

fn base64_std(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn client_secret_post_puts_the_credentials_in_the_form_encoded_body() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let doc = format!(
        r#"{{"issuer":"{ISS}","jwks":{},"introspection":{{"endpoint":"{ENDPOINT}","client_id":"gate way","client_secret":"a&b=c","auth":"client_secret_post","mode":"opaque"}}}}"#,
        jwks()
    );
    let mut w = Worker::new(Config::parse(doc.as_bytes()).unwrap(), HostFacts::ENVOY, None);
    asks(&mut w, &mut host, 1, "Bearer tok+/=", &[], NOW);
    let (_, headers, body) = host.posts[0].clone();
    assert!(!headers.iter().any(|(k, _)| k == "authorization"));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "token=tok%2B%2F%3D&token_type_hint=access_token&client_id=gate%20way&client_secret=a%26b%3Dc"
    );
}

#[test]
fn active_false_is_invalid_token_and_the_negative_answer_is_cached_for_its_time() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, r#","negative_cache_seconds":5"#, "");
    let auth = format!("Bearer {OPAQUE}");
    let t = asks(&mut w, &mut host, 1, &auth, &[], NOW);
    let v = ok(&mut w, &mut host, t, r#"{"active":false}"#, 1, NOW);
    let (status, body) = refused(only(&v, 1));
    assert_eq!(status, 401);
    assert!(body.contains("invalid_token") && body.contains("not active"), "{body}");
    w.flush_counts(&mut host);
    assert_eq!(host.count_of("refused_token_inactive"), 1);
    // Within negative_cache_seconds: refused without a call.
    let (status, _) = refused(&w.on_request(&mut host, 2, &request(&auth, &[], &w), NOW + 4));
    assert_eq!(status, 401);
    assert_eq!(host.posts.len(), 1);
    // After it: asked again.
    asks(&mut w, &mut host, 3, &auth, &[], NOW + 5);
}

#[test]
fn an_active_answer_is_cached_for_cache_seconds_never_past_exp() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, r#","cache_seconds":100"#, "");
    let auth = format!("Bearer {OPAQUE}");
    let t = asks(&mut w, &mut host, 1, &auth, &[], NOW);
    allowed(only(&ok(&mut w, &mut host, t, &active(json!({})), 1, NOW), 1));
    allowed(&w.on_request(&mut host, 2, &request(&auth, &[], &w), NOW + 99));
    // cache_seconds over: asked again (a revoked token passes at most this long).
    let t = asks(&mut w, &mut host, 3, &auth, &[], NOW + 100);
    // This answer's token expires in 10 s: cached only until then, and refused after.
    allowed(only(&ok(&mut w, &mut host, t, &active(json!({"exp": NOW + 110})), 3, NOW + 100), 3));
    allowed(&w.on_request(&mut host, 4, &request(&auth, &[], &w), NOW + 109));
    let before = host.posts.len();
    let v = w.on_request(&mut host, 5, &request(&auth, &[], &w), NOW + 110);
    assert_eq!(v, Verdict::Pause, "past exp the answer is not used: asked again");
    assert_eq!(host.posts.len(), before + 1);
}

#[test]
fn cache_seconds_zero_asks_every_time_and_still_decides_the_request_that_asked() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, r#","cache_seconds":0"#, "");
    let auth = format!("Bearer {OPAQUE}");
    for ctx in 1..=3 {
        let t = asks(&mut w, &mut host, ctx, &auth, &[], NOW);
        allowed(only(&ok(&mut w, &mut host, t, &active(json!({})), ctx, NOW), ctx));
    }
}

#[test]
fn the_answer_is_checked_like_a_jwt() {
    let cases = [
        (json!({"aud": "other"}), 401, "token_audience"),
        (json!({"iss": "http://evil.test"}), 401, "token_issuer"),
        (json!({"exp": NOW - 120}), 401, "token_expired"),
        (json!({"exp": null}), 401, "token_claims"),
        (json!({"nbf": NOW + 600}), 401, "token_not_yet_valid"),
        (json!({"scope": "read"}), 403, "token_scope"),
    ];
    for (edit, want, reason) in cases {
        let store = FakeStore::new(Semantics::Envoy);
        let mut host = FakeHost::new(&store);
        let mut w = worker(HostFacts::ENVOY, "", r#","scopes_required":["webhook:write"]"#);
        let auth = format!("Bearer {OPAQUE}");
        let t = asks(&mut w, &mut host, 1, &auth, &[], NOW);
        let (status, body) = refused(only(&ok(&mut w, &mut host, t, &active(edit.clone()), 1, NOW), 1));
        assert_eq!(status, want, "{edit}: {body}");
        w.flush_counts(&mut host);
    assert_eq!(host.count_of(&format!("refused_{reason}")), 1, "{edit}: {body}");
    }
}

#[test]
fn a_dpop_bound_answer_needs_its_proof_and_is_refused_as_bearer() {
    let holder = key(9);
    let bound = active(json!({"cnf": {"jkt": thumbprint(&holder)}, "token_type": "DPoP"}));
    let proof = |jti: &str| {
        sign(
            &holder,
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&holder, None)}),
            json!({"jti": jti, "htm": "POST", "htu": "http://api.test/webhook", "iat": NOW,
                   "ath": b64(&<sha2::Sha256 as sha2::Digest>::digest(OPAQUE.as_bytes()))}),
        )
    };
    for (facts, semantics) in [(HostFacts::ENVOY, Semantics::Envoy), (HostFacts::NGX_WASM, Semantics::Kong)] {
        let store = FakeStore::new(semantics);
        let mut host = FakeHost::new(&store);
        let mut w = worker(facts, "", "");
        w.init_shared(&mut host).unwrap();
        // As Bearer: the downgrade is refused.
        let bearer = format!("Bearer {OPAQUE}");
        let t = asks(&mut w, &mut host, 1, &bearer, &[], NOW);
        let (status, body) = refused(only(&ok(&mut w, &mut host, t, &bound, 1, NOW), 1));
        assert_eq!(status, 401, "{body}");
        w.flush_counts(&mut host);
    assert_eq!(host.count_of("refused_token_scheme"), 1);
        // With its proof: passes (the answer is cached now), the upstream gets Bearer.
        let dpop = format!("DPoP {OPAQUE}");
        let p = proof("j1");
        let v = w.on_request(&mut host, 2, &request(&dpop, &[("DPoP", &p)], &w), NOW);
        assert!(allowed(&v).contains(&HeaderEdit::Set("authorization".into(), format!("Bearer {OPAQUE}"))));
        // A proof of another key: refused.
        let other = key(10);
        let wrong = sign(
            &other,
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&other, None)}),
            json!({"jti": "j2", "htm": "POST", "htu": "http://api.test/webhook", "iat": NOW,
                   "ath": b64(&<sha2::Sha256 as sha2::Digest>::digest(OPAQUE.as_bytes()))}),
        );
        let (status, _) = refused(&w.on_request(&mut host, 3, &request(&dpop, &[("DPoP", &wrong)], &w), NOW));
        assert_eq!(status, 401);
        w.flush_counts(&mut host);
    assert_eq!(host.count_of("refused_token_jkt_mismatch"), 1);
    }
}

#[test]
fn a_token_type_that_contradicts_the_binding_is_refused() {
    for edit in [
        json!({"token_type": "DPoP"}),
        json!({"token_type": "Bearer", "cnf": {"jkt": thumbprint(&key(9))}}),
        json!({"token_type": "mac"}),
        json!({"token_type": 7}),
    ] {
        let store = FakeStore::new(Semantics::Envoy);
        let mut host = FakeHost::new(&store);
        let mut w = worker(HostFacts::ENVOY, "", "");
        let auth = format!("DPoP {OPAQUE}");
        let t = asks(&mut w, &mut host, 1, &auth, &[("DPoP", "x.y.z")], NOW);
        let (status, body) = refused(only(&ok(&mut w, &mut host, t, &active(edit.clone()), 1, NOW), 1));
        assert_eq!(status, 401, "{edit}: {body}");
        assert!(body.contains("invalid_token"), "{edit}: {body}");
    }
}

#[test]
fn an_endpoint_that_fails_is_503_with_a_warning_never_401_never_a_pass() {
    type Failure<'a> = (&'a [(&'a str, &'a str)], Option<&'a [u8]>, &'a str);
    let failures: [Failure; 8] = [
        (&[(":status", "503")], Some(b"down"), "status 503"),
        (&[(":status", "401")], Some(b"{}"), "refused the gateway's client credentials (status 401)"),
        (&[(":status", "403")], Some(b"{}"), "client credentials (status 403)"),
        (&[(":dispatch_status", "timeout")], None, "call failed: timeout"),
        (&[(":status", "200")], Some(b"<html>"), "not a JSON object with a boolean active"),
        (&[(":status", "200")], Some(br#"{"active":"true"}"#), "boolean active"),
        (&[(":status", "200")], None, "exceeds"),
        (&[(":status", "200"), ("content-type", "application/token-introspection+jwt")], Some(b"a.b.c"), "boolean active"),
    ];
    for (headers, body, log) in failures {
        let store = FakeStore::new(Semantics::Envoy);
        let mut host = FakeHost::new(&store);
        let mut w = worker(HostFacts::ENVOY, "", "");
        let auth = format!("Bearer {OPAQUE}");
        let t = asks(&mut w, &mut host, 1, &auth, &[], NOW);
        let v = w.on_callout(&mut host, t, headers, body, 1, NOW);
        let (status, body_text) = refused(only(&v, 1));
        assert_eq!(status, 503, "{log}: {body_text}");
        assert!(body_text.contains("temporarily_unavailable"), "{body_text}");
        assert!(
            host.logs.iter().any(|(l, m)| *l == Level::Warn && m.contains(log)),
            "{log}: {:?}",
            host.logs
        );
        w.flush_counts(&mut host);
    assert_eq!(host.count_of("introspection_failures"), 1);
        w.flush_counts(&mut host);
    assert_eq!(host.count_of("refused_introspection_unavailable"), 1);
        assert!(!host.logs.iter().any(|(_, m)| m.contains(SECRET) || m.contains(OPAQUE)), "{:?}", host.logs);
        // Nothing was cached: the next request asks again.
        asks(&mut w, &mut host, 2, &auth, &[], NOW);
    }
    // The host refuses the dispatch itself.
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    host.dispatch_ok = false;
    let mut w = worker(HostFacts::ENVOY, "", "");
    let (status, _) = refused(&w.on_request(&mut host, 1, &request(&format!("Bearer {OPAQUE}"), &[], &w), NOW));
    assert_eq!(status, 503);
    assert!(host.logs.iter().any(|(l, m)| *l == Level::Warn && m.contains("cannot call idp.test:8080")));
}

#[test]
fn a_cached_answer_is_served_while_the_endpoint_is_down() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, r#","cache_seconds":60"#, "");
    let auth = format!("Bearer {OPAQUE}");
    let t = asks(&mut w, &mut host, 1, &auth, &[], NOW);
    allowed(only(&ok(&mut w, &mut host, t, &active(json!({})), 1, NOW), 1));
    host.dispatch_ok = false;
    allowed(&w.on_request(&mut host, 2, &request(&auth, &[], &w), NOW + 59));
    // Its time over, the endpoint still down: 503.
    assert_eq!(refused(&w.on_request(&mut host, 3, &request(&auth, &[], &w), NOW + 60)).0, 503);
}

#[test]
fn a_burst_with_one_new_token_makes_one_call_on_envoy_and_one_per_request_on_kong() {
    for (facts, semantics) in [(HostFacts::ENVOY, Semantics::Envoy), (HostFacts::NGX_WASM, Semantics::Kong)] {
        let store = FakeStore::new(semantics);
        let mut host = FakeHost::new(&store);
        let mut w = worker(facts, "", "");
        w.init_shared(&mut host).unwrap();
        let auth = format!("Bearer {OPAQUE}");
        for ctx in 1..=20 {
            assert_eq!(w.on_request(&mut host, ctx, &request(&auth, &[], &w), NOW), Verdict::Pause);
        }
        let calls: Vec<u32> = host.posts.iter().map(|p| p.0).collect();
        let mut decided = Vec::new();
        if facts.switches_context {
            assert_eq!(calls.len(), 1, "Envoy: one call for the burst");
            for (ctx, v) in ok(&mut w, &mut host, calls[0], &active(json!({})), 1, NOW) {
                allowed(&v);
                decided.push(ctx);
            }
        } else {
            // Kong's engine: a request is resumed only by the answer to its own call.
            assert_eq!(calls.len(), 20, "Kong's engine: a call per waiting request");
            for (i, t) in calls.iter().enumerate() {
                let ctx = i as u32 + 1;
                let v = ok(&mut w, &mut host, *t, &active(json!({})), ctx, NOW);
                allowed(only(&v, ctx));
                decided.push(ctx);
            }
        }
        decided.sort_unstable();
        assert_eq!(decided, (1..=20).collect::<Vec<_>>());
        assert_eq!(w.waiting(), 0);
        // Afterwards a request on either host is answered from the cache.
        allowed(&w.on_request(&mut host, 21, &request(&auth, &[], &w), NOW));
        assert_eq!(host.posts.len(), calls.len());
    }
}

#[test]
fn a_lost_call_is_made_again_for_the_requests_still_waiting() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, "", "");
    let auth = format!("Bearer {OPAQUE}");
    asks(&mut w, &mut host, 1, &auth, &[], NOW);
    assert_eq!(w.on_request(&mut host, 2, &request(&auth, &[], &w), NOW), Verdict::Pause);
    // The request that made the call goes away: its answer will never arrive.
    w.on_done(1);
    assert!(w.on_tick(&mut host, 0, NOW + 1).is_empty());
    assert_eq!(host.posts.len(), 2, "asked again from the root context");
    let t = host.posts[1].0;
    allowed(only(&ok(&mut w, &mut host, t, &active(json!({})), 0, NOW + 1), 2));
}

#[test]
fn answers_are_shared_between_workers_of_the_same_source_only() {
    for semantics in [Semantics::Envoy, Semantics::Kong] {
        let store = FakeStore::new(semantics);
        let mut host = FakeHost::new(&store);
        // Shared data needs a key source to scope by: discovered keys.
        let doc = |client: &str| {
            format!(
                r#"{{"issuer":"{ISS}","audiences":["api"],"introspection":{{"endpoint":"{ENDPOINT}","client_id":"{client}","client_secret":"s","mode":"opaque"}}}}"#
            )
        };
        let make = |client: &str| Worker::new(Config::parse(doc(client).as_bytes()).unwrap(), HostFacts::ENVOY, None);
        let (mut a, mut b, mut other) = (make("gateway"), make("gateway"), make("another-client"));
        for w in [&mut a, &mut b, &mut other] {
            w.init_shared(&mut host).unwrap();
        }
        let auth = format!("Bearer {OPAQUE}");
        let t = asks(&mut a, &mut host, 1, &auth, &[], NOW);
        allowed(only(&ok(&mut a, &mut host, t, &active(json!({})), 1, NOW), 1));
        // Another worker of the same configuration: from shared data, no call.
        allowed(&b.on_request(&mut host, 2, &request(&auth, &[], &b), NOW + 1));
        assert_eq!(host.posts.len(), 1, "{semantics:?}");
        // Another client id is another scope: it asks for itself.
        asks(&mut other, &mut host, 3, &auth, &[], NOW + 1);
        // No stored key or value holds the token or the secret.
        for k in store.keys() {
            assert!(!k.contains(OPAQUE));
            let v = store.value(&k).unwrap_or_default();
            let text = String::from_utf8_lossy(&v);
            assert!(!text.contains(OPAQUE) && !text.contains("\"s\""), "{k}: {text}");
        }
    }
}

#[test]
fn a_shared_answer_is_held_to_the_readers_own_cache_seconds() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let doc = |cache: u64| {
        format!(
            r#"{{"issuer":"{ISS}","introspection":{{"endpoint":"{ENDPOINT}","client_id":"g","client_secret":"s","mode":"opaque","cache_seconds":{cache}}}}}"#
        )
    };
    let mut long = Worker::new(Config::parse(doc(3600).as_bytes()).unwrap(), HostFacts::ENVOY, None);
    let mut short = Worker::new(Config::parse(doc(5).as_bytes()).unwrap(), HostFacts::ENVOY, None);
    let auth = format!("Bearer {OPAQUE}");
    let t = asks(&mut long, &mut host, 1, &auth, &[], NOW);
    allowed(only(&ok(&mut long, &mut host, t, &active(json!({"exp": NOW + 7200})), 1, NOW), 1));
    allowed(&short.on_request(&mut host, 2, &request(&auth, &[], &short), NOW + 4));
    asks(&mut short, &mut host, 3, &auth, &[], NOW + 5);
}

#[test]
fn mode_always_introspects_jwts_too_and_refuses_a_revoked_one() {
    let jwt = sign(
        &key(1),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "partner"}),
    );
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, r#","mode":"always","cache_seconds":10"#, "");
    let auth = format!("Bearer {jwt}");
    let t = asks(&mut w, &mut host, 1, &auth, &[], NOW);
    allowed(only(&ok(&mut w, &mut host, t, &active(json!({})), 1, NOW), 1));
    // Revoked at the server: refused once the cached answer's time is over.
    allowed(&w.on_request(&mut host, 2, &request(&auth, &[], &w), NOW + 9));
    let t = asks(&mut w, &mut host, 3, &auth, &[], NOW + 10);
    let (status, _) = refused(only(&ok(&mut w, &mut host, t, r#"{"active":false}"#, 3, NOW + 10), 3));
    assert_eq!(status, 401);
    // A forged JWT is refused locally, before any call.
    let forged = sign(
        &key(2),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW}),
    );
    let before = host.posts.len();
    let (status, _) = refused(&w.on_request(&mut host, 4, &request(&format!("Bearer {forged}"), &[], &w), NOW));
    assert_eq!(status, 401);
    assert_eq!(host.posts.len(), before);
    // An answer that binds the JWT to another key than its own cnf.jkt: refused.
    let bound = sign(
        &key(1),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "cnf": {"jkt": thumbprint(&key(9))}}),
    );
    let auth = format!("DPoP {bound}");
    let t = asks(&mut w, &mut host, 5, &auth, &[("DPoP", "x.y.z")], NOW);
    let answer = active(json!({"cnf": {"jkt": thumbprint(&key(10))}, "token_type": "DPoP"}));
    let (status, _) = refused(only(&ok(&mut w, &mut host, t, &answer, 5, NOW), 5));
    assert_eq!(status, 401);
    w.flush_counts(&mut host);
    assert_eq!(host.count_of("refused_token_jkt_mismatch"), 1);
}

#[test]
fn mode_opaque_leaves_jwts_to_local_validation_and_mode_off_introspects_nothing() {
    let jwt = sign(
        &key(1),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW}),
    );
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, "", "");
    allowed(&w.on_request(&mut host, 1, &request(&format!("Bearer {jwt}"), &[], &w), NOW));
    let mut off = worker(HostFacts::ENVOY, r#","mode":"off""#, "");
    let (status, _) = refused(&off.on_request(&mut host, 2, &request(&format!("Bearer {OPAQUE}"), &[], &off), NOW));
    assert_eq!(status, 401);
    assert!(host.posts.is_empty());
}

/// An RFC 9701 answer signed with `signer`.
fn signed(signer: u8, claims: Value) -> String {
    sign(&key(signer), json!({"alg": "ES256", "typ": "token-introspection+jwt", "kid": "k"}), claims)
}

fn signed_claims(inner: &str) -> Value {
    json!({"iss": ISS, "aud": "gateway", "iat": NOW, "token_introspection": serde_json::from_str::<Value>(inner).unwrap()})
}

#[test]
fn signed_answers_are_verified_with_the_issuers_keys() {
    let jwt_type = [(":status", "200"), ("content-type", "application/token-introspection+jwt")];
    let good = signed(1, signed_claims(&active(json!({}))));
    let mut wrong_typ = signed_claims(&active(json!({})));
    wrong_typ["x"] = json!(1);
    type Case<'a> = (String, &'a [(&'a str, &'a str)], u16);
    let cases: Vec<Case> = vec![
        (good.clone(), &jwt_type, 200),
        // Forged: signed with another key.
        (signed(2, signed_claims(&active(json!({})))), &jwt_type, 503),
        // Signature bytes changed.
        (format!("{}AA", &good[..good.len() - 2]), &jwt_type, 503),
        // The configured audience names the gateway too (oidc-provider's form).
        (signed(1, json!({"iss": ISS, "aud": "api", "iat": NOW, "token_introspection": serde_json::from_str::<Value>(&active(json!({}))).unwrap()})), &jwt_type, 200),
        // For another client, or from another issuer.
        (signed(1, json!({"iss": ISS, "aud": "someone-else", "iat": NOW, "token_introspection": {"active": true}})), &jwt_type, 503),
        (signed(1, json!({"iss": "http://evil.test", "aud": "gateway", "iat": NOW, "token_introspection": {"active": true}})), &jwt_type, 503),
        // Not an introspection answer: an access token of the issuer is no answer.
        (sign(&key(1), json!({"alg": "ES256", "typ": "at+jwt", "kid": "k"}), signed_claims(&active(json!({})))), &jwt_type, 503),
        // A plain JSON answer where a signed one is required: anyone on the path could write it.
        (active(json!({})), &[(":status", "200"), ("content-type", "application/json")], 503),
        (signed(1, signed_claims(r#"{"active":false}"#)), &jwt_type, 401),
    ];
    for (body, headers, want) in cases {
        let store = FakeStore::new(Semantics::Envoy);
        let mut host = FakeHost::new(&store);
        let mut w = worker(HostFacts::ENVOY, r#","jwt_response":true"#, "");
        let auth = format!("Bearer {OPAQUE}");
        let t = asks(&mut w, &mut host, 1, &auth, &[], NOW);
        assert!(host.posts[0].1.contains(&("accept".into(), "application/token-introspection+jwt".into())));
        let v = w.on_callout(&mut host, t, headers, Some(body.as_bytes()), 1, NOW);
        match (want, only(&v, 1)) {
            (200, v) => {
                allowed(v);
            }
            (want, v) => assert_eq!(refused(v).0, want, "{body}"),
        }
    }
}

#[test]
fn without_an_endpoint_discovery_supplies_it() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let doc = format!(
        r#"{{"issuer":"{ISS}","introspection":{{"client_id":"g","client_secret":"s","mode":"opaque"}}}}"#
    );
    let mut w = Worker::new(Config::parse(doc.as_bytes()).unwrap(), HostFacts::ENVOY, None);
    let auth = format!("Bearer {OPAQUE}");
    assert_eq!(w.on_request(&mut host, 1, &request(&auth, &[], &w), NOW), Verdict::Pause);
    assert_eq!(host.callouts.len(), 1);
    assert!(host.callouts[0].2.ends_with("/.well-known/openid-configuration"));
    let disco = json!({"issuer": ISS, "jwks_uri": format!("{ISS}/certs"), "introspection_endpoint": format!("{ISS}/introspect")});
    let t = host.callouts[0].0;
    assert!(ok(&mut w, &mut host, t, &disco.to_string(), 1, NOW).is_empty());
    assert_eq!(host.posts.len(), 1);
    assert_eq!(host.callouts[1].2, "/realms/test/introspect");
    let t = host.posts[0].0;
    allowed(only(&ok(&mut w, &mut host, t, &active(json!({"aud": null})), 1, NOW), 1));
    // Without `introspection_endpoint` in discovery: 503 with a warning (another token: the
    // first one's answer is in shared data for this configuration).
    let mut w = Worker::new(Config::parse(doc.as_bytes()).unwrap(), HostFacts::ENVOY, None);
    let auth = "Bearer another-opaque-token";
    assert_eq!(w.on_request(&mut host, 2, &request(auth, &[], &w), NOW), Verdict::Pause);
    let t = host.callouts.last().unwrap().0;
    let disco = json!({"issuer": ISS, "jwks_uri": format!("{ISS}/certs")});
    let v = ok(&mut w, &mut host, t, &disco.to_string(), 2, NOW);
    assert_eq!(refused(only(&v, 2)).0, 503);
    assert!(host.logs.iter().any(|(l, m)| *l == Level::Warn && m.contains("no introspection endpoint")));
}

#[test]
fn the_secret_never_shows_in_debug_output() {
    let cfg = config("", "");
    let text = format!("{cfg:?}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(text.contains("<redacted>"));
    let ic = cfg.issuers[0].introspection.as_ref().unwrap();
    let endpoint = ic.endpoint.clone().unwrap();
    let call = introspection::callout(ic, &endpoint, None, OPAQUE);
    let text = format!("{call:?}");
    assert!(!text.contains(OPAQUE) && !text.contains("Basic"), "{text}");
    let e = IntrospectionError::Credentials(401);
    assert!(!e.to_string().contains(SECRET));
}

#[test]
fn reading_answers_directly() {
    let cfg = config("", "");
    let ic = cfg.issuers[0].introspection.as_ref().unwrap();
    let read = |h: &[(&str, &str)], b: &[u8]| introspection::read_answer(ic, ISS, &[], None, h, Some(b));
    assert_eq!(read(&[(":status", "200")], br#"{"active":false,"x":1}"#), Ok(Answer::Inactive));
    assert!(matches!(read(&[(":status", "200")], br#"{"active":true}"#), Ok(Answer::Active(_))));
    assert_eq!(read(&[(":status", "200")], br#"[true]"#), Err(IntrospectionError::Malformed));
    assert_eq!(read(&[(":status", "200")], br#"{}"#), Err(IntrospectionError::Malformed));
    let big = vec![b' '; introspection::MAX_ANSWER_BYTES + 1];
    assert_eq!(read(&[(":status", "200")], &big), Err(IntrospectionError::TooLarge));
    assert_eq!(read(&[], b""), Err(IntrospectionError::Transport("no status".into())));
    assert_eq!(read(&[(":status", "500")], b""), Err(IntrospectionError::Status(500)));
    assert!(introspection::is_jwt("a.b.c"));
    assert!(!introspection::is_jwt(OPAQUE));
    assert!(!introspection::is_jwt("a.b.c.d.e"));
    assert_ne!(introspection::digest("a"), introspection::digest("b"));
}
