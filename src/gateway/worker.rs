//! One filter configuration on one worker: the state and every decision the proxy-wasm contexts
//! used to take themselves, behind the [`Host`] seam so that all of it is tested natively.
//!
//! Keys are fetched by whichever context needs them first (a request on a cold start or an unknown
//! `kid`, the root context on its tick for background refresh), at most one fetch per issuer and
//! worker at a time on a host that can resume a request from another context (Envoy). Requests
//! that need keys meanwhile pause, their headers kept, and are decided again when the fetch
//! completes. On a host that cannot act on another request (Kong's engine accepts
//! `proxy_set_effective_context` and does nothing), every paused request owns a callout and is
//! decided when that callout's answer arrives in its own context. Fetched key sets are published in
//! host shared data ([`crate::gateway::shared`]), so other workers adopt them instead of fetching.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::caches::{ProofKeys, TokenCache};
use super::counts::Counts;
use super::introspection::{AnswerCache, AnswerSlots};
use super::shared::{self, KeySlot, SharedReplay};
use super::{HeaderEdit, Host, HostFacts, Level, Verdict};
use crate::config::{Config, DpopMode, IssuerConfig, KeySource};
use crate::decision::introspection::{self, Answer};
use crate::decision::cert::{self, Thumbprint};
use crate::decision::challenge::{self, Refusal};
use crate::decision::token::AccessToken;
use crate::decision::token::TokenPolicy;
use crate::decision::{self, Grant, Introspected, Keys, Outcome, Request, RequestHeaders, Scheme, State};
use crate::dpop::nonce::{self, Secret};
use crate::dpop::replay;
use crate::error::{Error, JwkError, ProofError, RequestError};
use crate::jose::jwk::Jwk;
use crate::keys::{self, Fetch, FetchError, IssuerKeys, Timing};

/// DPoP proof keys kept per worker: a precomputed P-256 key is about 18 KiB, so at most ~2.4 MiB.
const PROOF_KEYS: usize = 128;
/// Seconds a paused request may wait beyond the callout timeout before it is refused (503).
const WAIT_MARGIN: u64 = 2;

/// What a callout was for.
#[derive(Debug, Clone, Copy)]
enum CalloutKind {
    Discovery,
    Jwks,
    /// Introspection of the token with this digest.
    Introspection([u8; 32]),
    /// The discovery document, for its `introspection_endpoint`, before introspecting the token
    /// with this digest.
    IntrospectionDiscovery([u8; 32]),
}

impl CalloutKind {
    /// Whether this call is for introspection (not for keys).
    fn asks_about_a_token(&self) -> bool {
        matches!(self, CalloutKind::Introspection(_) | CalloutKind::IntrospectionDiscovery(_))
    }

    /// Whether this call is on the way to an answer about the token with `digest`.
    fn asks_about(&self, digest: &[u8; 32]) -> bool {
        matches!(self, CalloutKind::Introspection(d) | CalloutKind::IntrospectionDiscovery(d) if d == digest)
    }
}

/// A request paused until an issuer's keys arrive, with what the decision needs of it.
#[derive(Debug)]
struct Waiter {
    context: u32,
    issuer: usize,
    /// `Some`: it waits for the introspection of the token with this digest, not for keys.
    digest: Option<[u8; 32]>,
    since: u64,
    headers: OwnedHeaders,
}

impl Waiter {
    /// The token its request presented: what an introspection call about it asks.
    fn token(&self) -> Option<&str> {
        decision::split_authorization(self.headers.authorization.first()?).map(|(_, t)| t)
    }
}

/// An owned copy of [`RequestHeaders`], kept while a request waits.
#[derive(Debug, Clone, Default)]
struct OwnedHeaders {
    authorization: Vec<String>,
    dpop: Vec<String>,
    method: String,
    path: String,
    scheme: Option<String>,
    authority: Option<String>,
    host: Option<String>,
    claim_copies: Vec<usize>,
    certificate: Vec<String>,
}

impl OwnedHeaders {
    fn of(h: &RequestHeaders<'_>) -> OwnedHeaders {
        let own = |v: &[&str]| v.iter().map(|s| String::from(*s)).collect();
        OwnedHeaders {
            authorization: own(&h.authorization),
            dpop: own(&h.dpop),
            method: String::from(h.method),
            path: String::from(h.path),
            scheme: h.scheme.map(String::from),
            authority: h.authority.map(String::from),
            host: h.host.map(String::from),
            claim_copies: h.claim_copies.clone(),
            certificate: own(&h.certificate),
        }
    }

    fn borrow(&self) -> RequestHeaders<'_> {
        RequestHeaders {
            authorization: self.authorization.iter().map(String::as_str).collect(),
            dpop: self.dpop.iter().map(String::as_str).collect(),
            method: &self.method,
            path: &self.path,
            scheme: self.scheme.as_deref(),
            authority: self.authority.as_deref(),
            host: self.host.as_deref(),
            claim_copies: self.claim_copies.clone(),
            certificate: self.certificate.iter().map(String::as_str).collect(),
        }
    }
}

/// One issuer's state on this worker, at its index in the configuration's `issuers`. Kept in one
/// place so that one lookup (`get`, never an index) finds all of it or, for an index the worker
/// did not make, none of it.
#[derive(Debug)]
struct Issuer {
    keys: IssuerKeys,
    /// Its slot in shared data (`None`: static keys).
    slot: Option<KeySlot>,
    /// Shared-data version of the key set it last adopted or published.
    shared_cas: Option<u32>,
    /// Its introspection answers' slots in shared data (`None`: no introspection, or static keys).
    answers: Option<AnswerSlots>,
}

/// The state of one filter configuration on one worker.
#[derive(Debug)]
pub struct Worker {
    cfg: Rc<Config>,
    facts: HostFacts,
    timing: Timing,
    /// Each configured issuer, in the configuration's order.
    issuers: Vec<Issuer>,
    waiters: Vec<Waiter>,
    /// Requests decided `Allow`. Body and trailer callbacks pass only these: a host continues a
    /// request whose headers it holds when a later callback answers `Continue`, so a body arriving
    /// while the request waits for keys, or after a refusal, must be held.
    allowed: BTreeSet<u32>,
    /// Callouts in flight: token -> (issuer index, kind, the context that made it).
    callouts: BTreeMap<u32, (usize, CalloutKind, u32)>,
    tokens: TokenCache,
    proof_keys: ProofKeys,
    /// This worker's offer for the shared DPoP nonce secret (`dpop_nonce` without `secret`).
    nonce_offer: Option<[u8; nonce::MIN_SECRET_BYTES]>,
    /// Allowed requests whose response gets a fresh `DPoP-Nonce`: context id -> nonce.
    response_nonces: BTreeMap<u32, String>,
    /// This worker's offer for the replay store's location secret, from the host's random bytes.
    replay_offer: [u8; replay::SECRET_LEN],
    /// The host's replay store, opened by the first proof to record ([`Worker::replay_store`]).
    replay: ReplayStore,
    /// Whether host shared data was opened ([`Worker::init_shared`]).
    shared: SharedData,
    /// Counter events not yet handed to the host (at the next tick: [`Worker::flush_counts`]).
    counts: Counts,
    /// Introspection answers, by token digest.
    answers: AnswerCache,
    /// The answer that just arrived, while the requests that waited for it are decided: they use
    /// it whatever the cache keeps (`cache_seconds: 0` keeps nothing, and they must not ask again).
    fresh: Option<([u8; 32], Introspected)>,
}

/// Whether a worker has opened host shared data. It is opened by the first request that needs it,
/// never when a root context starts (`on_configure`, `on_tick`): Kong's engine traps a shared-data
/// call whose zone does not exist (no `shm_kv dpop_gate` zone, and no `*` zone), and a trap in a
/// root context's startup ends the worker, so every route of the server, filtered or not, would
/// stop answering. In a request the same trap fails that request alone (500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SharedData {
    /// Not tried yet.
    Closed,
    /// Opened: every shared-data protocol may run.
    Open,
    /// The host answered that it has no shared data for the filter; tried again by every request.
    Unavailable,
}

/// The host's replay store as this worker holds it. Opened by the first proof that verified, not
/// with the rest of shared data by the first request: opening reads every bucket (32 768 gets) and
/// creates the absent ones, 4.5 MiB of shared data in Envoy, which a configuration that accepts
/// proofs but is sent only Bearer tokens never needs. Nothing is weaker for it: no proof is
/// accepted before its key is recorded in an opened store, and the buckets are created with the
/// same compare-and-swap protocol whenever that happens ([`SharedReplay::open`]).
#[derive(Debug)]
enum ReplayStore {
    /// No proof has needed it yet.
    Unopened,
    /// Opened: proofs are recorded in it.
    Open(SharedReplay),
    /// It did not open (bucket 0 holds no bucket, or the host failed a call): every proof is
    /// refused for the rest of this worker's life (fail closed), as when it fails at startup.
    Unavailable,
}

/// The host has no shared data for a configuration that needs it ([`Worker::init_shared`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedDataUnavailable;

/// The error-level line logged when a worker finds shared data unavailable, once per worker.
pub const SHARED_DATA_UNAVAILABLE: &str = "dpop-gate: host shared data is unavailable (Kong's engine: no `shm_kv` \
     zone named `dpop_gate` and no `*` zone), which the replay store, the nonce secret and the shared key sets \
     need; every request on this filter is answered 500 until it is declared";

/// What `on_configure` should do with a configuration.
#[derive(Debug)]
pub enum Configured {
    /// Serve it (boxed: a worker is large, the other answers a string).
    Ready(Box<Worker>),
    /// Refuse it (`on_configure` returns false): the host rejects the configuration and keeps
    /// serving the previous one. Envoy does that, loudly, at deploy time.
    Reject(String),
    /// Keep the worker alive and answer every request 500 with this reason logged: in Kong's
    /// engine a failing `on_configure` ends the worker, and every route of that server with it.
    Refusing(String),
}

/// Parses and checks a configuration for a host with `facts`. `nonce_offer`: 32 random bytes from
/// the host, `None` if it has no random source (they also make the replay store's location
/// secret, see [`Worker::new`]).
pub fn configure(bytes: &[u8], facts: HostFacts, nonce_offer: Option<[u8; nonce::MIN_SECRET_BYTES]>) -> Configured {
    let problem = match Config::parse(bytes) {
        Ok(cfg) if cfg.dpop_nonce.as_ref().is_some_and(|n| n.secret.is_none()) && nonce_offer.is_none() => {
            String::from(
                "dpop-gate: invalid configuration: field `dpop_nonce.secret`: the host has no random source to make \
                 one; configure it",
            )
        }
        Ok(cfg) => return Configured::Ready(Box::new(Worker::new(cfg, facts, nonce_offer))),
        Err(e) => format!("dpop-gate: {e}"),
    };
    if facts.survives_failed_configure {
        Configured::Reject(problem)
    } else {
        Configured::Refusing(problem)
    }
}

/// The answer of a configuration that could not be loaded (see [`Configured::Refusing`]).
pub fn misconfigured() -> Refusal {
    Refusal {
        status: 500,
        headers: alloc::vec![
            ("content-type", String::from("application/json")),
            ("cache-control", String::from("no-store"))
        ],
        body: String::from(
            r#"{"error":"server_error","error_description":"the gateway's authentication filter is misconfigured"}"#,
        ),
    }
}

impl Worker {
    /// The state for a parsed configuration.
    pub fn new(cfg: Config, facts: HostFacts, nonce_offer: Option<[u8; nonce::MIN_SECRET_BYTES]>) -> Worker {
        let timing = Timing {
            refresh: cfg.jwks_refresh,
            min_refetch: cfg.jwks_min_refetch,
            timeout: cfg.http_timeout_ms.div_ceil(1000),
        };
        let issuers = cfg
            .issuers
            .iter()
            .map(|i| Issuer {
                keys: IssuerKeys::new(&i.issuer, &i.keys),
                slot: KeySlot::for_issuer(i),
                shared_cas: None,
                answers: AnswerSlots::for_issuer(i),
            })
            .collect();
        // The location secret no client may guess (else it could pick `jti`s that fill chosen
        // buckets): from the same random bytes, hashed apart from the nonce offer. Without a random
        // source it is fixed, and the store still exact.
        let mut replay_offer = [0u8; replay::SECRET_LEN];
        if let Some(random) = &nonce_offer {
            let digest: [u8; 32] =
                Sha256::new().chain_update("dpop-gate replay location").chain_update(random).finalize().into();
            replay_offer.copy_from_slice(&digest[..replay::SECRET_LEN]);
        }
        let nonce_offer = cfg.dpop_nonce.as_ref().filter(|n| n.secret.is_none()).and(nonce_offer);
        Worker {
            issuers,
            tokens: TokenCache::new(cfg.token_cache_entries),
            cfg: Rc::new(cfg),
            facts,
            timing,
            waiters: Vec::new(),
            allowed: BTreeSet::new(),
            callouts: BTreeMap::new(),
            proof_keys: ProofKeys::new(PROOF_KEYS),
            nonce_offer,
            response_nonces: BTreeMap::new(),
            replay_offer,
            replay: ReplayStore::Unopened,
            shared: SharedData::Closed,
            counts: Counts::default(),
            answers: AnswerCache::default(),
            fresh: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// What the host does, as detected.
    pub fn facts(&self) -> HostFacts {
        self.facts
    }

    /// The verified-token cache (for its counters).
    pub fn token_cache(&self) -> &TokenCache {
        &self.tokens
    }

    /// Whether this configuration keeps anything in host shared data: the replay store (proofs
    /// accepted), the nonce secret (`dpop_nonce` without `secret`), fetched key sets. A Bearer-only
    /// configuration with static keys makes no shared-data call at all, so it serves without a zone.
    pub fn needs_shared(&self) -> bool {
        self.cfg.dpop != DpopMode::Disabled
            || self.nonce_offer.is_some()
            || self.issuers.iter().any(|i| i.slot.is_some() || i.answers.is_some())
    }

    /// Opens host shared data, once per worker: creates the shared entries every later write
    /// compare-and-swaps on (the replay store's buckets later, on the first proof that needs them:
    /// [`Worker::replay_store`]).
    /// Called by the first request ([`Worker::on_request`]), never at startup (see
    /// [`SharedData`]); tests may call it earlier. The first call is a probe `get` whose failure
    /// means the host has no shared data for the filter (Envoy would answer so; Kong's engine
    /// traps there, failing only the request that made it). Until it opens, nothing else touches
    /// shared data, on any callback.
    pub fn init_shared(&mut self, host: &mut dyn Host) -> Result<(), SharedDataUnavailable> {
        if self.shared == SharedData::Open {
            return Ok(());
        }
        if self.needs_shared() && host.store().get(&shared::probe_key()).is_err() {
            self.shared = SharedData::Unavailable;
            return Err(SharedDataUnavailable);
        }
        for slot in self.issuers.iter().filter_map(|i| i.slot.as_ref()) {
            slot.init_refresh_claim(host.store());
        }
        self.shared = SharedData::Open;
        Ok(())
    }

    /// The replay store, opened on first use: once shared data is open, by the first proof to
    /// record ([`ReplayStore`]). `None` refuses the proof: the store did not open, shared data is
    /// not open, or this configuration accepts no proofs.
    fn replay_store(&mut self, host: &dyn Host) -> Option<&SharedReplay> {
        if matches!(self.replay, ReplayStore::Unopened) && self.shared == SharedData::Open && self.cfg.dpop != DpopMode::Disabled {
            self.replay = match SharedReplay::open(host.store(), &self.replay_offer) {
                Some(store) => ReplayStore::Open(store),
                None => ReplayStore::Unavailable,
            };
        }
        match &self.replay {
            ReplayStore::Open(store) => Some(store),
            ReplayStore::Unopened | ReplayStore::Unavailable => None,
        }
    }

    /// Opens shared data for a request; when it cannot, the request's refusal (500), with the
    /// reason logged at error level the first time this worker finds it so.
    fn open_for_request(&mut self, host: &mut dyn Host) -> Result<(), Refusal> {
        let before = self.shared;
        let opened = self.init_shared(host);
        opened.map_err(|SharedDataUnavailable| {
            if before == SharedData::Closed {
                host.log(Level::Error, SHARED_DATA_UNAVAILABLE);
            }
            self.counts.add("", "shared_data_unavailable");
            misconfigured()
        })
    }

    /// Whether the host must hand over the whole header map for this request; `present` tells
    /// whether the request has a header (one lookup each, made only if the answer matters).
    /// Without a `DPoP` header the decision needs only `Authorization`, and where the host joins
    /// repeated values into one (Envoy, which the decision then refuses as malformed) one lookup
    /// is all there is to see. Reading the whole map is most of what a cached-token request costs.
    ///
    /// Envoy joins only its own inline headers (`Authorization` is one): of a repeated
    /// `mtls_certificate_header`, one lookup sees the first copy alone, which may be a client's in
    /// front of the proxy's. When the header is there, every copy must be seen, so that several
    /// are refused.
    pub fn needs_all_headers(&self, present: impl Fn(&str) -> bool) -> bool {
        !self.facts.joins_repeated_headers
            || (!self.cfg.claims_to_headers.is_empty() && !self.facts.removes_request_headers)
            || present("dpop")
            || self.cfg.mtls_certificate_header.as_deref().is_some_and(&present)
    }

    /// Decides a request whose headers just arrived in context `context`.
    /// Opens shared data first if this worker has not yet ([`Worker::init_shared`]).
    pub fn on_request(&mut self, host: &mut dyn Host, context: u32, headers: &RequestHeaders<'_>, now: u64) -> Verdict {
        if let Err(refusal) = self.open_for_request(host) {
            return Verdict::Refuse(refusal);
        }
        self.decide(host, context, headers, now)
    }

    fn decide(&mut self, host: &mut dyn Host, context: u32, h: &RequestHeaders<'_>, now: u64) -> Verdict {
        let cfg = self.cfg.clone();
        // Only a DPoP proof is checked against the URI: no allocation for it on other requests.
        let uri = if h.dpop.is_empty() { None } else { h.uri(cfg.public_base_url.as_deref()) };
        let req = Request { method: h.method, authorization: &h.authorization, dpop: &h.dpop, uri: uri.as_deref() };
        let mut outcome = self.authorize(host, &req, &h.certificate, now);
        // Keys another worker fetched may already be in shared data: try them before fetching.
        if let Outcome::NeedKeys(index) | Outcome::UnknownKid(index) = outcome {
            if self.adopt_shared(host, index) {
                outcome = self.authorize(host, &req, &h.certificate, now);
            }
        }
        let outcome = match outcome {
            Outcome::NeedKeys(index) | Outcome::UnknownKid(index)
                if self.issuers.get(index).map_or(true, |i| i.keys.is_static()) =>
            {
                Outcome::Deny(Outcome::unknown_kid_refusal())
            }
            Outcome::NeedKeys(index) => {
                let fetch = self.issuers.get_mut(index).and_then(|i| i.keys.due(now, &self.timing));
                self.wait_for_keys(host, context, index, fetch, h, now).unwrap_or(Outcome::Deny(Error::KeysUnavailable))
            }
            Outcome::UnknownKid(index) => {
                let fetch = self.issuers.get_mut(index).and_then(|i| i.keys.refetch_for_unknown_kid(now, &self.timing));
                self.wait_for_keys(host, context, index, fetch, h, now)
                    .unwrap_or(Outcome::Deny(Outcome::unknown_kid_refusal()))
            }
            Outcome::Introspect(index) => self.wait_for_answer(host, context, index, h, now),
            other => other,
        };
        match outcome {
            Outcome::Allow(grant) => match self.upstream_edits(h, &grant) {
                Ok(edits) => {
                    self.counts.add("", "allowed");
                    self.allowed.insert(context);
                    if let Some(nonce) = grant.nonce {
                        self.response_nonces.insert(context, nonce);
                    }
                    Verdict::Allow(edits)
                }
                Err(error) => Verdict::Refuse(self.refuse(host, h, &error, now)),
            },
            Outcome::Deny(error) => Verdict::Refuse(self.refuse(host, h, &error, now)),
            Outcome::NeedKeys(_) | Outcome::UnknownKid(_) | Outcome::Introspect(_) => Verdict::Pause,
        }
    }

    /// `forwarded`: the request's `mtls_certificate_header` values.
    fn authorize(&mut self, host: &mut dyn Host, req: &Request<'_>, forwarded: &[&str], now: u64) -> Outcome {
        let cfg = self.cfg.clone();
        decision::authorize(&cfg, req, &mut DecisionState { worker: self, host, now, forwarded }, now)
    }

    /// The refusal for `error`, counted and logged.
    fn refuse(&mut self, host: &mut dyn Host, h: &RequestHeaders<'_>, error: &Error, now: u64) -> Refusal {
        self.counts.add("refused_", error.reason());
        let level =
            if matches!(error, Error::KeysUnavailable | Error::IntrospectionUnavailable) { Level::Warn } else { Level::Info };
        let (method, path) = match (h.method, h.path) {
            ("", "") => host.request_target().unwrap_or_default(),
            (m, p) => (String::from(m), String::from(p)),
        };
        host.log(level, &format!("dpop-gate: refused {method} {path}: {} ({error})", error.reason()));
        let used = h.authorization.first().and_then(|a| decision::split_authorization(a)).and_then(|(s, _)| Scheme::from_name(s));
        let mut refusal = challenge::refusal(error, used, self.cfg.dpop, &self.cfg.dpop_algs);
        if !self.facts.repeats_response_headers {
            challenge::join_challenges(&mut refusal);
        }
        if matches!(error, Error::UseNonce) {
            // RFC 9449 section 9: the nonce to retry with.
            let cfg = self.cfg.clone();
            let mut state = DecisionState { worker: self, host, now, forwarded: &[] };
            if let Some(nonce) = decision::fresh_nonce(&cfg, &mut state, now) {
                refusal.headers.push(("dpop-nonce", nonce));
            }
        }
        refusal
    }

    /// What the upstream must receive instead of what the client sent: `Authorization: Bearer`,
    /// no `DPoP`, the configured claim headers with the token's values and never a client's copy.
    ///
    /// Where the host cannot remove a request header (Kong's engine only marks it, and nginx's
    /// proxy module forwards it anyway), a single copy is overwritten in place (with the claim, or
    /// emptied) and a request carrying several copies of a claim header is refused: the later
    /// copies could not be kept from the upstream.
    fn upstream_edits(&self, h: &RequestHeaders<'_>, grant: &Grant) -> Result<Vec<HeaderEdit>, Error> {
        let mut edits = Vec::new();
        // The token the decision verified, as the client sent it.
        let token = grant.token.text.as_str();
        let claims = &grant.headers;
        // Most clients sent just that: then no edit and no copy of the ~1 KB header.
        // (`same_text`: wasm32's `memcmp`, what `!=` calls, goes byte by byte over the ~1 KB.)
        if !h.authorization.first().and_then(|a| a.strip_prefix("Bearer ")).is_some_and(|sent| decision::same_text(sent, token)) {
            edits.push(HeaderEdit::Set(String::from("authorization"), format!("Bearer {token}")));
        }
        let removes = self.facts.removes_request_headers;
        if !h.dpop.is_empty() {
            edits.push(if removes { HeaderEdit::Remove(String::from("dpop")) } else { HeaderEdit::Set(String::from("dpop"), String::new()) });
        }
        for (i, ch) in self.cfg.claims_to_headers.iter().enumerate() {
            let value = claims.iter().find(|(name, _)| *name == ch.header).map(|(_, v)| v.clone());
            let copies = h.claim_copies.get(i).copied().unwrap_or(0);
            match (removes, value) {
                (true, Some(v)) => edits.push(HeaderEdit::Set(ch.header.clone(), v)),
                (true, None) => edits.push(HeaderEdit::Remove(ch.header.clone())),
                (false, _) if copies > 1 => return Err(Error::Request(RequestError::ClaimHeaderCopies)),
                (false, Some(v)) => edits.push(HeaderEdit::Set(ch.header.clone(), v)),
                (false, None) if copies == 1 => edits.push(HeaderEdit::Set(ch.header.clone(), String::new())),
                (false, None) => {}
            }
        }
        Ok(edits)
    }

    /// Adopts a key set another worker published, if newer than ours. Returns whether keys changed.
    fn adopt_shared(&mut self, host: &mut dyn Host, index: usize) -> bool {
        if self.shared != SharedData::Open {
            return false;
        }
        let Some(issuer) = self.issuers.get_mut(index) else {
            return false;
        };
        let Some(slot) = &issuer.slot else {
            return false;
        };
        let Some((published, cas)) = slot.read(host.store(), issuer.shared_cas) else {
            return false;
        };
        issuer.shared_cas = cas;
        let adopted = issuer.keys.adopt(published);
        if adopted {
            let name = self.cfg.issuers.get(index).map_or("", |i| i.issuer.as_str());
            host.log(Level::Debug, &format!("dpop-gate: adopted shared keys for {name}"));
        }
        adopted
    }

    /// Pauses the request until `index`'s keys arrive: starts `fetch` if given, else waits for the
    /// fetch in flight. `None` when there is nothing to wait for.
    fn wait_for_keys(
        &mut self,
        host: &mut dyn Host,
        context: u32,
        index: usize,
        fetch: Option<Fetch>,
        h: &RequestHeaders<'_>,
        now: u64,
    ) -> Option<Outcome> {
        let started = match fetch {
            Some(f) => self.dispatch(host, index, &f, context, now),
            // A host that cannot resume this request from another context: it makes its own call.
            None if self.in_flight(index, now) && !self.facts.switches_context => {
                let f = match self.cfg.issuers.get(index).map(|i| &i.keys) {
                    Some(KeySource::Discovery(u)) => Fetch::Discovery(u.clone()),
                    Some(KeySource::JwksUri(u)) => Fetch::Jwks(u.clone()),
                    Some(KeySource::Static(_)) | None => return None,
                };
                self.dispatch(host, index, &f, context, now)
            }
            None => self.in_flight(index, now),
        };
        if !started {
            return None;
        }
        self.waiters.push(Waiter { context, issuer: index, digest: None, since: now, headers: OwnedHeaders::of(h) });
        Some(Outcome::NeedKeys(index))
    }

    /// Pauses the request until issuer `index` answers about its token: one call per token at a
    /// time on a host that can resume a request from another context (Envoy), so a burst of
    /// requests with one new token makes one call; on a host that cannot (Kong's engine), a
    /// request can only be resumed by the answer to its own call, so each request that finds no
    /// answer makes its own (the first answer is then kept for every later request). Refused
    /// (503) when no call can be made.
    fn wait_for_answer(&mut self, host: &mut dyn Host, context: u32, index: usize, h: &RequestHeaders<'_>, now: u64) -> Outcome {
        // The decision got this far, so there is exactly one `Authorization` with a token.
        let Some((_, token)) = h.authorization.first().and_then(|a| decision::split_authorization(a)) else {
            return Outcome::Deny(Error::IntrospectionUnavailable);
        };
        let digest = introspection::digest(token);
        // Envoy: join the call in flight. Kong's engine: this request needs a call of its own.
        let must_call = !self.asking_about(&digest) || !self.facts.switches_context;
        if must_call && !self.dispatch_introspection(host, index, digest, token, context) {
            return Outcome::Deny(Error::IntrospectionUnavailable);
        }
        self.waiters.push(Waiter { context, issuer: index, digest: Some(digest), since: now, headers: OwnedHeaders::of(h) });
        Outcome::Introspect(index)
    }

    /// Calls issuer `index`'s introspection endpoint about `token` from context `owner`. `false`
    /// (counted, logged) if no call could be made.
    fn dispatch_introspection(&mut self, host: &mut dyn Host, index: usize, digest: [u8; 32], token: &str, owner: u32) -> bool {
        let cfg = self.cfg.clone();
        let Some((issuer, ic)) = cfg.issuers.get(index).and_then(|i| Some((i, i.introspection.as_ref()?))) else {
            return false;
        };
        let endpoint = ic.endpoint.clone().or_else(|| self.issuers.get(index).and_then(|i| i.keys.introspection_endpoint().cloned()));
        let discovery = self.issuers.get(index).and_then(|i| i.keys.discovery_url()).cloned();
        let endpoint = match (endpoint, discovery) {
            (Some(e), _) => Some(e),
            // Not learned yet on this worker (its keys may have come from another worker): ask
            // discovery first, then introspect.
            (None, Some(url)) => {
                let upstream = issuer.upstream.clone().unwrap_or_else(|| url.default_upstream());
                let headers = keys::callout_headers(&url);
                return match host.dispatch(&upstream, &headers, None, cfg.http_timeout_ms) {
                    Ok(t) => {
                        self.callouts.insert(t, (index, CalloutKind::IntrospectionDiscovery(digest), owner));
                        true
                    }
                    Err(reason) => {
                        self.counts.add("", "introspection_failures");
                        host.log(Level::Warn, &format!("dpop-gate: cannot call {upstream} for {url}: {reason}"));
                        false
                    }
                };
            }
            (None, None) => None,
        };
        self.counts.add("", "introspection_calls");
        let Some(endpoint) = endpoint else {
            self.counts.add("", "introspection_failures");
            let e = introspection::IntrospectionError::NoEndpoint;
            host.log(Level::Warn, &format!("dpop-gate: cannot introspect tokens of {}: {e}", issuer.issuer));
            return false;
        };
        let call = introspection::callout(ic, &endpoint, issuer.upstream.as_deref(), token);
        let headers: Vec<(&str, &str)> = call.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match host.dispatch(&call.upstream, &headers, Some(&call.body), cfg.http_timeout_ms) {
            Ok(t) => {
                self.callouts.insert(t, (index, CalloutKind::Introspection(digest), owner));
                true
            }
            Err(reason) => {
                self.counts.add("", "introspection_failures");
                host.log(Level::Warn, &format!("dpop-gate: cannot call {} for {endpoint}: {reason}", call.upstream));
                false
            }
        }
    }

    /// An introspection answer arrived: judged, kept (per worker and in shared data), and the
    /// requests that waited for it decided.
    #[allow(clippy::too_many_arguments)]
    fn finish_introspection(
        &mut self,
        host: &mut dyn Host,
        index: usize,
        digest: [u8; 32],
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        current: u32,
        now: u64,
    ) -> Vec<(u32, Verdict)> {
        let cfg = self.cfg.clone();
        let Some((issuer, ic)) = cfg.issuers.get(index).and_then(|i| Some((i, i.introspection.as_ref()?))) else {
            return Vec::new();
        };
        let keys = self.issuers.get(index).and_then(|i| i.keys.keys()).cloned();
        let judged = match introspection::read_answer(ic, &issuer.issuer, &issuer.audiences, keys.as_deref(), headers, body) {
            Ok(answer) => {
                let open = self.shared == SharedData::Open;
                if let (Some(slots), true) = (self.issuers.get(index).and_then(|i| i.answers.as_ref()), open) {
                    slots.publish(host.store(), &digest, &answer, now);
                }
                // The token's text, for its use as the answer's token: from a request that waits.
                match self.waiting_token(&digest) {
                    Some(token) => {
                        let (judged, until) = judge(&cfg, issuer, answer, &token, now, now);
                        self.answers.insert(digest, judged.clone(), until, now);
                        judged
                    }
                    None => return Vec::new(),
                }
            }
            Err(e) => {
                self.counts.add("", "introspection_failures");
                host.log(Level::Warn, &format!("dpop-gate: introspection for {} failed: {e}", issuer.issuer));
                Introspected::Unavailable
            }
        };
        let switches = self.facts.switches_context;
        let (ready, rest): (Vec<Waiter>, Vec<Waiter>) = core::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.digest == Some(digest) && (w.context == current || switches));
        self.waiters = rest;
        self.fresh = Some((digest, judged));
        let verdicts = ready.into_iter().map(|w| (w.context, self.decide(host, w.context, &w.headers.borrow(), now))).collect();
        self.fresh = None;
        verdicts
    }

    /// Whether a call on the way to an answer about the token with `digest` is in flight.
    fn asking_about(&self, digest: &[u8; 32]) -> bool {
        self.callouts.values().any(|(_, kind, _)| kind.asks_about(digest))
    }

    /// The text of the token with `digest`, from a request waiting for an answer about it.
    fn waiting_token(&self, digest: &[u8; 32]) -> Option<String> {
        self.waiters.iter().filter(|w| w.digest == Some(*digest)).find_map(|w| w.token().map(String::from))
    }

    /// Whether a fetch of `index`'s keys is in flight.
    fn in_flight(&self, index: usize, now: u64) -> bool {
        self.issuers.get(index).is_some_and(|i| i.keys.in_flight(now))
    }

    /// Dispatches a fetch from context `owner`. `false` if the host refused it.
    fn dispatch(&mut self, host: &mut dyn Host, index: usize, fetch: &Fetch, owner: u32, now: u64) -> bool {
        let url = fetch.url();
        let Some(config) = self.cfg.issuers.get(index) else {
            return false;
        };
        let upstream = config.upstream.clone().unwrap_or_else(|| url.default_upstream());
        let headers = keys::callout_headers(url);
        let kind = match fetch {
            Fetch::Discovery(_) => CalloutKind::Discovery,
            Fetch::Jwks(_) => CalloutKind::Jwks,
        };
        self.counts.add("", "jwks_fetches");
        match host.dispatch(&upstream, &headers, None, self.cfg.http_timeout_ms) {
            Ok(token) => {
                self.callouts.insert(token, (index, kind, owner));
                true
            }
            Err(reason) => {
                self.counts.add("", "jwks_fetch_failures");
                host.log(Level::Warn, &format!("dpop-gate: cannot call {upstream} for {url}: {reason}"));
                if let Some(issuer) = self.issuers.get_mut(index) {
                    let _ = issuer.keys.on_jwks(Err(FetchError::Transport(reason)), now);
                }
                false
            }
        }
    }

    /// A callout's answer arrived in context `current`: `headers` are its response headers (with
    /// Kong's `:dispatch_status` on failure), `body` its body, `None` when larger than
    /// [`keys::MAX_JWKS_BYTES`] (not read). Returns the requests that can be decided now, each
    /// with its verdict, for the host to apply in that request's context.
    pub fn on_callout(
        &mut self,
        host: &mut dyn Host,
        token: u32,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        current: u32,
        now: u64,
    ) -> Vec<(u32, Verdict)> {
        match self.callouts.get(&token) {
            Some(&(index, CalloutKind::Introspection(digest), _)) => {
                self.callouts.remove(&token);
                return self.finish_introspection(host, index, digest, headers, body, current, now);
            }
            Some(&(index, CalloutKind::IntrospectionDiscovery(digest), _)) => {
                self.callouts.remove(&token);
                let learned = keys::callout_status(headers.iter().copied())
                    .and_then(|()| body.ok_or(FetchError::TooLarge))
                    .and_then(|b| self.issuers.get_mut(index).map_or(Ok(None), |i| i.keys.learn_introspection_endpoint(b)));
                match (learned, self.waiting_token(&digest)) {
                    (Ok(Some(_)), Some(text)) if self.dispatch_introspection(host, index, digest, &text, current) => {
                        return Vec::new()
                    }
                    (Ok(Some(_)), _) => {}
                    (Ok(None), _) => {
                        host.log(Level::Warn, &format!("dpop-gate: {}", introspection::IntrospectionError::NoEndpoint));
                    }
                    (Err(e), _) => {
                        host.log(Level::Warn, &format!("dpop-gate: discovery for introspection failed: {e}"));
                    }
                }
                let failed = [(":status", "503")];
                return self.finish_introspection(host, index, digest, &failed, None, current, now);
            }
            _ => {}
        }
        match self.finish_callout(host, token, headers, body, current, now) {
            Some(index) => self.wake(host, index, current, now),
            None => Vec::new(),
        }
    }

    /// Returns the issuer whose fetch finished (successfully or not).
    fn finish_callout(
        &mut self,
        host: &mut dyn Host,
        token: u32,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        current: u32,
        now: u64,
    ) -> Option<usize> {
        let (index, kind, _) = self.callouts.remove(&token)?;
        let body = keys::callout_status(headers.iter().copied()).and_then(|()| body.ok_or(FetchError::TooLarge));
        let issuer = self.cfg.issuers.get(index)?.issuer.clone();
        let state = self.issuers.get_mut(index)?;
        match kind {
            CalloutKind::Discovery => match state.keys.on_discovery(body, now, &self.timing) {
                Ok(next) => {
                    if self.dispatch(host, index, &next, current, now) {
                        return None;
                    }
                }
                Err(e) => {
                    self.counts.add("", "jwks_fetch_failures");
                    host.log(Level::Warn, &format!("dpop-gate: discovery for {issuer} failed: {e}"));
                }
            },
            CalloutKind::Introspection(_) | CalloutKind::IntrospectionDiscovery(_) => return None,
            CalloutKind::Jwks => match state.keys.on_jwks(body.clone(), now) {
                Ok(weak) => {
                    weak_keys_skipped(host, &mut self.counts, &issuer, weak);
                    let open = self.shared == SharedData::Open;
                    if let (Ok(body), Some(slot), true) = (body, &state.slot, open) {
                        if let Some(cas) = slot.publish(host.store(), now, state.keys.jwks_uri(), body) {
                            state.shared_cas = Some(cas);
                        }
                    }
                    host.log(Level::Info, &format!("dpop-gate: fetched keys for {issuer}"));
                }
                Err(e) => {
                    weak_keys_skipped(host, &mut self.counts, &issuer, e.weak_keys());
                    self.counts.add("", "jwks_fetch_failures");
                    host.log(Level::Warn, &format!("dpop-gate: JWKS fetch for {issuer} failed: {e}"));
                }
            },
        }
        Some(index)
    }

    /// Decides the requests waiting for `index`'s keys that can be acted on from `current`: every
    /// one where the host switches contexts, else only `current`'s own (the others own callouts
    /// of their own and are decided when those return).
    fn wake(&mut self, host: &mut dyn Host, index: usize, current: u32, now: u64) -> Vec<(u32, Verdict)> {
        let switches = self.facts.switches_context;
        let (ready, rest): (Vec<Waiter>, Vec<Waiter>) = core::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.issuer == index && w.digest.is_none() && (w.context == current || switches));
        self.waiters = rest;
        ready.into_iter().map(|w| (w.context, self.decide(host, w.context, &w.headers.borrow(), now))).collect()
    }

    /// The root context's periodic work (every second): adopt keys other workers published,
    /// refresh in the background (one root context per refresh, claimed in shared data), retry
    /// lost fetches for waiting requests, and answer waiting requests whose keys cannot come.
    /// Returns verdicts as [`Worker::on_callout`] does.
    pub fn on_tick(&mut self, host: &mut dyn Host, root: u32, now: u64) -> Vec<(u32, Verdict)> {
        let mut ready = Vec::new();
        for index in 0..self.issuers.len() {
            if self.adopt_shared(host, index) {
                ready.push(index);
            }
            let waiting = self.waiters.iter().any(|w| w.issuer == index && w.digest.is_none());
            let refresh = !waiting && self.refresh_due(index, now);
            if waiting || refresh && self.claim_refresh(host, index, now) {
                if let Some(fetch) = self.issuers.get_mut(index).and_then(|i| i.keys.due(now, &self.timing)) {
                    self.dispatch(host, index, &fetch, root, now);
                }
            }
            if waiting && self.issuers.get(index).is_some_and(|i| i.keys.unavailable(now, &self.timing)) {
                ready.push(index);
            }
        }
        let mut verdicts = Vec::new();
        if self.facts.switches_context {
            for index in ready {
                verdicts.extend(self.wake(host, index, root, now));
            }
            // Nothing waits longer than a callout may take, whatever became of its fetch.
            let deadline = self.timing.timeout + WAIT_MARGIN;
            let (late, rest): (Vec<Waiter>, Vec<Waiter>) =
                core::mem::take(&mut self.waiters).into_iter().partition(|w| now > w.since + deadline);
            self.waiters = rest;
            for w in late {
                let error = if w.digest.is_some() { Error::IntrospectionUnavailable } else { Error::KeysUnavailable };
                let refusal = self.refuse(host, &w.headers.borrow(), &error, now);
                verdicts.push((w.context, Verdict::Refuse(refusal)));
            }
            // Requests waiting for an answer whose call was lost (its request ended): ask again.
            let orphans: Vec<(usize, [u8; 32], String)> = self
                .waiters
                .iter()
                .filter_map(|w| {
                    let digest = w.digest?;
                    if self.asking_about(&digest) {
                        return None;
                    }
                    Some((w.issuer, digest, String::from(w.token()?)))
                })
                .collect();
            for (index, digest, token) in orphans {
                // Two waiters for one token: the first one's call serves the second.
                if !self.asking_about(&digest) {
                    self.dispatch_introspection(host, index, digest, &token, root);
                }
            }
        }
        self.flush_counts(host);
        verdicts
    }

    /// Hands the events counted since the last tick to the host's counters ([`Counts`]): the
    /// root context's tick does, every second, so a request costs no host call for its counters.
    pub fn flush_counts(&mut self, host: &mut dyn Host) {
        self.counts.flush(host);
    }

    /// Events of `dpop_gate_<group><name>` counted and not yet handed to the host.
    pub fn pending_count(&self, group: &str, name: &str) -> u64 {
        self.counts.pending(group, name)
    }

    /// Whether `index`'s keys are due for their background refresh (see [`IssuerKeys::due`]).
    fn refresh_due(&self, index: usize, now: u64) -> bool {
        let Some(Issuer { keys, .. }) = self.issuers.get(index) else {
            return false;
        };
        keys.keys().is_some()
            && !keys.is_static()
            && !keys.in_flight(now)
            && now >= keys.fetched_at().saturating_add(self.timing.refresh)
    }

    /// Without shared data open (no request yet), the refresh is this root context's own.
    fn claim_refresh(&self, host: &mut dyn Host, index: usize, now: u64) -> bool {
        if self.shared != SharedData::Open {
            return true;
        }
        let until = now + self.timing.timeout + 1;
        self.issuers
            .get(index)
            .and_then(|i| i.slot.as_ref())
            .is_some_and(|slot| slot.claim_refresh(host.store(), now, until))
    }

    /// The request in `context` ended. The proxy-wasm SDK hands a callout's answer to the context
    /// that made it and drops it once that context is gone, so the fetches this request started
    /// will never complete here: forget them, so the requests still waiting are served by a new
    /// fetch on the next tick, and new requests fetch at once.
    pub fn on_done(&mut self, context: u32) {
        self.waiters.retain(|w| w.context != context);
        self.allowed.remove(&context);
        self.response_nonces.remove(&context);
        let lost: Vec<(u32, usize, bool)> = self
            .callouts
            .iter()
            .filter(|(_, c)| c.2 == context)
            .map(|(token, c)| (*token, c.0, c.1.asks_about_a_token()))
            .collect();
        for (token, index, introspection) in lost {
            self.callouts.remove(&token);
            // A lost introspection call is asked again on the next tick for whoever still waits.
            if introspection {
                continue;
            }
            let fetching = |c: &(usize, CalloutKind, u32)| c.0 == index && !c.1.asks_about_a_token();
            if !self.callouts.values().any(fetching) {
                if let Some(issuer) = self.issuers.get_mut(index) {
                    issuer.keys.abandon_fetch();
                }
            }
        }
    }

    /// Whether a body or trailer callback of `context` may continue: only for allowed requests.
    pub fn may_continue(&self, context: u32) -> bool {
        self.allowed.contains(&context)
    }

    /// Headers to add to `context`'s response: a fresh `DPoP-Nonce` when its proof's nonce was
    /// from the previous step (RFC 9449 section 9.1), and `Cache-Control: no-store` with it
    /// (section 8.2: a response carrying a nonce must not be cached).
    pub fn response_headers(&mut self, context: u32) -> Vec<(&'static str, String)> {
        match self.response_nonces.remove(&context) {
            Some(nonce) => alloc::vec![("dpop-nonce", nonce), ("cache-control", String::from("no-store"))],
            None => Vec::new(),
        }
    }

    /// Requests paused now (for tests and counters).
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }
}

/// A fetched key set held `count` RSA keys with the ROCA fingerprint, skipped: one warn line per
/// fetch and `dpop_gate_jwks_weak_keys_skipped` per key, so the operator learns that the issuer
/// publishes a factorable key (tokens it "signs" can be forged) and has it rotated.
fn weak_keys_skipped(host: &mut dyn Host, counts: &mut Counts, issuer: &str, count: usize) {
    if count == 0 {
        return;
    }
    counts.add_n("", "jwks_weak_keys_skipped", u64::try_from(count).unwrap_or(u64::MAX));
    host.log(
        Level::Warn,
        &format!(
            "dpop-gate: JWKS of {issuer}: skipped {count} RSA key(s) with the ROCA fingerprint (CVE-2017-15361): \
             they can be factored, so tokens they sign could be forged"
        ),
    );
}

/// What an answer given at `at` means for `token` at `now` under `issuer`'s policy, and until when
/// that may be used (see [`introspection::cache_until`]).
fn judge(cfg: &Config, issuer: &IssuerConfig, answer: Answer, token: &str, at: u64, now: u64) -> (Introspected, u64) {
    let Some(ic) = issuer.introspection.as_ref() else {
        return (Introspected::Unavailable, 0);
    };
    let policy = TokenPolicy {
        issuer: &issuer.issuer,
        audiences: &issuer.audiences,
        scopes_required: &issuer.scopes_required,
        clock_skew: cfg.clock_skew,
    };
    match answer {
        Answer::Inactive => (Introspected::Inactive, introspection::cache_until(ic, None, at)),
        Answer::Active(claims) => match introspection::check_active(claims, token, &policy, now) {
            Ok(t) => {
                let until = introspection::cache_until(ic, Some(&t), at);
                (Introspected::Active(Rc::new(t)), until)
            }
            // Active but not acceptable here: as long as a negative answer.
            Err(e) => (Introspected::Refused(e), introspection::cache_until(ic, None, at)),
        },
    }
}

/// [`State`] for one decision: the worker's caches and the host's shared data, at one instant.
struct DecisionState<'w> {
    worker: &'w mut Worker,
    host: &'w mut dyn Host,
    now: u64,
    /// The request's `mtls_certificate_header` values.
    forwarded: &'w [&'w str],
}

impl State for DecisionState<'_> {
    fn keys(&self, index: usize) -> Keys<'_> {
        // An index the configuration does not have: refused as keys that cannot come.
        let Some(Issuer { keys: issuer, .. }) = self.worker.issuers.get(index) else {
            return Keys::Unavailable;
        };
        match issuer.keys() {
            Some(k) => Keys::Ready(k),
            None if issuer.unavailable(self.now, &self.worker.timing) => Keys::Unavailable,
            None => Keys::Pending,
        }
    }

    fn cached_token(&mut self, key: &[u8; 32]) -> Option<Rc<AccessToken>> {
        self.worker.tokens.get(key)
    }

    fn token_cache_hit(&mut self) {
        self.worker.tokens.count_hit();
        self.worker.counts.add("", "token_cache_hits");
    }

    fn store_token(&mut self, key: [u8; 32], token: Rc<AccessToken>) {
        self.worker.tokens.insert(key, token, self.now);
    }

    fn record_proof(&mut self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError> {
        let recorded = match self.worker.replay_store(&*self.host) {
            Some(store) => store.record(self.host.store(), key, expires_at, now),
            None => Err(ProofError::ReplayStoreUnavailable),
        };
        if recorded == Err(ProofError::ReplayStoreUnavailable) {
            self.host.log(Level::Warn, "dpop-gate: the DPoP replay store cannot record a proof (full, or shared data unavailable): refusing it");
        }
        recorded
    }

    fn nonce_secret(&mut self) -> Option<Secret> {
        if self.worker.shared != SharedData::Open {
            return None;
        }
        shared::nonce_secret(self.host.store(), self.worker.nonce_offer.as_ref()?)
    }

    fn proof_key(&mut self, header: &str, jwk: &Value) -> Result<Rc<Jwk>, JwkError> {
        self.worker.proof_keys.get(header, jwk)
    }

    fn introspected(&mut self, index: usize, token: &str, digest: &[u8; 32]) -> Option<Introspected> {
        if let Some((d, answer)) = &self.worker.fresh {
            if d == digest {
                return Some(answer.clone());
            }
        }
        if let Some(answer) = self.worker.answers.get(digest, self.now) {
            self.worker.counts.add("", "introspection_cache_hits");
            return Some(answer);
        }
        let (answer, at) = self.worker.issuers.get(index)?.answers.as_ref()?.read(self.host.store(), digest, self.now)?;
        let cfg = self.worker.cfg.clone();
        let (judged, until) = judge(&cfg, cfg.issuers.get(index)?, answer, token, at, self.now);
        if until <= self.now {
            return None;
        }
        self.worker.counts.add("", "introspection_cache_hits");
        self.worker.answers.insert(*digest, judged.clone(), until, self.now);
        Some(judged)
    }

    fn client_certificate(&mut self) -> Result<Option<Thumbprint>, Error> {
        let header_mode = self.worker.cfg.mtls_certificate_header.is_some();
        let form = self.worker.facts.certificate;
        let host = &mut *self.host;
        cert::client_thumbprint(header_mode, self.forwarded, || {
            host.peer_certificate(form).and_then(|text| cert::from_host(form, &text))
        })
    }
}
