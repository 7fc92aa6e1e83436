//! The per-issuer key cache state machine and the host-independent reading of callouts.

use dpop_gate::config::{Config, FetchUrl, KeySource};
use dpop_gate::keys::{
    callout_headers, callout_status, Fetch, FetchError, IssuerKeys, SharedKeys, Timing,
};

const T: Timing = Timing { refresh: 300, min_refetch: 30, timeout: 5 };

/// RFC 7515 appendix A.2's RSA public key.
const JWKS: &str = r#"{"keys":[{"kty":"RSA","kid":"k1","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}]}"#;

fn discovery_issuer() -> IssuerKeys {
    let cfg = Config::parse(br#"{"issuer":"http://127.0.0.1:9/realms/t"}"#).unwrap();
    IssuerKeys::new(&cfg.issuers[0].issuer, &cfg.issuers[0].keys)
}

#[test]
fn envoy_and_kong_callout_failures_read_alike() {
    assert_eq!(callout_status([(":status", "200"), ("content-type", "application/json")]), Ok(()));
    assert_eq!(callout_status([(":status", "404")]), Err(FetchError::Status(404)));
    // Envoy: unreachable cluster -> synthesized 503.
    assert_eq!(callout_status([(":status", "503")]), Err(FetchError::Status(503)));
    // Kong: no :status, a :dispatch_status instead.
    assert_eq!(callout_status([(":dispatch_status", "timeout")]), Err(FetchError::Transport("timeout".into())));
    assert_eq!(callout_status(Vec::<(&str, &str)>::new()), Err(FetchError::Transport("no status".into())));
    assert!(matches!(callout_status([(":status", "2x0")]), Err(FetchError::Transport(_))));
}

#[test]
fn callout_headers_carry_the_pseudo_headers_both_hosts_need() {
    let cfg = Config::parse(br#"{"issuer":"https://idp.example.com:8443/realms/t"}"#).unwrap();
    let KeySource::Discovery(url) = &cfg.issuers[0].keys else { panic!() };
    let h = callout_headers(url);
    assert!(h.contains(&(":method", "GET")));
    assert!(h.contains(&(":path", "/realms/t/.well-known/openid-configuration")));
    assert!(h.contains(&(":authority", "idp.example.com:8443")));
    assert!(h.contains(&(":scheme", "https")));
}

#[test]
fn cold_start_discovers_then_fetches_once() {
    let mut k = discovery_issuer();
    assert!(k.keys().is_none());
    let Some(Fetch::Discovery(d)) = k.due(1000, &T) else { panic!("expected discovery") };
    assert_eq!(d.path, "/realms/t/.well-known/openid-configuration");
    // Single flight: nothing more while in flight.
    assert_eq!(k.due(1000, &T), None);
    assert!(k.in_flight(1000));
    let doc = br#"{"issuer":"http://127.0.0.1:9/realms/t","jwks_uri":"http://127.0.0.1:9/realms/t/certs"}"#;
    let next = k.on_discovery(Ok(doc), 1000, &T).unwrap();
    assert_eq!(next, Fetch::Jwks(dpop_gate::config::FetchUrl::parse("http://127.0.0.1:9/realms/t/certs").unwrap()));
    k.on_jwks(Ok(JWKS.as_bytes()), 1001).unwrap();
    assert_eq!(k.keys().unwrap().keys.len(), 1);
    assert!(!k.in_flight(1001));
    // Refresh only after the period, and straight to the JWKS (discovery is remembered).
    assert_eq!(k.due(1200, &T), None);
    assert!(matches!(k.due(1301, &T), Some(Fetch::Jwks(_))));
}

#[test]
fn discovery_for_another_issuer_is_refused() {
    let mut k = discovery_issuer();
    k.due(0, &T).unwrap();
    let doc = br#"{"issuer":"http://evil.example/realms/t","jwks_uri":"http://evil.example/certs"}"#;
    assert!(matches!(k.on_discovery(Ok(doc), 0, &T), Err(FetchError::Discovery(_))));
}

#[test]
fn failure_without_keys_is_unavailable_until_retry_delay() {
    let mut k = discovery_issuer();
    k.due(100, &T).unwrap();
    k.on_discovery(Err(FetchError::Status(503)), 100, &T).unwrap_err();
    assert!(k.unavailable(100, &T));
    assert_eq!(k.due(110, &T), None);
    assert!(k.unavailable(129, &T));
    assert!(!k.unavailable(130, &T));
    assert!(k.due(130, &T).is_some());
}

#[test]
fn failed_refresh_keeps_last_good_keys() {
    let mut k = discovery_issuer();
    k.due(0, &T).unwrap();
    k.on_discovery(Ok(br#"{"issuer":"http://127.0.0.1:9/realms/t","jwks_uri":"http://127.0.0.1:9/c"}"#), 0, &T)
        .unwrap();
    k.on_jwks(Ok(JWKS.as_bytes()), 0).unwrap();
    k.due(400, &T).unwrap();
    assert_eq!(
        k.on_jwks(Err(FetchError::Transport("timeout".into())), 400),
        Err(FetchError::Transport("timeout".into()))
    );
    assert!(k.keys().is_some());
    assert!(!k.unavailable(400, &T));
    // A JWK set with no usable key does not replace good keys either.
    k.due(800, &T).unwrap();
    assert_eq!(k.on_jwks(Ok(br#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#), 800), Err(FetchError::Jwks));
    assert!(k.keys().is_some());
}

#[test]
fn unknown_kid_refetch_is_rate_limited() {
    let mut k = discovery_issuer();
    k.due(0, &T).unwrap();
    k.on_discovery(Ok(br#"{"issuer":"http://127.0.0.1:9/realms/t","jwks_uri":"http://127.0.0.1:9/c"}"#), 0, &T)
        .unwrap();
    k.on_jwks(Ok(JWKS.as_bytes()), 0).unwrap();
    assert!(matches!(k.refetch_for_unknown_kid(5, &T), Some(Fetch::Jwks(_))));
    // In flight: others wait rather than fetch.
    assert_eq!(k.refetch_for_unknown_kid(5, &T), None);
    assert!(k.in_flight(5));
    k.on_jwks(Ok(JWKS.as_bytes()), 6).unwrap();
    // A storm of random kids gets nothing until the interval has passed.
    for t in 6..35 {
        assert_eq!(k.refetch_for_unknown_kid(t, &T), None, "at {t}");
    }
    assert!(k.refetch_for_unknown_kid(35, &T).is_some());
}

#[test]
fn lost_fetch_expires_after_timeout() {
    let mut k = discovery_issuer();
    k.due(0, &T).unwrap();
    assert!(k.in_flight(5));
    assert!(!k.in_flight(6));
    assert!(k.due(6, &T).is_some());
}

#[test]
fn only_newer_shared_keys_are_adopted_and_their_jwks_uri_is_learned() {
    let uri = FetchUrl::parse("https://idp.example.com/realms/test/protocol/openid-connect/certs").unwrap();
    let set = dpop_gate::keys::parse_jwks(JWKS.as_bytes()).unwrap();
    let shared = SharedKeys { fetched_at: 42, jwks_uri: Some(uri.clone()), set: set.clone() };
    let mut k = discovery_issuer();
    assert!(k.adopt(shared.clone()));
    assert!(!k.adopt(SharedKeys { fetched_at: 41, ..shared.clone() }), "older");
    // A publication of the same second (a rotation refetch right after a first fetch) is taken:
    // KeySlot::read already passes on only a version this worker has not seen.
    assert!(k.adopt(shared.clone()));
    // The adopted jwks_uri spares the next refresh its discovery.
    assert_eq!(k.jwks_uri(), Some(&uri));
    assert!(matches!(k.due(42 + 300, &T), Some(Fetch::Jwks(u)) if u == uri));
    assert!(k.adopt(SharedKeys { fetched_at: 999, jwks_uri: None, set }));
    assert_eq!(k.fetched_at(), 999);
    assert_eq!(k.jwks_uri(), Some(&uri), "a publication without a jwks_uri does not forget it");
}

#[test]
fn static_keys_are_ready_and_never_fetched() {
    let cfg = Config::parse(format!(r#"{{"issuer":"https://i.example","jwks":{JWKS}}}"#).as_bytes()).unwrap();
    let mut k = IssuerKeys::new(&cfg.issuers[0].issuer, &cfg.issuers[0].keys);
    assert!(k.is_static() && k.keys().is_some());
    assert_eq!(k.due(10_000, &T), None);
    assert_eq!(k.refetch_for_unknown_kid(10_000, &T), None);
}
