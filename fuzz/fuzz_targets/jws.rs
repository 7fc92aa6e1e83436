//! Compact JWS parsing (`jws::parse`): any input, no panic, and what parses is consistent.
#![no_main]

use dpop_gate::jose::jws;
use libfuzzer_sys::fuzz_target;

/// The largest `max_token_bytes` the configuration allows.
const MAX: usize = 65_536;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = jws::parse(text, MAX) {
        // The signed bytes are the first two segments of the input, exactly.
        let input = parsed.signing_input();
        assert!(text.starts_with(input) && text.as_bytes().get(input.len()) == Some(&b'.'));
        assert_eq!(input.matches('.').count(), 1);
    }
});
