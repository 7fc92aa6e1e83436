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

/// How a host treats versions, from its source (Envoy: proxy-wasm-cpp-host `SharedData::set`;
/// Kong's engine: ngx_wasm_module `ngx_wa_shm_kv_set_locked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Semantics {
    /// Envoy: a write without a version (`cas: None`) overwrites; an absent key accepts any
    /// version; versions come from one counter for the whole store.
    Envoy,
    /// Kong's engine: a write is done only if the version given equals the key's (0, i.e. `None`,
    /// for an absent key), so a write without a version creates an absent key and is refused
    /// (`CasMismatch`) for an existing one, and any version is refused for an absent key; versions
    /// count each key's writes; and a key is found by its CRC32 alone
    /// (`ngx_wa_shm_rbtree_lookup`), so two keys with the same CRC32 are one value.
    Kong,
}

type Hook = Box<dyn FnMut(&FakeStore)>;

/// One stored value.
struct Slot {
    key: String,
    value: Vec<u8>,
    cas: u32,
    /// Kong's engine: bytes of the slab allocation holding the node (see [`kong_node_bytes`]).
    kong_alloc: usize,
}

/// Host shared data in memory.
pub(crate) struct FakeStore {
    pub semantics: Semantics,
    map: RefCell<HashMap<String, Slot>>,
    next_cas: Cell<u32>,
    /// Run once, just before the next `set` (another worker's write landing in between).
    before_set: RefCell<Option<Hook>>,
    /// Successful writes.
    pub sets: Cell<u64>,
    /// Calls made, gets and sets.
    pub calls: Cell<u64>,
    /// `true`: every call fails as a host without shared data.
    pub unavailable: Cell<bool>,
    /// `true`: every call traps (panics), as Kong's engine does when no `shm_kv` zone resolves the
    /// key's namespace ("could not resolve namespace"): in a request that request fails (500), in
    /// a root context's startup the worker ends.
    pub traps: Cell<bool>,
    /// Bytes of all keys and values now, and their peak.
    stored: Cell<usize>,
    pub peak_stored: Cell<usize>,
    /// Kong's engine: bytes of slab memory holding the values now, and their peak.
    kong: Cell<usize>,
    pub peak_kong: Cell<usize>,
}

/// `sizeof(ngx_wa_shm_kv_node_t)` on 64-bit: an `ngx_str_node_t` (rbtree node 40, key string 16),
/// the value string (16), the version (4, padded to 8) and the eviction queue links (16).
pub(crate) const KONG_NODE: usize = 96;

/// What nginx's slab allocator takes for `size` bytes (4 KiB pages): a power of two up to half a
/// page, whole pages above.
pub(crate) fn kong_slab(size: usize) -> usize {
    if size <= 2048 {
        size.max(8).next_power_of_two()
    } else {
        size.div_ceil(4096) * 4096
    }
}

/// A node of Kong's engine holds the key and the value after the struct, in one allocation.
pub(crate) fn kong_node_bytes(key: &str, value_len: usize) -> usize {
    kong_slab(KONG_NODE + key.len() + value_len)
}

/// CRC32 (IEEE, as nginx's `ngx_crc32_long`).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

impl FakeStore {
    pub(crate) fn new(semantics: Semantics) -> FakeStore {
        FakeStore {
            semantics,
            map: RefCell::new(HashMap::new()),
            next_cas: Cell::new(1),
            before_set: RefCell::new(None),
            sets: Cell::new(0),
            calls: Cell::new(0),
            unavailable: Cell::new(false),
            traps: Cell::new(false),
            stored: Cell::new(0),
            peak_stored: Cell::new(0),
            kong: Cell::new(0),
            peak_kong: Cell::new(0),
        }
    }

    /// Both hosts, for tests that must hold on each.
    pub(crate) fn both() -> [FakeStore; 2] {
        [FakeStore::new(Semantics::Envoy), FakeStore::new(Semantics::Kong)]
    }

    /// Runs `hook` just before the next `set`.
    pub(crate) fn race_next_set(&self, hook: impl FnMut(&FakeStore) + 'static) {
        *self.before_set.borrow_mut() = Some(Box::new(hook));
    }

    /// Where a key is stored: itself, or its CRC32 in Kong's engine.
    fn slot_of(&self, key: &str) -> String {
        match self.semantics {
            Semantics::Envoy => key.to_string(),
            Semantics::Kong => format!("{:08x}", crc32(key.as_bytes())),
        }
    }

    /// Writes directly, bypassing the semantics (a value planted by someone else).
    pub(crate) fn plant(&self, key: &str, value: &[u8]) {
        let slot = self.slot_of(key);
        let old = self.map.borrow().get(&slot).map(|s| s.cas);
        let cas = self.version_after(old);
        self.write(slot, key, value, cas);
    }

    /// Removes a key, as Kong's engine evicts one from a full `slru` zone.
    pub(crate) fn evict(&self, key: &str) {
        if let Some(old) = self.map.borrow_mut().remove(&self.slot_of(key)) {
            self.stored.set(self.stored.get() - old.key.len() - old.value.len());
            self.kong.set(self.kong.get() - old.kong_alloc);
        }
    }

    pub(crate) fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.map.borrow().get(&self.slot_of(key)).map(|s| s.value.clone())
    }

    pub(crate) fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.map.borrow().values().map(|s| s.key.clone()).collect();
        k.sort();
        k
    }

    /// Bytes of all values.
    pub(crate) fn bytes(&self) -> usize {
        self.map.borrow().values().map(|s| s.value.len()).sum()
    }

    fn version_after(&self, old: Option<u32>) -> u32 {
        match self.semantics {
            Semantics::Envoy => {
                let c = self.next_cas.get();
                self.next_cas.set(c + 1);
                c
            }
            Semantics::Kong => old.unwrap_or(0) + 1,
        }
    }

    fn write(&self, slot: String, key: &str, value: &[u8], cas: u32) {
        let mut map = self.map.borrow_mut();
        let (old_bytes, old_alloc, old_len) =
            map.get(&slot).map_or((0, 0, None), |s| (s.key.len() + s.value.len(), s.kong_alloc, Some(s.value.len())));
        // Kong's engine allocates a new node only when the value grows; a shorter one stays in the
        // old node.
        let kong_alloc = match old_len {
            Some(len) if value.len() <= len => old_alloc,
            _ => kong_node_bytes(key, value.len()),
        };
        self.stored.set(self.stored.get() - old_bytes + key.len() + value.len());
        self.peak_stored.set(self.peak_stored.get().max(self.stored.get()));
        self.kong.set(self.kong.get() - old_alloc + kong_alloc);
        self.peak_kong.set(self.peak_kong.get().max(self.kong.get()));
        match map.get_mut(&slot) {
            Some(s) => {
                if s.key != key {
                    s.key = key.to_string();
                }
                s.value.clear();
                s.value.extend_from_slice(value);
                s.cas = cas;
                s.kong_alloc = kong_alloc;
            }
            None => {
                map.insert(slot, Slot { key: key.to_string(), value: value.to_vec(), cas, kong_alloc });
            }
        }
    }
}

impl SharedStore for FakeStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
        self.calls.set(self.calls.get() + 1);
        assert!(!self.traps.get(), "trap: failed getting value from shm (could not resolve namespace)");
        if self.unavailable.get() {
            return Err(StoreError::Unavailable);
        }
        Ok(match self.map.borrow().get(&self.slot_of(key)) {
            Some(s) => (Some(s.value.clone()), Some(s.cas)),
            None => (None, None),
        })
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        self.calls.set(self.calls.get() + 1);
        assert!(!self.traps.get(), "trap: failed getting value from shm (could not resolve namespace)");
        if self.unavailable.get() {
            return Err(StoreError::Unavailable);
        }
        let hook = self.before_set.borrow_mut().take();
        if let Some(mut hook) = hook {
            hook(self);
        }
        let slot = self.slot_of(key);
        let current = self.map.borrow().get(&slot).map(|s| s.cas);
        let written = match self.semantics {
            Semantics::Envoy => match (current, cas) {
                (Some(stored), Some(given)) => stored == given,
                _ => true,
            },
            Semantics::Kong => cas.unwrap_or(0) == current.unwrap_or(0),
        };
        if !written {
            return Err(StoreError::CasMismatch);
        }
        let c = self.version_after(current);
        self.sets.set(self.sets.get() + 1);
        self.write(slot, key, value, c);
        Ok(())
    }
}

// ---- signing ----

pub(crate) fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn public_jwk(k: &SigningKey, kid: Option<&str>) -> Value {
    let point = k.verifying_key().to_encoded_point(false);
    let mut jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())});
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk
}

pub(crate) fn thumbprint(k: &SigningKey) -> String {
    let jwk = public_jwk(k, None);
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    b64(&Sha256::digest(canonical.as_bytes()))
}

pub(crate) fn sign(k: &SigningKey, header: Value, claims: Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig: Signature = k.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}


// ---- the fake host ----

use dpop_gate::decision::cert::CertificateForm;
use dpop_gate::gateway::{Host, Level};

/// A callout with a body: (token, headers, body).
pub(crate) type Post = (u32, Vec<(String, String)>, Vec<u8>);

/// A host for the gateway engine: the fake store, callouts recorded (and answered by the test),
/// log lines and counters kept.
pub(crate) struct FakeHost<'s> {
    pub store: &'s FakeStore,
    /// (token, upstream, :path) of every callout dispatched.
    pub callouts: Vec<(u32, String, String)>,
    /// (token, headers, body) of every callout dispatched with a body.
    pub posts: Vec<Post>,
    pub next_token: u32,
    pub logs: Vec<(Level, String)>,
    pub counts: HashMap<String, u64>,
    /// `false`: the host refuses every dispatch.
    pub dispatch_ok: bool,
    /// The connection's client certificate as the host shows it (`peer_certificate`).
    pub peer_certificate: Option<String>,
    /// How often the filter asked for it, and in which form.
    pub certificate_reads: Vec<CertificateForm>,
}

impl<'s> FakeHost<'s> {
    pub(crate) fn new(store: &'s FakeStore) -> FakeHost<'s> {
        FakeHost {
            store,
            callouts: Vec::new(),
            posts: Vec::new(),
            next_token: 100,
            logs: Vec::new(),
            counts: HashMap::new(),
            dispatch_ok: true,
            peer_certificate: None,
            certificate_reads: Vec::new(),
        }
    }

    pub(crate) fn count_of(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }
}

impl Host for FakeHost<'_> {
    fn store(&self) -> &dyn SharedStore {
        self.store
    }

    fn dispatch(
        &mut self,
        upstream: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        _timeout_ms: u64,
    ) -> Result<u32, String> {
        if !self.dispatch_ok {
            return Err("BadArgument".into());
        }
        self.next_token += 1;
        let path = headers.iter().find(|(k, _)| *k == ":path").map_or("", |(_, v)| *v);
        self.callouts.push((self.next_token, upstream.to_string(), path.to_string()));
        if let Some(body) = body {
            let owned = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            self.posts.push((self.next_token, owned, body.to_vec()));
        }
        Ok(self.next_token)
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_string()));
    }

    fn count(&mut self, group: &'static str, name: &'static str, n: u64) {
        *self.counts.entry(format!("{group}{name}")).or_default() += n;
    }

    fn request_target(&mut self) -> Option<(String, String)> {
        Some(("POST".into(), "/target".into()))
    }

    fn peer_certificate(&mut self, form: CertificateForm) -> Option<String> {
        self.certificate_reads.push(form);
        self.peer_certificate.clone()
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
pub(crate) struct FakeState {
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
    pub(crate) fn for_config(cfg: &Config) -> FakeState {
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
    pub(crate) fn proof_key_asks(&self) -> usize {
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

// ---- randomness ----

use rsa::rand_core::{CryptoRng, RngCore};

/// SplitMix64, seeded: test inputs and test keys reproduce, so a failure does too (not for keys
/// that matter).
pub(crate) struct TestRng(pub(crate) u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for TestRng {}

/// The fixed large RSA test keys of tests/data/rsa_keys.json (3072, 3073, 4096 and 4097 bits;
/// made by tests/data/make_rsa_keys.py), as private keys.
pub(crate) fn rsa_test_keys() -> Vec<rsa::RsaPrivateKey> {
    let path = format!("{}/tests/data/rsa_keys.json", env!("CARGO_MANIFEST_DIR"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let int = |k: &Value, name: &str| {
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(k[name].as_str().unwrap()).unwrap())
    };
    doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            rsa::RsaPrivateKey::from_components(int(k, "n"), int(k, "e"), int(k, "d"), vec![int(k, "p"), int(k, "q")])
                .unwrap()
        })
        .collect()
}
