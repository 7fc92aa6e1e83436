//! The two per-worker caches of the hot path, each a bounded type with its own policy.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;

use serde_json::Value;

use crate::error::JwkError;
use crate::jose::jwk::Jwk;
use crate::decision::token::AccessToken;

/// Verified access tokens, by [`crate::decision::token_cache_key`] (the token's tail; the
/// decision uses a hit only if the whole text matches). At most `capacity` entries: when full,
/// expired tokens are dropped, and if that frees nothing the cache is emptied (a flood of new
/// tokens costs its senders verification, never memory).
#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    tokens: BTreeMap<[u8; 32], Rc<AccessToken>>,
    hits: u64,
}

impl TokenCache {
    /// A cache of `capacity` tokens; 0 disables it.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache { capacity, tokens: BTreeMap::new(), hits: 0 }
    }

    /// The token cached under `key` (the decision uses it only if its text is the presented
    /// token's, and then counts a hit with [`TokenCache::count_hit`]).
    pub fn get(&mut self, key: &[u8; 32]) -> Option<Rc<AccessToken>> {
        self.tokens.get(key).cloned()
    }

    /// Counts one use of a cached token.
    pub fn count_hit(&mut self) {
        self.hits += 1;
    }

    /// Caches a verified token.
    pub fn insert(&mut self, key: [u8; 32], token: Rc<AccessToken>, now: u64) {
        if self.capacity == 0 {
            return;
        }
        if self.tokens.len() >= self.capacity {
            self.tokens.retain(|_, t| t.exp > now);
            if self.tokens.len() >= self.capacity {
                self.tokens.clear();
            }
        }
        self.tokens.insert(key, token);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Cached tokens used by the decision (the very same token text).
    pub fn hits(&self) -> u64 {
        self.hits
    }
}

/// DPoP proof keys of returning clients, by the proof's exact protected-header segment (see
/// [`crate::dpop::verify_proof_with`]): the same text decodes to the same `jwk`, so a cached key
/// is always the one the header names. Parsed on a client's first proof, precomputed on its
/// second (a client keeps its key for the token's life; the table makes each ES256 check about
/// three times as fast). At most `capacity` keys (a precomputed P-256 key is about 18 KiB); when full the
/// cache is emptied.
#[derive(Debug)]
pub struct ProofKeys {
    capacity: usize,
    keys: BTreeMap<String, (Rc<Jwk>, bool)>,
}

impl ProofKeys {
    /// A cache of `capacity` keys.
    pub fn new(capacity: usize) -> ProofKeys {
        ProofKeys { capacity, keys: BTreeMap::new() }
    }

    /// The key of the proof whose header segment is `header` and whose `jwk` member is `jwk`.
    pub fn get(&mut self, header: &str, jwk: &Value) -> Result<Rc<Jwk>, JwkError> {
        if let Some((key, precomputed)) = self.keys.get_mut(header) {
            if !*precomputed {
                let mut table = Jwk::clone(key);
                table.precompute();
                *key = Rc::new(table);
                *precomputed = true;
            }
            return Ok(key.clone());
        }
        let key = Rc::new(Jwk::from_value(jwk)?);
        if self.keys.len() >= self.capacity {
            self.keys.clear();
        }
        self.keys.insert(String::from(header), (key.clone(), false));
        Ok(key)
    }

    /// Keys held, and how many of them are precomputed.
    pub fn len(&self) -> (usize, usize) {
        (self.keys.len(), self.keys.values().filter(|(_, p)| *p).count())
    }
}
