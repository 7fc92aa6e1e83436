//! The validation core embedded in a small native host: what it takes to run dpop-gate's
//! decisions somewhere other than a proxy-wasm runtime. The filter's whole engine,
//! `gateway::Worker` (token cache, DPoP proof-key cache, replay store, nonces, the headers the
//! upstream gets, the refusals), runs unchanged; a host supplies only what `gateway::Host` asks
//! for: shared data with get and compare-and-swap (here a map in memory), callouts (none here: every
//! issuer needs static `jwks` in the configuration), logs and counters (stderr), and the facts
//! that tell it how this host treats headers (`HostFacts`).
//!
//! It reads a filter configuration (the same JSON as in Envoy or Kong) and decides requests given
//! on the command line, or one per line on stdin as JSON objects
//! `{"method": ..., "url": ..., "authorization": ..., "dpop": ...}` (the last two optional), all
//! in one worker, so a replayed proof is refused like in the filter:
//!
//! ```text
//! native_host CONFIG.json [--now SECONDS] METHOD URL [AUTHORIZATION [DPOP]]
//! native_host CONFIG.json [--now SECONDS] < requests.jsonl
//! ```
//!
//! For each request it prints the verdict: `allow` and the edits of the request headers the
//! upstream would get (and response headers, if any), or `refuse STATUS`, the response headers
//! (`www-authenticate` ...) and `body ...`; then an empty line. Exit status 0 when every request
//! was allowed, 1 when one was refused, 2 for a usage or configuration error. `--now` decides at
//! that instant (seconds since the epoch) instead of the clock's. The test `tests/examples.rs`
//! runs it; to try it on the benchmark fixtures, a token valid at their `now`:
//!
//! ```text
//! jq '{issuer, audiences: [.audience], jwks}' bench/fixtures.json > /tmp/config.json
//! cargo run --example native_host -- /tmp/config.json --now "$(jq .now bench/fixtures.json)" \
//!   POST https://api.bench.example/webhook "Bearer $(jq -r .token bench/fixtures.json)"
//! ```

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use dpop_gate::config::KeySource;
use dpop_gate::decision::cert::CertificateForm;
use dpop_gate::{
    configure, Configured, HeaderEdit, Host, HostFacts, Level, RequestHeaders, SharedStore, StoreError, Verdict, Worker,
};

/// What this host does where hosts differ: it applies header edits to its own copy of the
/// request, so it can remove headers, and it keeps repeated headers and a local response's
/// repeated headers apart. It has no other requests to switch to, and it reports a bad
/// configuration and stops instead of serving. Its requests come on no TLS connection, so it
/// shows no client certificate (in whatever form).
const FACTS: HostFacts = HostFacts {
    switches_context: false,
    removes_request_headers: true,
    joins_repeated_headers: false,
    survives_failed_configure: true,
    repeats_response_headers: true,
    certificate: CertificateForm::Pem,
};

/// Host shared data in memory, with strict compare-and-swap: a write happens only if the key's
/// version is still the one read (`None`: still absent), the safer of the two semantics the
/// engine is built for (`gateway::shared`).
#[derive(Default)]
struct MemoryStore {
    map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    versions: Cell<u32>,
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
        Ok(match self.map.borrow().get(key) {
            Some((value, version)) => (Some(value.clone()), Some(*version)),
            None => (None, None),
        })
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        let mut map = self.map.borrow_mut();
        if map.get(key).map(|(_, version)| *version) != cas {
            return Err(StoreError::CasMismatch);
        }
        let version = self.versions.get().wrapping_add(1);
        self.versions.set(version);
        map.insert(key.to_string(), (value.to_vec(), version));
        Ok(())
    }
}

/// The host: shared data, and the log lines and counters the engine reports.
#[derive(Default)]
struct NativeHost {
    store: MemoryStore,
    logs: Vec<String>,
    counts: BTreeMap<String, u64>,
    /// The request being decided: method and path.
    target: (String, String),
}

impl Host for NativeHost {
    fn store(&self) -> &dyn SharedStore {
        &self.store
    }

    fn dispatch(
        &mut self,
        upstream: &str,
        _headers: &[(&str, &str)],
        _body: Option<&[u8]>,
        _timeout_ms: u64,
    ) -> Result<u32, String> {
        Err(format!("this host makes no callouts (to {upstream})"))
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push(format!("[{level:?}] {message}"));
    }

    fn count(&mut self, group: &'static str, name: &'static str, n: u64) {
        *self.counts.entry(format!("dpop_gate_{group}{name}")).or_default() += n;
    }

    fn request_target(&mut self) -> Option<(String, String)> {
        Some(self.target.clone())
    }

    /// No TLS connection, no certificate: a certificate-bound token is refused here
    /// (`token_cert_missing`).
    fn peer_certificate(&mut self, _form: CertificateForm) -> Option<String> {
        None
    }
}

/// One request as given.
struct Given {
    method: String,
    url: String,
    authorization: Option<String>,
    dpop: Option<String>,
}

impl Given {
    fn from_json(line: &str) -> Result<Given, String> {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("a request line is not JSON: {e}"))?;
        let field = |name: &str| match v.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("request field `{name}` must be a string")),
        };
        let required = |name: &str| field(name)?.ok_or_else(|| format!("a request line has no `{name}`"));
        Ok(Given {
            method: required("method")?,
            url: required("url")?,
            authorization: field("authorization")?,
            dpop: field("dpop")?,
        })
    }
}

/// `scheme://authority/path?query` into its pseudo-headers' values.
fn split_url(url: &str) -> Result<(&str, &str, &str), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("`{url}` is not an absolute URL"))?;
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(at);
    if scheme.is_empty() || authority.is_empty() {
        return Err(format!("`{url}` has no scheme or no host"));
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

/// 32 random bytes for the DPoP nonce secret, should the configuration ask for nonces without
/// one; `None` (the engine then refuses such a configuration) where the system has no
/// `/dev/urandom`.
fn random_offer() -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).ok()?;
    Some(bytes)
}

/// Runs the command line `args` (without the program name): requests from `args`, else from
/// `input`; verdicts to `out`, the engine's log lines and counters to `err`. `Ok(true)` when
/// every request was allowed.
pub(crate) fn run(
    args: &[String],
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool, String> {
    let usage = "usage: native_host CONFIG.json [--now SECONDS] [METHOD URL [AUTHORIZATION [DPOP]]]";
    let (config_path, mut rest) = args.split_first().ok_or(usage)?;
    let mut now = None;
    if let [flag, value, tail @ ..] = rest {
        if flag == "--now" {
            now = Some(value.parse::<u64>().map_err(|_| format!("--now {value}: expected seconds since the epoch"))?);
            rest = tail;
        }
    }
    let now = match now {
        Some(n) => n,
        None => SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs(),
    };
    let given = match rest {
        [] => {
            let mut all = Vec::new();
            for line in input.lines() {
                let line = line.map_err(|e| format!("stdin: {e}"))?;
                if !line.trim().is_empty() {
                    all.push(Given::from_json(&line)?);
                }
            }
            all
        }
        [method, url, more @ ..] if more.len() <= 2 => {
            vec![Given {
                method: method.clone(),
                url: url.clone(),
                authorization: more.first().cloned(),
                dpop: more.get(1).cloned(),
            }]
        }
        _ => return Err(usage.into()),
    };

    let bytes = std::fs::read(config_path).map_err(|e| format!("{config_path}: {e}"))?;
    let mut worker: Worker = match configure(&bytes, FACTS, random_offer()) {
        Configured::Ready(worker) => *worker,
        Configured::Reject(problem) | Configured::Refusing(problem) => return Err(problem),
    };
    if let Some(issuer) = worker.config().issuers.iter().find(|i| !matches!(i.keys, KeySource::Static(_))) {
        return Err(format!(
            "issuer {}: this host makes no callouts: configure its keys as static `jwks`",
            issuer.issuer
        ));
    }
    let mut host = NativeHost::default();
    worker.init_shared(&mut host).map_err(|_| String::from("this host has no shared data"))?;

    let mut all_allowed = true;
    for (context, g) in (1u32..).zip(&given) {
        let (scheme, authority, path) = split_url(&g.url)?;
        host.target = (g.method.clone(), path.to_string());
        let mut pairs =
            vec![(":method", g.method.as_str()), (":scheme", scheme), (":authority", authority), (":path", path)];
        pairs.extend(g.authorization.as_deref().map(|a| ("authorization", a)));
        pairs.extend(g.dpop.as_deref().map(|d| ("dpop", d)));
        let cfg = worker.config();
        let headers = RequestHeaders::read_for(pairs, &cfg.claims_to_headers, cfg.mtls_certificate_header.as_deref());
        match worker.on_request(&mut host, context, &headers, now) {
            Verdict::Allow(edits) => {
                write(out, "allow".into())?;
                for edit in edits {
                    write(
                        out,
                        match edit {
                            HeaderEdit::Set(name, value) => format!("set {name}: {value}"),
                            HeaderEdit::Remove(name) => format!("remove {name}"),
                        },
                    )?;
                }
                for (name, value) in worker.response_headers(context) {
                    write(out, format!("response {name}: {value}"))?;
                }
            }
            Verdict::Refuse(refusal) => {
                all_allowed = false;
                write(out, format!("refuse {}", refusal.status))?;
                for (name, value) in &refusal.headers {
                    write(out, format!("{name}: {value}"))?;
                }
                write(out, format!("body {}", refusal.body))?;
            }
            // Only a fetch of keys pauses a request, and this host has static keys only.
            Verdict::Pause => return Err("a request paused for keys, which this host cannot fetch".into()),
        }
        write(out, String::new())?;
        worker.on_done(context);
        for line in host.logs.drain(..) {
            write(err, line)?;
        }
    }
    // The worker hands its counts over on a tick (src/gateway/counts.rs): this host's one tick.
    worker.flush_counts(&mut host);
    let counts: Vec<String> = host.counts.iter().map(|(name, n)| format!("{name}={n}")).collect();
    write(err, format!("counters: {}", counts.join(" ")))?;
    Ok(all_allowed)
}

fn write(out: &mut dyn Write, line: String) -> Result<(), String> {
    writeln!(out, "{line}").map_err(|e| format!("output: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = run(&args, &mut std::io::stdin().lock(), &mut std::io::stdout().lock(), &mut std::io::stderr().lock());
    std::process::exit(match result {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(problem) => {
            eprintln!("native_host: {problem}");
            2
        }
    });
}
