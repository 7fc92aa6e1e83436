//! JWK sets: a fetched document (`JwkSet::parse`, `jwks::parse_jwks`) and the shared-data copy
//! another worker published (`jwks::decode_shared`). Any bytes, no panic, bounded.
#![no_main]

use dpop_gate::jwk::JwkSet;
use dpop_gate::jwks;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = JwkSet::parse(data) {
        assert!(set.keys.len() <= JwkSet::MAX_KEYS);
    }
    let _ = jwks::parse_jwks(data);
    if let Some(shared) = jwks::decode_shared(data) {
        assert!(shared.set.keys.len() <= JwkSet::MAX_KEYS);
    }
});
