//! One JWK (`jwk::Jwk::from_value`): any JSON, no panic; an accepted key has a thumbprint and
//! refuses a junk signature for every algorithm.
#![no_main]

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jwk::Jwk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(key) = Jwk::from_value(&value) {
        assert!(!key.thumbprint().is_empty());
        for alg in Algorithm::ALL {
            if key.supports(alg) {
                assert!(key.verify(alg, data, data).is_err());
            }
        }
    }
});
