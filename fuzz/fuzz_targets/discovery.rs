//! OpenID discovery documents (`discovery::jwks_uri`): any bytes, no panic; an accepted
//! `jwks_uri` is an http(s) URL with an authority and an absolute path.
#![no_main]

use dpop_gate::keys::discovery;
use libfuzzer_sys::fuzz_target;

/// The issuer the seeds are published for.
const ISSUER: &str = "https://idp.example.com/realms/test";

fuzz_target!(|data: &[u8]| {
    if let Ok(url) = discovery::jwks_uri(data, ISSUER) {
        assert!(url.scheme == "http" || url.scheme == "https");
        assert!(!url.authority.is_empty() && url.path.starts_with('/'));
    }
});
