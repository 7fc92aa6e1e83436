//! Where introspection answers are kept: a bounded cache per worker and a bounded set of slots in
//! host shared data, both keyed by the token's SHA-256 digest ([`introspection::digest`]); the
//! token itself is never stored, and a hit needs the digest of the very token presented.
//!
//! Shared slots are scoped like the published key sets (#11 part 1, [`super::shared`]): an
//! answer is shared only between configurations whose issuer, key source, callout upstream,
//! introspection endpoint, client id and answer form (`jwt_response`) are identical. Why: an
//! answer decides whether a token passes, so a route must never be able to plant answers for
//! another route that asks another server (or the same server as another client, whose answers
//! may differ: Keycloak answers `active: false` to a client that may not see the token). Each
//! reader checks an answer's claims against its own policy (`aud`, scopes), so routes with the
//! same source but different policies can share. The client secret is left out of the scope: it
//! authenticates the gateway, it does not change what the server says about a token. An issuer
//! with a static key set has no key source to scope by, so its answers stay per worker.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::shared::{SharedStore, PREFIX};
use crate::config::IssuerConfig;
use crate::decision::introspection::Answer;
use crate::decision::Introspected;

/// Answers kept per worker at most. When full, expired answers are dropped, then the one that
/// expires first: a flood of new tokens costs calls, never memory.
pub const WORKER_ENTRIES: usize = 1024;
/// Shared slots per scope. A slot holds one answer; two tokens whose digests pick the same slot
/// take turns (the later answer replaces the other). At most 256 x [`MAX_SHARED_ANSWER`] bytes.
pub const SHARED_SLOTS: usize = 256;
/// Larger answers are kept per worker only.
pub const MAX_SHARED_ANSWER: usize = 4096;

/// The per-worker cache.
#[derive(Debug, Default)]
pub struct AnswerCache {
    entries: BTreeMap<[u8; 32], (Introspected, u64)>,
}

impl AnswerCache {
    /// The answer for `digest`, if still usable at `now`.
    pub fn get(&self, digest: &[u8; 32], now: u64) -> Option<Introspected> {
        self.entries.get(digest).filter(|(_, until)| now < *until).map(|(a, _)| a.clone())
    }

    /// Keeps an answer until `until` (not at all if that is not after `now`).
    pub fn insert(&mut self, digest: [u8; 32], answer: Introspected, until: u64, now: u64) {
        if until <= now {
            self.entries.remove(&digest);
            return;
        }
        if self.entries.len() >= WORKER_ENTRIES && !self.entries.contains_key(&digest) {
            self.entries.retain(|_, (_, u)| *u > now);
            if self.entries.len() >= WORKER_ENTRIES {
                let first = self.entries.iter().min_by_key(|(_, (_, u))| *u).map(|(d, _)| *d);
                if let Some(d) = first {
                    self.entries.remove(&d);
                }
            }
        }
        self.entries.insert(digest, (answer, until));
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One issuer's shared answer slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerSlots {
    /// The scope text (see the module docs), length-prefixed fields.
    scope: [u8; 32],
    prefix: String,
}

impl AnswerSlots {
    /// The slots of an issuer that introspects; `None` without introspection or with static keys.
    pub fn for_issuer(cfg: &IssuerConfig) -> Option<AnswerSlots> {
        let ic = cfg.introspection.as_ref()?;
        let (kind, url) = match &cfg.keys {
            crate::config::KeySource::Discovery(u) => ("discovery", u.to_string()),
            crate::config::KeySource::JwksUri(u) => ("jwks_uri", u.to_string()),
            crate::config::KeySource::Static(_) => return None,
        };
        let endpoint = ic.endpoint.as_ref().map(ToString::to_string).unwrap_or_default();
        let mut text = String::new();
        for field in [
            cfg.issuer.as_str(),
            kind,
            &url,
            cfg.upstream.as_deref().unwrap_or(""),
            &endpoint,
            &ic.client_id,
            if ic.jwt_response { "jwt" } else { "json" },
        ] {
            let _ = writeln!(text, "{}:{}", field.len(), field);
        }
        let scope: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        let mut id = String::new();
        for b in scope.iter().take(16) {
            let _ = write!(id, "{b:02x}");
        }
        Some(AnswerSlots { scope, prefix: format!("{PREFIX}/introspect/{id}") })
    }

    /// A slot's key and the value's check: a digest of the scope and the token's digest, so a
    /// value written for another scope or token is never taken for this one.
    fn locate(&self, digest: &[u8; 32]) -> (String, [u8; 32]) {
        let check: [u8; 32] = Sha256::new().chain_update(self.scope).chain_update(digest).finalize().into();
        let slot = usize::from(u16::from_be_bytes([check[0], check[1]])) % SHARED_SLOTS;
        (format!("{}/{slot}", self.prefix), check)
    }

    /// Publishes an answer given at `answered_at`. An active answer is kept as its claims, and the
    /// time it was given rather than a time limit: each reader checks the claims against its own
    /// policy and applies its own `cache_seconds`. Losing a race, or a full zone, only costs a call.
    pub fn publish(&self, store: &dyn SharedStore, digest: &[u8; 32], answer: &Answer, answered_at: u64) {
        let (key, check) = self.locate(digest);
        let mut value = Vec::with_capacity(64);
        value.extend_from_slice(&check);
        value.extend_from_slice(&answered_at.to_be_bytes());
        match answer {
            Answer::Inactive => value.push(0),
            Answer::Active(claims) => {
                value.push(1);
                match serde_json::to_vec(claims) {
                    Ok(json) if json.len() <= MAX_SHARED_ANSWER => value.extend_from_slice(&json),
                    _ => return,
                }
            }
        }
        if let Ok((_, cas)) = store.get(&key) {
            let _ = store.set(&key, &value, cas);
        }
    }

    /// The answer another worker published for `digest`, with the time it was given (not later
    /// than `now`: a value from the future is not trusted).
    pub fn read(&self, store: &dyn SharedStore, digest: &[u8; 32], now: u64) -> Option<(Answer, u64)> {
        let (key, check) = self.locate(digest);
        let value = store.get(&key).ok()?.0?;
        let (stored, rest) = value.split_at_checked(32)?;
        if stored != check {
            return None;
        }
        let (at, rest) = rest.split_at_checked(8)?;
        let at = u64::from_be_bytes(at.try_into().ok()?);
        if at > now {
            return None;
        }
        match rest.split_first()? {
            (0, _) => Some((Answer::Inactive, at)),
            (1, json) => match serde_json::from_slice::<Value>(json).ok()? {
                Value::Object(claims) => Some((Answer::Active(claims), at)),
                _ => None,
            },
            _ => None,
        }
    }
}
