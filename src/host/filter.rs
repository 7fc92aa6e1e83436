//! The proxy-wasm glue: host calls only, no validity decisions (those are in [`crate::decision`]).
//!
//! Per worker and per filter configuration there is one [`Worker`]: the parsed configuration, each
//! issuer's key state, the verified-token cache and the requests waiting for keys. The root
//! context owns it and every HTTP context holds a reference.
//!
//! Keys are fetched by whichever context needs them first (an HTTP context on a cold start or an
//! unknown `kid`, the root context on its tick for background refresh), at most one fetch per
//! issuer and worker at a time; requests that need keys meanwhile pause and are resumed when the
//! fetch completes. Fetched key sets are published in host shared data, so other workers adopt
//! them on their next tick or need instead of fetching again.
//!
//! Host differences handled here: Kong cannot switch to another request's context
//! (`proxy_set_effective_context`), so there a waiting request makes its own callout instead of
//! waiting on another's; failed callouts are read the same way for both hosts
//! ([`crate::keys::callout_status`]).

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;
use std::collections::{HashMap, HashSet};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType, MetricType, Status};
use serde_json::Value;

use crate::decision::{self, Keys, Outcome, Request, RequestHeaders, Scheme, State};
use crate::decision::challenge;
use crate::config::Config;
use crate::error::{Error, JwkError, ProofError};
use crate::jose::jwk::Jwk;
use crate::keys::{self, Fetch, FetchError, IssuerKeys, Timing};
use crate::dpop::nonce::{self, Secret};
use crate::gateway::shared::{self, KeySlot, SharedStore, StoreError};
use crate::decision::token::AccessToken;

#[allow(unsafe_code)]
mod entry {
    proxy_wasm::main! {{
        use alloc::boxed::Box;
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
        proxy_wasm::set_root_context(|id| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(super::Root { id, worker: None, tick_set: false })
        });
    }}
}

/// Largest callout response body read.
const MAX_BODY: usize = keys::MAX_JWKS_BYTES;
/// Background tick: adopt keys other workers fetched, refresh, retry lost fetches.
const TICK: Duration = Duration::from_secs(1);
/// DPoP proof keys kept per worker. A precomputed P-256 key is about 9 KiB, so at most ~1.2 MiB;
/// when full the cache is emptied (a flood of new keys costs its senders the cold path only).
const PROOF_KEYS: usize = 128;

fn now() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn log(level: LogLevel, msg: &str) {
    let _ = hostcalls::log(level, msg);
}

/// Counters, defined once per worker; names are prefixed by the host (Envoy `wasmcustom.`, Kong
/// `pw:<filter>:`).
struct Metrics {
    ids: HashMap<(&'static str, &'static str), u32>,
}

impl Metrics {
    /// Counts one `dpop_gate_<name>` event.
    fn inc(&mut self, name: &'static str) {
        self.inc_in("", name);
    }

    /// Counts one refusal, `dpop_gate_refused_<reason>`.
    fn refused(&mut self, reason: &'static str) {
        self.inc_in("refused_", reason);
    }

    fn inc_in(&mut self, group: &'static str, name: &'static str) {
        let id = match self.ids.get(&(group, name)) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Counter, &format!("dpop_gate_{group}{name}")) {
                Ok(id) => {
                    self.ids.insert((group, name), id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// What a callout was for.
#[derive(Clone, Copy)]
enum CalloutKind {
    Discovery,
    Jwks,
}

/// The state of one filter configuration on one worker.
struct Worker {
    cfg: Rc<Config>,
    /// Each issuer's slot in shared data (`None`: static keys), see [`crate::gateway::shared`]: keys are
    /// shared only between configurations with the identical key source.
    slots: Vec<Option<KeySlot>>,
    timing: Timing,
    issuers: Vec<IssuerKeys>,
    /// Shared-data version of the key set each issuer last adopted.
    shared_cas: Vec<Option<u32>>,
    /// Requests paused until an issuer's keys arrive: (context id, issuer index).
    waiters: Vec<(u32, usize)>,
    /// Requests decided `Allow`. Body and trailer callbacks pass only these: a host continues a
    /// request whose headers it holds when a later callback answers `Continue` (Envoy's
    /// `FilterDataStatus::Continue`), so a body arriving while the request waits for keys, or
    /// after a refusal, must not answer `Continue`.
    allowed: HashSet<u32>,
    /// Callouts in flight: token -> (issuer index, kind, the context that made it).
    callouts: HashMap<u32, (usize, CalloutKind, u32)>,
    tokens: HashMap<[u8; 32], Rc<AccessToken>>,
    /// DPoP proof keys of returning clients, by the proof's exact header segment (see
    /// [`crate::dpop::verify_proof_with`]); `true` once precomputed.
    proof_keys: HashMap<String, (Rc<Jwk>, bool)>,
    metrics: Metrics,
    /// Whether the host lets a callback act on another request (Envoy yes, Kong no).
    cross_context: bool,
    /// This worker's offer for the shared DPoP nonce secret (`dpop_nonce` without `secret`), from
    /// WASI `random_get`: both hosts implement it, and std already needs it for `HashMap` keys.
    /// `None` when not needed, or when the host has no random source.
    nonce_offer: Option<[u8; nonce::MIN_SECRET_BYTES]>,
    /// Allowed requests whose response gets a fresh `DPoP-Nonce`: context id -> nonce.
    response_nonces: HashMap<u32, String>,
}

impl Worker {
    fn new(cfg: Config) -> Worker {
        let slots = cfg.issuers.iter().map(KeySlot::for_issuer).collect();
        let timing = Timing {
            refresh: cfg.jwks_refresh,
            min_refetch: cfg.jwks_min_refetch,
            timeout: cfg.http_timeout_ms.div_ceil(1000),
        };
        let issuers: Vec<IssuerKeys> = cfg.issuers.iter().map(|i| IssuerKeys::new(&i.issuer, &i.keys)).collect();
        // Envoy answers `plugin_vm_id` in every context; Kong's engine does not implement it (and
        // refuses its own `ngx.*` properties outside a request, so they cannot tell either). A
        // host that does not answer is treated as unable to switch contexts, which is always
        // safe: each waiting request then makes its own callout and is decided when it returns.
        let cross_context = hostcalls::get_property(vec!["plugin_vm_id"]).ok().flatten().is_some();
        let nonce_offer = match &cfg.dpop_nonce {
            Some(n) if n.secret.is_none() => {
                let mut bytes = [0u8; nonce::MIN_SECRET_BYTES];
                getrandom::fill(&mut bytes).ok().map(|()| bytes)
            }
            _ => None,
        };
        Worker {
            shared_cas: alloc::vec![None; issuers.len()],
            issuers,
            cfg: Rc::new(cfg),
            slots,
            timing,
            waiters: Vec::new(),
            allowed: HashSet::new(),
            callouts: HashMap::new(),
            tokens: HashMap::new(),
            proof_keys: HashMap::new(),
            metrics: Metrics { ids: HashMap::new() },
            cross_context,
            nonce_offer,
            response_nonces: HashMap::new(),
        }
    }

    /// Adopts a key set another worker published, if it is newer than ours. Returns whether the
    /// keys changed.
    fn adopt_shared(&mut self, index: usize) -> bool {
        let Some(slot) = &self.slots[index] else {
            return false;
        };
        let Some((shared, cas)) = slot.read(&HostStore, self.shared_cas[index]) else {
            return false;
        };
        self.shared_cas[index] = cas;
        let adopted = self.issuers[index].adopt(shared);
        if adopted {
            log(LogLevel::Debug, &format!("dpop-gate: adopted shared keys for {}", self.cfg.issuers[index].issuer));
        }
        adopted
    }

    /// Dispatches a fetch from the current context, `owner`. `false` if the host refused it.
    fn dispatch(&mut self, index: usize, fetch: &Fetch, owner: u32) -> bool {
        let url = fetch.url();
        let upstream = self.cfg.issuers[index].upstream.clone().unwrap_or_else(|| url.default_upstream());
        let headers = keys::callout_headers(url);
        let timeout = Duration::from_millis(self.cfg.http_timeout_ms);
        let kind = match fetch {
            Fetch::Discovery(_) => CalloutKind::Discovery,
            Fetch::Jwks(_) => CalloutKind::Jwks,
        };
        self.metrics.inc("jwks_fetches");
        match hostcalls::dispatch_http_call(&upstream, headers.to_vec(), None, Vec::new(), timeout) {
            Ok(token) => {
                self.callouts.insert(token, (index, kind, owner));
                true
            }
            Err(status) => {
                self.metrics.inc("jwks_fetch_failures");
                log(LogLevel::Warn, &format!("dpop-gate: cannot call {upstream} for {url}: {status:?}"));
                let now = now();
                let _ = self.issuers[index].on_jwks(Err(FetchError::Transport(format!("{status:?}"))), now);
                false
            }
        }
    }

    /// The request `owner` ended. The proxy-wasm SDK hands a callout's response to the context
    /// that made it and drops it once that context is gone, so the fetches this request started
    /// (the first request of a cold start, say, whose client gave up) will never complete here.
    /// Forget them, so that the requests still waiting are served by a new fetch on the next tick,
    /// and new requests fetch at once, instead of all waiting for the lost fetch's deadline.
    fn drop_callouts_of(&mut self, owner: u32) {
        let lost: Vec<(u32, usize)> =
            self.callouts.iter().filter(|(_, c)| c.2 == owner).map(|(token, c)| (*token, c.0)).collect();
        for (token, index) in lost {
            self.callouts.remove(&token);
            if !self.callouts.values().any(|c| c.0 == index) {
                self.issuers[index].abandon_fetch();
            }
        }
    }

    /// Handles a callout response, in context `current`; returns the issuer whose fetch finished
    /// (successfully or not), whose waiters can now be decided.
    fn on_callout(&mut self, token: u32, body_size: usize, current: u32) -> Option<usize> {
        let (index, kind, _) = self.callouts.remove(&token)?;
        let headers = hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default();
        let status = keys::callout_status(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let body = status.and_then(|()| {
            if body_size > MAX_BODY {
                return Err(FetchError::TooLarge);
            }
            Ok(hostcalls::get_buffer(proxy_wasm::types::BufferType::HttpCallResponseBody, 0, body_size)
                .ok()
                .flatten()
                .unwrap_or_default())
        });
        let now = now();
        let issuer = self.cfg.issuers[index].issuer.clone();
        match kind {
            CalloutKind::Discovery => {
                match self.issuers[index].on_discovery(body.as_deref().map_err(Clone::clone), now, &self.timing) {
                    Ok(next) => {
                        if self.dispatch(index, &next, current) {
                            return None;
                        }
                    }
                    Err(e) => {
                        self.metrics.inc("jwks_fetch_failures");
                        log(LogLevel::Warn, &format!("dpop-gate: discovery for {issuer} failed: {e}"));
                    }
                }
            }
            CalloutKind::Jwks => match self.issuers[index].on_jwks(body.as_deref().map_err(Clone::clone), now) {
                Ok(()) => {
                    if let (Ok(body), Some(slot)) = (&body, &self.slots[index]) {
                        if let Some(cas) = slot.publish(&HostStore, now, self.issuers[index].jwks_uri(), body) {
                            self.shared_cas[index] = Some(cas);
                        }
                    }
                    log(LogLevel::Info, &format!("dpop-gate: fetched keys for {issuer}"));
                }
                Err(e) => {
                    self.metrics.inc("jwks_fetch_failures");
                    log(LogLevel::Warn, &format!("dpop-gate: JWKS fetch for {issuer} failed: {e}"));
                }
            },
        }
        Some(index)
    }

    /// The key of a DPoP proof: parsed on a client's first proof, precomputed on its second (a
    /// client keeps its key for the token's life; the table makes each ES256 check about twice as
    /// fast), taken from the cache after that.
    fn proof_key(&mut self, header: &str, jwk: &Value) -> Result<Rc<Jwk>, JwkError> {
        if let Some((key, precomputed)) = self.proof_keys.get_mut(header) {
            if !*precomputed {
                let mut table = Jwk::clone(key);
                table.precompute();
                *key = Rc::new(table);
                *precomputed = true;
            }
            return Ok(key.clone());
        }
        let key = Rc::new(Jwk::from_value(jwk)?);
        if self.proof_keys.len() >= PROOF_KEYS {
            self.proof_keys.clear();
        }
        self.proof_keys.insert(String::from(header), (key.clone(), false));
        Ok(key)
    }

    fn cache_token(&mut self, hash: [u8; 32], token: Rc<AccessToken>, now: u64) {
        let cap = self.cfg.token_cache_entries;
        if cap == 0 {
            return;
        }
        if self.tokens.len() >= cap {
            self.tokens.retain(|_, t| t.exp > now);
            if self.tokens.len() >= cap {
                self.tokens.clear();
            }
        }
        self.tokens.insert(hash, token);
    }

    /// Records a proof in the shared replay store (see [`crate::dpop::replay`]).
    fn record_proof(&self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError> {
        shared::record_proof(&HostStore, key, expires_at, now)
    }

    /// The DPoP nonce secret all workers of this host use (see [`shared::nonce_secret`]).
    fn nonce_secret(&self) -> Option<Secret> {
        shared::nonce_secret(&HostStore, self.nonce_offer.as_ref()?)
    }

    /// Whether `index`'s keys are due for their background refresh (see [`IssuerKeys::due`]).
    fn refresh_due(&self, index: usize, now: u64) -> bool {
        let keys = &self.issuers[index];
        keys.keys().is_some()
            && !keys.is_static()
            && !keys.in_flight(now)
            && now >= keys.fetched_at().saturating_add(self.timing.refresh)
    }

    /// Claims `index`'s due background refresh for this root context (see
    /// [`KeySlot::claim_refresh`]).
    fn claim_refresh(&self, index: usize, now: u64) -> bool {
        self.slots[index].as_ref().is_some_and(|slot| slot.claim_refresh(&HostStore, now, now + self.timing.timeout + 1))
    }

    /// Creates the shared entries every later write compare-and-swaps on.
    fn init_shared(&self) {
        shared::init_replay_store(&HostStore);
        for slot in self.slots.iter().flatten() {
            slot.init_refresh_claim(&HostStore);
        }
    }
}

/// Host shared data, through the proxy-wasm ABI.
struct HostStore;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
        hostcalls::get_shared_data(key).map_err(|_| StoreError::Unavailable)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|e| match e {
            Status::CasMismatch => StoreError::CasMismatch,
            _ => StoreError::Unavailable,
        })
    }
}

/// [`State`] for one decision: the worker's caches, at one instant.
struct DecisionState<'w> {
    worker: &'w mut Worker,
    now: u64,
}

impl State for DecisionState<'_> {
    fn keys(&self, index: usize) -> Keys<'_> {
        let issuer = &self.worker.issuers[index];
        match issuer.keys() {
            Some(k) => Keys::Ready(k),
            None if issuer.unavailable(self.now, &self.worker.timing) => Keys::Unavailable,
            None => Keys::Pending,
        }
    }

    fn cached_token(&mut self, hash: &[u8; 32]) -> Option<Rc<AccessToken>> {
        let hit = self.worker.tokens.get(hash).cloned();
        if hit.is_some() {
            self.worker.metrics.inc("token_cache_hits");
        }
        hit
    }

    fn store_token(&mut self, hash: [u8; 32], token: Rc<AccessToken>) {
        self.worker.cache_token(hash, token, self.now);
    }

    fn record_proof(&mut self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError> {
        self.worker.record_proof(key, expires_at, now)
    }

    fn nonce_secret(&mut self) -> Option<Secret> {
        self.worker.nonce_secret()
    }

    fn proof_key(&mut self, header: &str, jwk: &Value) -> Result<Rc<Jwk>, JwkError> {
        self.worker.proof_key(header, jwk)
    }
}

/// Reads the current (effective) request and decides it. Returns `true` to let it through.
/// `resumed`: the request was paused and must be resumed (or answered) explicitly.
fn process(worker_rc: &Rc<RefCell<Worker>>, context_id: u32, resumed: bool) -> bool {
    // Reading the whole header map (every pair copied into the VM and allocated) is most of what a
    // request with a cached token costs here. Without a `DPoP` header the decision needs only
    // `Authorization`, and Envoy keeps repeated `Authorization` values as one (joined with `,`,
    // which the token check refuses), so one value is all there is to see. With a proof (method,
    // path and host are needed, and a repeated `DPoP` header must be seen), and on Kong (which
    // keeps repeated headers apart), the whole map is read.
    let fast = worker_rc.borrow().cross_context
        && hostcalls::get_map_value(MapType::HttpRequestHeaders, "dpop").ok().flatten().is_none();
    let headers = if fast {
        let value = hostcalls::get_map_value(MapType::HttpRequestHeaders, "authorization").ok().flatten();
        value.map(|v| vec![(String::from("authorization"), v)]).unwrap_or_default()
    } else {
        hostcalls::get_map(MapType::HttpRequestHeaders).unwrap_or_default()
    };
    let facts = RequestHeaders::read(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (authorization, dpop, method, path) = (&facts.authorization, &facts.dpop, facts.method, facts.path);
    let now = now();
    let mut worker = worker_rc.borrow_mut();
    let cfg = worker.cfg.clone();
    // Only a DPoP proof is checked against the URI: no allocation for it on other requests.
    let uri = if dpop.is_empty() { None } else { facts.uri(cfg.public_base_url.as_deref()) };
    let req = Request { method, authorization, dpop, uri: uri.as_deref() };

    let mut outcome = decision::authorize(&cfg, &req, &mut DecisionState { worker: &mut worker, now }, now);
    // Keys another worker fetched may already be in shared data: try them before fetching.
    if let Outcome::NeedKeys(index) | Outcome::UnknownKid(index) = outcome {
        if worker.adopt_shared(index) {
            outcome = decision::authorize(&cfg, &req, &mut DecisionState { worker: &mut worker, now }, now);
        }
    }
    let outcome = match outcome {
        Outcome::NeedKeys(index) | Outcome::UnknownKid(index) if worker.issuers[index].is_static() => {
            Outcome::Deny(Outcome::unknown_kid_refusal())
        }
        Outcome::NeedKeys(index) => {
            let timing = worker.timing;
            let fetch = worker.issuers[index].due(now, &timing);
            wait_for_keys(&mut worker, context_id, index, fetch, now).unwrap_or(Outcome::Deny(Error::KeysUnavailable))
        }
        Outcome::UnknownKid(index) => {
            let timing = worker.timing;
            let fetch = worker.issuers[index].refetch_for_unknown_kid(now, &timing);
            wait_for_keys(&mut worker, context_id, index, fetch, now)
                .unwrap_or(Outcome::Deny(Outcome::unknown_kid_refusal()))
        }
        other => other,
    };

    match outcome {
        Outcome::Allow(grant) => {
            worker.metrics.inc("allowed");
            worker.allowed.insert(context_id);
            if let Some(nonce) = grant.nonce {
                worker.response_nonces.insert(context_id, nonce);
            }
            // Upstream gets `Authorization: Bearer <token>` and no `DPoP`. Most clients sent just
            // that: then no host call and no copy of the ~1 KB header.
            let token = bearer(authorization);
            if authorization.first().and_then(|a| a.strip_prefix("Bearer ")) != Some(token) {
                let value = format!("Bearer {token}");
                let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, "authorization", Some(&value));
            }
            if !dpop.is_empty() {
                let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, "dpop", None);
            }
            for ch in &cfg.claims_to_headers {
                let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, &ch.header, None);
            }
            for (name, value) in &grant.headers {
                let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
            }
            if resumed {
                let _ = hostcalls::resume_http_request();
            }
            true
        }
        Outcome::Deny(error) => {
            worker.metrics.refused(error.reason());
            let read = |name| hostcalls::get_map_value(MapType::HttpRequestHeaders, name).ok().flatten();
            let (method_read, path_read) = if fast { (read(":method"), read(":path")) } else { (None, None) };
            let method = method_read.as_deref().unwrap_or(method);
            let path = path_read.as_deref().unwrap_or(path);
            log(
                if matches!(error, Error::KeysUnavailable) { LogLevel::Warn } else { LogLevel::Info },
                &format!("dpop-gate: refused {method} {path}: {} ({error})", error.reason()),
            );
            let used = authorization
                .first()
                .and_then(|a| a.trim_start().split([' ', '\t']).next())
                .and_then(Scheme::from_name);
            let mut refusal = challenge::refusal(&error, used, cfg.dpop, &cfg.dpop_algs);
            if matches!(error, Error::UseNonce) {
                // RFC 9449 section 9: the nonce to retry with.
                if let Some(nonce) = decision::fresh_nonce(&cfg, &mut DecisionState { worker: &mut worker, now }, now) {
                    refusal.headers.push(("dpop-nonce", nonce));
                }
            }
            let hdrs: Vec<(&str, &str)> = refusal.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let _ = hostcalls::send_http_response(u32::from(refusal.status), hdrs, Some(refusal.body.as_bytes()));
            false
        }
        // Paused: resumed by the callout's completion.
        Outcome::NeedKeys(_) | Outcome::UnknownKid(_) => false,
    }
}

/// The token of the single `Authorization` header (the decision already checked its shape).
fn bearer<'a>(authorization: &[&'a str]) -> &'a str {
    authorization.first().and_then(|a| decision::split_authorization(a)).map_or("", |(_, token)| token)
}

/// Pauses the request until `index`'s keys arrive: starts `fetch` if given, else waits for the
/// fetch in flight. `None` when there is nothing to wait for.
fn wait_for_keys(
    worker: &mut Worker,
    context_id: u32,
    index: usize,
    fetch: Option<Fetch>,
    now: u64,
) -> Option<Outcome> {
    let started = match fetch {
        Some(f) => worker.dispatch(index, &f, context_id),
        // Kong cannot resume this request from another context: make its own call.
        None if worker.issuers[index].in_flight(now) && !worker.cross_context => {
            let f = match &worker.cfg.issuers[index].keys {
                crate::config::KeySource::Discovery(u) => Fetch::Discovery(u.clone()),
                crate::config::KeySource::JwksUri(u) => Fetch::Jwks(u.clone()),
                crate::config::KeySource::Static(_) => return None,
            };
            worker.dispatch(index, &f, context_id)
        }
        None => worker.issuers[index].in_flight(now),
    };
    if !started {
        return None;
    }
    worker.waiters.push((context_id, index));
    Some(Outcome::NeedKeys(index))
}

/// Decides every request waiting for `index`'s keys. `current` is the context running now.
fn wake_waiters(worker_rc: &Rc<RefCell<Worker>>, index: usize, current: u32) {
    let waiting: Vec<u32> = {
        let mut w = worker_rc.borrow_mut();
        let (now_ready, rest): (Vec<_>, Vec<_>) = w.waiters.drain(..).partition(|(_, i)| *i == index);
        w.waiters = rest;
        now_ready.into_iter().map(|(c, _)| c).collect()
    };
    let mut unreachable = Vec::new();
    for ctx in waiting {
        // Kong's engine accepts `set_effective_context` and does nothing: acting "on" another
        // request there would decide the current one twice and strand the other.
        let cross_context = worker_rc.borrow().cross_context;
        if ctx == current || cross_context && hostcalls::set_effective_context(ctx).is_ok() {
            process(worker_rc, ctx, true);
        } else {
            // Kong cannot switch to another request: that request made its own callout and is
            // decided when its response arrives, so it keeps waiting.
            unreachable.push((ctx, index));
        }
    }
    worker_rc.borrow_mut().waiters.extend(unreachable);
    let _ = hostcalls::set_effective_context(current);
}

struct Root {
    id: u32,
    worker: Option<Rc<RefCell<Worker>>>,
    tick_set: bool,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        let Some(worker) = self.worker.clone() else {
            return;
        };
        let done = worker.borrow_mut().on_callout(token, body_size, self.id);
        if let Some(index) = done {
            wake_waiters(&worker, index, self.id);
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = hostcalls::get_buffer(proxy_wasm::types::BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let cfg = match Config::parse(&bytes) {
            Ok(cfg) => cfg,
            Err(e) => {
                log(LogLevel::Critical, &format!("dpop-gate: {e}"));
                return false;
            }
        };
        let worker = Worker::new(cfg);
        if worker.cfg.dpop_nonce.as_ref().is_some_and(|n| n.secret.is_none()) && worker.nonce_offer.is_none() {
            log(
                LogLevel::Critical,
                "dpop-gate: invalid configuration: field `dpop_nonce.secret`: the host has no random source \
                 to make one; configure it",
            );
            return false;
        }
        worker.init_shared();
        self.worker = Some(Rc::new(RefCell::new(worker)));
        if !self.tick_set {
            // Kong traps if the period is set twice: once per root context.
            let _ = hostcalls::set_tick_period(TICK);
            self.tick_set = true;
        }
        log(LogLevel::Info, "dpop-gate: configured");
        true
    }

    fn on_tick(&mut self) {
        let Some(worker_rc) = self.worker.clone() else {
            return;
        };
        let now = now();
        let mut ready = Vec::new();
        {
            let mut worker = worker_rc.borrow_mut();
            let timing = worker.timing;
            for index in 0..worker.issuers.len() {
                if worker.adopt_shared(index) {
                    ready.push(index);
                }
                let waiting = worker.waiters.iter().any(|(_, i)| *i == index);
                // Refresh in the background (one root context per refresh); and retry for waiters
                // whose fetch was lost.
                let refresh = !waiting && worker.issuers[index].keys().is_some();
                if waiting || refresh && worker.refresh_due(index, now) && worker.claim_refresh(index, now) {
                    if let Some(fetch) = worker.issuers[index].due(now, &timing) {
                        worker.dispatch(index, &fetch, self.id);
                    }
                }
                if waiting && worker.issuers[index].unavailable(now, &timing) {
                    ready.push(index);
                }
            }
        }
        for index in ready {
            wake_waiters(&worker_rc, index, self.id);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let worker = self.worker.clone()?;
        Some(Box::new(Http { id: context_id, worker }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http {
    id: u32,
    worker: Rc<RefCell<Worker>>,
}

impl Context for Http {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        let done = self.worker.borrow_mut().on_callout(token, body_size, self.id);
        if let Some(index) = done {
            wake_waiters(&self.worker, index, self.id);
        }
    }

    fn on_done(&mut self) -> bool {
        let id = self.id;
        let mut worker = self.worker.borrow_mut();
        worker.waiters.retain(|(c, _)| *c != id);
        worker.allowed.remove(&id);
        worker.response_nonces.remove(&id);
        worker.drop_callouts_of(id);
        true
    }
}

impl Http {
    /// What a body or trailer callback answers: hold everything until the request is allowed.
    fn hold_unless_allowed(&self) -> Action {
        if self.worker.borrow().allowed.contains(&self.id) {
            Action::Continue
        } else {
            Action::Pause
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if process(&self.worker, self.id, false) {
            Action::Continue
        } else {
            Action::Pause
        }
    }

    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        self.hold_unless_allowed()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.hold_unless_allowed()
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // RFC 9449 section 9.1: the client's nonce was from the previous step; here is the next.
        // `try_borrow_mut`: a host that ran this callback for our own local reply from inside
        // `send_http_response` would find the worker borrowed; a refusal has no nonce here anyway,
        // and a panic would abort the VM.
        let nonce = self.worker.try_borrow_mut().ok().and_then(|mut w| w.response_nonces.remove(&self.id));
        if let Some(nonce) = nonce {
            let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, "dpop-nonce", Some(&nonce));
        }
        Action::Continue
    }
}
