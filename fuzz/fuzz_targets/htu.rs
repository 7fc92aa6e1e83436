//! `htu` normalisation (`htu::normalize`, `htu::matches`). Input: two URIs on two lines.
//! No panic; normalisation is idempotent (or two spellings could compare differently depending
//! on which side was normalised) and `matches` is symmetric.
#![no_main]

use dpop_gate::dpop::htu;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));
    if let Some(n) = htu::normalize(a) {
        assert_eq!(htu::normalize(&n).as_deref(), Some(n.as_str()), "normalize is not idempotent on {a:?}");
    }
    assert_eq!(htu::matches(a, b), htu::matches(b, a));
});
