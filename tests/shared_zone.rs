//! Host shared data that is not there (issue 12: Kong's engine without the `shm_kv dpop_gate`
//! zone). Kong's engine traps any shared-data call whose namespace no zone resolves; a trap in a
//! root context's startup ends the worker, and with every worker gone no route of the server
//! answers. So a root context never touches shared data when it starts or ticks: the first request
//! that needs it opens it, and where that fails, only the filtered route answers 500.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::json;

use common::{key, public_jwk, sign, FakeHost, FakeStore, Semantics};
use dpop_gate::config::Config;
use dpop_gate::decision::RequestHeaders;
use dpop_gate::gateway::{misconfigured, HostFacts, Level, Verdict, Worker, SHARED_DATA_UNAVAILABLE};

const NOW: u64 = 1_700_000_000;
const ISS: &str = "http://idp.test:8080/realms/test";

fn jwks() -> String {
    json!({"keys": [public_jwk(&key(1), Some("k"))]}).to_string()
}

fn token() -> String {
    sign(
        &key(1),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "partner"}),
    )
}

fn worker(facts: HostFacts, extra: &str) -> Worker {
    let cfg = Config::parse(format!(r#"{{"issuer":"{ISS}","audiences":["api"]{extra}}}"#).as_bytes()).unwrap();
    Worker::new(cfg, facts, Some([7; 32]))
}

fn request(authorization: &str) -> RequestHeaders<'_> {
    RequestHeaders::read([(":method", "GET"), (":path", "/"), ("host", "api.test"), ("authorization", authorization)])
}

/// Every part of the filter that lives in shared data: proofs (replay store), nonces without a
/// configured secret, keys fetched by discovery.
const EVERYTHING: &str = r#","dpop_nonce":{}"#;

/// Bearer tokens only, static keys: nothing in shared data.
fn bearer_only() -> String {
    format!(r#","dpop":"disabled","jwks":{}"#, jwks())
}

#[test]
fn a_root_context_starting_and_ticking_never_touches_shared_data() {
    for (facts, semantics) in [(HostFacts::NGX_WASM, Semantics::Kong), (HostFacts::ENVOY, Semantics::Envoy)] {
        let store = FakeStore::new(semantics);
        store.traps.set(true);
        let mut host = FakeHost::new(&store);
        let mut w = worker(facts, EVERYTHING);
        assert!(w.needs_shared());
        for second in 0..5 {
            assert!(w.on_tick(&mut host, 0, NOW + second).is_empty());
        }
        assert_eq!(store.calls.get(), 0, "{semantics:?}: a root context touched shared data before any request");
    }
}

#[test]
fn without_shared_data_the_filtered_route_answers_500_with_the_reason_at_error_level() {
    let store = FakeStore::new(Semantics::Kong);
    store.unavailable.set(true);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::NGX_WASM, EVERYTHING);
    let t = format!("Bearer {}", token());
    for ctx in 1..=3 {
        assert_eq!(w.on_request(&mut host, ctx, &request(&t), NOW), Verdict::Refuse(misconfigured()));
    }
    // Nothing else was tried: no callout for keys, no proof or nonce work.
    assert!(host.callouts.is_empty());
    assert_eq!(store.calls.get(), 3, "one probe per request");
    let errors: Vec<_> = host.logs.iter().filter(|(level, _)| *level == Level::Error).collect();
    assert_eq!(errors.len(), 1, "the reason is logged once per worker: {:?}", host.logs);
    assert_eq!(errors[0].1, SHARED_DATA_UNAVAILABLE);
    assert!(errors[0].1.contains("shm_kv") && errors[0].1.contains("dpop_gate"));
    w.flush_counts(&mut host);
    assert_eq!(host.count_of("shared_data_unavailable"), 3);
    // The tick keeps away from shared data too.
    let calls = store.calls.get();
    w.on_tick(&mut host, 0, NOW + 1);
    assert_eq!(store.calls.get(), calls);
}

#[test]
fn once_shared_data_appears_the_next_request_opens_it() {
    let store = FakeStore::new(Semantics::Envoy);
    store.unavailable.set(true);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, &format!(r#","jwks":{}"#, jwks()));
    let t = format!("Bearer {}", token());
    assert_eq!(w.on_request(&mut host, 1, &request(&t), NOW), Verdict::Refuse(misconfigured()));
    store.unavailable.set(false);
    assert!(matches!(w.on_request(&mut host, 2, &request(&t), NOW), Verdict::Allow(_)));
}

#[test]
fn a_configuration_that_keeps_nothing_shared_serves_without_shared_data() {
    for trapping in [true, false] {
        let store = FakeStore::new(Semantics::Kong);
        store.traps.set(trapping);
        store.unavailable.set(!trapping);
        let mut host = FakeHost::new(&store);
        let mut w = worker(HostFacts::NGX_WASM, &bearer_only());
        assert!(!w.needs_shared());
        let t = format!("Bearer {}", token());
        assert!(matches!(w.on_request(&mut host, 1, &request(&t), NOW), Verdict::Allow(_)));
        w.on_tick(&mut host, 0, NOW + 1);
        assert_eq!(store.calls.get(), 0);
    }
}

#[test]
fn on_kong_the_missing_zone_traps_in_the_request_not_at_startup() {
    // Kong's engine: the trap happens in the first request's shared-data call, which fails that
    // request (the host answers 500 and makes a new instance for the next one), never in the root
    // context's `on_configure` or `on_tick`, which would end the worker.
    let store = FakeStore::new(Semantics::Kong);
    store.traps.set(true);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::NGX_WASM, EVERYTHING);
    w.on_tick(&mut host, 0, NOW);
    let t = format!("Bearer {}", token());
    let trapped = catch_unwind(AssertUnwindSafe(|| w.on_request(&mut host, 1, &request(&t), NOW)));
    assert!(trapped.is_err(), "the request's shared-data call is where the host traps");
    assert_eq!(store.calls.get(), 1, "one call, the probe, before anything else");
}

#[test]
fn the_first_request_opens_shared_data_for_proofs_without_a_startup_call() {
    // Before, the replay store was opened by `on_configure`; now a worker that was never opened
    // explicitly accepts a proof (and refuses its replay), from its first request on.
    let holder = key(9);
    let store = FakeStore::new(Semantics::Kong);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::NGX_WASM, &format!(r#","jwks":{}"#, jwks()));
    let jkt = common::thumbprint(&holder);
    let bound = sign(
        &key(1),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "p", "cnf": {"jkt": jkt}}),
    );
    let proof = sign(
        &holder,
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&holder, None)}),
        json!({"jti": "j1", "htm": "GET", "htu": "http://api.test/", "iat": NOW,
               "ath": common::b64(&<sha2::Sha256 as sha2::Digest>::digest(bound.as_bytes()))}),
    );
    let auth = format!("DPoP {bound}");
    let h = || RequestHeaders::read([(":method", "GET"), (":path", "/"), ("host", "api.test"), ("authorization", &auth), ("dpop", &proof)]);
    assert!(matches!(w.on_request(&mut host, 1, &h(), NOW), Verdict::Allow(_)));
    match w.on_request(&mut host, 2, &h(), NOW) {
        Verdict::Refuse(r) => assert_eq!(r.status, 401, "{r:?}"),
        other => panic!("a replay was not refused: {other:?}"),
    }
}
