//! The example native host (`examples/native_host.rs`) against the benchmark fixtures (a
//! Keycloak-like JWKS, token and DPoP proofs, valid at the fixture's `now`): it must go on deciding
//! as the filter does, so that it cannot rot.

#[allow(dead_code)] // its `main`: the tests call `run`
#[path = "../examples/native_host.rs"]
mod native_host;

use serde_json::{json, Value};

fn fixtures() -> Value {
    serde_json::from_str(include_str!("../bench/fixtures.json")).unwrap()
}

/// A configuration file for the fixtures' issuer, with `extra` fields; removed when dropped.
struct ConfigFile(std::path::PathBuf);

impl ConfigFile {
    fn new(name: &str, extra: Value) -> ConfigFile {
        let fx = fixtures();
        let mut cfg = json!({"issuer": fx["issuer"], "audiences": [fx["audience"]], "jwks": fx["jwks"]});
        cfg.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let path = std::env::temp_dir().join(format!("dpop-gate-native-host-{}-{name}.json", std::process::id()));
        std::fs::write(&path, cfg.to_string()).unwrap();
        ConfigFile(path)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the example with these arguments after the configuration and `--now`, and `stdin`.
/// Returns its result, what it printed and what it logged.
fn run(config: &ConfigFile, args: &[&str], stdin: &str) -> (Result<bool, String>, String, String) {
    let now = fixtures()["now"].to_string();
    let mut all = vec![config.0.to_str().unwrap().to_string(), "--now".into(), now];
    all.extend(args.iter().map(|a| a.to_string()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = native_host::run(&all, &mut stdin.as_bytes(), &mut out, &mut err);
    (result, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

fn fx_str(path: &[&str]) -> String {
    let fx = fixtures();
    let v = path.iter().fold(&fx, |v, k| &v[*k]);
    v.as_str().unwrap().to_string()
}

#[test]
fn a_bearer_token_on_the_command_line_is_allowed_unchanged() {
    let cfg = ConfigFile::new("bearer", json!({}));
    let (htm, htu, token) = (fx_str(&["htm"]), fx_str(&["htu"]), fx_str(&["token"]));
    let (result, out, err) = run(&cfg, &[&htm, &htu, &format!("Bearer {token}")], "");
    assert_eq!(result, Ok(true));
    // The client sent `Authorization: Bearer` already: no edit.
    assert_eq!(out, "allow\n\n");
    assert!(err.contains("dpop_gate_allowed=1"), "{err}");
}

#[test]
fn a_dpop_request_is_rewritten_and_its_replay_refused() {
    let cfg = ConfigFile::new("dpop", json!({"dpop_max_age_seconds": 300}));
    let (htm, htu) = (fx_str(&["htm"]), fx_str(&["htu"]));
    let (token, proof) = (fx_str(&["dpop", "ES256", "token"]), fx_str(&["dpop", "ES256", "proof"]));
    let line = json!({"method": htm, "url": htu, "authorization": format!("DPoP {token}"), "dpop": proof}).to_string();
    let (result, out, err) = run(&cfg, &[], &format!("{line}\n\n{line}\n"));
    assert_eq!(result, Ok(false));
    let verdicts: Vec<&str> = out.split("\n\n").collect();
    assert_eq!(verdicts[0], format!("allow\nset authorization: Bearer {token}\nremove dpop"));
    assert!(verdicts[1].starts_with("refuse 401\nwww-authenticate: DPoP algs="), "{out}");
    assert!(verdicts[1].contains(r#"error="invalid_dpop_proof""#), "{out}");
    assert!(err.contains("refused POST /webhook: proof_replay"), "{err}");
}

#[test]
fn no_credentials_get_both_challenges_and_a_forged_token_is_refused() {
    let cfg = ConfigFile::new("refusals", json!({}));
    let (htm, htu, token) = (fx_str(&["htm"]), fx_str(&["htu"]), fx_str(&["token"]));
    let (result, out, _) = run(&cfg, &[&htm, &htu], "");
    assert_eq!(result, Ok(false));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("refuse 401"));
    assert_eq!(lines.next(), Some("www-authenticate: Bearer"));
    assert!(lines.next().unwrap().starts_with("www-authenticate: DPoP algs=\""), "{out}");

    // The payload of another token under this token's signature.
    let mut parts: Vec<&str> = token.split('.').collect();
    let other = fx_str(&["dpop", "RS256", "token"]);
    parts[1] = other.split('.').nth(1).unwrap();
    let (result, out, _) = run(&cfg, &[&htm, &htu, &format!("Bearer {}", parts.join("."))], "");
    assert_eq!(result, Ok(false));
    assert!(out.starts_with("refuse 401\nwww-authenticate: Bearer error=\"invalid_token\""), "{out}");
}

#[test]
fn what_this_host_cannot_serve_is_an_error_not_a_verdict() {
    let fetched = ConfigFile::new("fetched", json!({}));
    std::fs::write(&fetched.0, r#"{"issuer": "https://idp.example"}"#).unwrap();
    let (result, out, _) = run(&fetched, &["GET", "https://api.example/"], "");
    assert!(result.unwrap_err().contains("no callouts"));
    assert_eq!(out, "");

    let bad = ConfigFile::new("bad", json!({}));
    std::fs::write(&bad.0, r#"{"issuer": "https://idp.example", "audience": "x"}"#).unwrap();
    assert!(run(&bad, &["GET", "https://api.example/"], "").0.unwrap_err().contains("did you mean `audiences`?"));

    let cfg = ConfigFile::new("usage", json!({}));
    assert!(run(&cfg, &["GET", "/relative"], "").0.unwrap_err().contains("not an absolute URL"));
    assert!(run(&cfg, &[], "{\"url\": \"https://api.example/\"}\n").0.unwrap_err().contains("no `method`"));
}
