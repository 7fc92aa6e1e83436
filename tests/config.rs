//! Configuration parsing: defaults, the issuer forms, and one precise error per mistake.

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::config::{Config, ConfigError, DpopMode, FetchUrl, KeySource};

fn parse(json: &str) -> Result<Config, ConfigError> {
    Config::parse(json.as_bytes())
}

fn field_of(json: &str) -> String {
    match parse(json) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.field,
    }
}

#[test]
fn issuer_alone_is_a_working_config_with_documented_defaults() {
    let c = parse(r#"{"issuer":"https://idp.example.com/realms/acme"}"#).unwrap();
    assert_eq!(c.issuers.len(), 1);
    let i = &c.issuers[0];
    assert_eq!(i.issuer, "https://idp.example.com/realms/acme");
    match &i.keys {
        KeySource::Discovery(u) => {
            assert_eq!(u.scheme, "https");
            assert_eq!(u.authority, "idp.example.com");
            assert_eq!(u.path, "/realms/acme/.well-known/openid-configuration");
            assert_eq!(u.default_upstream(), "idp.example.com:443");
        }
        other => panic!("expected discovery, got {other:?}"),
    }
    assert!(i.audiences.is_empty() && i.scopes_required.is_empty() && i.upstream.is_none());
    assert_eq!(c.dpop, DpopMode::Optional);
    assert_eq!(c.dpop_algs, Algorithm::ALL.to_vec());
    assert_eq!((c.dpop_max_age, c.clock_skew), (60, 60));
    assert_eq!((c.jwks_refresh, c.jwks_min_refetch, c.http_timeout_ms), (300, 30, 5000));
    assert_eq!((c.max_token_bytes, c.token_cache_entries), (8192, 1024));
    assert!(c.public_base_url.is_none() && c.claims_to_headers.is_empty());
}

#[test]
fn issuer_with_trailing_slash_discovers_without_double_slash() {
    let c = parse(r#"{"issuer":"http://127.0.0.1:8080/"}"#).unwrap();
    match &c.issuers[0].keys {
        KeySource::Discovery(u) => {
            assert_eq!(u.path, "/.well-known/openid-configuration");
            assert_eq!(u.default_upstream(), "127.0.0.1:8080");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn jwks_uri_skips_discovery_and_upstream_overrides() {
    let c = parse(
        r#"{"issuer":"https://idp.example.com","jwks_uri":"https://keys.example.com:8443/certs?x=1",
            "upstream":"idp_cluster","audiences":["api"],"scopes_required":["read","write"]}"#,
    )
    .unwrap();
    let i = &c.issuers[0];
    match &i.keys {
        KeySource::JwksUri(u) => {
            assert_eq!(u.authority, "keys.example.com:8443");
            assert_eq!(u.path, "/certs?x=1");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(i.upstream.as_deref(), Some("idp_cluster"));
    assert_eq!(i.audiences, ["api"]);
    assert_eq!(i.scopes_required, ["read", "write"]);
}

#[test]
fn issuers_list_inherits_top_level_defaults_and_overrides_them() {
    let c = parse(
        r#"{"audiences":["shared"],"upstream":"c1","issuers":[
            {"issuer":"https://a.example.com"},
            {"issuer":"https://b.example.com","audiences":["b-only"],"upstream":"c2","jwks_uri":"https://b.example.com/jwks"}]}"#,
    )
    .unwrap();
    assert_eq!(c.issuers.len(), 2);
    assert_eq!(c.issuers[0].audiences, ["shared"]);
    assert_eq!(c.issuers[0].upstream.as_deref(), Some("c1"));
    assert_eq!(c.issuers[1].audiences, ["b-only"]);
    assert_eq!(c.issuers[1].upstream.as_deref(), Some("c2"));
    assert_eq!(c.issuer_index("https://b.example.com"), Some(1));
    assert_eq!(c.issuer_index("https://b.example.com/"), None);
}

#[test]
fn claims_to_headers_split_paths_and_lower_case_names() {
    let c =
        parse(r#"{"issuer":"https://i.example","claims_to_headers":{"realm_access.roles":"X-Roles","sub":"x-sub"}}"#)
            .unwrap();
    let roles = c.claims_to_headers.iter().find(|h| h.header == "x-roles").unwrap();
    assert_eq!(roles.path, ["realm_access", "roles"]);
}

#[test]
fn public_base_url_is_normalised() {
    let c = parse(r#"{"issuer":"https://i.example","public_base_url":"HTTPS://API.Example.com:443/"}"#).unwrap();
    assert_eq!(c.public_base_url.as_deref(), Some("https://api.example.com"));
    let c = parse(r#"{"issuer":"https://i.example","public_base_url":"http://api.example.com:8080"}"#).unwrap();
    assert_eq!(c.public_base_url.as_deref(), Some("http://api.example.com:8080"));
}

#[test]
fn dpop_settings() {
    let c = parse(r#"{"issuer":"https://i.example","dpop":"required","dpop_algs":["ES256","EdDSA","ES256"]}"#).unwrap();
    assert_eq!(c.dpop, DpopMode::Required);
    assert_eq!(c.dpop_algs, [Algorithm::ES256, Algorithm::EdDSA]);
}

#[test]
fn each_mistake_names_its_field() {
    let cases = [
        (r#"{}"#, "issuer"),
        (r#"{"issuer":"idp.example.com"}"#, "issuer"),
        (r#"{"issuer":"ftp://idp.example.com"}"#, "issuer"),
        (r#"{"issuer":"https://idp.example.com?x=1"}"#, "issuer"),
        (r#"{"issuer":"https://user@idp.example.com"}"#, "issuer"),
        (r#"{"issuer":"https://i.example","jwks_uri":"/certs"}"#, "jwks_uri"),
        (r#"{"issuer":"https://i.example","jwks_uri":"https://i.example/c","jwks":{"keys":[]}}"#, "jwks"),
        (r#"{"issuer":"https://i.example","jwks":{"keys":[]}}"#, "jwks"),
        (r#"{"issuer":"https://i.example","issuers":[{"issuer":"https://j.example"}]}"#, "issuers"),
        (r#"{"issuers":[]}"#, "issuers"),
        (r#"{"issuers":[{"issuer":"https://a.example"},{"issuer":"https://a.example"}]}"#, "issuers[1].issuer"),
        (
            r#"{"issuers":[{"issuer":"https://a.example"},{"issuer":"https://b.example","jwks_uri":"nope"}]}"#,
            "issuers[1].jwks_uri",
        ),
        (r#"{"issuer":"https://i.example","dpop_algs":["HS256"]}"#, "dpop_algs"),
        (r#"{"issuer":"https://i.example","dpop_algs":["none"]}"#, "dpop_algs"),
        (r#"{"issuer":"https://i.example","dpop_algs":[]}"#, "dpop_algs"),
        (r#"{"issuer":"https://i.example","dpop_max_age_seconds":0}"#, "dpop_max_age_seconds"),
        (r#"{"issuer":"https://i.example","clock_skew_seconds":86400}"#, "clock_skew_seconds"),
        (r#"{"issuer":"https://i.example","jwks_refresh_seconds":1}"#, "jwks_refresh_seconds"),
        (r#"{"issuer":"https://i.example","http_timeout_ms":10}"#, "http_timeout_ms"),
        (r#"{"issuer":"https://i.example","max_token_bytes":10}"#, "max_token_bytes"),
        (r#"{"issuer":"https://i.example","public_base_url":"https://api.example.com/v1"}"#, "public_base_url"),
        (r#"{"issuer":"https://i.example","claims_to_headers":{"sub":"authorization"}}"#, "claims_to_headers.sub"),
        (r#"{"issuer":"https://i.example","claims_to_headers":{"sub":"x y"}}"#, "claims_to_headers.sub"),
        (r#"{"issuer":"https://i.example","claims_to_headers":{"a..b":"x-a"}}"#, "claims_to_headers.a..b"),
        (r#"{"issuer":"https://i.example","claims_to_headers":{"sub":"x-a","azp":"X-A"}}"#, "claims_to_headers.sub"),
        (r#"{"issuer":"https://i.example","scopes_required":["a b"]}"#, "scopes_required"),
        (r#"{"issuer":"https://i.example","audiences":[""]}"#, "audiences"),
        (r#"{"issuer":"https://i.example","upstream":""}"#, "upstream"),
    ];
    for (json, field) in cases {
        assert_eq!(field_of(json), field, "{json}");
    }
}

#[test]
fn unknown_fields_and_wrong_types_are_refused_with_serde_detail() {
    for (json, needle) in [
        (r#"{"issuer":"https://i.example","audience":"api"}"#, "unknown field `audience`"),
        (r#"{"issuer":"https://i.example","dpop":"maybe"}"#, "unknown variant `maybe`"),
        (r#"{"issuer":"https://i.example","clock_skew_seconds":"60"}"#, "invalid type"),
        (r#"{"issuer":"https://i.example","clock_skew_seconds":-1}"#, "invalid value"),
        ("not json", "expected"),
        ("", "EOF"),
    ] {
        let e = parse(json).unwrap_err();
        assert!(e.to_string().contains(needle), "{json}: {e}");
    }
}

#[test]
fn oversize_document_is_refused_before_parsing() {
    let big = format!(r#"{{"issuer":"https://i.example","audiences":["{}"]}}"#, "a".repeat(300 * 1024));
    let e = parse(&big).unwrap_err();
    assert!(e.problem.contains("larger than"), "{e}");
}

#[test]
fn fetch_url_parsing() {
    assert_eq!(FetchUrl::parse("http://h").unwrap().path, "/");
    assert_eq!(FetchUrl::parse("http://h?x").unwrap().path, "/?x");
    assert_eq!(FetchUrl::parse("http://[::1]:8080/a").unwrap().default_upstream(), "[::1]:8080");
    assert_eq!(FetchUrl::parse("https://[::1]/a").unwrap().default_upstream(), "[::1]:443");
    for bad in ["http://", "http://h:", "http://h:99999x", "http://h/#f", "http://h/ a", "h/x", "http://a:b:c/"] {
        assert!(FetchUrl::parse(bad).is_none(), "{bad}");
    }
}
