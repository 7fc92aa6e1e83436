//! Heap allocations of a cached-token Bearer request in the worker (issue 17: where a request's
//! microseconds go). Counted by this test binary's own allocator around `Worker::on_request`, the
//! part of a request that is this filter's code (the host layer adds the SDK's copy of the
//! `Authorization` value: one allocation).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use common::{key, public_jwk, sign, FakeHost, FakeStore, Semantics};
use dpop_gate::config::Config;
use dpop_gate::decision::RequestHeaders;
use dpop_gate::gateway::{HostFacts, Verdict, Worker};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com/realms/test";

/// A cached Bearer request allocates at most this often in the worker (measured: 1, see the test's
/// output and bench/NOTES.md). A change that adds per-request allocations fails here.
const MAX_ALLOCATIONS: usize = 2;

#[test]
fn a_cached_bearer_request_allocates_little() {
    let jwks = json!({"keys": [public_jwk(&key(1), Some("k"))]});
    let cfg = json!({"issuer": ISS, "audiences": ["api"], "jwks": jwks});
    let store = FakeStore::new(Semantics::Envoy);
    let mut host = FakeHost::new(&store);
    let mut w = Worker::new(Config::parse(cfg.to_string().as_bytes()).unwrap(), HostFacts::ENVOY, Some([7; 32]));
    w.init_shared(&mut host).unwrap();
    let token = sign(
        &key(1),
        json!({"alg": "ES256", "typ": "JWT", "kid": "k"}),
        json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "partner"}),
    );
    let auth = format!("Bearer {token}");
    let mut counts = Vec::new();
    for ctx in 1..=20u32 {
        // What the host layer hands over on Envoy without a proof: `Authorization` alone.
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let headers = RequestHeaders::read_for([("authorization", auth.as_str())], &[], None);
        let verdict = w.on_request(&mut host, ctx, &headers, NOW);
        drop(headers);
        w.on_done(ctx);
        counts.push(ALLOCATIONS.load(Ordering::Relaxed) - before);
        assert_eq!(verdict, Verdict::Allow(Vec::new()));
    }
    // The first request verifies and caches; the later ones are hits.
    let hits = &counts[1..];
    println!("allocations per request: first {}, cached {:?}", counts[0], hits);
    assert!(hits.iter().all(|n| *n <= MAX_ALLOCATIONS), "{counts:?}");
}
