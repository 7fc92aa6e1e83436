//! The filter configuration (`config::Config::parse`): any bytes, no panic; an accepted
//! configuration keeps the documented bounds.
#![no_main]

use dpop_gate::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cfg) = Config::parse(data) {
        assert!(!cfg.issuers.is_empty() && !cfg.dpop_algs.is_empty());
        assert!((256..=65_536).contains(&cfg.max_token_bytes));
        assert!((1..=3600).contains(&cfg.dpop_max_age) && cfg.clock_skew <= 3600);
    }
});
