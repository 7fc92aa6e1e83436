//! What the filter keeps in host shared data, on a fake store with each host's semantics: keys are
//! shared only between configurations with the identical key source (the cross-configuration
//! forgery of issue 11), and every protocol writes by compare-and-swap, so it works in Kong's
//! engine (which refuses a write without a version) as in Envoy (which overwrites).

mod common;

use serde_json::json;

use common::{public_jwk, sign, FakeState, FakeStore, Semantics};
use dpop_gate::config::Config;
use dpop_gate::decision::{authorize, Outcome, Request};
use dpop_gate::dpop::nonce;
use dpop_gate::error::{Error, JwsError, ProofError, TokenError};
use dpop_gate::gateway::shared::{self, decode_keys, KeySlot, SharedReplay, SharedStore};
use dpop_gate::keys::IssuerKeys;

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com/realms/test";

/// The IdP's own key (seed 1) and a key only route B's `jwks_uri` serves (seed 2), both `kid` "k".
fn jwks(seed: u8) -> String {
    json!({"keys": [public_jwk(&common::key(seed), Some("k"))]}).to_string()
}

fn token_signed_by(seed: u8) -> String {
    sign(
        &common::key(seed),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "partner"}),
    )
}

fn config(extra: &str) -> Config {
    Config::parse(format!(r#"{{"issuer":"{ISS}","audiences":["api"]{extra}}}"#).as_bytes()).unwrap()
}

/// Route A discovers the issuer's keys; route B names the same issuer with its own key set.
fn route_a() -> Config {
    config("")
}
fn route_b() -> Config {
    config(r#","jwks_uri":"https://attacker.example/jwks.json""#)
}

fn slot(cfg: &Config) -> KeySlot {
    KeySlot::for_issuer(&cfg.issuers[0]).unwrap()
}

/// One worker's view of one configuration: its key cache, fed only through shared data.
struct Worker {
    cfg: Config,
    slot: KeySlot,
    keys: IssuerKeys,
    seen: Option<u32>,
}

impl Worker {
    fn new(cfg: Config) -> Worker {
        let slot = slot(&cfg);
        let keys = IssuerKeys::new(&cfg.issuers[0].issuer, &cfg.issuers[0].keys);
        Worker { cfg, slot, keys, seen: None }
    }

    /// The adopt path (a request needing keys, or the tick): returns whether keys changed.
    fn adopt(&mut self, store: &dyn SharedStore) -> bool {
        match self.slot.read(store, self.seen) {
            Some((keys, cas)) => {
                self.seen = cas;
                self.keys.adopt(keys)
            }
            None => false,
        }
    }

    /// The publish path: this worker fetched `body` itself.
    fn fetched(&mut self, store: &dyn SharedStore, body: &str, at: u64) {
        self.keys.on_jwks(Ok(body.as_bytes()), at).unwrap();
        self.seen = self.slot.publish(store, at, self.keys.jwks_uri(), body.as_bytes());
    }

    fn decide(&mut self, token: &str) -> Outcome {
        let authorization = [format!("Bearer {token}")];
        let authorization: Vec<&str> = authorization.iter().map(String::as_str).collect();
        let req = Request { method: "POST", authorization: &authorization, dpop: &[], uri: None };
        // The decision sees exactly the keys this worker holds, and caches nothing between calls.
        let mut state = FakeState::for_config(&self.cfg);
        state.keys[0] = self.keys.keys().map(|k| k.as_ref().clone());
        authorize(&self.cfg, &req, &mut state, NOW)
    }
}

fn refused(o: Outcome) -> Error {
    match o {
        Outcome::Deny(e) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn keys_published_for_another_key_source_are_never_adopted() {
    for store in FakeStore::both() {
        // B fetched its own key set and published it.
        let mut b = Worker::new(route_b());
        b.fetched(&store, &jwks(2), NOW);
        assert!(matches!(b.decide(&token_signed_by(2)), Outcome::Allow(_)), "B trusts its own set");

        // A, on any worker, finds nothing to adopt: it needs its own keys.
        let mut a = Worker::new(route_a());
        assert!(!a.adopt(&store), "{:?}: A adopted B's keys", store.semantics);
        assert!(matches!(a.decide(&token_signed_by(2)), Outcome::NeedKeys(0)));

        // A fetches the IdP's keys and publishes them; B's forged token stays refused on A, on
        // every worker of A, and B does not adopt A's keys either.
        a.fetched(&store, &jwks(1), NOW + 1);
        assert_eq!(refused(a.decide(&token_signed_by(2))), Error::Token(TokenError::Jws(JwsError::SignatureInvalid)));
        let mut a2 = Worker::new(route_a());
        assert!(a2.adopt(&store));
        assert!(matches!(a2.decide(&token_signed_by(1)), Outcome::Allow(_)));
        assert_eq!(refused(a2.decide(&token_signed_by(2))), Error::Token(TokenError::Jws(JwsError::SignatureInvalid)));
        assert!(!b.adopt(&store), "B adopted A's keys");
        assert_eq!(refused(b.decide(&token_signed_by(1))), Error::Token(TokenError::Jws(JwsError::SignatureInvalid)));

        // B refreshes later (a newer publication): A's workers still see only A's set.
        b.fetched(&store, &jwks(2), NOW + 500);
        assert!(!a2.adopt(&store));
        assert_eq!(refused(a2.decide(&token_signed_by(2))), Error::Token(TokenError::Jws(JwsError::SignatureInvalid)));
    }
}

#[test]
fn a_value_planted_under_another_sources_key_is_refused() {
    // Even a value copied verbatim under A's key (by a bug, or an older filter sharing the zone)
    // says whose it is, and A refuses it.
    let store = FakeStore::new(Semantics::Envoy);
    let mut b = Worker::new(route_b());
    b.fetched(&store, &jwks(2), NOW);
    let published = store.value(b.slot.keys_key()).unwrap();
    let a = Worker::new(route_a());
    store.plant(a.slot.keys_key(), &published);
    assert!(a.slot.read(&store, None).is_none());
    assert!(decode_keys(&published, "anything else").is_none());
}

#[test]
fn every_part_of_the_key_source_separates_slots() {
    let a = slot(&route_a());
    // The same source with other checks (audiences, claim headers, DPoP mode...) shares keys.
    assert_eq!(a, slot(&config(r#","dpop":"required","clock_skew_seconds":5"#)));
    assert_eq!(a.keys_key(), slot(&Config::parse(format!(r#"{{"issuer":"{ISS}"}}"#).as_bytes()).unwrap()).keys_key());
    let others = [
        slot(&route_b()),
        slot(&config(r#","upstream":"evil-cluster""#)),
        slot(&Config::parse(br#"{"issuer":"https://idp.example.com/realms/other"}"#).unwrap()),
        slot(&config(r#","jwks_uri":"https://idp.example.com/realms/test/protocol/openid-connect/certs""#)),
    ];
    for (i, o) in others.iter().enumerate() {
        assert_ne!(a.keys_key(), o.keys_key(), "source {i} shares A's slot");
        for (j, p) in others.iter().enumerate() {
            assert_eq!(i == j, o.keys_key() == p.keys_key());
        }
    }
    // Static keys are never shared.
    let fixed = Config::parse(format!(r#"{{"issuer":"{ISS}","jwks":{}}}"#, jwks(1)).as_bytes()).unwrap();
    assert!(KeySlot::for_issuer(&fixed.issuers[0]).is_none());
}

#[test]
fn a_rotation_published_by_one_worker_reaches_every_worker_on_both_hosts() {
    // Kong's engine refuses a write without a version of an existing key: the second publication
    // (after a rotation) must compare-and-swap, or the first key set would stay forever.
    for store in FakeStore::both() {
        let mut w1 = Worker::new(route_a());
        let mut w2 = Worker::new(route_a());
        w1.fetched(&store, &jwks(1), NOW);
        assert!(w2.adopt(&store));
        w1.fetched(&store, &jwks(3), NOW + 300);
        assert!(w2.adopt(&store), "{:?}: the rotated set was not published", store.semantics);
        assert_eq!(w2.keys.fetched_at(), NOW + 300);
        assert!(!w2.adopt(&store), "nothing new");
        // A slower worker's older fetch never replaces the newer publication.
        let mut w3 = Worker::new(route_a());
        w3.fetched(&store, &jwks(1), NOW + 10);
        let fresh = Worker::new(route_a());
        assert_eq!(fresh.slot.read(&store, None).unwrap().0.fetched_at, NOW + 300);
    }
}

#[test]
fn a_publication_racing_another_write_retries_on_the_fresh_version() {
    for store in FakeStore::both() {
        let mut w1 = Worker::new(route_a());
        w1.fetched(&store, &jwks(1), NOW);
        // Between w2's read and its write, w3 publishes: w2's write fails, w2 rereads and, being
        // newer still, writes again.
        let key = w1.slot.keys_key().to_string();
        let planted = store.value(&key).unwrap();
        store.race_next_set(move |s| s.plant(&key, &planted));
        let mut w2 = Worker::new(route_a());
        w2.fetched(&store, &jwks(3), NOW + 300);
        assert!(w2.seen.is_some());
        assert_eq!(Worker::new(route_a()).slot.read(&store, None).unwrap().0.fetched_at, NOW + 300);
    }
}

#[test]
fn one_refresh_claim_wins_per_deadline_on_both_hosts() {
    for store in FakeStore::both() {
        let a = slot(&route_a());
        a.init_refresh_claim(&store);
        a.init_refresh_claim(&store); // a second root context: no effect
        assert!(a.claim_refresh(&store, NOW, NOW + 6));
        assert!(!a.claim_refresh(&store, NOW + 1, NOW + 7), "claimed until NOW + 6");
        // Another key source has its own claim.
        let b = slot(&route_b());
        b.init_refresh_claim(&store);
        assert!(b.claim_refresh(&store, NOW + 1, NOW + 7));
        // After the deadline (the winner's fetch was lost) another root context takes over.
        assert!(a.claim_refresh(&store, NOW + 6, NOW + 12));
        // Two root contexts racing for the same claim: exactly one wins.
        let again = slot(&route_a());
        let key_holder = slot(&route_a());
        store.race_next_set(move |s| assert!(key_holder.claim_refresh(s, NOW + 20, NOW + 26)));
        assert!(!again.claim_refresh(&store, NOW + 20, NOW + 26));
    }
}

#[test]
fn a_proof_recorded_by_racing_workers_is_accepted_once_on_both_hosts() {
    // The replay store is shared by every configuration of the host: route A's worker and route
    // B's worker see one store (more in tests/replay_store.rs).
    for store in FakeStore::both() {
        let a = SharedReplay::open(&store, &[1; 16]).unwrap();
        let b = SharedReplay::open(&store, &[2; 16]).unwrap();
        assert_eq!(a.record(&store, "jkt\0jti-1", NOW + 120, NOW), Ok(()));
        assert_eq!(b.record(&store, "jkt\0jti-1", NOW + 120, NOW), Err(ProofError::Replay));
        // Another worker records the same proof between our read and our write: we retry on its
        // value and see the replay.
        store.race_next_set(move |s| assert_eq!(b.record(s, "jkt\0jti-2", NOW + 120, NOW), Ok(())));
        assert_eq!(a.record(&store, "jkt\0jti-2", NOW + 120, NOW), Err(ProofError::Replay));
        store.unavailable.set(true);
        assert_eq!(a.record(&store, "jkt\0jti-3", NOW + 120, NOW), Err(ProofError::ReplayStoreUnavailable));
    }
}

#[test]
fn workers_agree_on_one_nonce_secret_on_both_hosts() {
    for store in FakeStore::both() {
        let first = shared::nonce_secret(&store, &[1; 32]).unwrap();
        let second = shared::nonce_secret(&store, &[2; 32]).unwrap();
        let nonce = nonce::issue(&first, 60, NOW);
        assert!(nonce::verify(&second, 60, NOW, Some(&nonce)).is_ok(), "{:?}", store.semantics);
        // A corrupt stored value is replaced by compare-and-swap on its version.
        let key = format!("{}/nonce_secret", shared::PREFIX);
        store.plant(&key, b"short");
        let third = shared::nonce_secret(&store, &[3; 32]).unwrap();
        assert_eq!(store.value(&key).unwrap(), vec![3; 32]);
        assert!(nonce::verify(&third, 60, NOW, Some(&nonce::issue(&third, 60, NOW))).is_ok());
        assert!(nonce::verify(&third, 60, NOW, Some(&nonce)).is_err(), "the old secret is gone");
    }
}

#[test]
fn every_entry_lives_under_the_versioned_prefix() {
    let store = FakeStore::new(Semantics::Kong);
    SharedReplay::open(&store, &[1; 16]).unwrap();
    let mut a = Worker::new(route_a());
    a.fetched(&store, &jwks(1), NOW);
    a.slot.init_refresh_claim(&store);
    shared::nonce_secret(&store, &[1; 32]);
    assert!(store.keys().iter().all(|k| k.starts_with("dpop_gate/v2/")));
}
