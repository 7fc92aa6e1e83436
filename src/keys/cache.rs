//! The key cache of one issuer on one worker, as a state machine with no host calls: when to fetch,
//! what a callout response means, when to give up. The proxy-wasm glue feeds it events (callout
//! responses, ticks, unknown `kid`s) and does what it answers.
//!
//! Policy, as users of gateways ask for it:
//! - keys are fetched on first need (a request pauses, it is not denied) and refreshed in the
//!   background every `jwks_refresh` seconds;
//! - a token with an unknown `kid` may cause one refetch per `jwks_min_refetch` seconds, never more,
//!   so random `kid`s cannot cause a fetch storm;
//! - a failed refresh keeps the last good keys; with no keys at all, requests fail closed (503)
//!   until the next attempt, which waits `jwks_min_refetch` seconds.

use alloc::rc::Rc;
use alloc::string::{String, ToString};

use crate::config::{FetchUrl, KeySource};
use crate::keys::discovery;
use crate::jose::jwk::JwkSet;

/// Largest JWK set document accepted from an issuer.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why a callout did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The host could not make the call (Kong's `:dispatch_status`: timeout, broken connection,
    /// TLS or resolver failure), or Envoy's synthesized 503 for an unreachable cluster.
    Transport(String),
    /// The server answered with a non-200 status.
    Status(u16),
    /// The body is too large.
    TooLarge,
    /// The discovery document is unusable.
    Discovery(discovery::DiscoveryError),
    /// The JWK set is unusable or holds no usable key.
    Jwks,
    /// The JWK set's only usable-looking keys are this many RSA keys with the ROCA fingerprint
    /// (see [`crate::jose::jwk::JwkSet::weak_keys`]): as good as no key, so it fails closed like an
    /// empty set, but says why.
    WeakKeysOnly(usize),
}

impl FetchError {
    /// How many keys of the fetched set were skipped for the ROCA fingerprint, when that is why
    /// the set was refused (the count of an accepted set is [`IssuerKeys::on_jwks`]'s answer).
    pub fn weak_keys(&self) -> usize {
        match self {
            FetchError::WeakKeysOnly(n) => *n,
            _ => 0,
        }
    }
}

impl core::fmt::Display for FetchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FetchError::Transport(s) => write!(f, "callout failed: {s}"),
            FetchError::Status(s) => write!(f, "unexpected HTTP status {s}"),
            FetchError::TooLarge => f.write_str("response body too large"),
            FetchError::Discovery(e) => write!(f, "{e}"),
            FetchError::Jwks => f.write_str("JWK set holds no usable verification key"),
            FetchError::WeakKeysOnly(n) => write!(
                f,
                "JWK set holds no usable verification key: its {n} RSA key(s) have the ROCA fingerprint \
                 (CVE-2017-15361) and can be factored"
            ),
        }
    }
}

/// Reads a callout's outcome from its response headers, the same way for both hosts: Envoy always
/// sets `:status` (503 when the cluster is unreachable); Kong omits `:status` on failure and sets
/// `:dispatch_status` instead.
pub fn callout_status<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), FetchError> {
    let mut status = None;
    let mut dispatch = None;
    for (name, value) in headers {
        match name {
            ":status" => status = Some(value),
            ":dispatch_status" => dispatch = Some(value),
            _ => {}
        }
    }
    match (status, dispatch) {
        (Some("200"), _) => Ok(()),
        (Some(s), _) => Err(s.parse::<u16>().map_or_else(|_| FetchError::Transport(s.to_string()), FetchError::Status)),
        (None, Some(d)) => Err(FetchError::Transport(d.to_string())),
        (None, None) => Err(FetchError::Transport("no status".to_string())),
    }
}

/// The request headers of a `GET` callout for `url`.
pub fn callout_headers(url: &FetchUrl) -> [(&str, &str); 5] {
    [
        (":method", "GET"),
        (":path", &url.path),
        (":authority", &url.authority),
        (":scheme", &url.scheme),
        ("accept", "application/json"),
    ]
}

/// What the glue should fetch next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The discovery document.
    Discovery(FetchUrl),
    /// The JWK set.
    Jwks(FetchUrl),
}

impl Fetch {
    /// The URL to call.
    pub fn url(&self) -> &FetchUrl {
        match self {
            Fetch::Discovery(u) | Fetch::Jwks(u) => u,
        }
    }
}

/// One issuer's keys on one worker.
#[derive(Debug)]
pub struct IssuerKeys {
    issuer: String,
    source: KeySource,
    /// `jwks_uri` learned by discovery (or configured).
    jwks_uri: Option<FetchUrl>,
    /// `introspection_endpoint` learned by discovery.
    introspection_endpoint: Option<FetchUrl>,
    keys: Option<Rc<JwkSet>>,
    /// When the current keys were fetched (by any worker).
    fetched_at: u64,
    /// A fetch in flight on this worker, and when it is considered lost.
    in_flight_until: Option<u64>,
    /// Last refetch caused by an unknown `kid`.
    last_refetch: Option<u64>,
    /// Last failed attempt, while no keys are known.
    failed_at: Option<u64>,
}

/// Timing knobs, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Background refresh period.
    pub refresh: u64,
    /// Minimum interval between unknown-`kid` refetches, and retry delay after a failure.
    pub min_refetch: u64,
    /// Callout timeout, seconds (rounded up).
    pub timeout: u64,
}

impl IssuerKeys {
    /// The state for one configured issuer; static keys are ready at once.
    pub fn new(issuer: &str, source: &KeySource) -> IssuerKeys {
        let (jwks_uri, keys) = match source {
            KeySource::Static(set) => (None, Some(Rc::new(set.clone()))),
            KeySource::JwksUri(u) => (Some(u.clone()), None),
            KeySource::Discovery(_) => (None, None),
        };
        IssuerKeys {
            issuer: issuer.to_string(),
            source: source.clone(),
            jwks_uri,
            introspection_endpoint: None,
            keys,
            fetched_at: 0,
            in_flight_until: None,
            last_refetch: None,
            failed_at: None,
        }
    }

    /// The keys, if any are known.
    pub fn keys(&self) -> Option<&Rc<JwkSet>> {
        self.keys.as_ref()
    }

    /// When the current keys were fetched.
    pub fn fetched_at(&self) -> u64 {
        self.fetched_at
    }

    /// Whether this issuer's keys come from configuration (nothing to fetch).
    pub fn is_static(&self) -> bool {
        matches!(self.source, KeySource::Static(_))
    }

    /// Whether a fetch is in flight on this worker (a lost one expires after the timeout).
    pub fn in_flight(&self, now: u64) -> bool {
        self.in_flight_until.is_some_and(|t| now < t)
    }

    /// The fetch in flight will never complete (the context that made it is gone): forget it, so
    /// the next need or tick fetches again instead of waiting for its deadline.
    pub fn abandon_fetch(&mut self) {
        self.in_flight_until = None;
    }

    /// No keys, and the last attempt failed recently: refuse with 503 rather than wait.
    pub fn unavailable(&self, now: u64, t: &Timing) -> bool {
        self.keys.is_none() && !self.in_flight(now) && self.failed_at.is_some_and(|f| now < f + t.min_refetch)
    }

    /// Starts a fetch if one is due: keys missing (and no recent failure), or the background
    /// refresh period elapsed. Returns what to call, and marks it in flight.
    pub fn due(&mut self, now: u64, t: &Timing) -> Option<Fetch> {
        if self.is_static() || self.in_flight(now) {
            return None;
        }
        let due = match &self.keys {
            None => !self.failed_at.is_some_and(|f| now < f + t.min_refetch),
            Some(_) => now >= self.fetched_at.saturating_add(t.refresh),
        };
        if due {
            self.begin(now, t)
        } else {
            None
        }
    }

    /// An unknown `kid` was seen: refetch if the rate limit allows. `Some` also marks it in flight.
    /// `None` with [`IssuerKeys::in_flight`] true means "wait for the fetch under way".
    pub fn refetch_for_unknown_kid(&mut self, now: u64, t: &Timing) -> Option<Fetch> {
        if self.is_static() || self.in_flight(now) {
            return None;
        }
        if self.last_refetch.is_some_and(|l| now < l + t.min_refetch) {
            return None;
        }
        self.last_refetch = Some(now);
        self.begin(now, t)
    }

    fn begin(&mut self, now: u64, t: &Timing) -> Option<Fetch> {
        let fetch = match (&self.jwks_uri, &self.source) {
            (Some(u), _) => Fetch::Jwks(u.clone()),
            (None, KeySource::Discovery(d)) => Fetch::Discovery(d.clone()),
            _ => return None,
        };
        self.in_flight_until = Some(now + t.timeout + 1);
        Some(fetch)
    }

    /// A discovery response arrived: the JWK set fetch to make next.
    pub fn on_discovery(
        &mut self,
        result: Result<&[u8], FetchError>,
        now: u64,
        t: &Timing,
    ) -> Result<Fetch, FetchError> {
        let uri = result
            .and_then(|body| {
                if let Ok(Some(endpoint)) = discovery::introspection_endpoint(body, &self.issuer) {
                    self.introspection_endpoint = Some(endpoint);
                }
                discovery::jwks_uri(body, &self.issuer).map_err(FetchError::Discovery)
            })
            .inspect_err(|_| self.fail(now))?;
        self.jwks_uri = Some(uri.clone());
        self.in_flight_until = Some(now + t.timeout + 1);
        Ok(Fetch::Jwks(uri))
    }

    /// A JWK set response arrived. On success the keys are replaced (the glue then publishes the
    /// body to other workers) and the answer is how many keys were skipped for the ROCA
    /// fingerprint, for the glue to log and count; on failure the last good keys stay.
    pub fn on_jwks(&mut self, result: Result<&[u8], FetchError>, now: u64) -> Result<usize, FetchError> {
        let set = result.and_then(parse_jwks).inspect_err(|_| self.fail(now))?;
        let weak = set.weak_keys.len();
        self.install(Rc::new(set), now);
        Ok(weak)
    }

    /// Keys another worker published (see [`crate::gateway::shared::KeySlot::read`], which passes
    /// on only a publication this worker has not seen); older ones are ignored, one of the same
    /// second is taken (a rotation refetch can land in the second of a first fetch). Their
    /// `jwks_uri` is learned too, so this worker's next refresh skips discovery. Returns whether
    /// the keys changed.
    pub fn adopt(&mut self, shared: SharedKeys) -> bool {
        if self.is_static() || (self.keys.is_some() && shared.fetched_at < self.fetched_at) {
            return false;
        }
        if self.jwks_uri.is_none() {
            self.jwks_uri = shared.jwks_uri;
        }
        self.install(Rc::new(shared.set), shared.fetched_at);
        true
    }

    /// The `introspection_endpoint` this worker learned by discovery, if any.
    pub fn introspection_endpoint(&self) -> Option<&FetchUrl> {
        self.introspection_endpoint.as_ref()
    }

    /// Learns the `introspection_endpoint` from a discovery document fetched for it.
    pub fn learn_introspection_endpoint(&mut self, document: &[u8]) -> Result<Option<FetchUrl>, FetchError> {
        let endpoint = discovery::introspection_endpoint(document, &self.issuer).map_err(FetchError::Discovery)?;
        self.introspection_endpoint.clone_from(&endpoint);
        Ok(endpoint)
    }

    /// The discovery document's URL, when the keys are discovered.
    pub fn discovery_url(&self) -> Option<&FetchUrl> {
        match &self.source {
            KeySource::Discovery(u) => Some(u),
            _ => None,
        }
    }

    /// The `jwks_uri` in use: configured, or learned by discovery or from another worker.
    pub fn jwks_uri(&self) -> Option<&FetchUrl> {
        self.jwks_uri.as_ref()
    }

    fn install(&mut self, set: Rc<JwkSet>, fetched_at: u64) {
        self.keys = Some(set);
        self.fetched_at = fetched_at;
        self.in_flight_until = None;
        self.failed_at = None;
    }

    fn fail(&mut self, now: u64) {
        self.in_flight_until = None;
        if self.keys.is_none() {
            self.failed_at = Some(now);
        } else {
            // Keep serving the last good keys; try again after the refresh period.
            self.fetched_at = now;
        }
    }
}

/// Parses a fetched JWK set; one with no usable key is an error (it would lock everyone out),
/// [`FetchError::WeakKeysOnly`] when ROCA keys are all it has.
pub fn parse_jwks(body: &[u8]) -> Result<JwkSet, FetchError> {
    if body.len() > MAX_JWKS_BYTES {
        return Err(FetchError::TooLarge);
    }
    match JwkSet::parse(body) {
        Ok(set) if !set.keys.is_empty() => Ok(set),
        Ok(set) if !set.weak_keys.is_empty() => Err(FetchError::WeakKeysOnly(set.weak_keys.len())),
        _ => Err(FetchError::Jwks),
    }
}

/// A key set as one worker publishes it for the others in host shared data.
#[derive(Debug, Clone)]
pub struct SharedKeys {
    /// When it was fetched.
    pub fetched_at: u64,
    /// Where it was fetched from (learned by discovery), if known.
    pub jwks_uri: Option<FetchUrl>,
    /// The keys.
    pub set: JwkSet,
}
