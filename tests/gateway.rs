//! The gateway engine (`gateway::Worker`) against fake hosts that behave like Envoy and like Kong's
//! engine: every host difference that broke the filter in Kong (issue 12) has a test here that the
//! old glue fails.

mod common;

use serde_json::json;

use common::{key, public_jwk, sign, FakeHost, FakeStore, Semantics};
use dpop_gate::config::Config;
use dpop_gate::decision::RequestHeaders;
use dpop_gate::gateway::{configure, Configured, HeaderEdit, HostFacts, Level, Verdict, Worker};

const NOW: u64 = 1_700_000_000;
const ISS: &str = "http://idp.test:8080/realms/test";

fn jwks() -> String {
    json!({"keys": [public_jwk(&key(1), Some("k"))]}).to_string()
}

fn discovery() -> String {
    json!({"issuer": ISS, "jwks_uri": format!("{ISS}/protocol/openid-connect/certs")}).to_string()
}

fn token(aud: &str) -> String {
    sign(
        &key(1),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": aud, "exp": NOW + 300, "iat": NOW, "sub": "partner", "azp": "webhook"}),
    )
}

fn config(extra: &str) -> Config {
    Config::parse(format!(r#"{{"issuer":"{ISS}","audiences":["api"]{extra}}}"#).as_bytes()).unwrap()
}

fn worker(facts: HostFacts, extra: &str) -> Worker {
    Worker::new(config(extra), facts, Some([7; 32]))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A request as a client sends it, with these extra headers (names as given).
fn request<'a>(authorization: &'a str, extra: &[(&'a str, &'a str)], w: &Worker) -> RequestHeaders<'a> {
    let mut pairs = vec![(":method", "POST"), (":path", "/webhook"), ("Host", "api.test"), ("Authorization", authorization)];
    pairs.extend_from_slice(extra);
    RequestHeaders::read_for(pairs, &w.config().claims_to_headers, w.config().mtls_certificate_header.as_deref())
}

/// Answers callout `token` with status 200 and `body`, in context `ctx`.
fn answer(w: &mut Worker, host: &mut FakeHost, token: u32, body: &str, ctx: u32) -> Vec<(u32, Verdict)> {
    w.on_callout(host, token, &[(":status", "200")], Some(body.as_bytes()), ctx, NOW)
}

/// Answers whatever `host.callouts` holds (discovery, then JWKS) until nothing is outstanding,
/// each in the context that made it (`owner` maps a callout to its context).
fn serve(w: &mut Worker, host: &mut FakeHost, owners: &mut Vec<(u32, u32)>) -> Vec<(u32, Verdict)> {
    let mut verdicts = Vec::new();
    let mut done = 0;
    while done < host.callouts.len() {
        let (token, _, path) = host.callouts[done].clone();
        let ctx = owners.iter().find(|(t, _)| *t == token).map(|(_, c)| *c).unwrap();
        let body = if path.ends_with("openid-configuration") { discovery() } else { jwks() };
        let before = host.callouts.len();
        for (decided, v) in answer(w, host, token, &body, ctx) {
            // A host that cannot switch contexts must only ever get a verdict for the context
            // the answer arrived in.
            if !w.facts().switches_context {
                assert_eq!(decided, ctx, "a verdict for another request than the current one");
            }
            verdicts.push((decided, v));
        }
        // A follow-up callout (JWKS after discovery) belongs to the same context.
        for (t, _, _) in &host.callouts[before..] {
            owners.push((*t, ctx));
        }
        done += 1;
    }
    verdicts
}

fn allowed(v: &Verdict) -> &[HeaderEdit] {
    match v {
        Verdict::Allow(edits) => edits,
        other => panic!("expected Allow, got {other:?}"),
    }
}

fn refused(v: &Verdict) -> (u16, String) {
    match v {
        Verdict::Refuse(r) => (r.status, r.body.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_cold_burst_is_answered_entirely_on_both_hosts() {
    let good = bearer(&token("api"));
    let foreign = bearer(&token("other"));
    for (facts, semantics) in [(HostFacts::ENVOY, Semantics::Envoy), (HostFacts::NGX_WASM, Semantics::Kong)] {
        let store = FakeStore::new(semantics);
        let mut host = FakeHost::new(&store);
        let mut w = worker(facts, "");
        let mut owners = Vec::new();
        for ctx in 1..=20u32 {
            let auth = if ctx % 4 == 0 { &foreign } else { &good };
            let before = host.callouts.len();
            assert_eq!(w.on_request(&mut host, ctx, &request(auth, &[], &w), NOW), Verdict::Pause);
            for (t, _, _) in &host.callouts[before..] {
                owners.push((*t, ctx));
            }
        }
        assert_eq!(w.waiting(), 20);
        if facts.switches_context {
            assert_eq!(host.callouts.len(), 1, "Envoy: every request waits on one fetch");
        } else {
            assert_eq!(host.callouts.len(), 20, "Kong's engine: each waiting request owns its callout");
        }
        let verdicts = serve(&mut w, &mut host, &mut owners);
        assert_eq!(w.waiting(), 0, "{facts:?}: requests left waiting");
        let mut seen: Vec<u32> = verdicts.iter().map(|(c, _)| *c).collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=20).collect::<Vec<_>>(), "every request decided exactly once");
        for (ctx, v) in &verdicts {
            if ctx % 4 == 0 {
                assert_eq!(refused(v).0, 401);
            } else {
                allowed(v);
            }
        }
    }
}

#[test]
fn a_waiting_request_is_answered_within_the_callout_timeout_even_if_its_fetch_is_lost() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, r#","http_timeout_ms":2000"#);
    let t = bearer(&token("api"));
    assert_eq!(w.on_request(&mut host, 1, &request(&t, &[], &w), NOW), Verdict::Pause);
    // The callout never answers. Ticks retry; by timeout + margin the request is refused 503.
    let mut answered = None;
    for s in 1..=6 {
        for (ctx, v) in w.on_tick(&mut host, 0, NOW + s) {
            answered.get_or_insert((s, ctx, refused(&v).0));
        }
    }
    assert_eq!(answered.map(|(_, c, st)| (c, st)), Some((1, 503)));
    assert!(answered.unwrap().0 <= 2 + 2 + 1, "answered after {answered:?} s");
    assert_eq!(w.waiting(), 0);
    assert!(host.logs.iter().any(|(l, m)| *l == Level::Warn && m.contains("keys_unavailable")));
}

#[test]
fn the_upstream_never_sees_dpop_or_a_clients_claim_header() {
    let t = token("api");
    let auth = format!("Bearer {t}");
    let claims = r#","claims_to_headers":{"sub":"X-Partner","missing":"X-Missing"}"#;
    // Envoy removes; Kong's engine cannot, so one copy is overwritten in place and two are refused.
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut envoy = worker(HostFacts::ENVOY, &format!(r#"{claims},"jwks":{}"#, jwks()));
    let v = envoy.on_request(&mut host, 1, &request(&auth, &[("X-Partner", "admin"), ("X-Missing", "x")], &envoy), NOW);
    assert_eq!(
        allowed(&v),
        [HeaderEdit::Remove("x-missing".into()), HeaderEdit::Set("x-partner".into(), "partner".into())]
    );
    let mut kong = worker(HostFacts::NGX_WASM, &format!(r#"{claims},"jwks":{}"#, jwks()));
    let v = kong.on_request(&mut host, 2, &request(&auth, &[("x-partner", "admin"), ("X-MISSING", "x")], &kong), NOW);
    assert_eq!(
        allowed(&v),
        [HeaderEdit::Set("x-missing".into(), String::new()), HeaderEdit::Set("x-partner".into(), "partner".into())]
    );
    let two = [("X-Partner", "admin"), ("x-partner", "root")];
    let (status, body) = refused(&kong.on_request(&mut host, 3, &request(&auth, &two, &kong), NOW));
    assert_eq!(status, 400);
    assert!(body.contains("invalid_request"), "{body}");
    kong.flush_counts(&mut host); // what its tick does
    assert_eq!(host.count_of("refused_request_claim_header_copies"), 1);
    // Envoy joins repeated headers; it removes every copy anyway.
    allowed(&envoy.on_request(&mut host, 4, &request(&auth, &two, &envoy), NOW));
}

#[test]
fn a_dpop_header_is_removed_or_emptied_and_the_scheme_rewritten() {
    let holder = key(9);
    let bound = sign(
        &key(1),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "cnf": {"jkt": common::thumbprint(&holder)}}),
    );
    let proof = |jti: &str| {
        sign(
            &holder,
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&holder, None)}),
            json!({"jti": jti, "htm": "POST", "htu": "http://api.test/webhook", "iat": NOW,
                   "ath": common::b64(&<sha2::Sha256 as sha2::Digest>::digest(bound.as_bytes()))}),
        )
    };
    let auth = format!("DPoP {bound}");
    // Kong's engine cannot remove a request header: the single DPoP header is emptied in place.
    for (facts, semantics, dpop_edit) in [
        (HostFacts::ENVOY, Semantics::Envoy, HeaderEdit::Remove("dpop".into())),
        (HostFacts::NGX_WASM, Semantics::Kong, HeaderEdit::Set("dpop".into(), String::new())),
    ] {
        let store = FakeStore::new(semantics);
        let mut host = FakeHost::new(&store);
        let mut w = worker(facts, &format!(r#","jwks":{}"#, jwks()));
        w.init_shared(&mut host).unwrap();
        assert!(w.needs_all_headers(|name| name == "dpop"));
        assert_eq!(w.needs_all_headers(|_| false), !facts.joins_repeated_headers);
        let p = proof("j1");
        let v = w.on_request(&mut host, 1, &request(&auth, &[("DPoP", &p)], &w), NOW);
        assert_eq!(allowed(&v), [HeaderEdit::Set("authorization".into(), format!("Bearer {bound}")), dpop_edit]);
        // The same proof again: a replay.
        let (status, body) = refused(&w.on_request(&mut host, 2, &request(&auth, &[("dpop", &p)], &w), NOW));
        assert_eq!(status, 401);
        assert!(body.contains("invalid_dpop_proof"), "{body}");
    }
}

#[test]
fn mixed_case_header_names_are_decided_alike() {
    let store = FakeStore::new(Semantics::Kong);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::NGX_WASM, &format!(r#","jwks":{}"#, jwks()));
    let t = token("api");
    let pairs = [(":method", "GET"), (":path", "/"), ("HOST", "api.test"), ("AuThOrIzAtIoN", "bearer x")];
    let mut pairs = pairs.to_vec();
    let auth = format!("bearer {t}");
    pairs[3].1 = &auth;
    let h = RequestHeaders::read(pairs);
    let edits = allowed(&w.on_request(&mut host, 1, &h, NOW)).to_vec();
    assert_eq!(edits, [HeaderEdit::Set("authorization".into(), format!("Bearer {t}"))]);
}

#[test]
fn a_bad_configuration_is_rejected_on_envoy_and_held_refusing_on_kong() {
    let bad = br#"{"issuer":"https://i.example","audience":["x"]}"#;
    match configure(bad, HostFacts::ENVOY, None) {
        Configured::Reject(msg) => assert!(msg.contains("audience"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match configure(bad, HostFacts::NGX_WASM, None) {
        Configured::Refusing(msg) => assert!(msg.contains("audience"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let r = dpop_gate::gateway::misconfigured();
    assert_eq!(r.status, 500);
    // A nonce configuration without a secret on a host without randomness is refused too.
    let nonce = br#"{"issuer":"https://i.example","dpop_nonce":{}}"#;
    assert!(matches!(configure(nonce, HostFacts::ENVOY, None), Configured::Reject(_)));
    assert!(matches!(configure(nonce, HostFacts::ENVOY, Some([1; 32])), Configured::Ready(_)));
}

#[test]
fn the_host_is_told_apart_by_plugin_vm_id() {
    assert_eq!(HostFacts::detect(Some(b"dpop_gate")), HostFacts::ENVOY);
    assert_eq!(HostFacts::detect(None), HostFacts::NGX_WASM);
}

#[test]
fn one_fetch_after_a_rotation_serves_every_worker_on_both_hosts() {
    for semantics in [Semantics::Envoy, Semantics::Kong] {
        let store = FakeStore::new(semantics);
        let mut host = FakeHost::new(&store);
        let facts = if semantics == Semantics::Envoy { HostFacts::ENVOY } else { HostFacts::NGX_WASM };
        let mut w1 = worker(facts, "");
        let mut w2 = worker(facts, "");
        w1.init_shared(&mut host).unwrap();
        w2.init_shared(&mut host).unwrap();
        let t = bearer(&token("api"));
        assert_eq!(w1.on_request(&mut host, 1, &request(&t, &[], &w1), NOW), Verdict::Pause);
        let mut owners = vec![(host.callouts[0].0, 1)];
        allowed(&serve(&mut w1, &mut host, &mut owners)[0].1);
        let fetches = host.callouts.len();
        // The other worker adopts on its tick, and decides without a fetch.
        w2.on_tick(&mut host, 0, NOW);
        allowed(&w2.on_request(&mut host, 7, &request(&t, &[], &w2), NOW));
        assert_eq!(host.callouts.len(), fetches, "{semantics:?}: the second worker fetched");
        w1.flush_counts(&mut host);
        w2.flush_counts(&mut host);
        assert_eq!(host.count_of("allowed"), 2);
    }
}

#[test]
fn a_response_with_a_fresh_nonce_is_not_cached() {
    let mut w = worker(HostFacts::ENVOY, "");
    assert!(w.response_headers(1).is_empty());
    // A refusal asking for a nonce carries one, and no-store.
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut nw = worker(HostFacts::ENVOY, &format!(r#","dpop_nonce":{{}},"jwks":{}"#, jwks()));
    let h = RequestHeaders::read([(":method", "POST"), (":path", "/"), ("host", "a"), ("authorization", "DPoP x"), ("dpop", "y")]);
    match nw.on_request(&mut host, 1, &h, NOW) {
        Verdict::Refuse(r) => {
            assert!(r.headers.iter().any(|(k, v)| *k == "cache-control" && v == "no-store"));
        }
        other => panic!("{other:?}"),
    }
    let _ = &mut w;
}

#[test]
fn challenges_are_joined_where_a_local_response_keeps_one_copy_of_a_header() {
    // No credentials: a Bearer and a DPoP challenge. Envoy sends two headers; Kong's engine would
    // keep only the last, so there both go into one.
    let store = FakeStore::new(Semantics::Kong);
    let mut host = FakeHost::new(&store);
    for (facts, want) in [(HostFacts::ENVOY, 2), (HostFacts::NGX_WASM, 1)] {
        let mut w = worker(facts, "");
        let h = RequestHeaders::read([(":method", "GET"), (":path", "/")]);
        let Verdict::Refuse(r) = w.on_request(&mut host, 1, &h, NOW) else { panic!("not refused") };
        let challenges: Vec<&str> =
            r.headers.iter().filter(|(k, _)| *k == "www-authenticate").map(|(_, v)| v.as_str()).collect();
        assert_eq!(challenges.len(), want, "{challenges:?}");
        let all = challenges.join(", ");
        assert!(all.starts_with("Bearer, DPoP algs=\"") || all.starts_with("Bearer"), "{all}");
        assert!(all.contains("DPoP algs="), "{all}");
    }
}

/// Counters cost a request no host call: the worker counts, and its tick hands the host the exact
/// totals (issue 17: two of a cached request's five host calls were counter increments). Nothing
/// is lost or counted twice across ticks, and what the tick itself counts (a late waiter's
/// refusal) reaches the host in that same tick.
#[test]
fn counters_reach_the_host_exactly_on_the_tick_and_never_per_request() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker(HostFacts::ENVOY, &format!(r#","jwks":{}"#, jwks()));
    w.init_shared(&mut host).unwrap();
    let good = bearer(&token("api"));
    let foreign = bearer(&token("other"));
    for ctx in 1..=1000 {
        allowed(&w.on_request(&mut host, ctx, &request(&good, &[], &w), NOW));
        w.on_done(ctx);
    }
    assert_eq!(refused(&w.on_request(&mut host, 2000, &request(&foreign, &[], &w), NOW)).0, 401);
    assert!(host.counts.is_empty(), "a request called the host's counters: {:?}", host.counts);
    assert_eq!((w.pending_count("", "allowed"), w.pending_count("", "token_cache_hits")), (1000, 999));

    assert!(w.on_tick(&mut host, 0, NOW).is_empty());
    let first = host.counts.clone();
    assert_eq!(
        (host.count_of("allowed"), host.count_of("token_cache_hits"), host.count_of("refused_token_audience")),
        (1000, 999, 1),
        "{first:?}"
    );
    assert_eq!(w.pending_count("", "allowed"), 0);
    w.on_tick(&mut host, 0, NOW + 1);
    assert_eq!(host.counts, first, "a quiet tick changed the counters");
    allowed(&w.on_request(&mut host, 3000, &request(&good, &[], &w), NOW + 1));
    w.on_tick(&mut host, 0, NOW + 2);
    assert_eq!((host.count_of("allowed"), host.count_of("token_cache_hits")), (1001, 1000));

    // A request left waiting past the callout timeout is refused by the tick, and counted in it.
    let mut fetching = worker(HostFacts::ENVOY, r#","http_timeout_ms":2000"#);
    fetching.init_shared(&mut host).unwrap();
    assert_eq!(fetching.on_request(&mut host, 1, &request(&good, &[], &fetching), NOW), Verdict::Pause);
    let late = fetching.on_tick(&mut host, 0, NOW + 10);
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(host.count_of("refused_keys_unavailable"), 1, "{:?}", host.counts);
}
