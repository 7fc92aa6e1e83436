//! Finding the filter's configuration documents in the files operators deploy: the filter JSON
//! itself, a Kong declarative configuration (`filter_chains[].filters[]` named `dpop_gate`, and
//! the Kong 3.9 `plugins` form, at any level: top, services, routes, consumers), or an Envoy
//! bootstrap (each `envoy.filters.http.wasm` whose config names the `dpop_gate` filter, its
//! `configuration` a `google.protobuf.StringValue`).
//!
//! What is found is the exact byte string the filter would receive, so it can be handed to
//! [`dpop_gate::config::Config::parse`] and its verdict printed unchanged.

use std::fmt;

use serde_json::Value;

/// What kind of file it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The filter's JSON document.
    Filter,
    /// A Kong declarative configuration (YAML or JSON).
    Kong,
    /// An Envoy bootstrap or xDS resource file (YAML or JSON).
    Envoy,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Filter => "filter configuration",
            Kind::Kong => "Kong declarative configuration",
            Kind::Envoy => "Envoy configuration",
        })
    }
}

/// One filter configuration found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Where: a path such as `services[0].routes[1].filter_chains[0].filters[0]`, with the names
    /// of the enclosing services, routes and listeners; empty for a plain filter JSON file.
    pub location: String,
    /// The document the filter receives.
    pub document: Vec<u8>,
    /// A structural problem that keeps the filter from getting a document at all (Envoy
    /// `configuration` of another type); reported instead of a parser verdict.
    pub problem: Option<String>,
    /// Kong `enabled: false`: still checked, as Kong checks it.
    pub disabled: bool,
}

/// Top-level keys that say a document is a gateway's file rather than the filter's JSON.
const KONG_KEYS: [&str; 6] = ["_format_version", "services", "routes", "plugins", "filter_chains", "consumers"];
const ENVOY_KEYS: [&str; 5] = ["static_resources", "dynamic_resources", "admin", "resources", "layered_runtime"];
const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const STRING_VALUE: &str = "type.googleapis.com/google.protobuf.StringValue";

/// Why a file holds nothing to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindError {
    /// A `.yaml`/`.yml` file that is not YAML.
    Yaml(String),
}

impl fmt::Display for FindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FindError::Yaml(e) => write!(f, "not valid YAML: {e}"),
        }
    }
}

/// The filter configurations in a file named `name` (the extension tells YAML apart) holding
/// `bytes`. A file that is neither Kong's nor Envoy's is the filter's own JSON, returned whole
/// and byte for byte, whatever it holds: its parser decides.
pub fn find(name: &str, bytes: &[u8]) -> Result<(Kind, Vec<Found>), FindError> {
    let yaml_name = name.ends_with(".yaml") || name.ends_with(".yml");
    let doc: Option<Value> = match serde_json::from_slice(bytes) {
        Ok(v) => Some(v),
        Err(_) if yaml_name => Some(serde_yaml::from_slice(bytes).map_err(|e| FindError::Yaml(e.to_string()))?),
        Err(_) => serde_yaml::from_slice(bytes).ok(),
    };
    let whole = || Found { location: String::new(), document: bytes.to_vec(), problem: None, disabled: false };
    let Some(Value::Object(top)) = &doc else {
        return Ok((Kind::Filter, vec![whole()]));
    };
    let doc = doc.as_ref().unwrap_or(&Value::Null);
    if ENVOY_KEYS.iter().any(|k| top.contains_key(*k)) || top.contains_key("listeners") && !top.contains_key("services")
    {
        let mut out = Vec::new();
        envoy(doc, &mut Vec::new(), &mut out);
        return Ok((Kind::Envoy, out));
    }
    if KONG_KEYS.iter().any(|k| top.contains_key(*k)) {
        let mut out = Vec::new();
        kong(doc, &mut Vec::new(), &mut out);
        return Ok((Kind::Kong, out));
    }
    Ok((Kind::Filter, vec![whole()]))
}

/// A step of a location: a key, or an array index with the element's name if it has one.
fn step(path: &mut Vec<String>, key: &str, i: Option<(usize, &Value)>) {
    match i {
        None => path.push(key.to_string()),
        Some((i, v)) => match v.get("name").and_then(Value::as_str) {
            Some(n) => path.push(format!("{key}[{i}]({n})")),
            None => path.push(format!("{key}[{i}]")),
        },
    }
}

fn location(path: &[String]) -> String {
    path.join(".")
}

/// Kong's document as the filter gets it: a string is sent as it is (no meta.json schema: the
/// config must be a JSON string); an object is JSON-encoded by Kong; no config at all is empty.
fn kong_document(config: Option<&Value>) -> Vec<u8> {
    match config {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(other) => other.to_string().into_bytes(),
    }
}

fn kong(v: &Value, path: &mut Vec<String>, out: &mut Vec<Found>) {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("filter_chains", Value::Array(chains)) => {
                        for (i, chain) in chains.iter().enumerate() {
                            step(path, key, Some((i, chain)));
                            let filters = chain.get("filters").and_then(Value::as_array).into_iter().flatten();
                            for (j, filter) in filters.enumerate() {
                                if filter.get("name").and_then(Value::as_str) == Some("dpop_gate") {
                                    path.push(format!("filters[{j}]"));
                                    out.push(kong_found(path, filter));
                                    path.pop();
                                }
                            }
                            path.pop();
                        }
                    }
                    ("plugins", Value::Array(plugins)) => {
                        for (i, plugin) in plugins.iter().enumerate() {
                            if plugin.get("name").and_then(Value::as_str) == Some("dpop_gate") {
                                path.push(format!("{key}[{i}]"));
                                out.push(kong_found(path, plugin));
                                path.pop();
                            }
                        }
                    }
                    (_, Value::Array(items)) => {
                        for (i, item) in items.iter().enumerate() {
                            step(path, key, Some((i, item)));
                            kong(item, path, out);
                            path.pop();
                        }
                    }
                    (_, Value::Object(_)) => {
                        step(path, key, None);
                        kong(child, path, out);
                        path.pop();
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                kong(item, path, out);
            }
        }
        _ => {}
    }
}

fn kong_found(path: &[String], entry: &Value) -> Found {
    Found {
        location: location(path),
        document: kong_document(entry.get("config")),
        problem: None,
        disabled: entry.get("enabled") == Some(&Value::Bool(false)),
    }
}

/// Whether an Envoy Wasm `config` is this filter's: named `dpop_gate`, or loading a
/// `dpop_gate*.wasm`.
fn is_dpop_gate(config: &Value) -> bool {
    let named = |k: &str| config.get(k).and_then(Value::as_str) == Some("dpop_gate");
    let file = config
        .pointer("/vm_config/code/local/filename")
        .and_then(Value::as_str)
        .and_then(|f| f.rsplit('/').next())
        .is_some_and(|base| base.starts_with("dpop_gate") && base.ends_with(".wasm"));
    named("name") || named("root_id") || file
}

fn envoy(v: &Value, path: &mut Vec<String>, out: &mut Vec<Found>) {
    match v {
        Value::Object(map) => {
            if map.get("@type").and_then(Value::as_str) == Some(WASM_TYPE) {
                if let Some(config) = map.get("config").filter(|c| is_dpop_gate(c)) {
                    out.push(envoy_found(path, config));
                }
                return;
            }
            for (key, child) in map {
                match child {
                    Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            step(path, key, Some((i, item)));
                            envoy(item, path, out);
                            path.pop();
                        }
                    }
                    Value::Object(_) => {
                        step(path, key, None);
                        envoy(child, path, out);
                        path.pop();
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                envoy(item, path, out);
            }
        }
        _ => {}
    }
}

/// Envoy hands the filter the `value` of a `StringValue` configuration, or nothing without one.
fn envoy_found(path: &[String], config: &Value) -> Found {
    let mut found = Found { location: location(path), document: Vec::new(), problem: None, disabled: false };
    match config.get("configuration") {
        None => {}
        Some(c) => match (c.get("@type").and_then(Value::as_str), c.get("value")) {
            (Some(STRING_VALUE), Some(Value::String(s))) => found.document = s.as_bytes().to_vec(),
            (Some(STRING_VALUE), None) => {}
            (t, _) => {
                found.problem = Some(format!(
                    "configuration must be a google.protobuf.StringValue holding the filter's JSON (found {})",
                    t.unwrap_or("no @type")
                ))
            }
        },
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_json_is_returned_byte_for_byte_even_when_broken() {
        for text in [&b"{\"issuer\": \"https://x/\"}"[..], b"{\"issuer\": ", b"[1]", b"", b"\xff"] {
            let (kind, found) = find("c.json", text).unwrap();
            assert_eq!(kind, Kind::Filter);
            assert_eq!(
                found,
                vec![Found { location: String::new(), document: text.to_vec(), problem: None, disabled: false }]
            );
        }
    }

    #[test]
    fn kong_filter_chains_and_plugins_at_every_level() {
        let yaml = br#"
_format_version: "3.0"
filter_chains:
  - name: top
    filters: [{name: dpop_gate, config: '{"issuer":"https://a/"}'}]
plugins:
  - {name: dpop_gate, config: {issuer: "https://b/"}}
  - {name: rate-limiting, config: {minute: 5}}
services:
  - name: svc
    routes:
      - name: r1
        filter_chains:
          - filters:
              - {name: other_filter, config: {}}
              - {name: dpop_gate, enabled: false, config: {issuer: "https://c/", audiences: [x]}}
        plugins:
          - {name: dpop_gate}
"#;
        let (kind, found) = find("kong.yaml", yaml).unwrap();
        assert_eq!(kind, Kind::Kong);
        let got: Vec<(&str, String, bool)> = found
            .iter()
            .map(|f| (f.location.as_str(), String::from_utf8_lossy(&f.document).into_owned(), f.disabled))
            .collect();
        assert_eq!(
            got,
            vec![
                ("filter_chains[0](top).filters[0]", r#"{"issuer":"https://a/"}"#.to_string(), false),
                ("plugins[0]", r#"{"issuer":"https://b/"}"#.to_string(), false),
                (
                    "services[0](svc).routes[0](r1).filter_chains[0].filters[1]",
                    r#"{"audiences":["x"],"issuer":"https://c/"}"#.to_string(),
                    true
                ),
                ("services[0](svc).routes[0](r1).plugins[0]", String::new(), false),
            ]
        );
    }

    #[test]
    fn envoy_wasm_filters_named_dpop_gate_only() {
        let yaml = br#"
static_resources:
  listeners:
  - name: main
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: dpop_gate
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{"issuer": "https://a/"}'
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: someone_else
                vm_config: {code: {local: {filename: /x/other.wasm}}}
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                vm_config: {code: {local: {filename: /opt/dpop_gate.wasm}}}
                configuration: {"@type": type.googleapis.com/google.protobuf.BytesValue, value: eyJ9}
"#;
        let (kind, found) = find("envoy.yaml", yaml).unwrap();
        assert_eq!(kind, Kind::Envoy);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].document, br#"{"issuer": "https://a/"}"#);
        assert!(
            found[0].location.starts_with("static_resources.listeners[0](main).filter_chains[0]"),
            "{}",
            found[0].location
        );
        assert!(
            found[0].location.ends_with("http_filters[0](envoy.filters.http.wasm).typed_config"),
            "{}",
            found[0].location
        );
        assert!(found[1].problem.as_deref().is_some_and(|p| p.contains("BytesValue")), "{:?}", found[1]);
    }

    #[test]
    fn broken_yaml_is_an_error_only_for_yaml_files() {
        assert!(matches!(find("kong.yaml", b"services: [\n"), Err(FindError::Yaml(_))));
        assert_eq!(find("c.json", b"services: [\n").unwrap().0, Kind::Filter);
    }
}
