//! The verified-token cache, in the real engine (`gateway::Worker` over `common::FakeHost`): a hit
//! is what the filter counts as `dpop_gate_token_cache_hits`, and is used only for the very same
//! token text. The key is the token's tail (`decision::token_cache_key`), not a digest: a forger
//! who keeps a valid token's signature (so its key) and changes the payload must get a
//! verification, and a refusal.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use common::{key, public_jwk, sign, FakeHost, FakeStore, Semantics};
use dpop_gate::config::Config;
use dpop_gate::decision::{token_cache_key, RequestHeaders};
use dpop_gate::gateway::{HostFacts, Verdict, Worker};

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com/realms/test";

/// A worker with static keys (no callouts), on Envoy.
fn worker(extra: &str) -> Worker {
    let jwks = json!({"keys": [public_jwk(&key(1), Some("k"))]});
    let cfg =
        Config::parse(format!(r#"{{"issuer":"{ISS}","audiences":["api"],"jwks":{jwks}{extra}}}"#).as_bytes()).unwrap();
    Worker::new(cfg, HostFacts::ENVOY, None)
}

fn token(sub: &str, aud: &str) -> String {
    sign(
        &key(1),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": aud, "exp": NOW + 300, "iat": NOW, "sub": sub}),
    )
}

fn send(w: &mut Worker, host: &mut FakeHost, ctx: u32, token: &str) -> Verdict {
    let auth = format!("Bearer {token}");
    let h = RequestHeaders::read([
        (":method", "GET"),
        (":path", "/x"),
        ("host", "api.test"),
        ("authorization", auth.as_str()),
    ]);
    let v = w.on_request(host, ctx, &h, NOW);
    w.on_done(ctx);
    w.flush_counts(host); // as if a tick came: the host's counters are exact after it
    v
}

/// (hits, allowed, refused with `reason`) as the host counted them.
fn counts(host: &FakeHost, reason: &str) -> (u64, u64, u64) {
    (host.count_of("token_cache_hits"), host.count_of("allowed"), host.count_of(&format!("refused_{reason}")))
}

#[test]
fn a_repeated_token_is_one_counted_hit_and_another_token_none() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker("");
    let (first, second) = (token("a", "api"), token("b", "api"));

    assert!(matches!(send(&mut w, &mut host, 1, &first), Verdict::Allow(_)));
    assert_eq!(counts(&host, "token_audience"), (0, 1, 0), "a first token is verified, not a hit");
    assert!(matches!(send(&mut w, &mut host, 2, &first), Verdict::Allow(_)));
    assert_eq!(counts(&host, "token_audience"), (1, 2, 0), "the same token again: exactly one hit");
    assert!(matches!(send(&mut w, &mut host, 3, &second), Verdict::Allow(_)));
    assert_eq!(counts(&host, "token_audience"), (1, 3, 0), "another token: no hit");
    assert_eq!((w.token_cache().len(), w.token_cache().hits()), (2, 1));

    // A refused token is never cached: refused twice, verified twice, no hit.
    let foreign = token("c", "other");
    for ctx in [4, 5] {
        assert!(matches!(send(&mut w, &mut host, ctx, &foreign), Verdict::Refuse(r) if r.status == 401));
    }
    assert_eq!(counts(&host, "token_audience"), (1, 3, 2));
    assert_eq!(w.token_cache().len(), 2);
}

#[test]
fn a_disabled_cache_never_hits() {
    let store = FakeStore::new(Semantics::Kong);
    let mut host = FakeHost::new(&store);
    let mut w = worker(r#","token_cache_entries":0"#);
    let t = token("a", "api");
    for ctx in 1..=3 {
        assert!(matches!(send(&mut w, &mut host, ctx, &t), Verdict::Allow(_)));
    }
    assert_eq!(counts(&host, "token_audience"), (0, 3, 0));
    assert!(w.token_cache().is_empty());
}

#[test]
fn a_cached_tokens_key_with_another_payload_is_verified_and_refused() {
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = worker("");
    let genuine = token("partner", "api");
    assert!(matches!(send(&mut w, &mut host, 1, &genuine), Verdict::Allow(_)));
    assert!(matches!(send(&mut w, &mut host, 2, &genuine), Verdict::Allow(_)));
    assert_eq!(host.count_of("token_cache_hits"), 1);

    // Same header and signature, another payload: the same cache key, another token.
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = "admin".into();
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()), parts[2]);
    assert_eq!(token_cache_key(&forged), token_cache_key(&genuine));
    match send(&mut w, &mut host, 3, &forged) {
        Verdict::Refuse(r) => assert_eq!(r.status, 401, "{}", r.body),
        other => panic!("forged token not refused: {other:?}"),
    }
    assert_eq!(host.count_of("refused_token_signature"), 1, "{:?}", host.counts);
    assert_eq!(host.count_of("token_cache_hits"), 1, "the forgery found the genuine token's entry: no hit");
    // The genuine token is still cached and allowed.
    assert!(matches!(send(&mut w, &mut host, 4, &genuine), Verdict::Allow(_)));
    assert_eq!(host.count_of("allowed"), 3);
}

#[test]
fn short_tokens_have_zero_padded_keys() {
    let mut want = [0u8; 32];
    want[..3].copy_from_slice(b"a.b");
    assert_eq!(token_cache_key("a.b"), want);
    let long = "x".repeat(40) + &"y".repeat(32);
    assert_eq!(token_cache_key(&long), [b'y'; 32]);
}
