//! The replay store at full speed (issue 11, part 2): the shared store of `src/dpop/replay.rs` driven
//! through the fake shared store with a simulated clock, at the load one host must sustain with
//! the default settings, with replays tried throughout and the shared memory measured.
//!
//! The figures printed (`cargo test --test replay_load -- --nocapture`) are the ones the docs
//! quote; the assertions are their documented bounds.

mod common;

use common::{FakeStore, Semantics};
use dpop_gate::config::Config;
use dpop_gate::dpop::replay::{BUCKETS, ENTRY_LEN, HEADER_LEN};
use dpop_gate::dpop::{Proof, ProofPolicy};
use dpop_gate::error::ProofError;
use dpop_gate::gateway::shared::{replay_bucket_key, SharedReplay};

const NOW: u64 = 1_700_000_000;
/// Fresh proofs per second, all workers of the host together.
const RATE: u64 = 20_000;

/// What one simulated run saw.
struct Run {
    proofs: u64,
    refused: u64,
    replays_tried: u64,
    replays_refused: u64,
    calls: u64,
    peak_stored: usize,
    peak_kong: usize,
}

/// `seconds` of `RATE` fresh proofs a second from clients whose clocks are `ahead` seconds fast
/// (`iat = now + ahead`), under the default settings. Every second, proofs made 0, 1, a minute and
/// a whole window ago (their entries still live) are replayed.
fn run(seconds: u64, ahead: u64) -> Run {
    let cfg = Config::parse(br#"{"issuer":"https://idp.example.com"}"#).unwrap();
    assert_eq!((cfg.dpop_max_age, cfg.clock_skew), (60, 60), "the defaults");
    let policy =
        ProofPolicy { algs: &cfg.dpop_algs, max_age: cfg.dpop_max_age, clock_skew: cfg.clock_skew, max_len: 8192 };
    let lifetime =
        Proof { jti: String::new(), jkt: String::new(), iat: NOW + ahead, nonce: None }.replay_expiry(&policy) - NOW;

    let store = FakeStore::new(Semantics::Envoy);
    let replay = SharedReplay::open(&store, &[0x5a; 16]).unwrap();
    let calls_at_start = store.calls.get();
    // 1 000 clients (thumbprints), each proof a fresh `jti`.
    let key = |n: u64| format!("{:043}\0{n:016x}", n % 1000);
    let mut r =
        Run { proofs: 0, refused: 0, replays_tried: 0, replays_refused: 0, calls: 0, peak_stored: 0, peak_kong: 0 };
    for s in 0..seconds {
        let now = NOW + s;
        let expires_at = now + lifetime;
        for i in 0..RATE {
            match replay.record(&store, &key(s * RATE + i), expires_at, now) {
                Ok(()) => {}
                Err(e) => {
                    assert_eq!(e, ProofError::ReplayStoreUnavailable);
                    r.refused += 1;
                }
            }
        }
        r.proofs += RATE;
        for ago in [0, 1, 60, lifetime] {
            if ago > s {
                continue;
            }
            for j in [0, RATE / 2, RATE - 1] {
                r.replays_tried += 1;
                let n = (s - ago) * RATE + j;
                if replay.record(&store, &key(n), (s - ago) + NOW + lifetime, now) == Err(ProofError::Replay) {
                    r.replays_refused += 1;
                }
            }
        }
    }
    r.calls = store.calls.get() - calls_at_start;
    r.peak_stored = store.peak_stored.get();
    r.peak_kong = store.peak_kong.get();
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    eprintln!(
        "{} proofs at {RATE}/s for {seconds} s, iat {ahead} s ahead (entries live {lifetime} s): {} refused, \
         {}/{} replays refused, {:.3} host calls per proof; peak shared data {} bytes ({:.1} MiB, {:.0} bytes \
         per proof/s); Kong slab model {} bytes ({:.1} MiB, {:.0} bytes per proof/s)",
        r.proofs,
        r.refused,
        r.replays_refused,
        r.replays_tried,
        r.calls as f64 / (r.proofs + r.replays_tried) as f64,
        r.peak_stored,
        mib(r.peak_stored),
        r.peak_stored as f64 / RATE as f64,
        r.peak_kong,
        mib(r.peak_kong),
        r.peak_kong as f64 / RATE as f64,
    );
    r
}

/// The documented bound on shared data: [`ENTRY_LEN`] bytes per live entry, entries live for
/// their lifetime plus the second they expire in and, until their bucket is next written, a few
/// seconds more (at 20 000/s each bucket is written every 1.6 s on average), plus a header and a
/// key per bucket.
fn documented_bound(lifetime: u64) -> usize {
    let fixed = BUCKETS * (HEADER_LEN + replay_bucket_key(BUCKETS - 1).len());
    RATE as usize * (lifetime as usize + 1 + 3) * ENTRY_LEN + fixed
}

#[test]
fn twenty_thousand_fresh_proofs_a_second_for_ten_minutes_with_the_defaults() {
    let r = run(600, 0);
    assert_eq!(r.proofs, 12_000_000);
    assert_eq!(r.refused, 0, "fresh proofs refused");
    assert_eq!(r.replays_refused, r.replays_tried, "replays accepted");
    assert!(r.replays_tried > 2000);
    assert_eq!(r.calls, 2 * r.proofs + r.replays_tried, "a get and a set per proof, a get per replay");
    // 1 240 bytes per proof/s + 1.7 MB: 26.5 MB at 20 000/s.
    assert!(r.peak_stored <= documented_bound(120), "{} > {}", r.peak_stored, documented_bound(120));
    // Kong's slab allocator rounds every value up (see `common::kong_slab`): the zone-sizing
    // guidance is 2 000 bytes per proof/s (40 MB at 20 000/s) plus the rest of the zone's use.
    assert!(r.peak_kong <= 2_000 * RATE as usize, "Kong slab model {} bytes", r.peak_kong);
}

#[test]
fn twenty_thousand_proofs_a_second_from_clients_a_full_skew_ahead() {
    // The longest-lived entries the defaults allow (`iat` 60 s in the future: 180 s): four
    // minutes, past the point where the store holds a full window of them.
    let r = run(240, 60);
    assert_eq!(r.refused, 0, "fresh proofs refused");
    assert_eq!(r.replays_refused, r.replays_tried, "replays accepted");
    assert!(r.peak_stored <= documented_bound(180), "{} > {}", r.peak_stored, documented_bound(180));
}
