//! The host-independent filter: everything a proxy-wasm filter decides beyond one request's
//! validity (which is [`crate::decision`]), behind a small [`Host`] seam, so that all of it is
//! unit-tested natively against fake hosts that behave like Envoy and like Kong's engine.
//!
//! - [`Worker`]: one configuration on one worker: paused requests, callouts, key refresh, the
//!   headers the upstream gets, what a refusal looks like;
//! - [`caches`]: the verified-token cache and the DPoP proof-key cache;
//! - [`shared`]: everything kept in host shared data and the compare-and-swap protocols over it.
//!
//! The host layer (`src/host/`) only moves bytes between the host's ABI and these types.

use alloc::string::String;
use alloc::vec::Vec;

use crate::decision::cert::CertificateForm;
use crate::decision::challenge::Refusal;

pub mod caches;
pub mod counts;
pub mod introspection;
pub mod shared;
mod worker;

pub use worker::{configure, misconfigured, Configured, SharedDataUnavailable, Worker, SHARED_DATA_UNAVAILABLE};

/// What the filter needs of its host, beyond the request in hand.
pub trait Host {
    /// Host shared data.
    fn store(&self) -> &dyn shared::SharedStore;
    /// Starts a callout to `upstream` (Envoy: a cluster name; Kong: `host:port`) with these
    /// pseudo-headers and headers, and a body for a `POST` (token introspection); a key fetch is a
    /// `GET` without one. Returns its token, or why the host refused it.
    fn dispatch(&mut self, upstream: &str, headers: &[(&str, &str)], body: Option<&[u8]>, timeout_ms: u64)
        -> Result<u32, String>;
    /// Writes a log line.
    fn log(&mut self, level: Level, message: &str);
    /// Adds `n` events to the `dpop_gate_<group><name>` counter. Called from the root context's
    /// tick only: the worker counts events itself ([`counts::Counts`]) and hands them over then.
    fn count(&mut self, group: &'static str, name: &'static str, n: u64);
    /// The current request's method and path, for a refusal's log line when the decision was
    /// made without reading them (a cached-token request reads only `Authorization`).
    fn request_target(&mut self) -> Option<(String, String)>;
    /// The client certificate of the current request's connection, as the host shows it in
    /// `form` ([`HostFacts::certificate`]); `None` or empty without one. Asked for only when a
    /// token is certificate-bound, so other requests cost no host call.
    fn peer_certificate(&mut self, form: CertificateForm) -> Option<String>;
}

/// Log levels, as proxy-wasm has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Details for debugging.
    Debug,
    /// Normal events (refusals of bad credentials are these).
    Info,
    /// Something an operator should look at (keys unavailable, a full replay store).
    Warn,
    /// The filter cannot serve requests as deployed (host shared data unavailable).
    Error,
    /// The filter cannot work as configured.
    Critical,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it after these edits of its headers.
    Allow(Vec<HeaderEdit>),
    /// Answer it with this response.
    Refuse(Refusal),
    /// Hold it: keys are being fetched; it is decided again when they arrive.
    Pause,
}

/// One change to the request headers the upstream receives (names lower-case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    /// Set this header to this value, replacing any copy.
    Set(String, String),
    /// Remove every copy of this header.
    Remove(String),
}

/// What a host does, where hosts differ (measured: `../shared/notes/hosts.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    /// A callback can act on another request (`proxy_set_effective_context`): Envoy yes; Kong's
    /// engine accepts the call and does nothing.
    pub switches_context: bool,
    /// Removing a request header keeps it from the upstream: Envoy yes; Kong's engine only marks
    /// it, and nginx's proxy module forwards it anyway.
    pub removes_request_headers: bool,
    /// Repeated request headers reach the filter joined into one value (Envoy), not apart (Kong).
    /// Envoy joins its inline headers (`Authorization` among them); of a repeated custom header,
    /// a single lookup there returns the first copy alone (seen with two `x-client-cert` copies).
    pub joins_repeated_headers: bool,
    /// A failing `on_configure` leaves the host serving (Envoy rejects the configuration); in
    /// Kong's engine it ends the worker.
    pub survives_failed_configure: bool,
    /// A local response keeps every copy of a repeated header (Envoy); Kong's engine sets each
    /// header in turn, so only the last `WWW-Authenticate` would reach the client.
    pub repeats_response_headers: bool,
    /// How the host shows the connection's client certificate: Envoy as the hex SHA-256 of its
    /// DER (`connection.sha256_peer_certificate_digest`); Kong's engine, where that property is
    /// not implemented, as nginx's `$ssl_client_raw_cert` (PEM).
    pub certificate: CertificateForm,
}

impl HostFacts {
    /// Envoy.
    pub const ENVOY: HostFacts = HostFacts {
        switches_context: true,
        removes_request_headers: true,
        joins_repeated_headers: true,
        survives_failed_configure: true,
        repeats_response_headers: true,
        certificate: CertificateForm::Sha256Hex,
    };
    /// Kong's engine, ngx_wasm_module; also what an unknown host is assumed to do, because each
    /// of these answers is the safe one.
    pub const NGX_WASM: HostFacts = HostFacts {
        switches_context: false,
        removes_request_headers: false,
        joins_repeated_headers: false,
        survives_failed_configure: false,
        repeats_response_headers: false,
        certificate: CertificateForm::Pem,
    };

    /// Tells the host from its answer to the `plugin_vm_id` property, which Envoy answers in
    /// every context and ngx_wasm_module does not implement (its `ngx.*` properties fail outside
    /// a request, so they cannot tell in `on_configure`).
    pub fn detect(plugin_vm_id: Option<&[u8]>) -> HostFacts {
        match plugin_vm_id {
            Some(_) => HostFacts::ENVOY,
            None => HostFacts::NGX_WASM,
        }
    }
}
