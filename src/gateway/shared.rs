//! Everything the filter keeps in host shared data, and the protocols that read and write it,
//! over a small [`SharedStore`] trait so that both hosts' semantics are tested natively.
//!
//! Host shared data is one key-value space per host (Envoy: per VM id; Kong's engine: per
//! `shm_kv` zone), shared by **every filter configuration** in it: in Kong every filter chain of
//! every route writes to the same `dpop_gate` zone, and in Envoy every listener whose filter names
//! the same `vm_id`. What each entry may be shared with is therefore a security decision, taken
//! here once per entry:
//!
//! | entry | key | shared by | why |
//! |---|---|---|---|
//! | published key set | `keys/<source>` | configurations with the identical key source | it decides which signatures are trusted; a route that configures its own `jwks_uri` must never inject keys into a route that discovers them |
//! | refresh claim | `refresh/<source>` | the same | it is about refreshing that source's keys |
//! | replay store | `replay/<bucket>` | the whole host | an entry is the digest of a proof that verified; it trusts nothing, and one bounded store per host keeps memory independent of the number of routes (its location secret, in every bucket, is made by the filter from WASI randomness) |
//! | nonce secret | `nonce_secret` | the whole host | made by the filter from WASI randomness, never by a configuration; a nonce only proves the client talked to this host recently |
//!
//! Writes always compare-and-swap on the version just read. Envoy overwrites a key written
//! without a version; Kong's engine refuses to (`CasMismatch`), so a plain write of an existing
//! key silently fails there: every protocol here reads first and writes with what it read.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use sha2::{Digest, Sha256};

use crate::config::{FetchUrl, IssuerConfig, KeySource};
use crate::error::ProofError;
use crate::dpop::nonce::{self, Secret};
use crate::dpop::replay::{self, Locator};
use crate::keys::{parse_jwks, SharedKeys};

/// Every key starts with this. The text before the first `/` names the Kong `shm_kv` zone
/// (`dpop_gate`); `v2` changes whenever a value's layout does, so filters of two versions sharing
/// a zone during an upgrade never read each other's values.
pub const PREFIX: &str = "dpop_gate/v2";

/// Why a shared-data call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The value changed since it was read (or, in Kong's engine, exists and no version was given).
    CasMismatch,
    /// The host has no shared data for us (no `shm_kv` zone, an error of the host).
    Unavailable,
}

/// Host shared data: get with a version, set with compare-and-swap.
pub trait SharedStore {
    /// The value and its version; `(None, None)` when the key is absent.
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError>;
    /// Writes `value` if the stored version is still `cas` (`None`: the key is expected absent;
    /// Envoy then overwrites anyway, Kong's engine refuses an existing key).
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError>;
}

/// How many times a protocol retries after losing a compare-and-swap race.
const CAS_RETRIES: usize = 8;

/// The shared-data slots of one issuer whose keys are fetched: where its keys are published and
/// its refresh claimed. `None` for static keys (nothing is fetched or shared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySlot {
    /// Everything that decides which keys this issuer trusts, as text: the issuer, where the keys
    /// come from (discovery URL or `jwks_uri`) and the upstream the callouts go to. Two
    /// configurations share keys only if this text is identical.
    source: String,
    keys_key: String,
    refresh_key: String,
}

impl KeySlot {
    /// The slot for one configured issuer; `None` for a static key set.
    pub fn for_issuer(cfg: &IssuerConfig) -> Option<KeySlot> {
        let (kind, url) = match &cfg.keys {
            KeySource::Discovery(u) => ("discovery", u),
            KeySource::JwksUri(u) => ("jwks_uri", u),
            KeySource::Static(_) => return None,
        };
        // Length-prefixed fields, so no choice of strings makes two different sources one text.
        let mut source = String::new();
        for field in [cfg.issuer.as_str(), kind, &url.to_string(), cfg.upstream.as_deref().unwrap_or("")] {
            let _ = writeln!(source, "{}:{}", field.len(), field);
        }
        let digest: [u8; 32] = Sha256::digest(source.as_bytes()).into();
        let id = hex(&digest[..16]);
        Some(KeySlot { keys_key: format!("{PREFIX}/keys/{id}"), refresh_key: format!("{PREFIX}/refresh/{id}"), source })
    }

    /// The shared-data key the keys are published under.
    pub fn keys_key(&self) -> &str {
        &self.keys_key
    }

    /// Publishes a fetched key set for the other workers, unless a newer one is already there. Returns the stored version to remember (so this worker does not adopt its own
    /// write), `None` if nothing could be written.
    pub fn publish(&self, store: &dyn SharedStore, fetched_at: u64, jwks_uri: Option<&FetchUrl>, body: &[u8]) -> Option<u32> {
        let value = encode_keys(&self.source, fetched_at, jwks_uri, body);
        for _ in 0..CAS_RETRIES {
            let (current, cas) = store.get(&self.keys_key).ok()?;
            if current.as_deref().and_then(|c| stored_fetched_at(c, &self.source)).is_some_and(|t| t > fetched_at) {
                return None;
            }
            match store.set(&self.keys_key, &value, cas) {
                Ok(()) => return store.get(&self.keys_key).ok().and_then(|(_, c)| c),
                Err(StoreError::CasMismatch) => continue,
                Err(StoreError::Unavailable) => return None,
            }
        }
        None
    }

    /// The key set published for this exact source, if its version is not `seen` (the one this
    /// worker last adopted or wrote). Returns it with its version. A value published for another
    /// source (impossible by key, but checked: the value says whose it is) or malformed is
    /// ignored.
    pub fn read(&self, store: &dyn SharedStore, seen: Option<u32>) -> Option<(SharedKeys, Option<u32>)> {
        let (value, cas) = store.get(&self.keys_key).ok()?;
        if cas.is_some() && cas == seen {
            return None;
        }
        let keys = decode_keys(&value?, &self.source)?;
        Some((keys, cas))
    }

    /// Creates the refresh claim, so that even the first claim is a compare-and-swap on an
    /// existing value (Envoy accepts any version for an absent key: two first claims would both
    /// win).
    pub fn init_refresh_claim(&self, store: &dyn SharedStore) {
        if let Ok((None, _)) = store.get(&self.refresh_key) {
            let _ = store.set(&self.refresh_key, &0u64.to_be_bytes(), None);
        }
    }

    /// Claims this source's due background refresh for the calling root context. Every root
    /// context (each worker's, and Envoy's main thread's) shares `fetched_at` through the
    /// published keys, so all become due in the same second: without a claim each would fetch.
    /// The claim is a deadline (`until`), taken by compare-and-swap; if the winner's fetch fails,
    /// another takes over after the deadline. Without shared data every root context refreshes on
    /// its own.
    pub fn claim_refresh(&self, store: &dyn SharedStore, now: u64, until: u64) -> bool {
        let Ok((value, cas)) = store.get(&self.refresh_key) else {
            return true;
        };
        let held = value.as_deref().and_then(|v| <[u8; 8]>::try_from(v).ok()).map_or(0, u64::from_be_bytes);
        if now < held {
            return false;
        }
        match store.set(&self.refresh_key, &until.to_be_bytes(), cas) {
            Ok(()) => true,
            Err(StoreError::CasMismatch) => false,
            Err(StoreError::Unavailable) => true,
        }
    }
}

/// Value layout: the source text and the `jwks_uri`, each with a 2-byte big-endian length, the
/// 8-byte big-endian fetch time, then the JWK set document.
fn encode_keys(source: &str, fetched_at: u64, jwks_uri: Option<&FetchUrl>, body: &[u8]) -> Vec<u8> {
    let uri = jwks_uri.map(ToString::to_string).unwrap_or_default();
    let mut v = Vec::with_capacity(12 + source.len() + uri.len() + body.len());
    for field in [source, uri.as_str()] {
        // Both are far below 64 KiB: a `FetchUrl` is at most 2048 bytes (`FetchUrl::parse`), the
        // source two of them plus an issuer and an upstream; `min` only keeps this total.
        let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(field.as_bytes().get(..usize::from(len)).unwrap_or_default());
    }
    v.extend_from_slice(&fetched_at.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A published key set's parts: (source, jwks_uri, fetched_at, body).
type KeysParts<'a> = (&'a [u8], &'a [u8], u64, &'a [u8]);

/// Splits a value into its [`KeysParts`].
fn split_keys(value: &[u8]) -> Option<KeysParts<'_>> {
    fn field(rest: &[u8]) -> Option<(&[u8], &[u8])> {
        let (len, rest) = rest.split_at_checked(2)?;
        rest.split_at_checked(usize::from(u16::from_be_bytes(len.try_into().ok()?)))
    }
    let (source, rest) = field(value)?;
    let (uri, rest) = field(rest)?;
    let (time, body) = rest.split_at_checked(8)?;
    Some((source, uri, u64::from_be_bytes(time.try_into().ok()?), body))
}

fn stored_fetched_at(value: &[u8], source: &str) -> Option<u64> {
    split_keys(value).filter(|(s, ..)| *s == source.as_bytes()).map(|(_, _, t, _)| t)
}

/// Decodes a published key set if it was published for `source`; `None` for anything else,
/// malformed values included (a `jwks_uri` that does not parse distrusts the whole value).
pub fn decode_keys(value: &[u8], source: &str) -> Option<SharedKeys> {
    let (stored_source, uri, fetched_at, body) = split_keys(value)?;
    if stored_source != source.as_bytes() {
        return None;
    }
    let jwks_uri = match uri {
        [] => None,
        uri => Some(FetchUrl::parse(core::str::from_utf8(uri).ok()?)?),
    };
    let set = parse_jwks(body).ok()?;
    Some(SharedKeys { fetched_at, jwks_uri, set })
}

/// The key a worker reads first when it opens shared data
/// ([`crate::gateway::Worker::init_shared`]): absent in a working store, and its read tells whether
/// the host has shared data for the filter at all.
pub fn probe_key() -> String {
    format!("{PREFIX}/probe")
}

/// The shared-data key of one replay-store bucket.
pub fn replay_bucket_key(bucket: usize) -> String {
    format!("{PREFIX}/replay/{bucket}")
}

/// A version no value carries when it is created, so that a write with it creates a key only if
/// the key is absent on Envoy (an absent key accepts any version there; an existing one compares).
/// Envoy numbers writes with one counter for the whole process, from 1; it never evicts, so a
/// replay bucket is seen absent only until the first worker opens the store (its first proof),
/// and a racing worker's creation would have to be write number 4 294 967 295 to carry this version.
/// Kong's engine numbers each key's writes from 1.
const CREATE_VERSION: u32 = u32::MAX;

/// Writes `value` under `key` only if the key is absent, on both hosts: first with
/// [`CREATE_VERSION`] (Envoy creates the absent key; Kong's engine refuses any version for an
/// absent key, `ngx_wa_shm_kv_set_locked`), then, if the key is still absent (so this is Kong's
/// engine), without a version (which Kong's engine writes only to an absent key). An existing key
/// is never overwritten. Envoy: one host call; Kong's engine: three. `Err` only when the host has
/// no shared data.
fn create_if_absent(store: &dyn SharedStore, key: &str, value: &[u8]) -> Result<(), StoreError> {
    match store.set(key, value, Some(CREATE_VERSION)) {
        Ok(()) => return Ok(()),
        Err(StoreError::CasMismatch) => {}
        Err(StoreError::Unavailable) => return Err(StoreError::Unavailable),
    }
    if store.get(key)?.0.is_some() {
        return Ok(());
    }
    match store.set(key, value, None) {
        Ok(()) | Err(StoreError::CasMismatch) => Ok(()),
        Err(StoreError::Unavailable) => Err(StoreError::Unavailable),
    }
}

/// The host's replay store as one root context sees it (layout: [`crate::dpop::replay`]): the location
/// secret every worker of the host agreed on. Shared by every configuration of the host (see the
/// module documentation): an entry is the digest of a proof that verified and trusts nothing, and
/// one store per host keeps its memory independent of the number of routes.
#[derive(Debug)]
pub struct SharedReplay {
    locator: Locator,
}

impl SharedReplay {
    /// Opens the store when a worker's first proof is to be recorded, creating what is missing so that every
    /// later write is a compare-and-swap on an existing value (Envoy accepts any version for an
    /// absent key: two workers inserting into a bucket that does not exist yet could both win).
    ///
    /// Every bucket is read (32 768 gets); absent ones are created, never overwriting a value
    /// another root context wrote meanwhile ([`create_if_absent`]). The location secret is the one
    /// in the buckets already there. Only in a store with no bucket at all does `offer` (random,
    /// from this worker) compete: bucket 0 is created with it, and whichever root context created
    /// bucket 0 decides the secret for all. `None` when the host has no shared data, or bucket 0
    /// holds no bucket: then every proof is refused (fail closed).
    pub fn open(store: &dyn SharedStore, offer: &[u8; replay::SECRET_LEN]) -> Option<SharedReplay> {
        let mut secret = None;
        let mut absent = Vec::new();
        for b in 0..replay::BUCKETS {
            match store.get(&replay_bucket_key(b)).ok()? {
                (Some(value), _) => secret = secret.or_else(|| replay::secret_of(&value, b)),
                (None, _) => absent.push(b),
            }
        }
        let secret = match secret {
            Some(s) => s,
            None => {
                let key = replay_bucket_key(0);
                create_if_absent(store, &key, &replay::empty(0, offer, 0)).ok()?;
                replay::secret_of(&store.get(&key).ok()?.0?, 0)?
            }
        };
        for b in absent {
            create_if_absent(store, &replay_bucket_key(b), &replay::empty(b, &secret, 0)).ok()?;
        }
        Some(SharedReplay { locator: Locator::new(secret) })
    }

    /// Which bucket, and which digest, `replay_key` has in this store.
    pub fn locate(&self, replay_key: &str) -> (usize, [u8; replay::ID_LEN]) {
        self.locator.locate(replay_key)
    }

    /// Records a proof's replay key until `expires_at`: exactly one of several workers recording
    /// the same key at once succeeds. Two host calls (a get and a set), two more per lost race.
    ///
    /// A bucket found missing was evicted (Kong's engine evicts values from a full `slru` zone,
    /// its default) or never created: its entries may be lost, so the proof is refused and the
    /// bucket recreated quarantined for [`replay::MAX_WINDOW`], the longest any lost entry could
    /// have lived.
    pub fn record(
        &self,
        store: &dyn SharedStore,
        replay_key: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), ProofError> {
        let (bucket, id) = self.locate(replay_key);
        let key = replay_bucket_key(bucket);
        let secret = self.locator.secret();
        for _ in 0..CAS_RETRIES {
            let (value, cas) = store.get(&key).map_err(|_| ProofError::ReplayStoreUnavailable)?;
            let Some(value) = value else {
                let quarantine = replay::empty(bucket, secret, now.saturating_add(replay::MAX_WINDOW));
                let _ = create_if_absent(store, &key, &quarantine);
                return Err(ProofError::ReplayStoreUnavailable);
            };
            let next = replay::insert(&value, bucket, secret, &id, expires_at, now)?;
            match store.set(&key, &next, cas) {
                Ok(()) => return Ok(()),
                Err(StoreError::CasMismatch) => continue,
                Err(StoreError::Unavailable) => return Err(ProofError::ReplayStoreUnavailable),
            }
        }
        Err(ProofError::ReplayStoreUnavailable)
    }
}

/// The DPoP nonce secret all workers of this host use.
///
/// Shared data cannot insert a key only if it is absent on Envoy (an absent key accepts any
/// version), so workers starting together may each write their `offer`: the last write stays
/// (Kong's engine keeps the first). Every use reads the stored value, so all workers agree from
/// then on; a nonce made meanwhile with a losing offer costs its client one `use_dpop_nonce`
/// retry. A stored value of the wrong length is replaced by compare-and-swap on its version.
/// Without shared data, the worker's own offer (nonces then hold on this worker only, still
/// safely).
pub fn nonce_secret(store: &dyn SharedStore, offer: &[u8; nonce::MIN_SECRET_BYTES]) -> Option<Secret> {
    let key = format!("{PREFIX}/nonce_secret");
    for _ in 0..CAS_RETRIES {
        match store.get(&key) {
            Ok((Some(stored), _)) if stored.len() == offer.len() => return Secret::new(&stored),
            Ok((_, cas)) => {
                if let Err(StoreError::Unavailable) = store.set(&key, offer, cas) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Secret::new(offer)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
