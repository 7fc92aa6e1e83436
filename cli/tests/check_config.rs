//! `dpop-gate check-config`: the filter's parser decides, its message is printed unchanged, and
//! the exit code suits CI (0 all valid, 1 some invalid or none found, 2 unreadable). Runs on the
//! configurations the project ships: kong/kong.yaml, the README's Envoy example, and the test
//! corpus of valid and invalid filter documents.

mod util;

use std::path::{Path, PathBuf};

use dpop_gate::config::Config;
use util::{run_in, TempDir};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn corpus(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/data/configs").join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() > 3, "the {kind} corpus is missing");
    files
}

fn filter_message(document: &[u8]) -> String {
    Config::parse(document).expect_err("an invalid document").to_string()
}

#[test]
fn the_valid_corpus_passes_and_every_invalid_document_gets_the_filters_own_message() {
    let dir = TempDir::new("corpus");
    for file in corpus("valid") {
        let r = run_in(&dir.0, &["check-config", file.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(r.stdout, format!("{}: ok\n", file.display()));
    }
    for file in corpus("invalid").into_iter().chain(corpus("parser_only")) {
        let r = run_in(&dir.0, &["check-config", file.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{r:?}");
        let expected = filter_message(&std::fs::read(&file).unwrap());
        assert_eq!(r.stdout, format!("{}: {expected}\n", file.display()), "the filter's message, unchanged");
    }
}

#[test]
fn kong_declarative_configuration_shipped_is_valid() {
    let dir = TempDir::new("kong");
    let file = root().join("kong/kong.yaml");
    let r = run_in(&dir.0, &["check-config", file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "two dpop_gate filters in kong.yaml: {r:?}");
    assert!(lines[0].ends_with("services[0](partner-webhook).routes[0](partner-webhook).filter_chains[0](partner-webhook-auth).filters[0]: ok"), "{r:?}");
    assert!(
        lines[1].ends_with(
            "services[1](orders-api).routes[0](orders-api).filter_chains[0](orders-api-dpop).filters[0]: ok"
        ),
        "{r:?}"
    );
}

#[test]
fn kong_file_with_a_bad_filter_and_a_bad_plugin_names_each() {
    let dir = TempDir::new("kongbad");
    let file = dir.write(
        "kong.yaml",
        r#"_format_version: "3.0"
services:
  - name: api
    url: http://api.internal
    routes:
      - name: good
        paths: [/good]
        filter_chains:
          - filters:
              - name: dpop_gate
                config: {issuer: "https://idp.example.com/realms/x", dpop: required}
      - name: typo
        paths: [/typo]
        filter_chains:
          - filters:
              - name: dpop_gate
                config: {issuer: "https://idp.example.com/realms/x", audience: [api]}
plugins:
  - name: dpop_gate
    route: {name: good}
    config: '{"issuer": "https://idp.example.com/realms/x", "clock_skew_seconds": 99999}'
"#,
    );
    let r = run_in(&dir.0, &["check-config", &file]);
    assert_eq!(r.code, 1, "{r:?}");
    let typo = filter_message(br#"{"audience":["api"],"issuer":"https://idp.example.com/realms/x"}"#);
    let skew = filter_message(br#"{"issuer": "https://idp.example.com/realms/x", "clock_skew_seconds": 99999}"#);
    assert!(skew.contains("clock_skew_seconds"), "{skew}");
    assert_eq!(
        r.stdout,
        format!(
            "{file}: plugins[0]: {skew}\n\
             {file}: services[0](api).routes[0](good).filter_chains[0].filters[0]: ok\n\
             {file}: services[0](api).routes[1](typo).filter_chains[0].filters[0]: {typo}\n"
        )
    );
}

#[test]
fn the_readme_envoy_example_is_valid_and_a_broken_copy_is_not() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("\n## Envoy\n").expect("README has an Envoy section")..];
    let start = section.find("```yaml\n").unwrap() + 8;
    let yaml = &section[start..start + section[start..].find("```").unwrap()];
    let dir = TempDir::new("envoy");
    let good = dir.write("envoy.yaml", yaml);
    let r = run_in(&dir.0, &["check-config", &good]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    assert!(r.stdout.contains("static_resources.listeners[0](main)"), "{r:?}");

    let broken = dir.write("broken.yaml", &yaml.replace("\"audiences\"", "\"audience\""));
    let r = run_in(&dir.0, &["check-config", &good, &broken]);
    assert_eq!(r.code, 1, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with(&good) && lines[0].ends_with(": ok"), "{r:?}");
    let doc: serde_json::Value = serde_yaml::from_str(&yaml.replace("\"audiences\"", "\"audience\"")).unwrap();
    let at = "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters/0/typed_config/config/configuration/value";
    let expected = filter_message(doc.pointer(at).and_then(|v| v.as_str()).unwrap().as_bytes());
    assert!(expected.contains("`audience`"), "{expected}");
    assert!(lines[1].starts_with(&broken) && lines[1].ends_with(&format!(": {expected}")), "{r:?}");
}

#[test]
fn nothing_to_check_and_unreadable_files() {
    let dir = TempDir::new("none");
    let kong = dir.write("kong.yaml", "_format_version: \"3.0\"\nservices: [{name: a, url: http://a}]\n");
    let r = run_in(&dir.0, &["check-config", &kong]);
    assert_eq!(r.code, 1, "a gateway file without the filter fails the check: {r:?}");
    assert!(r.stdout.contains("Kong declarative configuration with no dpop_gate filter configuration"), "{r:?}");

    let bad_yaml = dir.write("bad.yaml", "services: [\n");
    let r = run_in(&dir.0, &["check-config", &bad_yaml]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("not valid YAML"), "{r:?}");

    let r = run_in(&dir.0, &["check-config", "no-such-file.json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("cannot read no-such-file.json"), "{r:?}");

    let r = run_in(&dir.0, &["check-config"]);
    assert_eq!(r.code, 2, "no file is a usage error: {r:?}");
}
