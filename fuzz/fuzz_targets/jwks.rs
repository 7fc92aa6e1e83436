//! JWK sets: a fetched document (`JwkSet::parse`, `keys::parse_jwks`) and the shared-data copy
//! another worker published (`shared::decode_keys`, whose first byte here gives the length of the
//! key source it is read for). Any bytes, no panic, bounded.
#![no_main]

use dpop_gate::jose::jwk::JwkSet;
use dpop_gate::{keys, gateway::shared};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = JwkSet::parse(data) {
        assert!(set.keys.len() <= JwkSet::MAX_KEYS);
    }
    let _ = keys::parse_jwks(data);
    if let Some((&n, rest)) = data.split_first() {
        let (source, value) = rest.split_at(usize::from(n).min(rest.len()));
        let source = String::from_utf8_lossy(source);
        if let Some(keys) = shared::decode_keys(value, &source) {
            assert!(keys.set.keys.len() <= JwkSet::MAX_KEYS);
        }
    }
});
