//! What the native tests share: fixed ES256 signing keys and a JWS signer, and the one fake host:
//! host shared data with either host's semantics, and a hook to run another worker's write
//! between a read and the write that follows it.
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
