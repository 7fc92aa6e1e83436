//! What the native tests share: fixed ES256 signing keys and a JWS signer, and the one fake host:
//! host shared data with either host's semantics, and a hook to run another worker's write
//! between a read and the write that follows it; and `FakeState`, the decision's state in memory,
//! for tests of the decision alone.
#![allow(dead_code)] // each test binary uses its own part of it

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use dpop_gate::gateway::shared::{SharedStore, StoreError};

/// How a host treats a write without a version (`cas: None`) of a key that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    /// Envoy: overwrites; an absent key accepts any version.
    Envoy,
    /// Kong's engine (ngx_wasm_module): refuses (`CasMismatch`).
    Kong,
}

type Hook = Box<dyn FnMut(&FakeStore)>;

/// Host shared data in memory.
pub struct FakeStore {
    pub semantics: Semantics,
    map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: Cell<u32>,
    /// Run once, just before the next `set` (another worker's write landing in between).
    before_set: RefCell<Option<Hook>>,
    /// Every key ever written, for memory measurements.
    pub sets: Cell<u64>,
    /// `true`: every call fails as a host without shared data.
    pub unavailable: Cell<bool>,
}

impl FakeStore {
    pub fn new(semantics: Semantics) -> FakeStore {
        FakeStore {
            semantics,
            map: RefCell::new(HashMap::new()),
            next_cas: Cell::new(1),
            before_set: RefCell::new(None),
            sets: Cell::new(0),
            unavailable: Cell::new(false),
        }
    }

    /// Both hosts, for tests that must hold on each.
    pub fn both() -> [FakeStore; 2] {
        [FakeStore::new(Semantics::Envoy), FakeStore::new(Semantics::Kong)]
    }

    /// Runs `hook` just before the next `set`.
    pub fn race_next_set(&self, hook: impl FnMut(&FakeStore) + 'static) {
        *self.before_set.borrow_mut() = Some(Box::new(hook));
    }

    /// Writes directly, bypassing the semantics (a value planted by someone else).
    pub fn plant(&self, key: &str, value: &[u8]) {
        let cas = self.bump();
        self.map.borrow_mut().insert(key.to_string(), (value.to_vec(), cas));
    }

    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.map.borrow().get(key).map(|(v, _)| v.clone())
    }

    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.map.borrow().keys().cloned().collect();
        k.sort();
        k
    }

    /// Bytes of all values.
    pub fn bytes(&self) -> usize {
        self.map.borrow().values().map(|(v, _)| v.len()).sum()
    }

    fn bump(&self) -> u32 {
        let c = self.next_cas.get();
        self.next_cas.set(c + 1);
        c
    }
}

impl SharedStore for FakeStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
        if self.unavailable.get() {
            return Err(StoreError::Unavailable);
        }
        Ok(match self.map.borrow().get(key) {
            Some((v, c)) => (Some(v.clone()), Some(*c)),
            None => (None, None),
        })
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        if self.unavailable.get() {
            return Err(StoreError::Unavailable);
        }
        let hook = self.before_set.borrow_mut().take();
        if let Some(mut hook) = hook {
            hook(self);
        }
        let current = self.map.borrow().get(key).map(|(_, c)| *c);
        match (current, cas, self.semantics) {
            (Some(stored), Some(given), _) if stored != given => return Err(StoreError::CasMismatch),
            (Some(_), None, Semantics::Kong) => return Err(StoreError::CasMismatch),
            _ => {}
        }
        let c = self.bump();
        self.sets.set(self.sets.get() + 1);
        self.map.borrow_mut().insert(key.to_string(), (value.to_vec(), c));
        Ok(())
    }
}

// ---- signing ----

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn public_jwk(k: &SigningKey, kid: Option<&str>) -> Value {
    let point = k.verifying_key().to_encoded_point(false);
    let mut jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())});
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk
}

pub fn thumbprint(k: &SigningKey) -> String {
    let jwk = public_jwk(k, None);
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    b64(&Sha256::digest(canonical.as_bytes()))
}

pub fn sign(k: &SigningKey, header: Value, claims: Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig: Signature = k.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}


// ---- the fake host ----

use dpop_gate::gateway::{Host, Level};

/// A host for the gateway engine: the fake store, callouts recorded (and answered by the test),
/// log lines and counters kept.
pub struct FakeHost<'s> {
    pub store: &'s FakeStore,
    /// (token, upstream, :path) of every callout dispatched.
    pub callouts: Vec<(u32, String, String)>,
    pub next_token: u32,
    pub logs: Vec<(Level, String)>,
    pub counts: HashMap<String, u64>,
    /// `false`: the host refuses every dispatch.
    pub dispatch_ok: bool,
}

impl<'s> FakeHost<'s> {
    pub fn new(store: &'s FakeStore) -> FakeHost<'s> {
        FakeHost { store, callouts: Vec::new(), next_token: 100, logs: Vec::new(), counts: HashMap::new(), dispatch_ok: true }
    }

    pub fn count_of(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }
}

impl Host for FakeHost<'_> {
    fn store(&self) -> &dyn SharedStore {
        self.store
    }

    fn dispatch(&mut self, upstream: &str, headers: &[(&str, &str)], _timeout_ms: u64) -> Result<u32, String> {
        if !self.dispatch_ok {
            return Err("BadArgument".into());
        }
        self.next_token += 1;
        let path = headers.iter().find(|(k, _)| *k == ":path").map_or("", |(_, v)| *v);
        self.callouts.push((self.next_token, upstream.to_string(), path.to_string()));
        Ok(self.next_token)
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_string()));
    }

    fn count(&mut self, group: &'static str, name: &'static str) {
        *self.counts.entry(format!("{group}{name}")).or_default() += 1;
    }

    fn request_target(&mut self) -> Option<(String, String)> {
        Some(("POST".into(), "/target".into()))
    }
}

// ---- the fake decision state ----

use std::rc::Rc;

use dpop_gate::config::{Config, KeySource};
use dpop_gate::decision::token::AccessToken;
use dpop_gate::decision::{Keys, State};
use dpop_gate::dpop::nonce::Secret;
use dpop_gate::dpop::{MemoryReplayStore, ReplayStore};
use dpop_gate::error::{JwkError, ProofError};
use dpop_gate::jose::jwk::{Jwk, JwkSet};

/// `decision::State` in memory, for tests of the decision alone; tests of what the filter does
/// around it (its real caches, shared data, callouts) use `gateway::Worker` over [`FakeHost`].
/// Everything it is asked is counted, so a test can tell a cache hit from a verification and a
/// recorded proof from a refused one.
pub struct FakeState {
    /// Each configured issuer's keys; `None`: none yet (see `unavailable`).
    pub keys: Vec<Option<JwkSet>>,
    /// For an issuer without keys: `true` answers `Keys::Unavailable`, `false` `Keys::Pending`.
    pub unavailable: bool,
    /// `false`: verified tokens are not kept (every request verifies its token).
    pub cache_tokens: bool,
    pub tokens: HashMap<[u8; 32], Rc<AccessToken>>,
    /// Token lookups that found an entry.
    pub token_hits: usize,
    /// The reference replay store behind `record_proof`.
    pub replay: MemoryReplayStore,
    /// Every replay key the decision asked to record, in order (accepted or not).
    pub recorded: Vec<String>,
    /// The host's DPoP nonce secret; `None`: a host that has none.
    pub nonce_secret: Option<Secret>,
    /// Proof keys by protected-header segment, as the filter keeps them: (key, times asked for).
    pub proof_keys: HashMap<String, (Rc<Jwk>, usize)>,
}

impl FakeState {
    /// The state for `cfg`: its static key sets ready, fetched issuers pending, caches empty.
    pub fn for_config(cfg: &Config) -> FakeState {
        let keys = cfg
            .issuers
            .iter()
            .map(|i| match &i.keys {
                KeySource::Static(set) => Some(set.clone()),
                _ => None,
            })
            .collect();
        FakeState {
            keys,
            unavailable: false,
            cache_tokens: true,
            tokens: HashMap::new(),
            token_hits: 0,
            replay: MemoryReplayStore::new(100),
            recorded: Vec::new(),
            nonce_secret: None,
            proof_keys: HashMap::new(),
        }
    }

    /// How many times a proof key was asked for, over all clients.
    pub fn proof_key_asks(&self) -> usize {
        self.proof_keys.values().map(|(_, asked)| asked).sum()
    }
}

impl State for FakeState {
    fn keys(&self, index: usize) -> Keys<'_> {
        match &self.keys[index] {
            Some(k) => Keys::Ready(k),
            None if self.unavailable => Keys::Unavailable,
            None => Keys::Pending,
        }
    }

    fn cached_token(&mut self, hash: &[u8; 32]) -> Option<Rc<AccessToken>> {
        self.tokens.get(hash).cloned()
    }

    fn token_cache_hit(&mut self) {
        self.token_hits += 1;
    }

    fn store_token(&mut self, hash: [u8; 32], token: Rc<AccessToken>) {
        if self.cache_tokens {
            self.tokens.insert(hash, token);
        }
    }

    fn record_proof(&mut self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError> {
        self.recorded.push(key.to_string());
        self.replay.check_and_record(key, expires_at, now)
    }

    fn nonce_secret(&mut self) -> Option<Secret> {
        self.nonce_secret.clone()
    }

    /// Parsed on a client's first proof, precomputed on every later one (the filter precomputes
    /// once and keeps it; the key is the same either way).
    fn proof_key(&mut self, header: &str, jwk: &Value) -> Result<Rc<Jwk>, JwkError> {
        if let Some((key, asked)) = self.proof_keys.get_mut(header) {
            *asked += 1;
            let mut precomputed = Jwk::clone(key);
            precomputed.precompute();
            return Ok(Rc::new(precomputed));
        }
        let key = Rc::new(Jwk::from_value(jwk)?);
        self.proof_keys.insert(header.to_string(), (key.clone(), 1));
        Ok(key)
    }
}
