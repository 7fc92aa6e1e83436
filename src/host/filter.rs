//! The proxy-wasm contexts: they move bytes between the host's ABI and [`crate::gateway`], which
//! decides everything (and is tested natively against fake hosts). Nothing here branches on what
//! a request means; the only choices are which host call carries a decision out.

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};

use crate::decision::cert::CertificateForm;
use crate::decision::challenge::Refusal;
use crate::decision::RequestHeaders;
use crate::dpop::nonce;
use crate::gateway::shared::{SharedStore, StoreError};
use crate::gateway::{self, Configured, HeaderEdit, Host, HostFacts, Level, Verdict, Worker};
use crate::keys::MAX_JWKS_BYTES;

#[allow(unsafe_code)]
mod entry {
    proxy_wasm::main! {{
        use alloc::boxed::Box;
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
        proxy_wasm::set_root_context(|id| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(super::Root { id, state: None, abi: Default::default(), tick_set: false })
        });
    }}
}

/// Background tick: adopt keys other workers fetched, refresh, retry lost fetches.
const TICK: Duration = Duration::from_secs(1);

/// The host's clock in nanoseconds (0 if it fails), for [`crate::crypto::p256::calibrate`].
#[cfg(not(feature = "rustcrypto"))]
fn now_nanos() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn now() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// [`Host`] over the ABI. Counters are defined once per worker; the host prefixes their names
/// (Envoy `wasmcustom.`, Kong `pw:<filter>:`).
#[derive(Default)]
struct Abi {
    metrics: HashMap<(&'static str, &'static str), u32>,
}

/// Host shared data over the ABI.
struct AbiStore;

impl SharedStore for AbiStore {
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

impl Host for Abi {
    fn store(&self) -> &dyn SharedStore {
        &AbiStore
    }

    fn dispatch(&mut self, upstream: &str, headers: &[(&str, &str)], body: Option<&[u8]>, timeout_ms: u64) -> Result<u32, String> {
        hostcalls::dispatch_http_call(upstream, headers.to_vec(), body, Vec::new(), Duration::from_millis(timeout_ms))
            .map_err(|status| format!("{status:?}"))
    }

    fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
            Level::Critical => LogLevel::Critical,
        };
        let _ = hostcalls::log(level, message);
    }

    fn count(&mut self, group: &'static str, name: &'static str, n: u64) {
        let id = match self.metrics.get(&(group, name)) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Counter, &format!("dpop_gate_{group}{name}")) {
                Ok(id) => *self.metrics.entry((group, name)).or_insert(id),
                Err(_) => return,
            },
        };
        let _ = hostcalls::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
    }

    fn request_target(&mut self) -> Option<(String, String)> {
        let read = |name| hostcalls::get_map_value(MapType::HttpRequestHeaders, name).ok().flatten();
        Some((read(":method")?, read(":path")?))
    }

    fn peer_certificate(&mut self, form: CertificateForm) -> Option<String> {
        let path = match form {
            CertificateForm::Sha256Hex => alloc::vec!["connection", "sha256_peer_certificate_digest"],
            CertificateForm::Pem => alloc::vec!["ngx", "ssl_client_raw_cert"],
        };
        String::from_utf8(hostcalls::get_property(path).ok().flatten()?).ok()
    }
}

/// A root context's configuration: served, or held refusing (see [`Configured::Refusing`]).
enum State {
    Ready(Rc<RefCell<Worker>>),
    Refusing,
}

/// Carries a verdict out in the current (effective) context. `resumed`: the request was paused.
fn apply(verdict: Verdict, resumed: bool) -> Action {
    match verdict {
        Verdict::Allow(edits) => {
            for edit in edits {
                let _ = match &edit {
                    HeaderEdit::Set(name, value) => hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value)),
                    HeaderEdit::Remove(name) => hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None),
                };
            }
            if resumed {
                let _ = hostcalls::resume_http_request();
            }
            Action::Continue
        }
        Verdict::Refuse(refusal) => {
            respond(&refusal);
            Action::Pause
        }
        Verdict::Pause => Action::Pause,
    }
}

fn respond(refusal: &Refusal) {
    let headers: Vec<(&str, &str)> = refusal.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _ = hostcalls::send_http_response(u32::from(refusal.status), headers, Some(refusal.body.as_bytes()));
}

/// Carries out verdicts for paused requests, each in its own context, from context `current`.
/// The worker and the host state are no longer borrowed here: a host that runs a callback of ours
/// from inside `send_http_response` finds them free.
fn apply_all(verdicts: Vec<(u32, Verdict)>, current: u32) {
    let switched = verdicts.iter().any(|(ctx, _)| *ctx != current);
    for (ctx, verdict) in verdicts {
        if ctx == current || hostcalls::set_effective_context(ctx).is_ok() {
            apply(verdict, true);
        }
    }
    if switched {
        let _ = hostcalls::set_effective_context(current);
    }
}

/// A callout's answer, in context `current`.
fn callout_answer(worker: &Rc<RefCell<Worker>>, abi: &Rc<RefCell<Abi>>, token: u32, body_size: usize, current: u32) {
    let headers = hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // MAX_JWKS_BYTES (256 KiB) is above MAX_ANSWER_BYTES: an introspection answer between the two is
    // read and refused by its own bound.
    let body = (body_size <= MAX_JWKS_BYTES).then(|| {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size).ok().flatten().unwrap_or_default()
    });
    let verdicts = worker.borrow_mut().on_callout(&mut *abi.borrow_mut(), token, &headers, body.as_deref(), current, now());
    apply_all(verdicts, current);
}

struct Root {
    id: u32,
    state: Option<State>,
    abi: Rc<RefCell<Abi>>,
    tick_set: bool,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        if let Some(State::Ready(worker)) = &self.state {
            callout_answer(worker, &self.abi, token, body_size, self.id);
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX).ok().flatten().unwrap_or_default();
        let facts = HostFacts::detect(hostcalls::get_property(alloc::vec!["plugin_vm_id"]).ok().flatten().as_deref());
        // The nonce secret a worker offers when none is configured: WASI `random_get`, which both
        // hosts provide (std already uses it to seed HashMap keys).
        let mut offer = [0u8; nonce::MIN_SECRET_BYTES];
        let offer = getrandom::fill(&mut offer).ok().map(|()| offer);
        let mut abi = self.abi.borrow_mut();
        // Once per module: time both forms of P-256's field product in this engine and keep the
        // faster (src/crypto/p256.rs).
        #[cfg(not(feature = "rustcrypto"))]
        if !crate::crypto::p256::product_form_set() {
            if let Some(calibration) = crate::crypto::p256::calibrate(&mut now_nanos) {
                abi.log(Level::Info, &format!("dpop-gate: {calibration}"));
            }
        }
        match gateway::configure(&bytes, facts, offer) {
            Configured::Ready(worker) => {
                // Shared data is opened by the first request, not here: see `Worker::init_shared`.
                self.state = Some(State::Ready(Rc::new(RefCell::new(*worker))));
            }
            Configured::Reject(problem) => {
                abi.log(Level::Critical, &problem);
                return false;
            }
            Configured::Refusing(problem) => {
                abi.log(Level::Critical, &format!("{problem}; every request on this filter is answered 500"));
                self.state = Some(State::Refusing);
            }
        }
        if !self.tick_set {
            // Kong traps if the period is set twice: once per root context.
            let _ = hostcalls::set_tick_period(TICK);
            self.tick_set = true;
        }
        abi.log(Level::Info, "dpop-gate: configured");
        true
    }

    fn on_tick(&mut self) {
        if let Some(State::Ready(worker)) = &self.state {
            let verdicts = worker.borrow_mut().on_tick(&mut *self.abi.borrow_mut(), self.id, now());
            apply_all(verdicts, self.id);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let worker = match self.state.as_ref()? {
            State::Ready(worker) => Some(worker.clone()),
            State::Refusing => None,
        };
        Some(Box::new(Http { id: context_id, worker, abi: self.abi.clone() }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http {
    id: u32,
    /// `None`: the configuration failed; every request is refused.
    worker: Option<Rc<RefCell<Worker>>>,
    abi: Rc<RefCell<Abi>>,
}

impl Context for Http {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        if let Some(worker) = &self.worker {
            callout_answer(worker, &self.abi, token, body_size, self.id);
        }
    }

    fn on_done(&mut self) -> bool {
        if let Some(mut worker) = self.worker.as_ref().and_then(|w| w.try_borrow_mut().ok()) {
            worker.on_done(self.id);
        }
        true
    }
}

impl Http {
    /// Body and trailer callbacks: hold everything until the request is allowed.
    fn hold_unless_allowed(&self) -> Action {
        match &self.worker {
            Some(worker) if worker.borrow().may_continue(self.id) => Action::Continue,
            _ => Action::Pause,
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(worker) = &self.worker else {
            respond(&gateway::misconfigured());
            return Action::Pause;
        };
        fn read(name: &str) -> Option<String> {
            hostcalls::get_map_value(MapType::HttpRequestHeaders, name).ok().flatten()
        }
        let all = worker.borrow().needs_all_headers(|name| read(name).is_some());
        // The whole map, or `Authorization` alone, handed over as it came (no pair built for the
        // one value: two allocations fewer on every such request).
        let (pairs, authorization) = if all {
            (hostcalls::get_map(MapType::HttpRequestHeaders).unwrap_or_default(), None)
        } else {
            (Vec::new(), read("authorization"))
        };
        let verdict = {
            let mut w = worker.borrow_mut();
            let cfg = w.config();
            let pairs = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let pairs = pairs.chain(authorization.as_deref().map(|v| ("authorization", v)));
            let headers = RequestHeaders::read_for(pairs, &cfg.claims_to_headers, cfg.mtls_certificate_header.as_deref());
            w.on_request(&mut *self.abi.borrow_mut(), self.id, &headers, now())
        };
        apply(verdict, false)
    }

    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        self.hold_unless_allowed()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.hold_unless_allowed()
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // `try_borrow_mut`: a host that runs this for our own local reply from inside
        // `send_http_response` would find the worker borrowed; a panic would abort the VM.
        let headers = self.worker.as_ref().and_then(|w| w.try_borrow_mut().ok()).map(|mut w| w.response_headers(self.id));
        for (name, value) in headers.unwrap_or_default() {
            let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(&value));
        }
        Action::Continue
    }
}
