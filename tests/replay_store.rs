//! The shared replay store: its bucket format (one winner per proof, bounded, expiring, failing
//! closed on anything it did not write) and its protocol over a fake shared store with each
//! host's semantics (opening, racing workers, evicted buckets). The load it holds is
//! `tests/replay_load.rs`.

mod common;

use common::{crc32, FakeStore, Semantics};
use dpop_gate::config::Config;
use dpop_gate::dpop::replay::{
    empty, insert, secret_of, Locator, BUCKETS, BUCKET_CAPACITY, ENTRY_LEN, HEADER_LEN, ID_LEN, MAX_WINDOW, SECRET_LEN,
};
use dpop_gate::dpop::{Proof, ProofPolicy};
use dpop_gate::error::ProofError;
use dpop_gate::gateway::shared::{self, replay_bucket_key, SharedReplay, SharedStore};

const NOW: u64 = 1_700_000_000;
const SECRET: [u8; SECRET_LEN] = [7; SECRET_LEN];

fn id(n: u8) -> [u8; ID_LEN] {
    [n; ID_LEN]
}

// ---- the bucket format ----

#[test]
fn a_proof_is_accepted_once() {
    let b = insert(&empty(5, &SECRET, 0), 5, &SECRET, &id(1), 200, 100).unwrap();
    assert_eq!(b.len(), HEADER_LEN + ENTRY_LEN);
    assert_eq!(insert(&b, 5, &SECRET, &id(1), 200, 150), Err(ProofError::Replay));
    assert_eq!(insert(&b, 5, &SECRET, &id(2), 200, 150).unwrap().len(), HEADER_LEN + 2 * ENTRY_LEN);
}

#[test]
fn expired_entries_are_dropped_and_may_be_reused() {
    let b = insert(&empty(0, &SECRET, 0), 0, &SECRET, &id(1), 200, 100).unwrap();
    // At 200 the entry is still live (inclusive), at 201 it is gone.
    assert_eq!(insert(&b, 0, &SECRET, &id(1), 300, 200), Err(ProofError::Replay));
    let b2 = insert(&b, 0, &SECRET, &id(1), 300, 201).unwrap();
    assert_eq!(b2.len(), HEADER_LEN + ENTRY_LEN);
}

#[test]
fn expiries_are_kept_exactly_when_a_bucket_is_rewritten_later() {
    // Expiries are stored relative to the time of the last write: rewriting the bucket at other
    // times must not move them.
    let mut b = insert(&empty(0, &SECRET, 0), 0, &SECRET, &id(1), NOW + 180, NOW).unwrap();
    for (i, t) in [NOW + 1, NOW + 60, NOW + 179].into_iter().enumerate() {
        b = insert(&b, 0, &SECRET, &id(10 + i as u8), t + 100, t).unwrap();
    }
    assert_eq!(insert(&b, 0, &SECRET, &id(1), NOW + 400, NOW + 180), Err(ProofError::Replay));
    assert!(insert(&b, 0, &SECRET, &id(1), NOW + 400, NOW + 181).is_ok());
}

#[test]
fn a_full_bucket_fails_closed_until_entries_expire() {
    let mut b = empty(3, &SECRET, 0);
    for i in 0..BUCKET_CAPACITY {
        let mut e = [0u8; ID_LEN];
        e[..4].copy_from_slice(&(i as u32).to_be_bytes());
        b = insert(&b, 3, &SECRET, &e, 1000, 10).unwrap();
    }
    assert_eq!(b.len(), HEADER_LEN + BUCKET_CAPACITY * ENTRY_LEN);
    assert_eq!(insert(&b, 3, &SECRET, &id(0xff), 1000, 10), Err(ProofError::ReplayStoreUnavailable));
    assert!(insert(&b, 3, &SECRET, &id(0xff), 2000, 1001).is_ok());
}

#[test]
fn a_value_that_is_not_this_bucket_fails_closed() {
    // Treating it as empty would overwrite it: another key's value (Kong's engine stores keys
    // with one CRC32 as one value), or a bucket of another layout whose live entries would be lost.
    let mine = insert(&empty(9, &SECRET, 0), 9, &SECRET, &id(1), 200, 100).unwrap();
    let old_layout = [0u8; 32]; // two 16-byte entries of the layout before this one
    let mut truncated = mine.clone();
    truncated.pop();
    for (what, value, index, secret) in [
        ("empty value", &[][..], 9, SECRET),
        ("old layout", &old_layout[..], 9, SECRET),
        ("truncated", &truncated[..], 9, SECRET),
        ("header only, cut", &mine[..HEADER_LEN - 1], 9, SECRET),
        ("another bucket's value", &mine[..], 10, SECRET),
        ("another secret", &mine[..], 9, [8; SECRET_LEN]),
    ] {
        assert_eq!(insert(value, index, &secret, &id(2), 200, 100), Err(ProofError::ReplayStoreUnavailable), "{what}");
    }
    assert_eq!(secret_of(&mine, 9), Some(SECRET));
    assert_eq!(secret_of(&mine, 10), None);
}

#[test]
fn a_quarantined_bucket_refuses_every_proof_until_it_ends() {
    let b = empty(1, &SECRET, NOW + MAX_WINDOW);
    assert_eq!(insert(&b, 1, &SECRET, &id(1), NOW + 120, NOW), Err(ProofError::ReplayStoreUnavailable));
    let end = NOW + MAX_WINDOW;
    assert_eq!(insert(&b, 1, &SECRET, &id(1), end + 120, end), Err(ProofError::ReplayStoreUnavailable));
    let after = insert(&b, 1, &SECRET, &id(1), end + 121, end + 1).unwrap();
    // Once written, the quarantine is over for good.
    assert!(insert(&after, 1, &SECRET, &id(2), end + 122, end + 2).is_ok());
}

#[test]
fn an_expiry_outside_what_a_bucket_can_hold_fails_closed() {
    let b = empty(0, &SECRET, 0);
    assert!(insert(&b, 0, &SECRET, &id(1), NOW + MAX_WINDOW, NOW).is_ok());
    assert!(insert(&b, 0, &SECRET, &id(1), NOW + u64::from(u16::MAX), NOW).is_ok());
    assert_eq!(
        insert(&b, 0, &SECRET, &id(1), NOW + u64::from(u16::MAX) + 1, NOW),
        Err(ProofError::ReplayStoreUnavailable)
    );
    assert_eq!(insert(&b, 0, &SECRET, &id(1), NOW - 1, NOW), Err(ProofError::ReplayStoreUnavailable));
}

#[test]
fn max_window_is_the_longest_any_configuration_keeps_an_entry() {
    // `dpop_max_age_seconds` and `clock_skew_seconds` top out at 3600, and `iat` may be one skew
    // ahead: the entry of such a proof lives exactly MAX_WINDOW.
    let cfg = Config::parse(br#"{"issuer":"https://i.example","dpop_max_age_seconds":3600,"clock_skew_seconds":3600}"#)
        .unwrap();
    assert!(Config::parse(br#"{"issuer":"https://i.example","dpop_max_age_seconds":3601}"#).is_err());
    assert!(Config::parse(br#"{"issuer":"https://i.example","clock_skew_seconds":3601}"#).is_err());
    let policy =
        ProofPolicy { algs: &cfg.dpop_algs, max_age: cfg.dpop_max_age, clock_skew: cfg.clock_skew, max_len: 8192 };
    let proof = Proof { jti: "j".into(), jkt: "k".into(), iat: NOW + cfg.clock_skew, nonce: None };
    assert_eq!(proof.replay_expiry(&policy) - NOW, MAX_WINDOW);
}

#[test]
fn keys_spread_over_all_buckets_and_depend_on_the_secret() {
    let a = Locator::new(SECRET);
    let b = Locator::new([8; SECRET_LEN]);
    let mut seen = vec![false; BUCKETS];
    let mut same = 0;
    for i in 0..400_000 {
        let key = format!("jkt\0key-{i}");
        let (bucket, _) = a.locate(&key);
        seen[bucket] = true;
        same += usize::from(bucket == b.locate(&key).0);
    }
    assert!(seen.iter().all(|s| *s));
    // Without the secret a client cannot tell which bucket its `jti` goes to: under another
    // secret the buckets agree only by chance (1 in 32 768).
    assert!(same < 100, "{same} of 400 000 keys in the same bucket under two secrets");
    assert_ne!(a.locate("jkt\0x").1, b.locate("jkt\0x").1);
}

#[test]
fn no_two_keys_of_the_filter_share_a_crc32() {
    // Kong's engine finds a key by its CRC32 alone: two bucket keys with one CRC32 would be one
    // value (failing closed for both, by the tag check), and a bucket sharing the nonce secret's
    // would have its value replaced by it.
    let mut crcs: Vec<(u32, String)> = (0..BUCKETS).map(replay_bucket_key).map(|k| (crc32(k.as_bytes()), k)).collect();
    let nonce = format!("{}/nonce_secret", shared::PREFIX);
    crcs.push((crc32(nonce.as_bytes()), nonce));
    crcs.sort();
    for w in crcs.windows(2) {
        assert_ne!(w[0].0, w[1].0, "{} and {} share a CRC32", w[0].1, w[1].1);
    }
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "the CRC32 nginx uses");
}

// ---- the protocol, on both hosts ----

fn open(store: &FakeStore, offer: u8) -> SharedReplay {
    SharedReplay::open(store, &[offer; SECRET_LEN]).expect("store opens")
}

/// `n` replay keys that all go to one bucket under `replay`'s secret, and that bucket.
fn keys_in_one_bucket(replay: &SharedReplay, n: usize) -> (usize, Vec<String>) {
    let target = replay.locate("jkt\0seed").0;
    let keys: Vec<String> =
        (0u64..).map(|i| format!("jkt\0{i}")).filter(|k| replay.locate(k).0 == target).take(n).collect();
    (target, keys)
}

#[test]
fn a_proof_costs_two_host_calls() {
    for store in FakeStore::both() {
        let replay = open(&store, 1);
        let before = store.calls.get();
        replay.record(&store, "jkt\0jti-1", NOW + 120, NOW).unwrap();
        assert_eq!(store.calls.get() - before, 2, "{:?}", store.semantics);
        assert_eq!(replay.record(&store, "jkt\0jti-1", NOW + 120, NOW), Err(ProofError::Replay));
        assert_eq!(store.calls.get() - before, 3, "a replay is one get");
    }
}

#[test]
fn opening_creates_every_bucket_once() {
    for store in FakeStore::both() {
        let first = open(&store, 1);
        assert_eq!(store.keys().len(), BUCKETS);
        let sets = store.sets.get();
        let calls = store.calls.get();
        // Another root context (another worker, Envoy's main thread): reads only.
        let second = open(&store, 2);
        assert_eq!(store.sets.get(), sets);
        assert_eq!(store.calls.get() - calls, BUCKETS as u64);
        first.record(&store, "jkt\0a", NOW + 120, NOW).unwrap();
        assert_eq!(second.record(&store, "jkt\0a", NOW + 120, NOW), Err(ProofError::Replay), "one secret for all");
        // Every bucket is written under the versioned prefix, as this layout's bucket.
        for b in [0, 1, BUCKETS - 1] {
            assert_eq!(secret_of(&store.value(&replay_bucket_key(b)).unwrap(), b), Some([1; SECRET_LEN]));
        }
        assert!(replay_bucket_key(7).starts_with("dpop_gate/v2/replay/"));
    }
}

#[test]
fn racing_workers_record_a_proof_once() {
    for store in FakeStore::both() {
        let w1 = open(&store, 1);
        let w2 = open(&store, 2);
        // w2 records the same proof between w1's read and w1's write: w1's write fails, w1 rereads
        // and sees the replay.
        store.race_next_set(move |s| assert_eq!(w2.record(s, "jkt\0jti-2", NOW + 120, NOW), Ok(())));
        assert_eq!(w1.record(&store, "jkt\0jti-2", NOW + 120, NOW), Err(ProofError::Replay), "{:?}", store.semantics);
        // A different proof landing in the same bucket meanwhile: both are recorded.
        let (_, keys) = keys_in_one_bucket(&w1, 2);
        let w3 = open(&store, 3);
        let k0 = keys[0].clone();
        store.race_next_set(move |s| assert_eq!(w3.record(s, &k0, NOW + 120, NOW), Ok(())));
        assert_eq!(w1.record(&store, &keys[1], NOW + 120, NOW), Ok(()));
        assert_eq!(w1.record(&store, &keys[0], NOW + 120, NOW), Err(ProofError::Replay));
        assert_eq!(w1.record(&store, &keys[1], NOW + 120, NOW), Err(ProofError::Replay));
    }
}

#[test]
fn root_contexts_opening_a_new_store_at_once_agree_on_one_secret() {
    for store in FakeStore::both() {
        // w2 opens the whole store while w1, having found it empty, is creating bucket 0.
        let w2 = std::rc::Rc::new(std::cell::RefCell::new(None));
        let slot = w2.clone();
        store.race_next_set(move |s| *slot.borrow_mut() = Some(open(s, 2)));
        let w1 = open(&store, 1);
        let w2 = w2.borrow_mut().take().unwrap();
        assert_eq!(store.keys().len(), BUCKETS);
        w1.record(&store, "jkt\0p", NOW + 120, NOW).unwrap();
        assert_eq!(w2.record(&store, "jkt\0p", NOW + 120, NOW), Err(ProofError::Replay), "{:?}", store.semantics);
        assert_eq!(w1.locate("jkt\0q"), w2.locate("jkt\0q"));
        assert_eq!(secret_of(&store.value(&replay_bucket_key(0)).unwrap(), 0), Some([2; SECRET_LEN]));
    }
}

#[test]
fn opening_never_overwrites_a_bucket_written_meanwhile() {
    // Envoy accepts any version for an absent key: a root context that saw a bucket absent and
    // then created it without a version would wipe the entries another worker wrote in between.
    for store in FakeStore::both() {
        let w1 = open(&store, 1);
        let (bucket, keys) = keys_in_one_bucket(&w1, 1);
        let key = replay_bucket_key(bucket);
        store.evict(&key);
        // w2 sees the bucket absent; before it creates it, w1's worker recreates it and records a proof.
        let recorded = insert(
            &empty(bucket, &[1; SECRET_LEN], 0),
            bucket,
            &[1; SECRET_LEN],
            &w1.locate(&keys[0]).1,
            NOW + 120,
            NOW,
        )
        .unwrap();
        let planted = recorded.clone();
        let k = key.clone();
        store.race_next_set(move |s| s.plant(&k, &planted));
        let w2 = open(&store, 2);
        assert_eq!(store.value(&key).unwrap(), recorded, "{:?}", store.semantics);
        assert_eq!(w2.record(&store, &keys[0], NOW + 120, NOW + 1), Err(ProofError::Replay));
    }
}

#[test]
fn an_evicted_bucket_is_quarantined_and_its_replays_stay_refused() {
    // Kong's engine evicts values from a full zone (`slru`, its default): the entries of an
    // evicted bucket are lost, so its proofs are refused for as long as a lost one could be live.
    for store in FakeStore::both() {
        let replay = open(&store, 1);
        let (bucket, keys) = keys_in_one_bucket(&replay, 2);
        replay.record(&store, &keys[0], NOW + 120, NOW).unwrap();
        store.evict(&replay_bucket_key(bucket));
        assert_eq!(replay.record(&store, &keys[0], NOW + 120, NOW + 1), Err(ProofError::ReplayStoreUnavailable));
        for t in [NOW + 2, NOW + 120, NOW + 1 + MAX_WINDOW] {
            assert_eq!(
                replay.record(&store, &keys[0], NOW + 120, t.min(NOW + 120)),
                Err(ProofError::ReplayStoreUnavailable)
            );
            assert_eq!(
                replay.record(&store, &keys[1], t + 120, t),
                Err(ProofError::ReplayStoreUnavailable),
                "{:?}",
                store.semantics
            );
        }
        let after = NOW + 2 + MAX_WINDOW;
        assert_eq!(replay.record(&store, &keys[1], after + 120, after), Ok(()));
        // A root context opened later still finds the secret in the other buckets.
        store.evict(&replay_bucket_key(0));
        let later = open(&store, 9);
        assert_eq!(later.record(&store, &keys[1], after + 120, after + 1), Err(ProofError::Replay));
        assert_eq!(secret_of(&store.value(&replay_bucket_key(0)).unwrap(), 0), Some([1; SECRET_LEN]));
    }
}

#[test]
fn a_foreign_value_in_a_bucket_fails_closed_and_is_left_alone() {
    for store in FakeStore::both() {
        let replay = open(&store, 1);
        let (bucket, keys) = keys_in_one_bucket(&replay, 1);
        let key = replay_bucket_key(bucket);
        store.plant(&key, b"{\"keys\":[]} someone else's value");
        assert_eq!(replay.record(&store, &keys[0], NOW + 120, NOW), Err(ProofError::ReplayStoreUnavailable));
        assert_eq!(store.value(&key).unwrap(), b"{\"keys\":[]} someone else's value");
        // A bucket of this layout made with another secret: the same.
        let other = empty(bucket, &[5; SECRET_LEN], 0);
        store.plant(&key, &other);
        assert_eq!(replay.record(&store, &keys[0], NOW + 120, NOW), Err(ProofError::ReplayStoreUnavailable));
        assert_eq!(store.value(&key).unwrap(), other);
    }
}

#[test]
fn a_key_with_a_buckets_crc32_is_that_bucket_in_kong_only() {
    // What makes the tag check necessary: in Kong's engine any key with the CRC32 of a bucket key
    // reads and writes that bucket's value.
    let kong = FakeStore::new(Semantics::Kong);
    let envoy = FakeStore::new(Semantics::Envoy);
    let (a, b) = (b"plumless".as_slice(), b"buckeroo".as_slice()); // a known CRC32 collision
    assert_eq!(crc32(a), crc32(b));
    for s in [&kong, &envoy] {
        s.set(core::str::from_utf8(a).unwrap(), b"first", None).unwrap();
    }
    assert_eq!(kong.get("buckeroo").unwrap().0.as_deref(), Some(&b"first"[..]));
    assert_eq!(envoy.get("buckeroo").unwrap().0, None);
}

#[test]
fn a_full_store_fails_closed_until_entries_expire() {
    // The same secret on both stores, so the same keys fill one bucket of each.
    let (_, keys) = keys_in_one_bucket(&open(&FakeStore::new(Semantics::Envoy), 1), BUCKET_CAPACITY + 1);
    for store in FakeStore::both() {
        let replay = open(&store, 1);
        for k in &keys[..BUCKET_CAPACITY] {
            replay.record(&store, k, NOW + 120, NOW).unwrap();
        }
        let last = &keys[BUCKET_CAPACITY];
        assert_eq!(replay.record(&store, last, NOW + 120, NOW), Err(ProofError::ReplayStoreUnavailable));
        assert_eq!(replay.record(&store, &keys[0], NOW + 120, NOW), Err(ProofError::Replay), "replays still refused");
        assert_eq!(replay.record(&store, last, NOW + 240, NOW + 121), Ok(()));
    }
}

#[test]
fn losing_every_race_or_shared_data_fails_closed() {
    fn keep_racing(s: &FakeStore, key: String, left: usize) {
        // Another worker rewrites the bucket (same content, new version) before each of our writes.
        s.plant(&key, &s.value(&key).unwrap());
        if left > 0 {
            s.race_next_set(move |s| keep_racing(s, key.clone(), left - 1));
        }
    }
    for store in FakeStore::both() {
        let replay = open(&store, 1);
        let key = replay_bucket_key(replay.locate("jkt\0r").0);
        store.race_next_set(move |s| keep_racing(s, key.clone(), 100));
        assert_eq!(replay.record(&store, "jkt\0r", NOW + 120, NOW), Err(ProofError::ReplayStoreUnavailable));
        store.race_next_set(|_| {});
        store.unavailable.set(true);
        assert_eq!(replay.record(&store, "jkt\0s", NOW + 120, NOW), Err(ProofError::ReplayStoreUnavailable));
        assert!(SharedReplay::open(&store, &[1; SECRET_LEN]).is_none());
    }
}

// ---- through the gateway engine ----

mod gateway {
    use super::common::{self, key, public_jwk, sign, FakeHost, FakeStore};
    use super::{empty, insert, secret_of, NOW};
    use dpop_gate::config::Config;
    use dpop_gate::decision::RequestHeaders;
    use dpop_gate::dpop::replay::{BUCKETS, BUCKET_CAPACITY};
    use dpop_gate::gateway::shared::{self, replay_bucket_key, SharedReplay, SharedStore};
    use dpop_gate::gateway::{HostFacts, Level, Verdict, Worker};
    use serde_json::json;
    use sha2::{Digest, Sha256};

    const ISS: &str = "http://idp.test:8080/realms/test";

    fn worker(extra: &str, random: u8) -> Worker {
        let jwks = json!({"keys": [public_jwk(&key(1), Some("k"))]});
        let cfg = format!(r#"{{"issuer":"{ISS}","audiences":["api"],"jwks":{jwks}{extra}}}"#);
        Worker::new(Config::parse(cfg.as_bytes()).unwrap(), HostFacts::ENVOY, Some([random; 32]))
    }

    /// A DPoP-bound token and a proof for it with `jti`, both for `POST http://api.test/webhook`.
    fn dpop(jti: &str) -> (String, String) {
        let holder = key(9);
        let bound = sign(
            &key(1),
            json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
            json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "cnf": {"jkt": common::thumbprint(&holder)}}),
        );
        let proof = sign(
            &holder,
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&holder, None)}),
            json!({"jti": jti, "htm": "POST", "htu": "http://api.test/webhook", "iat": NOW,
                   "ath": common::b64(&Sha256::digest(bound.as_bytes()))}),
        );
        (format!("DPoP {bound}"), proof)
    }

    fn send(w: &mut Worker, host: &mut FakeHost, ctx: u32, auth: &str, proof: &str) -> Verdict {
        let pairs = vec![
            (":method", "POST"),
            (":path", "/webhook"),
            ("host", "api.test"),
            ("authorization", auth),
            ("dpop", proof),
        ];
        let h = RequestHeaders::read(pairs);
        let v = w.on_request(host, ctx, &h, NOW);
        w.flush_counts(host); // as if a tick came: the host's counters are exact after it
        v
    }

    fn status(v: &Verdict) -> u16 {
        match v {
            Verdict::Allow(_) => 200,
            Verdict::Refuse(r) => r.status,
            Verdict::Pause => 0,
        }
    }

    #[test]
    fn a_full_bucket_refuses_the_request_counted_and_logged_at_warn() {
        let store = FakeStore::new(common::Semantics::Envoy);
        let mut host = FakeHost::new(&store);
        let mut w = worker("", 1);
        w.init_shared(&mut host).unwrap();
        let (auth, proof) = dpop("jti-full");
        // Fill the bucket this proof goes to with live entries of other proofs.
        let replay = SharedReplay::open(&store, &[0; 16]).unwrap();
        let (bucket, _) = replay.locate(&format!("{}\0jti-full", common::thumbprint(&key(9))));
        let key = replay_bucket_key(bucket);
        let secret = secret_of(&store.value(&key).unwrap(), bucket).unwrap();
        let mut full = empty(bucket, &secret, 0);
        for i in 0..BUCKET_CAPACITY as u64 {
            full = insert(&full, bucket, &secret, &(i | 1 << 63).to_be_bytes(), NOW + 120, NOW).unwrap();
        }
        store.plant(&key, &full);
        let v = send(&mut w, &mut host, 1, &auth, &proof);
        assert_eq!(status(&v), 401);
        let Verdict::Refuse(r) = &v else { unreachable!() };
        assert!(r.body.contains("invalid_dpop_proof"), "{}", r.body);
        assert_eq!(host.count_of("refused_proof_replay_store"), 1);
        assert!(host.logs.iter().any(|(l, m)| *l == Level::Warn && m.contains("replay store")), "{:?}", host.logs);
        // Another proof, in another bucket, passes.
        let (auth, other) = dpop("jti-other");
        assert_eq!(status(&send(&mut w, &mut host, 2, &auth, &other)), 200);
    }

    #[test]
    fn every_configuration_of_a_host_shares_one_store() {
        // Route B, with other checks, sees the proof route A accepted: a replay to another route of
        // the same host is refused.
        let store = FakeStore::new(common::Semantics::Kong);
        let mut host = FakeHost::new(&store);
        let mut a = worker("", 1);
        let mut b = worker(r#","dpop":"required","clock_skew_seconds":30"#, 2);
        a.init_shared(&mut host).unwrap();
        b.init_shared(&mut host).unwrap();
        let (auth, proof) = dpop("jti-shared");
        assert_eq!(status(&send(&mut a, &mut host, 1, &auth, &proof)), 200);
        assert_eq!(status(&send(&mut b, &mut host, 2, &auth, &proof)), 401);
        assert_eq!(host.count_of("refused_proof_replay"), 1);
    }

    #[test]
    fn a_worker_whose_store_cannot_open_refuses_proofs_and_one_without_dpop_never_opens_it() {
        let store = FakeStore::new(common::Semantics::Envoy);
        let mut host = FakeHost::new(&store);
        let mut bearer_only = worker(r#","dpop":"disabled""#, 1);
        bearer_only.init_shared(&mut host).unwrap();
        assert_eq!(store.calls.get(), 0, "a configuration without DPoP reads no bucket");
        // Bucket 0 holds something that is no bucket: the store cannot agree on its secret, so it
        // does not open and every proof is refused (fail closed).
        store.set(&replay_bucket_key(0), b"not a bucket", None).unwrap();
        let mut closed = worker("", 1);
        let (auth, proof) = dpop("jti-x");
        assert_eq!(status(&send(&mut closed, &mut host, 1, &auth, &proof)), 401, "not opened: fail closed");
        assert_eq!(host.count_of("refused_proof_replay_store"), 1);
        // On a sound store the first request opens it (no startup call needed) and the proof passes.
        let sound = FakeStore::new(common::Semantics::Envoy);
        let mut host = FakeHost::new(&sound);
        let mut open = worker("", 1);
        assert_eq!(status(&send(&mut open, &mut host, 2, &auth, &proof)), 200);
        assert_eq!(sound.keys().iter().filter(|k| k.contains("/replay/")).count(), BUCKETS);
        assert!(!sound.keys().contains(&shared::probe_key()), "the probe only reads");
    }
    #[test]
    fn bearer_requests_leave_the_store_unmade_and_the_first_proof_makes_it() {
        // A configuration that accepts proofs (the default `dpop`), sent Bearer tokens only: the
        // store's 32 768 buckets (4.5 MiB in Envoy) are never created.
        let store = FakeStore::new(common::Semantics::Envoy);
        let mut host = FakeHost::new(&store);
        let mut w = worker("", 1);
        let bearer = sign(
            &key(1),
            json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
            json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW}),
        );
        let auth = format!("Bearer {bearer}");
        for ctx in 1..=3 {
            let h = RequestHeaders::read(vec![(":method", "GET"), (":path", "/"), ("host", "api.test"), ("authorization", &auth)]);
            assert_eq!(status(&w.on_request(&mut host, ctx, &h, NOW)), 200);
        }
        assert_eq!(store.keys().iter().filter(|k| k.contains("/replay/")).count(), 0, "no bucket before a proof");
        // The first proof opens it, then replays are refused as ever.
        let (auth, proof) = dpop("jti-lazy");
        assert_eq!(status(&send(&mut w, &mut host, 4, &auth, &proof)), 200);
        assert_eq!(store.keys().iter().filter(|k| k.contains("/replay/")).count(), BUCKETS);
        assert_eq!(status(&send(&mut w, &mut host, 5, &auth, &proof)), 401);
        assert_eq!(host.count_of("refused_proof_replay"), 1);
    }
}
