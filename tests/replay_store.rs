//! The shared replay store's bucket format: one winner per proof, bounded, expiring.

use dpop_gate::error::ProofError;
use dpop_gate::dpop::replay::{insert, locate, BUCKETS, BUCKET_CAPACITY, ENTRY_LEN};

#[test]
fn a_proof_is_accepted_once() {
    let (_, id) = locate("jkt\0jti-1");
    let b = insert(&[], &id, 200, 100).unwrap();
    assert_eq!(b.len(), ENTRY_LEN);
    assert_eq!(insert(&b, &id, 200, 150), Err(ProofError::Replay));
    let (_, other) = locate("jkt\0jti-2");
    assert_eq!(insert(&b, &other, 200, 150).unwrap().len(), 2 * ENTRY_LEN);
}

#[test]
fn expired_entries_are_dropped_and_may_be_reused() {
    let (_, id) = locate("k");
    let b = insert(&[], &id, 200, 100).unwrap();
    // At 200 the entry is still live (inclusive), at 201 it is gone.
    assert_eq!(insert(&b, &id, 300, 200), Err(ProofError::Replay));
    let b2 = insert(&b, &id, 300, 201).unwrap();
    assert_eq!(b2.len(), ENTRY_LEN);
}

#[test]
fn a_full_bucket_fails_closed_until_entries_expire() {
    let mut b = Vec::new();
    for i in 0..BUCKET_CAPACITY {
        let (_, id) = locate(&format!("k{i}"));
        b = insert(&b, &id, 1000, 10).unwrap();
    }
    let (_, id) = locate("one-more");
    assert_eq!(insert(&b, &id, 1000, 10), Err(ProofError::ReplayStoreUnavailable));
    assert!(insert(&b, &id, 2000, 1001).is_ok());
}

#[test]
fn malformed_bucket_is_treated_as_empty() {
    let (_, id) = locate("k");
    assert_eq!(insert(&[1, 2, 3], &id, 10, 1).unwrap().len(), ENTRY_LEN);
}

#[test]
fn keys_spread_over_all_buckets() {
    let mut seen = vec![false; BUCKETS];
    for i in 0..100_000 {
        seen[locate(&format!("key-{i}")).0] = true;
    }
    assert!(seen.iter().all(|s| *s));
}
