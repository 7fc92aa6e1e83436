//! `dpop-gate`: DPoP proofs and requests, filter configuration checks, and the filter's decision
//! on a token explained. See `dpop-gate --help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use dpop_gate::config::{Config, FetchUrl};
use dpop_gate::decision::Scheme;
use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jwk::Jwk;
use dpop_gate::keys::{self as jwks, FetchError};
use dpop_gate_cli::arg_value;
use dpop_gate_cli::configs::{self, Found};
use dpop_gate_cli::explain::{self, utc, Inputs};
use dpop_gate_cli::http::{self, HttpError, Reply};
use dpop_gate_cli::key::{self, SigningKey};
use dpop_gate_cli::proof::{self, ProofFor};
use serde_json::Value;

const EXIT_CODES: &str = "\
Exit status (each command's --help has its own):
  0  success: printed; answered 1xx-3xx; every configuration valid; the gateway would allow it
  1  a verdict against: answered 4xx/5xx; a configuration invalid; the gateway would refuse it
  2  usage error or unusable input: bad option, unreadable or invalid file, bad URL, no response";
const EXIT_PROOF: &str = "\
Exit status:
  0  printed
  2  usage error or unusable input: unreadable or invalid key file, --alg that does not fit the key,
     bad URL or method, unreadable @FILE";
const EXIT_KEY: &str = "\
Exit status:
  0  printed
  2  unreadable file, not a JWK, or a key the filter would refuse";
const EXIT_REQUEST: &str = "\
Exit status:
  0  answered with a 1xx, 2xx or 3xx status
  1  answered with a 4xx or 5xx status (shown)
  2  usage error or unusable input (bad URL, header, token, key file), or no response (connection
     refused, DNS, TLS, timeout)";
const EXIT_CHECK: &str = "\
Exit status:
  0  every configuration found is valid
  1  some configuration is invalid, or a Kong or Envoy file holds no dpop_gate configuration
  2  usage error, a file that cannot be read, or a .yaml/.yml file that is not YAML";
const EXIT_EXPLAIN: &str = "\
Exit status:
  0  the gateway would forward the request
  1  the gateway would refuse it (its response is shown)
  2  usage error or unusable input: unreadable or invalid configuration (the filter's message),
     bad URL, unreadable @FILE or --jwks";

/// DPoP proofs and requests, filter configuration checks, and why the gateway refuses a token.
///
/// Built on the dpop-gate filter's own validation core: the proofs it makes are checked with the
/// filter's verifier, configurations with the filter's parser, and `explain` runs the filter's
/// decision itself.
#[derive(Parser)]
#[command(name = "dpop-gate", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a DPoP proof (RFC 9449) for one request.
    ///
    /// The proof key is a JWK file, made on first use (mode 0600, ES256 unless --alg says
    /// otherwise) and reused after. Any private JWK works, e.g. the RSA `private.json` written by
    /// jwcrypto. Claims: a random jti, htm, htu (the URL without query and fragment), iat, and
    /// ath/nonce when asked. Header: typ dpop+jwt, alg, and the public jwk.
    #[command(after_help = EXIT_PROOF)]
    Proof(ProofArgs),
    /// Proof keys: the RFC 7638 thumbprint (a DPoP-bound token's cnf.jkt), the public JWK.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Send one request with a fresh DPoP proof; retry once on use_dpop_nonce.
    ///
    /// With --token: `Authorization: DPoP <token>` and a proof with ath (or, with --scheme bearer,
    /// `Authorization: Bearer <token>` and no proof). Without --token: a proof alone, as a token
    /// request to an authorization server sends it (use -u for HTTP Basic client authentication).
    /// A 401 whose challenge says error="use_dpop_nonce" (a resource server) or a 400 whose JSON
    /// error is use_dpop_nonce (an authorization server) is retried once with the DPoP-Nonce it
    /// carries. The status, WWW-Authenticate and DPoP-Nonce go to standard error, the body to
    /// standard output.
    #[command(after_help = EXIT_REQUEST)]
    Request(RequestArgs),
    /// Check filter configurations with the filter's own parser and messages.
    ///
    /// Each FILE is the filter's JSON, a Kong declarative configuration (every dpop_gate filter
    /// in filter_chains, and in plugins as Kong 3.9 allows), or an Envoy configuration (every
    /// envoy.filters.http.wasm whose config names dpop_gate or loads dpop_gate.wasm). YAML or
    /// JSON. Each configuration is reported as "ok" or with the filter's error, unchanged.
    #[command(name = "check-config", after_help = EXIT_CHECK)]
    CheckConfig(CheckArgs),
    /// Explain the gateway's decision on a request: each check, its values, its result, and the
    /// exact response.
    ///
    /// Runs the filter's decision natively. Keys are fetched as the filter fetches them (issuer
    /// discovery, then jwks_uri) unless the configuration holds them or --jwks is given. Times,
    /// skews and both sides of the htu comparison are shown, so a proof "not active yet" (iat
    /// ahead of the gateway's clock) is plain to see.
    #[command(after_help = EXIT_EXPLAIN)]
    Explain(ExplainArgs),
}

#[derive(Args)]
struct KeyArgs {
    /// The proof key: a JWK file, created on first use.
    #[arg(long, env = "DPOP_GATE_KEY", default_value = "dpop-key.json", value_name = "FILE")]
    key: PathBuf,
    /// Signature algorithm: ES256 (default for a new key), ES384, EdDSA, RS256, RS384, RS512,
    /// PS256, PS384, PS512. Must fit an existing key.
    #[arg(long, value_parser = parse_alg)]
    alg: Option<Algorithm>,
}

#[derive(Args)]
struct ProofArgs {
    /// The request URL (htu is this without query and fragment).
    #[arg(long)]
    url: String,
    /// The request method (htm).
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// The access token sent with the proof: adds ath, its SHA-256. `@FILE` reads it from a file.
    #[arg(long, value_name = "TOKEN")]
    ath: Option<String>,
    /// A server nonce (from a DPoP-Nonce header) to include.
    #[arg(long)]
    nonce: Option<String>,
    /// Seconds added to iat: e.g. -5 back-dates the proof for a server whose clock is behind.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_name = "SECONDS")]
    iat_offset: i64,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Print the RFC 7638 SHA-256 thumbprint of a JWK (private or public) file.
    #[command(after_help = EXIT_KEY)]
    Thumbprint {
        /// The JWK file.
        file: PathBuf,
    },
    /// Print the public JWK of a private JWK file (what a DPoP proof header carries).
    #[command(after_help = EXIT_KEY)]
    Public {
        /// The private JWK file.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemeArg {
    /// `Authorization: DPoP`, with a proof.
    Dpop,
    /// `Authorization: Bearer`, no proof.
    Bearer,
}

#[derive(Args)]
struct RequestArgs {
    /// The URL.
    #[arg(long)]
    url: String,
    /// The method; default GET, or POST with --data.
    #[arg(long = "request", short = 'X', value_name = "METHOD")]
    method: Option<String>,
    /// The request body (sent as is; content-type application/x-www-form-urlencoded unless a -H
    /// says otherwise). `@FILE` reads it from a file.
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// An extra header, `Name: value`; repeatable.
    #[arg(long = "header", short = 'H', value_name = "HEADER")]
    headers: Vec<String>,
    /// The access token. `@FILE` reads it from a file.
    #[arg(long)]
    token: Option<String>,
    /// How to send the token.
    #[arg(long, value_enum, default_value = "dpop")]
    scheme: SchemeArg,
    /// HTTP Basic client authentication, `CLIENT_ID:SECRET` (RFC 6749 section 2.3.1).
    #[arg(long, short = 'u', value_name = "ID:SECRET", conflicts_with = "token")]
    user: Option<String>,
    /// A server nonce for the first proof.
    #[arg(long)]
    nonce: Option<String>,
    /// Seconds added to each proof's iat (negative: in the past).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_name = "SECONDS")]
    iat_offset: i64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
    /// Also show each request sent (method, URL, headers, the proof in full) on standard error.
    #[arg(long, short = 'v')]
    verbose: bool,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Args)]
struct CheckArgs {
    /// Files to check (filter JSON, Kong declarative YAML/JSON, Envoy YAML/JSON).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct ExplainArgs {
    /// The filter configuration: its JSON, or a Kong or Envoy file holding it.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Which configuration of a Kong or Envoy file, as `check-config` prints its location
    /// (needed when the file holds several).
    #[arg(long, value_name = "LOCATION")]
    at: Option<String>,
    /// The access token. `@FILE` reads it from a file.
    #[arg(long)]
    token: String,
    /// The Authorization scheme the client uses; default DPoP with --proof, else Bearer.
    #[arg(long, value_enum)]
    scheme: Option<SchemeArg>,
    /// The DPoP header the client sends. `@FILE` reads it from a file.
    #[arg(long, requires = "url")]
    proof: Option<String>,
    /// The request method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// The URL the client requests: its scheme, host (the Host header) and path are what the
    /// gateway compares with htu (public_base_url replaces scheme and host when configured).
    #[arg(long)]
    url: Option<String>,
    /// Use the keys of this JWK set file instead of fetching the issuer's.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// Decide at this time (seconds since 1970) instead of now.
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
}

/// A usage error or unusable input: exit 2 with this message.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(s).map_err(|_| {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        format!("unknown algorithm {s:?}; one of {}", names.join(", "))
    })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn text_arg(arg: &str, what: &str) -> Result<String, Fatal> {
    let bytes = arg_value(arg, true).map_err(|e| Fatal(format!("cannot read {what}: {e}")))?;
    String::from_utf8(bytes).map_err(|_| Fatal(format!("{what} is not UTF-8 text")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Proof(a) => cmd_proof(a),
        Command::Key(k) => cmd_key(k),
        Command::Request(a) => cmd_request(a),
        Command::CheckConfig(a) => cmd_check(a),
        Command::Explain(a) => cmd_explain(a),
    };
    match result {
        Ok(code) => code,
        Err(Fatal(msg)) => {
            eprintln!("dpop-gate: {msg}");
            ExitCode::from(2)
        }
    }
}

/// The proof key, made if missing (said on standard error), with a warning if others can read it.
fn proof_key(k: &KeyArgs) -> Result<SigningKey, Fatal> {
    let (key, created) = key::load_or_create(&k.key, k.alg)?;
    if created {
        eprintln!(
            "dpop-gate: created {} key {} (mode 0600), thumbprint {}",
            key.alg.name(),
            k.key.display(),
            key.thumbprint()?
        );
    } else if let Some(w) = key::permission_warning(&k.key) {
        eprintln!("dpop-gate: {w}");
    }
    Ok(key)
}

fn cmd_proof(a: ProofArgs) -> Result<ExitCode, Fatal> {
    // Every input first: a refused command must not leave a new key file behind.
    proof::htu_of(&a.url)?;
    proof::check_method(&a.method)?;
    let ath = a.ath.as_deref().map(|t| text_arg(t, "--ath")).transpose()?;
    let key = proof_key(&a.key)?;
    let what = ProofFor {
        method: &a.method,
        url: &a.url,
        access_token: ath.as_deref(),
        nonce: a.nonce.as_deref(),
        iat_offset: a.iat_offset,
    };
    println!("{}", proof::make_proof(&key, key.alg, &what, now())?);
    Ok(ExitCode::SUCCESS)
}

fn cmd_key(k: KeyCommand) -> Result<ExitCode, Fatal> {
    match k {
        KeyCommand::Thumbprint { file } => {
            let text =
                std::fs::read(&file).map_err(|e| Fatal(format!("cannot read key file {}: {e}", file.display())))?;
            let jwk: Value = serde_json::from_slice(&text)
                .map_err(|e| Fatal(format!("key file {} is not a JWK (a JSON object): {e}", file.display())))?;
            let thumbprint = if jwk.get("d").is_some() {
                SigningKey::from_jwk(&jwk)?.thumbprint()?
            } else {
                Jwk::from_value(&jwk).map_err(|e| Fatal(format!("{}: {e}", file.display())))?.thumbprint()
            };
            println!("{thumbprint}");
        }
        KeyCommand::Public { file } => {
            let key = key::load(&file)?;
            println!("{}", key.public_jwk());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `application/x-www-form-urlencoded`, as RFC 6749 section 2.3.1 asks of Basic credentials.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether the answer asks for a DPoP nonce: RFC 9449 section 9 (resource server, 401 with a
/// DPoP challenge) or section 8 (authorization server, 400 with a JSON error).
fn wants_nonce(r: &Reply) -> bool {
    let challenge = r.all("www-authenticate").any(|c| {
        c.trim_start().get(..4).is_some_and(|s| s.eq_ignore_ascii_case("dpop"))
            && c.contains("error=\"use_dpop_nonce\"")
    });
    let body_error = || {
        serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| v.get("error").cloned())
            == Some(Value::from("use_dpop_nonce"))
    };
    r.header("dpop-nonce").is_some() && ((r.status == 401 && challenge) || (r.status == 400 && body_error()))
}

fn cmd_request(a: RequestArgs) -> Result<ExitCode, Fatal> {
    proof::htu_of(&a.url)?;
    let method = a.method.clone().unwrap_or_else(|| if a.data.is_some() { "POST" } else { "GET" }.to_string());
    proof::check_method(&method)?;
    let token = a.token.as_deref().map(|t| text_arg(t, "--token")).transpose()?;
    if let Some(t) = &token {
        if t.is_empty() {
            return Err(Fatal("--token is empty".into()));
        }
        if !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)) {
            return Err(Fatal("--token is not a token68 (an access token has no spaces or other characters an Authorization header cannot carry)".into()));
        }
    }
    let body = a
        .data
        .as_deref()
        .map(|d| arg_value(d, false))
        .transpose()
        .map_err(|e| Fatal(format!("cannot read --data: {e}")))?;
    let mut headers = Vec::new();
    for h in &a.headers {
        let (name, value) =
            h.split_once(':').ok_or_else(|| Fatal(format!("bad header {h:?}: it must be `Name: value`")))?;
        let name = name.trim().to_string();
        if name.eq_ignore_ascii_case("authorization") && (token.is_some() || a.user.is_some()) {
            return Err(Fatal("an Authorization header together with --token or -u: choose one".into()));
        }
        if name.eq_ignore_ascii_case("dpop") {
            return Err(Fatal("-H DPoP: the proof is made by this command".into()));
        }
        headers.push((name, value.trim().to_string()));
    }
    // As curl does: a body without a stated type is a form (what a token request sends).
    if body.is_some() && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
        headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    }
    if let Some(user) = &a.user {
        let (id, secret) = user.split_once(':').ok_or_else(|| Fatal("-u must be CLIENT_ID:SECRET".into()))?;
        let basic = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", form_encode(id), form_encode(secret)),
        );
        headers.push(("authorization".into(), format!("Basic {basic}")));
    }
    let with_proof = token.is_none() || matches!(a.scheme, SchemeArg::Dpop);
    let key = if with_proof { Some(proof_key(&a.key)?) } else { None };
    if let (Some(t), SchemeArg::Bearer) = (&token, a.scheme) {
        headers.push(("authorization".into(), format!("Bearer {t}")));
    } else if let Some(t) = &token {
        headers.push(("authorization".into(), format!("DPoP {t}")));
    }

    let agent = http::agent(Duration::from_secs(a.timeout));
    let mut nonce = a.nonce.clone();
    let mut attempt = 0;
    let reply = loop {
        attempt += 1;
        let mut hdrs = headers.clone();
        if let Some(key) = &key {
            let what = ProofFor {
                method: &method,
                url: &a.url,
                access_token: token.as_deref(),
                nonce: nonce.as_deref(),
                iat_offset: a.iat_offset,
            };
            hdrs.push(("dpop".into(), proof::make_proof(key, key.alg, &what, now())?));
        }
        if a.verbose {
            eprintln!("> {method} {}", a.url);
            for (name, value) in &hdrs {
                eprintln!("> {}: {value}", name.to_ascii_lowercase());
            }
        }
        let reply = http::send(&agent, &method, &a.url, &hdrs, body.as_deref(), 16 * 1024 * 1024)?;
        show_reply(&reply);
        if attempt == 1 && key.is_some() && wants_nonce(&reply) {
            nonce = reply.header("dpop-nonce").map(str::to_string);
            eprintln!("dpop-gate: the server asks for a DPoP nonce: retrying once with it");
            continue;
        }
        break reply;
    };
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(&reply.body);
    if !reply.body.ends_with(b"\n") && !reply.body.is_empty() {
        let _ = out.write_all(b"\n");
    }
    Ok(if reply.status < 400 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn show_reply(r: &Reply) {
    eprintln!("HTTP {}", r.status);
    for (name, value) in &r.headers {
        if name == "www-authenticate" || name == "dpop-nonce" {
            eprintln!("{name}: {value}");
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Fatal> {
    if path == Path::new("-") {
        return arg_value("@-", false).map_err(|e| Fatal(format!("cannot read standard input: {e}")));
    }
    std::fs::read(path).map_err(|e| Fatal(format!("cannot read {}: {e}", path.display())))
}

/// The filter's verdict on one found configuration, as the filter would log it.
fn verdict(found: &Found) -> Result<Config, String> {
    if let Some(p) = &found.problem {
        return Err(p.clone());
    }
    Config::parse(&found.document).map_err(|e| e.to_string())
}

fn cmd_check(a: CheckArgs) -> Result<ExitCode, Fatal> {
    let mut bad = false;
    for path in &a.files {
        let bytes = read_file(path)?;
        let name = path.display().to_string();
        let (kind, found) = configs::find(&name, &bytes).map_err(|e| Fatal(format!("{name}: {e}")))?;
        if found.is_empty() {
            println!("{name}: {kind} with no dpop_gate filter configuration");
            bad = true;
            continue;
        }
        for f in &found {
            let place = if f.location.is_empty() { name.clone() } else { format!("{name}: {}", f.location) };
            let disabled = if f.disabled { " (disabled)" } else { "" };
            match verdict(f) {
                Ok(_) => println!("{place}{disabled}: ok"),
                Err(e) => {
                    println!("{place}{disabled}: {e}");
                    bad = true;
                }
            }
        }
    }
    Ok(if bad { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The one configuration `explain` is about.
fn explain_config(a: &ExplainArgs) -> Result<(Config, String), Fatal> {
    let bytes = read_file(&a.config)?;
    let name = a.config.display().to_string();
    let (kind, found) = configs::find(&name, &bytes).map_err(|e| Fatal(format!("{name}: {e}")))?;
    let chosen: Vec<&Found> = found.iter().filter(|f| a.at.as_deref().is_none_or(|at| f.location == at)).collect();
    let f = match chosen.as_slice() {
        [one] => *one,
        [] if a.at.is_some() => {
            return Err(Fatal(format!(
                "{name}: no dpop_gate configuration at {:?}",
                a.at.as_deref().unwrap_or_default()
            )))
        }
        [] => return Err(Fatal(format!("{name}: {kind} with no dpop_gate filter configuration"))),
        many => {
            let list: Vec<&str> = many.iter().map(|f| f.location.as_str()).collect();
            return Err(Fatal(format!(
                "{name} holds {} configurations: choose one with --at, one of\n  {}",
                many.len(),
                list.join("\n  ")
            )));
        }
    };
    let place = if f.location.is_empty() { name } else { format!("{name}: {}", f.location) };
    let cfg = verdict(f).map_err(|e| Fatal(format!("{place}: {e}")))?;
    Ok((cfg, place))
}

fn cmd_explain(a: ExplainArgs) -> Result<ExitCode, Fatal> {
    let (cfg, place) = explain_config(&a)?;
    let token = text_arg(&a.token, "--token")?;
    let proof = a.proof.as_deref().map(|p| text_arg(p, "--proof")).transpose()?;
    if let Some(url) = &a.url {
        FetchUrl::parse(url)
            .ok_or_else(|| Fatal(format!("bad URL {url:?}: it must be an absolute http:// or https:// URL")))?;
    }
    proof::check_method(&a.method)?;
    let jwks = match &a.jwks {
        None => None,
        Some(path) => Some(jwks::parse_jwks(&read_file(path)?).map_err(|e| Fatal(format!("{}: {e}", path.display())))?),
    };
    let scheme = match (a.scheme, &proof) {
        (Some(SchemeArg::Bearer), _) => Scheme::Bearer,
        (Some(SchemeArg::Dpop), _) | (None, Some(_)) => Scheme::Dpop,
        (None, None) => Scheme::Bearer,
    };
    let now = a.now.unwrap_or_else(now);

    let issuers: Vec<&str> = cfg.issuers.iter().map(|i| i.issuer.as_str()).collect();
    println!("configuration: {place}");
    println!(
        "  issuer {}; dpop {}; clock_skew_seconds {}; dpop_max_age_seconds {}",
        issuers.join(", "),
        match cfg.dpop {
            dpop_gate::config::DpopMode::Optional => "optional",
            dpop_gate::config::DpopMode::Required => "required",
            dpop_gate::config::DpopMode::Disabled => "disabled",
        },
        cfg.clock_skew,
        cfg.dpop_max_age
    );
    let scheme_name = if scheme == Scheme::Dpop { "DPoP" } else { "Bearer" };
    println!(
        "request: {} {}\n  authorization: {scheme_name} <token, {} bytes>{}",
        a.method,
        a.url.as_deref().unwrap_or("(no --url)"),
        token.len(),
        proof.as_ref().map_or(String::new(), |p| format!("\n  dpop: <proof, {} bytes>", p.len()))
    );
    println!("time: {now} ({})\n", utc(now));

    let agent = http::agent(Duration::from_millis(cfg.http_timeout_ms));
    let mut fetch = |url: &FetchUrl, max: usize| -> Result<Vec<u8>, FetchError> {
        let accept = [("accept".to_string(), "application/json".to_string())];
        match http::send(&agent, "GET", &url.to_string(), &accept, None, max as u64 + 1) {
            Ok(r) if r.status == 200 => Ok(r.body),
            Ok(r) => Err(FetchError::Status(r.status)),
            Err(HttpError::TooLarge(_)) => Err(FetchError::TooLarge),
            Err(e) => Err(FetchError::Transport(e.to_string())),
        }
    };
    let inputs = Inputs {
        config: &cfg,
        token: &token,
        scheme,
        proof: proof.as_deref(),
        method: &a.method,
        url: a.url.as_deref(),
        jwks,
        now,
    };
    let out = explain::explain(&inputs, &mut fetch);
    print!("{}", out.text);
    Ok(if out.allowed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded() {
        assert_eq!(form_encode("webhook partner:x/y"), "webhook+partner%3Ax%2Fy");
        assert_eq!(form_encode("a-b.c_d*"), "a-b.c_d*");
    }

    #[test]
    fn nonce_is_asked_by_a_dpop_challenge_or_an_authorization_server_error() {
        let reply = |status, headers: &[(&str, &str)], body: &str| Reply {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        };
        let rs = [("www-authenticate", "DPoP algs=\"ES256\", error=\"use_dpop_nonce\""), ("dpop-nonce", "n")];
        assert!(wants_nonce(&reply(401, &rs, "")));
        assert!(!wants_nonce(&reply(401, &rs[..1], "")), "no nonce to retry with");
        assert!(!wants_nonce(&reply(
            401,
            &[("www-authenticate", "DPoP error=\"invalid_dpop_proof\""), ("dpop-nonce", "n")],
            ""
        )));
        assert!(wants_nonce(&reply(400, &[("dpop-nonce", "n")], r#"{"error":"use_dpop_nonce"}"#)));
        assert!(!wants_nonce(&reply(400, &[("dpop-nonce", "n")], r#"{"error":"invalid_grant"}"#)));
    }
}
