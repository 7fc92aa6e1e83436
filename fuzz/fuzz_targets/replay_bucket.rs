//! The replay store's bucket format (`replay::insert`) on any stored value: shared data is written
//! by every filter of the host (and, in Kong's engine, by any key with a bucket key's CRC32), so a
//! bucket's value can be anything. Input: 2 bytes of bucket index, 8 of digest, 2 of lifetime,
//! then the stored value. No panic; a value is either refused or rewritten as a well-formed bucket
//! of bounded size holding the new entry, and the entries it held stay refused.
#![no_main]

use dpop_gate::dpop::replay::{insert, secret_of, BUCKETS, BUCKET_CAPACITY, ENTRY_LEN, HEADER_LEN, ID_LEN};
use dpop_gate::error::ProofError;
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000;
const SECRET: [u8; 16] = [7; 16];

fuzz_target!(|data: &[u8]| {
    let Some((head, value)) = data.split_at_checked(12) else {
        return;
    };
    let index = usize::from(u16::from_be_bytes([head[0], head[1]])) % BUCKETS;
    let id: [u8; ID_LEN] = head[2..10].try_into().unwrap();
    let expires_at = NOW + u64::from(u16::from_be_bytes([head[10], head[11]]));
    match insert(value, index, &SECRET, &id, expires_at, NOW) {
        Ok(next) => {
            assert_eq!(secret_of(&next, index), Some(SECRET));
            assert!(next.len() <= HEADER_LEN + BUCKET_CAPACITY * ENTRY_LEN);
            assert_eq!((next.len() - HEADER_LEN) % ENTRY_LEN, 0);
            assert_eq!(insert(&next, index, &SECRET, &id, expires_at, NOW), Err(ProofError::Replay));
            // Every entry of the old value still live now is still refused.
            for e in value.get(HEADER_LEN..).unwrap_or_default().chunks_exact(ENTRY_LEN) {
                let old: [u8; ID_LEN] = e[..ID_LEN].try_into().unwrap();
                if old != id && insert(value, index, &SECRET, &old, expires_at, NOW) == Err(ProofError::Replay) {
                    assert_eq!(insert(&next, index, &SECRET, &old, expires_at, NOW), Err(ProofError::Replay));
                }
            }
        }
        Err(e) => assert!(matches!(e, ProofError::Replay | ProofError::ReplayStoreUnavailable)),
    }
});
