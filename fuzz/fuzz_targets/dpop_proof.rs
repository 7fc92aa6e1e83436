//! Whole DPoP proof validation (`dpop::verify_proof`, with `htu::normalize` inside). Input: the
//! request method, the request URI, the access token (empty: none) and the proof, one per line.
//! No panic; a proof that passes really is for this method and URI.
#![no_main]

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::dpop::{self, ProofPolicy};
use dpop_gate::dpop::htu;
use libfuzzer_sys::fuzz_target;

/// The clock of the seeds (`fuzz/make_seeds.py`).
const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(4, '\n');
    let (Some(method), Some(uri), Some(token), Some(proof)) = (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return;
    };
    let policy = ProofPolicy { algs: &Algorithm::ALL, max_age: 60, clock_skew: 60, max_len: 65_536 };
    let token = Some(token).filter(|t| !t.is_empty());
    if let Ok(p) = dpop::verify_proof(proof, method, uri, token, &policy, NOW) {
        assert!(htu::normalize(uri).is_some());
        assert!(!p.jti.is_empty() && p.jti.len() <= dpop::MAX_JTI_BYTES);
        assert!(p.iat <= NOW + 60 && NOW <= p.replay_expiry(&policy));
    }
});
