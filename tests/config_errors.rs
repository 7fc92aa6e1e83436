//! Every configuration field, given a value of each wrong JSON type, is refused with a message that
//! names the field, says what it expects in the README's words and what was given, and uses no
//! Rust type names. The fields come from one table, [`TABLE`]; the last tests check that the table
//! covers every field the parser accepts, so a new field without a row fails here.

use std::collections::BTreeSet;

use dpop_gate::config::{Config, FIELDS, INTROSPECTION_FIELDS, ISSUER_FIELDS, NONCE_FIELDS};
use serde_json::Value;

/// The JSON types a value can have, as far as the parser tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Whole,
    Negative,
    Fraction,
    Str,
    Array,
    Object,
}

const KINDS: [Kind; 8] =
    [Kind::Null, Kind::Bool, Kind::Whole, Kind::Negative, Kind::Fraction, Kind::Str, Kind::Array, Kind::Object];

impl Kind {
    /// Sample values of this kind, and the "got ..." the message must carry for each.
    fn samples(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Null => &[("null", "got null")],
            Kind::Bool => &[("true", "got true"), ("false", "got false")],
            Kind::Whole => &[("7", "got 7")],
            Kind::Negative => &[("-1", "got -1")],
            Kind::Fraction => &[("1.5", "got 1.5")],
            // A number in quotes is the common mistake; the message repeats it only then.
            Kind::Str => &[(r#""60""#, "got "), (r#""x""#, "got a string")],
            Kind::Array => &[(r#"["x"]"#, "got an array")],
            Kind::Object => &[(r#"{"x": 1}"#, "got an object")],
        }
    }
}

/// One configuration field.
struct Row {
    /// The JSON path the message must name, e.g. `issuers[0].audiences[0]`.
    path: &'static str,
    /// A document with `@` where the field's value goes; valid with `good` in its place.
    doc: &'static str,
    /// A value of the right kind that the parser accepts.
    good: &'static str,
    /// The kinds the field accepts (`Null` where null means the default); all others are wrong.
    accepts: &'static [Kind],
    /// The expected form the message must state.
    expect: &'static str,
}

use Kind::*;

macro_rules! top {
    ($field:literal) => {
        concat!(r#"{"issuer":"https://i.example",""#, $field, r#"":@}"#)
    };
}

macro_rules! entry {
    ($field:literal) => {
        concat!(r#"{"issuers":[{"issuer":"https://a.example",""#, $field, r#"":@}]}"#)
    };
}

/// A public Ed25519 JWK (RFC 8037 appendix A.2).
macro_rules! jwk {
    () => {
        r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
    };
}

const ALGS: &str = r#"expected an algorithm name, one of "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512""#;

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // The single-issuer form.
    Row { path: "issuer", doc: r#"{"issuer":@}"#, good: r#""https://i.example""#, accepts: &[Null, Str], expect: "expected the issuer URL as a string" },
    Row { path: "jwks_uri", doc: top!("jwks_uri"), good: r#""https://i.example/certs""#, accepts: &[Null, Str], expect: "expected a URL as a string" },
    Row { path: "jwks", doc: top!("jwks"), good: concat!(r#"{"keys":["#, jwk!(), "]}"), accepts: &[Null, Object], expect: r#"expected a JWK set: an object such as {"keys": [...]}"# },
    Row { path: "jwks.keys", doc: r#"{"issuer":"https://i.example","jwks":{"keys":@}}"#, good: concat!("[", jwk!(), "]"), accepts: &[Array], expect: "expected an array of JWK objects" },
    Row { path: "jwks.keys[0]", doc: r#"{"issuer":"https://i.example","jwks":{"keys":[@]}}"#, good: jwk!(), accepts: &[Object], expect: "expected a JWK object" },
    Row { path: "upstream", doc: top!("upstream"), good: r#""idp_cluster""#, accepts: &[Null, Str], expect: "expected a string: an Envoy cluster name or a Kong host:port" },
    Row { path: "audiences", doc: top!("audiences"), good: r#"["api"]"#, accepts: &[Array], expect: "expected an array of strings" },
    Row { path: "audiences[0]", doc: r#"{"issuer":"https://i.example","audiences":[@]}"#, good: r#""api""#, accepts: &[Str], expect: "expected a string" },
    Row { path: "scopes_required", doc: top!("scopes_required"), good: r#"["read"]"#, accepts: &[Array], expect: "expected an array of strings" },
    Row { path: "scopes_required[0]", doc: r#"{"issuer":"https://i.example","scopes_required":[@]}"#, good: r#""read""#, accepts: &[Str], expect: "expected a string" },
    // The list form and its entries.
    Row { path: "issuers", doc: r#"{"issuers":@}"#, good: r#"[{"issuer":"https://a.example"}]"#, accepts: &[Null, Array], expect: "expected an array of issuer objects" },
    Row { path: "issuers[0]", doc: r#"{"issuers":[@]}"#, good: r#"{"issuer":"https://a.example"}"#, accepts: &[Object], expect: r#"expected an object such as {"issuer": "# },
    Row { path: "issuers[0].issuer", doc: r#"{"issuers":[{"issuer":@}]}"#, good: r#""https://a.example""#, accepts: &[Str], expect: "expected the issuer URL as a string" },
    Row { path: "issuers[0].jwks_uri", doc: entry!("jwks_uri"), good: r#""https://a.example/certs""#, accepts: &[Null, Str], expect: "expected a URL as a string" },
    Row { path: "issuers[0].jwks", doc: entry!("jwks"), good: concat!(r#"{"keys":["#, jwk!(), "]}"), accepts: &[Null, Object], expect: r#"expected a JWK set: an object such as {"keys": [...]}"# },
    Row { path: "issuers[0].jwks.keys", doc: r#"{"issuers":[{"issuer":"https://a.example","jwks":{"keys":@}}]}"#, good: concat!("[", jwk!(), "]"), accepts: &[Array], expect: "expected an array of JWK objects" },
    Row { path: "issuers[0].jwks.keys[0]", doc: r#"{"issuers":[{"issuer":"https://a.example","jwks":{"keys":[@]}}]}"#, good: jwk!(), accepts: &[Object], expect: "expected a JWK object" },
    Row { path: "issuers[0].upstream", doc: entry!("upstream"), good: r#""idp_cluster""#, accepts: &[Null, Str], expect: "expected a string: an Envoy cluster name or a Kong host:port" },
    Row { path: "issuers[0].audiences", doc: entry!("audiences"), good: r#"["api"]"#, accepts: &[Null, Array], expect: "expected an array of strings" },
    Row { path: "issuers[0].audiences[0]", doc: r#"{"issuers":[{"issuer":"https://a.example","audiences":[@]}]}"#, good: r#""api""#, accepts: &[Str], expect: "expected a string" },
    Row { path: "issuers[0].scopes_required", doc: entry!("scopes_required"), good: r#"["read"]"#, accepts: &[Null, Array], expect: "expected an array of strings" },
    Row { path: "issuers[0].scopes_required[0]", doc: r#"{"issuers":[{"issuer":"https://a.example","scopes_required":[@]}]}"#, good: r#""read""#, accepts: &[Str], expect: "expected a string" },
    // Settings.
    Row { path: "clock_skew_seconds", doc: top!("clock_skew_seconds"), good: "0", accepts: &[Null, Whole], expect: "expected a whole number of seconds from 0 to 3600" },
    Row { path: "require_at_jwt_typ", doc: top!("require_at_jwt_typ"), good: "true", accepts: &[Null, Bool], expect: "expected true or false" },
    Row { path: "dpop", doc: top!("dpop"), good: r#""required""#, accepts: &[Null, Str], expect: r#"expected one of "optional", "required", "disabled""# },
    Row { path: "dpop_algs", doc: top!("dpop_algs"), good: r#"["ES256"]"#, accepts: &[Null, Array], expect: "expected an array of algorithm names" },
    Row { path: "dpop_algs[0]", doc: r#"{"issuer":"https://i.example","dpop_algs":[@]}"#, good: r#""EdDSA""#, accepts: &[Str], expect: ALGS },
    Row { path: "dpop_max_age_seconds", doc: top!("dpop_max_age_seconds"), good: "3600", accepts: &[Null, Whole], expect: "expected a whole number of seconds from 1 to 3600" },
    Row { path: "dpop_nonce", doc: top!("dpop_nonce"), good: "{}", accepts: &[Null, Object], expect: r#"expected an object such as {"step_seconds": 60}, or {} for the defaults"# },
    Row { path: "dpop_nonce.secret", doc: r#"{"issuer":"https://i.example","dpop_nonce":{"secret":@}}"#, good: r#""AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8""#, accepts: &[Null, Str], expect: "expected a string: unpadded base64url of 32 to 64 bytes" },
    Row { path: "dpop_nonce.step_seconds", doc: r#"{"issuer":"https://i.example","dpop_nonce":{"step_seconds":@}}"#, good: "10", accepts: &[Null, Whole], expect: "expected a whole number of seconds from 10 to 3600" },
    Row { path: "mtls", doc: top!("mtls"), good: r#""required""#, accepts: &[Null, Str], expect: r#"expected one of "optional", "required", "disabled""# },
    Row { path: "mtls_certificate_header", doc: top!("mtls_certificate_header"), good: r#""x-client-cert""#, accepts: &[Null, Str], expect: r#"expected a header name as a string, such as "x-client-cert""# },
    Row { path: "public_base_url", doc: top!("public_base_url"), good: r#""https://api.example.com""#, accepts: &[Null, Str], expect: r#"expected a string such as "https://api.example.com""# },
    Row { path: "claims_to_headers", doc: top!("claims_to_headers"), good: r#"{"sub":"x-sub"}"#, accepts: &[Object], expect: "expected an object mapping claim paths to header names" },
    Row { path: "claims_to_headers.sub", doc: r#"{"issuer":"https://i.example","claims_to_headers":{"sub":@}}"#, good: r#""x-sub""#, accepts: &[Str], expect: "expected a header name as a string" },
    Row { path: "jwks_refresh_seconds", doc: top!("jwks_refresh_seconds"), good: "86400", accepts: &[Null, Whole], expect: "expected a whole number of seconds from 10 to 86400" },
    Row { path: "jwks_min_refetch_seconds", doc: top!("jwks_min_refetch_seconds"), good: "1", accepts: &[Null, Whole], expect: "expected a whole number of seconds from 1 to 86400" },
    Row { path: "http_timeout_ms", doc: top!("http_timeout_ms"), good: "100", accepts: &[Null, Whole], expect: "expected a whole number of milliseconds from 100 to 60000" },
    Row { path: "max_token_bytes", doc: top!("max_token_bytes"), good: "65536", accepts: &[Null, Whole], expect: "expected a whole number of bytes from 256 to 65536" },
    Row { path: "token_cache_entries", doc: top!("token_cache_entries"), good: "0", accepts: &[Null, Whole], expect: "expected a whole number of entries from 0 to 100000" },
    // Introspection.
    Row { path: "introspection", doc: top!("introspection"), good: r#"{"client_id":"g","client_secret":"s"}"#, accepts: &[Null, Object], expect: r#"expected an object such as {"mode": "opaque""# },
    Row { path: "introspection.endpoint", doc: r#"{"issuer":"https://i.example","introspection":{"client_id":"g","client_secret":"s","endpoint":@}}"#, good: r#""https://i.example/introspect""#, accepts: &[Null, Str], expect: "expected a URL as a string" },
    Row { path: "introspection.client_id", doc: r#"{"issuer":"https://i.example","introspection":{"client_secret":"s","client_id":@}}"#, good: r#""g""#, accepts: &[Str], expect: r#"expected a string such as "gateway""# },
    Row { path: "introspection.client_secret", doc: r#"{"issuer":"https://i.example","introspection":{"client_id":"g","client_secret":@}}"#, good: r#""s""#, accepts: &[Str], expect: "expected a string: the client secret" },
    Row { path: "introspection.auth", doc: r#"{"issuer":"https://i.example","introspection":{"client_id":"g","client_secret":"s","auth":@}}"#, good: r#""client_secret_post""#, accepts: &[Null, Str], expect: r#"expected one of "client_secret_basic", "client_secret_post""# },
    Row { path: "introspection.mode", doc: r#"{"issuer":"https://i.example","introspection":{"client_id":"g","client_secret":"s","mode":@}}"#, good: r#""always""#, accepts: &[Null, Str], expect: r#"expected one of "off", "opaque", "always""# },
    Row { path: "introspection.cache_seconds", doc: r#"{"issuer":"https://i.example","introspection":{"client_id":"g","client_secret":"s","cache_seconds":@}}"#, good: "0", accepts: &[Null, Whole], expect: "expected a whole number of seconds from 0 to 3600" },
    Row { path: "introspection.negative_cache_seconds", doc: r#"{"issuer":"https://i.example","introspection":{"client_id":"g","client_secret":"s","negative_cache_seconds":@}}"#, good: "3600", accepts: &[Null, Whole], expect: "expected a whole number of seconds from 0 to 3600" },
    Row { path: "introspection.jwt_response", doc: r#"{"issuer":"https://i.example","introspection":{"client_id":"g","client_secret":"s","jwt_response":@}}"#, good: "true", accepts: &[Null, Bool], expect: "expected true or false" },
    Row { path: "issuers[0].introspection", doc: entry!("introspection"), good: r#"{"client_id":"g","client_secret":"s"}"#, accepts: &[Null, Object], expect: r#"expected an object such as {"mode": "opaque""# },
    Row { path: "issuers[0].introspection.endpoint", doc: r#"{"issuers":[{"issuer":"https://a.example","introspection":{"client_id":"g","client_secret":"s","endpoint":@}}]}"#, good: r#""https://a.example/introspect""#, accepts: &[Null, Str], expect: "expected a URL as a string" },
    Row { path: "issuers[0].introspection.client_id", doc: r#"{"issuers":[{"issuer":"https://a.example","introspection":{"client_secret":"s","client_id":@}}]}"#, good: r#""g""#, accepts: &[Str], expect: r#"expected a string such as "gateway""# },
    Row { path: "issuers[0].introspection.client_secret", doc: r#"{"issuers":[{"issuer":"https://a.example","introspection":{"client_id":"g","client_secret":@}}]}"#, good: r#""s""#, accepts: &[Str], expect: "expected a string: the client secret" },
];

/// Words of Rust or serde that must never reach an operator.
const RUST_WORDS: [&str; 27] = [
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "f32",
    "f64",
    "struct",
    "enum",
    "variant",
    "sequence",
    "map",
    "Map",
    "Vec",
    "Option",
    "String",
    "str",
    "RawNonce",
    "RawConfig",
    "RawIssuer",
];

fn rust_words(message: &str) -> Vec<&str> {
    let mut found: Vec<&str> =
        message.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').filter(|w| RUST_WORDS.contains(w)).collect();
    for phrase in ["invalid type", "invalid value", "EOF", "serde"] {
        if message.contains(phrase) {
            found.push(phrase);
        }
    }
    found
}

fn with(row: &Row, value: &str) -> String {
    row.doc.replacen('@', value, 1)
}

#[test]
fn every_row_accepts_its_good_value() {
    for row in TABLE {
        let doc = with(row, row.good);
        if let Err(e) = Config::parse(doc.as_bytes()) {
            panic!("{}: the good value is refused: {e}\n{doc}", row.path);
        }
    }
}

#[test]
fn every_wrong_type_names_the_field_and_the_expected_form() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in TABLE {
        for kind in KINDS.into_iter().filter(|k| !row.accepts.contains(k)) {
            for (value, got) in kind.samples() {
                let doc = with(row, value);
                checked += 1;
                let message = match Config::parse(doc.as_bytes()) {
                    Ok(_) => {
                        failures.push(format!("{} = {value} ({kind:?}): ACCEPTED", row.path));
                        continue;
                    }
                    Err(e) => e.to_string(),
                };
                let mut wrong = Vec::new();
                if !message.contains(&format!("`{}`", row.path)) {
                    wrong.push("does not name the field".to_owned());
                }
                if !message.contains(row.expect) {
                    wrong.push(format!("does not say `{}`", row.expect));
                }
                if !message.contains(got) {
                    wrong.push(format!("does not say `{got}`"));
                }
                let rust = rust_words(&message);
                if !rust.is_empty() {
                    wrong.push(format!("uses {rust:?}"));
                }
                if !wrong.is_empty() {
                    failures.push(format!("{} = {value} ({kind:?}): {}\n    {message}", row.path, wrong.join(", ")));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} refusals are wrong:\n{}", failures.len(), failures.join("\n"));
    // 38 rows; a check that silently skipped most of them would be no check.
    assert!(checked >= 200, "only {checked} wrong values tried");
}

/// The messages of the existing invalid examples carry no Rust wording either.
#[test]
fn no_refusal_of_the_invalid_examples_uses_rust_words() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/configs");
    let mut checked = 0;
    for sub in ["invalid", "parser_only"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("configs dir") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("readable");
            let e = Config::parse(&bytes).expect_err("an invalid example");
            let message = e.to_string();
            assert!(rust_words(&message).is_empty(), "{}: {message}", path.display());
            let whole_document = path.ends_with("not_an_object.json");
            assert!(whole_document || !e.field.is_empty(), "{}: names no field: {message}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked}");
}

/// Documents that together set every field: the single-issuer form with a static key set and with
/// a `jwks_uri`, and the list form (with every entry field).
const FULL_URI: &str = r#"{"issuer":"https://i.example","jwks_uri":"https://i.example/k"}"#;
const FULL_SINGLE: &str = concat!(
    r#"{"issuer":"https://i.example","jwks":{"keys":["#,
    jwk!(),
    r#"]},"upstream":"u","audiences":["a"],"scopes_required":["s"],"clock_skew_seconds":1,"require_at_jwt_typ":true,"dpop":"required","dpop_algs":["ES256"],"dpop_max_age_seconds":2,"dpop_nonce":{"secret":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8","step_seconds":20},"mtls":"required","mtls_certificate_header":"x-client-cert","public_base_url":"https://api.example.com","claims_to_headers":{"sub":"x-sub"},"jwks_refresh_seconds":20,"jwks_min_refetch_seconds":2,"http_timeout_ms":200,"max_token_bytes":300,"token_cache_entries":3,"introspection":{"endpoint":"https://i.example/introspect","client_id":"g","client_secret":"s","auth":"client_secret_post","mode":"always","cache_seconds":5,"negative_cache_seconds":1,"jwt_response":true}}"#
);
const FULL_LIST: &str = concat!(
    r#"{"upstream":"u","audiences":["a"],"scopes_required":["s"],"issuers":[{"issuer":"https://a.example","jwks_uri":"https://a.example/k","upstream":"v","audiences":["b"],"scopes_required":["t"],"introspection":{"endpoint":"https://a.example/i","client_id":"g","client_secret":"s"}},{"issuer":"https://b.example","jwks":{"keys":["#,
    jwk!(),
    r#"]}}]}"#
);

/// The JSON paths of every field in a document, array indexes as `[0]`.
fn paths(value: &Value, at: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                out.insert(here.clone());
                paths(v, &here, out);
            }
        }
        Value::Array(items) => {
            let here = format!("{at}[0]");
            for item in items {
                out.insert(here.clone());
                // A JWK's own members belong to the key format (src/jose/jwk.rs), not to this table.
                if !here.ends_with(".keys[0]") {
                    paths(item, &here, out);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_full_documents_set_every_field_the_parser_accepts_and_parse() {
    let mut set = BTreeSet::new();
    for doc in [FULL_SINGLE, FULL_URI, FULL_LIST] {
        if let Err(e) = Config::parse(doc.as_bytes()) {
            panic!("{e}\n{doc}");
        }
        paths(&serde_json::from_str(doc).expect("JSON"), "", &mut set);
    }
    let missing: Vec<String> = FIELDS
        .iter()
        .map(|f| f.to_string())
        .chain(ISSUER_FIELDS.iter().map(|f| format!("issuers[0].{f}")))
        .chain(NONCE_FIELDS.iter().map(|f| format!("dpop_nonce.{f}")))
        .chain(INTROSPECTION_FIELDS.iter().map(|f| format!("introspection.{f}")))
        .filter(|f| !set.contains(f))
        .collect();
    assert!(missing.is_empty(), "the full documents do not set {missing:?}");
}

/// The parser refuses any field outside [`FIELDS`], [`ISSUER_FIELDS`] and [`NONCE_FIELDS`], so
/// these lists are exactly the fields it accepts.
#[test]
fn the_field_lists_are_what_the_parser_enforces() {
    for (doc, field) in [
        (r#"{"issuer":"https://i.example","zzz":1}"#, "zzz"),
        (r#"{"issuers":[{"issuer":"https://a.example","zzz":1}]}"#, "issuers[0].zzz"),
        (r#"{"issuer":"https://i.example","dpop_nonce":{"zzz":1}}"#, "dpop_nonce.zzz"),
    ] {
        let e = Config::parse(doc.as_bytes()).expect_err(doc);
        assert_eq!(e.field, field, "{e}");
        assert!(e.problem.starts_with("is not a known field"), "{e}");
    }
}

/// Every field the parser accepts, and every field of the full documents (array entries, a
/// `claims_to_headers` value, a static key set's `keys`), has a row in [`TABLE`].
#[test]
fn the_table_covers_every_field() {
    let rows: BTreeSet<&str> = TABLE.iter().map(|r| r.path).collect();
    assert_eq!(rows.len(), TABLE.len(), "a path has two rows");
    let mut wanted = BTreeSet::new();
    for doc in [FULL_SINGLE, FULL_URI, FULL_LIST] {
        paths(&serde_json::from_str(doc).expect("JSON"), "", &mut wanted);
    }
    wanted.extend(FIELDS.iter().map(|f| f.to_string()));
    wanted.extend(ISSUER_FIELDS.iter().map(|f| format!("issuers[0].{f}")));
    wanted.extend(NONCE_FIELDS.iter().map(|f| format!("dpop_nonce.{f}")));
    wanted.extend(INTROSPECTION_FIELDS.iter().map(|f| format!("introspection.{f}")));
    let missing: Vec<&String> = wanted.iter().filter(|p| !rows.contains(p.as_str())).collect();
    assert!(missing.is_empty(), "fields without a row in TABLE: {missing:?}");
}
