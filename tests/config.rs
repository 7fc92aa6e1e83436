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
        (r#"{"issuer":"https://i.example","dpop_algs":["HS256"]}"#, "dpop_algs[0]"),
        (r#"{"issuer":"https://i.example","dpop_algs":["ES256","none"]}"#, "dpop_algs[1]"),
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
        (r#"{"issuer":"https://i.example","scopes_required":["a b"]}"#, "scopes_required[0]"),
        (r#"{"issuer":"https://i.example","audiences":["api",""]}"#, "audiences[1]"),
        (r#"{"issuers":[{"issuer":"https://a.example","audiences":[""]}]}"#, "issuers[0].audiences[0]"),
        (r#"{"issuers":[{"issuer":"https://a.example"},{"audiences":["api"]}]}"#, "issuers[1].issuer"),
        (r#"{"issuer":"https://i.example","dpop_nonce":{"secret":"c2VjcmV0"}}"#, "dpop_nonce.secret"),
        (r#"{"issuer":"https://i.example","upstream":""}"#, "upstream"),
    ];
    for (json, field) in cases {
        assert_eq!(field_of(json), field, "{json}");
    }
}

/// The whole message for typical mistakes: the field, what it expects in the README's words, and
/// what was given (no serde wording such as `invalid type` or `expected u64`).
#[test]
fn mistakes_are_explained_in_the_readme_terms() {
    for (json, message) in [
        (
            r#"{"issuer":"https://i.example","dpop_nonce":true}"#,
            r#"field `dpop_nonce`: expected an object such as {"step_seconds": 60}, or {} for the defaults, got true"#,
        ),
        (
            r#"{"issuer":"https://i.example","audiences":"x"}"#,
            r#"field `audiences`: expected an array of strings, such as ["https://api.example.com"], got a string"#,
        ),
        (
            r#"{"issuer":"https://i.example","clock_skew_seconds":-1}"#,
            "field `clock_skew_seconds`: expected a whole number of seconds from 0 to 3600, got -1",
        ),
        (
            r#"{"issuer":"https://i.example","clock_skew_seconds":"60"}"#,
            r#"field `clock_skew_seconds`: expected a whole number of seconds from 0 to 3600, got the string "60": write the number without quotes"#,
        ),
        (
            r#"{"issuer":"https://i.example","clock_skew_seconds":86400}"#,
            "field `clock_skew_seconds`: expected a whole number of seconds from 0 to 3600, got 86400",
        ),
        (
            r#"{"issuer":"https://i.example","dpop":"maybe"}"#,
            r#"field `dpop`: expected one of "optional", "required", "disabled", got "maybe""#,
        ),
        (
            r#"{"issuers":[{"issuer":"https://a.example"},{"issuer":"https://b.example","audiences":[7]}]}"#,
            "field `issuers[1].audiences[0]`: expected a string, got 7",
        ),
        (
            r#"{"issuer":"https://i.example","dpop_algs":["HS256"]}"#,
            r#"field `dpop_algs[0]`: `HS256` is not a supported asymmetric algorithm; expected an algorithm name, one of "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512""#,
        ),
        (
            r#"{"issuer":"https://i.example","jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}}"#,
            "field `jwks`: holds no usable verification key (`jwks.keys[0]`: JWK key type is not supported)",
        ),
        ("[1]", r#"expected a JSON object such as {"issuer": "https://idp.example.com/realms/acme"}, got an array"#),
    ] {
        assert_eq!(parse(json).unwrap_err().to_string(), format!("invalid configuration: {message}"), "{json}");
    }
}

#[test]
fn unknown_fields_are_refused_with_the_likely_intended_field() {
    for (json, message) in [
        (
            r#"{"issuer":"https://i.example","audience":"api"}"#,
            "field `audience`: is not a known field; did you mean `audiences`?",
        ),
        (
            r#"{"issuer":"https://i.example","clock_skew":5}"#,
            "field `clock_skew`: is not a known field; did you mean `clock_skew_seconds`?",
        ),
        (
            r#"{"issuers":[{"issuer":"https://a.example","scope_required":["a"]}]}"#,
            "field `issuers[0].scope_required`: is not a known field; did you mean `scopes_required`?",
        ),
        (
            r#"{"issuers":[{"issuer":"https://a.example","dpop":"required"}]}"#,
            "field `issuers[0].dpop`: is not a field here: `dpop` is a top-level field",
        ),
        (
            r#"{"issuer":"https://i.example","step_seconds":30}"#,
            "field `step_seconds`: is not a top-level field; did you mean `dpop_nonce.step_seconds`?",
        ),
        (
            r#"{"issuer":"https://i.example","dpop_nonce":{"ttl":30}}"#,
            "field `dpop_nonce.ttl`: is not a known field; expected one of `secret`, `step_seconds`",
        ),
    ] {
        assert_eq!(parse(json).unwrap_err().to_string(), format!("invalid configuration: {message}"), "{json}");
    }
}

/// A key given twice is refused wherever it is, since which copy wins would be a guess.
#[test]
fn a_field_given_twice_is_refused() {
    for (json, field) in [
        (r#"{"issuer":"https://a.example","issuer":"https://b.example"}"#, "issuer"),
        (
            r#"{"issuers":[{"issuer":"https://a.example","jwks_uri":"https://a.example/k","jwks_uri":"https://b.example/k"}]}"#,
            "issuers[0].jwks_uri",
        ),
        (r#"{"issuer":"https://i.example","claims_to_headers":{"sub":"x-a","sub":"x-b"}}"#, "claims_to_headers.sub"),
        (r#"{"issuer":"https://i.example","jwks":{"keys":[{"kty":"EC","kty":"RSA"}]}}"#, "jwks.keys[0].kty"),
    ] {
        let e = parse(json).unwrap_err();
        assert_eq!((e.field.as_str(), e.problem.as_str()), (field, "is given twice; give each field once"), "{json}");
    }
}

#[test]
fn json_syntax_errors_say_where() {
    for (json, message) in [
        (
            "{\"issuer\": \"https://i.example\",\n \"dpop\": \"required\"\n \"x\": 1}",
            "the document is not valid JSON: expected `,` or `}` at line 3, column 2",
        ),
        ("<config/>", "the document is not valid JSON: expected a JSON value at line 1, column 1"),
        (
            r#"{"issuer":"https://i.example"} x"#,
            "the document is not valid JSON: unexpected text after the end of the JSON value at line 1, column 32",
        ),
        (
            r#"{"issuer":"https://i.example","dpop":tru}"#,
            "the document is not valid JSON: expected `true`, `false` or `null` at line 1, column 41",
        ),
        (
            r#"{"issuer":"https://i.ex"#,
            "the document is not valid JSON: it ends at line 1, column 23 before the JSON is complete",
        ),
        (
            " \n",
            r#"the document is empty; expected a JSON object such as {"issuer": "https://idp.example.com/realms/acme"}"#,
        ),
        (
            &format!("{}{}", "[".repeat(200), "]".repeat(200)),
            "the document is not valid JSON: nested too deeply at line 1, column 128",
        ),
    ] {
        let e = parse(json).unwrap_err();
        assert_eq!((e.field.as_str(), e.problem.as_str()), ("", message), "{json}");
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
