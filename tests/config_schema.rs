//! Drift test between the Kong filter metadata (`kong/dpop_gate.meta.json`, whose `config_schema`
//! Kong validates every filter configuration against) and the filter's own parser
//! (`dpop_gate::config::Config::parse`, the single source of truth).
//!
//! Every example configuration the project ships is checked by BOTH: a real JSON Schema (draft 4)
//! validator and the Rust parser. Examples come from:
//! - `tests/data/configs/valid/*.json` (accepted by both),
//! - `tests/data/configs/invalid/*.json` (refused by both),
//! - `tests/data/configs/parser_only/*.json`: what draft 4 cannot express (duplicates, whether a
//!   static JWK is a usable key). The parser refuses them and the schema accepts them; if the
//!   schema ever learns to refuse one, move the file to `invalid/`.
//! - every filter `config` in `kong/kong.yaml` (filter chains and `/plugins`-style entries),
//! - every `<<'JSON'` here-document in `kong/admin-api.sh`,
//! - every ```` ```json ```` block under the README's `## Configuration`, `## Envoy` and
//!   `## Use with Kong` sections, and every filter configuration in the `## Envoy` section's
//!   ```` ```yaml ```` Envoy configuration (so a JSON block there must be a complete filter configuration;
//!   use another fence tag, e.g. ```` ```jsonc ````, for anything else),
//! - every `google.protobuf.StringValue` filter configuration in `envoy-test/**/*.yaml` (none
//!   may exist yet; values holding template placeholders are skipped).

use std::fs;
use std::path::{Path, PathBuf};

use dpop_gate::config::{self, Config};
use jsonschema::Validator;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The `config_schema` of the committed metadata file.
fn config_schema() -> Value {
    let meta: Value = serde_json::from_str(&read(&root().join("kong/dpop_gate.meta.json"))).expect("meta.json is JSON");
    let obj = meta.as_object().expect("meta.json is an object");
    assert!(obj.keys().all(|k| k == "config_schema"), "meta.json holds only `config_schema`: {:?}", obj.keys());
    obj.get("config_schema").cloned().expect("meta.json has `config_schema`")
}

fn validator() -> Validator {
    let schema = config_schema();
    assert!(jsonschema::draft4::meta::is_valid(&schema), "config_schema is not a valid draft-4 schema");
    jsonschema::draft4::new(&schema).expect("config_schema compiles as draft 4")
}

/// The schema's verdict: `Ok` or the validator's messages.
fn schema_check(v: &Validator, config: &Value) -> Result<(), String> {
    let errors: Vec<String> = v.iter_errors(config).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The parser's verdict on the same document, serialized as Kong and Envoy hand it to the filter.
fn parser_check(config: &Value) -> Result<(), String> {
    let bytes = serde_json::to_vec(config).expect("serializable");
    Config::parse(&bytes).map(|_| ()).map_err(|e| e.to_string())
}

fn assert_accepted(v: &Validator, origin: &str, config: &Value) {
    if let Err(e) = schema_check(v, config) {
        panic!("{origin}: refused by kong/dpop_gate.meta.json: {e}\n{config}");
    }
    if let Err(e) = parser_check(config) {
        panic!("{origin}: refused by Config::parse: {e}\n{config}");
    }
}

fn json_files(dir: &str) -> Vec<(String, Value)> {
    let dir = root().join(dir);
    let mut out: Vec<(String, Value)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let value = serde_json::from_str(&read(&p)).unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn meta_json_is_a_draft4_schema_covering_every_field() {
    let schema = config_schema();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], false, "unknown fields must be refused, as the parser does");
    let props = schema["properties"].as_object().expect("properties");
    // Every field the parser accepts (it refuses any other); a field added there must be added
    // to the schema.
    let fields = config::FIELDS;
    let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected);
    for (name, prop) in props {
        assert!(prop["description"].as_str().is_some_and(|d| !d.is_empty()), "`{name}` has no description");
    }
    let entry = &props["issuers"]["items"];
    assert_eq!(entry["additionalProperties"], false);
    let mut entry_names: Vec<&str> =
        entry["properties"].as_object().expect("entry properties").keys().map(String::as_str).collect();
    entry_names.sort_unstable();
    let mut expected = config::ISSUER_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(entry_names, expected);
    let nonce = &props["dpop_nonce"];
    assert_eq!(nonce["additionalProperties"], false);
    let mut nonce_names: Vec<&str> =
        nonce["properties"].as_object().expect("dpop_nonce properties").keys().map(String::as_str).collect();
    nonce_names.sort_unstable();
    let mut expected = config::NONCE_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(nonce_names, expected);
}

/// The schema's defaults are the parser's: a config with only `issuer` parses to these values.
#[test]
fn schema_defaults_match_parser_defaults() {
    let schema = config_schema();
    let props = &schema["properties"];
    let cfg = Config::parse(br#"{"issuer":"https://keycloak.example.com/realms/partners"}"#).expect("minimal config");
    let num = |name: &str| props[name]["default"].as_u64().unwrap_or_else(|| panic!("`{name}` has a numeric default"));
    assert_eq!(num("dpop_max_age_seconds"), cfg.dpop_max_age);
    assert_eq!(num("clock_skew_seconds"), cfg.clock_skew);
    assert_eq!(num("jwks_refresh_seconds"), cfg.jwks_refresh);
    assert_eq!(num("jwks_min_refetch_seconds"), cfg.jwks_min_refetch);
    assert_eq!(num("http_timeout_ms"), cfg.http_timeout_ms);
    assert_eq!(num("max_token_bytes"), cfg.max_token_bytes as u64);
    assert_eq!(num("token_cache_entries"), cfg.token_cache_entries as u64);
    assert_eq!(props["require_at_jwt_typ"]["default"], cfg.require_at_jwt_typ);
    assert_eq!(props["mtls"]["default"], "optional");
    assert_eq!(cfg.mtls, dpop_gate::config::MtlsMode::Optional);
    assert_eq!(cfg.mtls_certificate_header, None);
    assert_eq!(props["dpop"]["default"], "optional");
    assert_eq!(cfg.dpop, dpop_gate::config::DpopMode::Optional);
    let algs: Vec<&str> = cfg.dpop_algs.iter().map(|a| a.name()).collect();
    let default_algs: Vec<&str> =
        props["dpop_algs"]["default"].as_array().expect("dpop_algs default").iter().filter_map(Value::as_str).collect();
    assert_eq!(default_algs, algs);
    let enum_algs: Vec<&str> = props["dpop_algs"]["items"]["enum"]
        .as_array()
        .expect("dpop_algs enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(enum_algs, algs, "the schema's algorithm list is every algorithm the parser knows");
}

#[test]
fn valid_examples_are_accepted_by_schema_and_parser() {
    let v = validator();
    let files = json_files("tests/data/configs/valid");
    assert!(files.len() >= 10, "the valid set is too small: {}", files.len());
    for (name, config) in &files {
        assert_accepted(&v, &format!("valid/{name}"), config);
    }
}

#[test]
fn invalid_examples_are_refused_by_schema_and_parser() {
    let v = validator();
    let files = json_files("tests/data/configs/invalid");
    assert!(files.len() >= 30, "the invalid set is too small: {}", files.len());
    let mut failures = Vec::new();
    for (name, config) in &files {
        if schema_check(&v, config).is_ok() {
            failures.push(format!("invalid/{name}: ACCEPTED by the schema"));
        }
        if parser_check(config).is_ok() {
            failures.push(format!("invalid/{name}: ACCEPTED by Config::parse"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The known limits of draft 4: the parser refuses these, the schema cannot. Kong then accepts the
/// filter chain and the filter refuses the configuration in `on_configure` (logged, and Kong
/// answers 500 on the route), which is why the README tells operators about them.
#[test]
fn parser_only_examples_are_refused_by_parser_and_documented_as_schema_gaps() {
    let v = validator();
    let files = json_files("tests/data/configs/parser_only");
    assert!(!files.is_empty());
    for (name, config) in &files {
        assert!(parser_check(config).is_err(), "parser_only/{name}: accepted by Config::parse");
        assert!(
            schema_check(&v, config).is_ok(),
            "parser_only/{name}: the schema now refuses it too; move it to invalid/"
        );
    }
}

/// Every filter config in a Kong declarative document: `filter_chains` at the top, under services
/// and under routes (nested or top-level), and filter-backed `plugins` entries.
fn kong_filter_configs(doc: &Value) -> Vec<(String, Value)> {
    fn chains(at: &str, owner: &Value, out: &mut Vec<(String, Value)>) {
        for (i, chain) in owner["filter_chains"].as_array().into_iter().flatten().enumerate() {
            for (j, filter) in chain["filters"].as_array().into_iter().flatten().enumerate() {
                if filter["name"] == "dpop_gate" {
                    out.push((format!("{at}.filter_chains[{i}].filters[{j}]"), filter["config"].clone()));
                }
            }
        }
        for (i, plugin) in owner["plugins"].as_array().into_iter().flatten().enumerate() {
            if plugin["name"] == "dpop_gate" {
                out.push((format!("{at}.plugins[{i}]"), plugin["config"].clone()));
            }
        }
        for (i, route) in owner["routes"].as_array().into_iter().flatten().enumerate() {
            chains(&format!("{at}.routes[{i}]"), route, out);
        }
    }
    let mut out = Vec::new();
    chains("", doc, &mut out);
    for (i, service) in doc["services"].as_array().into_iter().flatten().enumerate() {
        chains(&format!("services[{i}]"), service, &mut out);
    }
    out
}

/// A filter config as Kong holds it: a JSON object (the schema is present), or a JSON string.
fn as_document(origin: &str, config: &Value) -> Value {
    match config {
        Value::String(s) => {
            serde_json::from_str(s).unwrap_or_else(|e| panic!("{origin}: config string is not JSON: {e}"))
        }
        other => other.clone(),
    }
}

#[test]
fn kong_declarative_config_examples_are_accepted() {
    let v = validator();
    let text = read(&root().join("kong/kong.yaml"));
    let doc: Value = serde_yaml::from_str(&text).expect("kong.yaml is YAML");
    assert_eq!(doc["_format_version"], "3.0");
    let configs = kong_filter_configs(&doc);
    assert!(configs.len() >= 2, "kong.yaml must carry the webhook and the DPoP API filter chains");
    let mut dpop_required = false;
    for (origin, config) in &configs {
        let config = as_document(origin, config);
        assert_accepted(&v, &format!("kong/kong.yaml {origin}"), &config);
        dpop_required |= config["dpop"] == "required";
    }
    assert!(dpop_required, "kong.yaml must show a DPoP-required route");
}

/// `<<'JSON'` here-documents in the Admin API script: each is one filter config.
#[test]
fn kong_admin_api_examples_are_accepted() {
    let v = validator();
    let text = read(&root().join("kong/admin-api.sh"));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_end().ends_with("<<'JSON'") => current = Some(String::new()),
            None => {}
            Some(_) if line.trim() == "JSON" => blocks.push(current.take().unwrap_or_default()),
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(current.is_none(), "unterminated here-document in admin-api.sh");
    assert!(blocks.len() >= 2, "admin-api.sh must carry the webhook and the DPoP API configs");
    for (i, block) in blocks.iter().enumerate() {
        let config: Value = serde_json::from_str(block).unwrap_or_else(|e| panic!("admin-api.sh block {i}: {e}"));
        assert_accepted(&v, &format!("kong/admin-api.sh block {i}"), &config);
    }
}

/// The code blocks fenced as ```` ```<tag> ```` in one `## ` section of a Markdown document.
fn blocks_in_section(markdown: &str, heading: &str, tag: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut in_section = false;
    let mut block: Option<String> = None;
    for line in markdown.lines() {
        if let Some(body) = &mut block {
            if line.trim_start().starts_with("```") {
                blocks.push(block.take().unwrap_or_default());
            } else {
                body.push_str(line);
                body.push('\n');
            }
            continue;
        }
        if line.starts_with("## ") {
            in_section = line.trim_end() == heading;
        } else if in_section && line.trim().strip_prefix("```") == Some(tag) {
            block = Some(String::new());
        }
    }
    blocks
}

#[test]
fn readme_examples_are_accepted() {
    let v = validator();
    let readme = read(&root().join("README.md"));
    let mut total = 0;
    for heading in ["## Configuration", "## Envoy", "## Use with Kong"] {
        assert!(readme.lines().any(|l| l.trim_end() == heading), "README.md lost its `{heading}` section");
        for (i, block) in blocks_in_section(&readme, heading, "json").iter().enumerate() {
            let origin = format!("README.md {heading} json block {i}");
            let config: Value = serde_json::from_str(block).unwrap_or_else(|e| panic!("{origin}: not JSON: {e}"));
            assert_accepted(&v, &origin, &config);
            total += 1;
        }
    }
    assert!(total >= 1, "README.md carries no ```json filter configuration example");
    // Kong declarative snippets in the Kong section: every dpop_gate filter config in them.
    let mut kong_snippets = 0;
    for (i, block) in blocks_in_section(&readme, "## Use with Kong", "yaml").iter().enumerate() {
        let doc: Value = serde_yaml::from_str(block).unwrap_or_else(|e| panic!("README.md yaml block {i}: {e}"));
        for (origin, config) in kong_filter_configs(&doc) {
            let origin = format!("README.md yaml block {i} {origin}");
            assert_accepted(&v, &origin, &as_document(&origin, &config));
            kong_snippets += 1;
        }
    }
    assert!(kong_snippets >= 1, "README.md's Kong section shows no filter chain");
    // The Envoy section's bootstrap: every filter configuration in it.
    let mut envoy_configs = 0;
    for (i, block) in blocks_in_section(&readme, "## Envoy", "yaml").iter().enumerate() {
        let doc: Value = serde_yaml::from_str(block).unwrap_or_else(|e| panic!("README.md Envoy yaml block {i}: {e}"));
        let mut values = Vec::new();
        string_values(&doc, &mut values);
        for value in values {
            let origin = format!("README.md Envoy yaml block {i}");
            let config: Value = serde_json::from_str(&value).unwrap_or_else(|e| panic!("{origin}: not JSON: {e}"));
            assert_accepted(&v, &origin, &config);
            envoy_configs += 1;
        }
    }
    assert!(envoy_configs >= 1, "README.md's Envoy section shows no filter configuration");
}

/// Every `google.protobuf.StringValue` value in an Envoy configuration: the filter's configurations.
fn string_values(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if map.get("@type").and_then(Value::as_str) == Some("type.googleapis.com/google.protobuf.StringValue") {
                if let Some(s) = map.get("value").and_then(Value::as_str) {
                    out.push(s.to_owned());
                }
            }
            map.values().for_each(|v| string_values(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| string_values(v, out)),
        _ => {}
    }
}

/// Envoy configs: every `google.protobuf.StringValue` value in `envoy-test/**.yaml`.
#[test]
fn envoy_examples_are_accepted() {
    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "node_modules" && name != ".venv" && name != "target" {
                yaml_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(path);
            }
        }
    }
    let v = validator();
    let mut files = Vec::new();
    yaml_files(&root().join("envoy-test"), &mut files);
    let mut checked = 0;
    for file in files {
        let Ok(doc) = serde_yaml::from_str::<Value>(&read(&file)) else {
            eprintln!("skipped (not plain YAML, a template?): {}", file.display());
            continue;
        };
        let mut values = Vec::new();
        string_values(&doc, &mut values);
        for (i, value) in values.iter().enumerate() {
            if value.contains("{{") || value.contains("${") {
                continue;
            }
            let origin = format!("{} StringValue {i}", file.display());
            let config: Value = serde_json::from_str(value).unwrap_or_else(|e| panic!("{origin}: not JSON: {e}"));
            assert_accepted(&v, &origin, &config);
            checked += 1;
        }
    }
    eprintln!("envoy-test filter configurations checked: {checked}");
}
