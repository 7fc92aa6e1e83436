//! The verified-token cache is keyed by the token's tail (`decision::token_cache_key`), not a digest:
//! a hit must require the very same token text. A forger who keeps a valid token's signature
//! (so its key) and changes the payload must get a verification, and a refusal.

use std::collections::HashMap;
use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dpop_gate::decision::{self, token_cache_key, Keys, Outcome, Request, State};
use dpop_gate::config::{Config, KeySource};
use dpop_gate::error::ProofError;
use dpop_gate::jose::jwk::JwkSet;
use dpop_gate::decision::token::AccessToken;
use serde_json::Value;

struct Mem {
    keys: JwkSet,
    tokens: HashMap<[u8; 32], Rc<AccessToken>>,
}

impl State for Mem {
    fn keys(&self, _index: usize) -> Keys<'_> {
        Keys::Ready(&self.keys)
    }
    fn cached_token(&mut self, hash: &[u8; 32]) -> Option<Rc<AccessToken>> {
        self.tokens.get(hash).cloned()
    }
    fn store_token(&mut self, hash: [u8; 32], token: Rc<AccessToken>) {
        self.tokens.insert(hash, token);
    }
    fn record_proof(&mut self, _key: &str, _expires_at: u64, _now: u64) -> Result<(), ProofError> {
        Ok(())
    }
}

fn decide(cfg: &Config, state: &mut Mem, token: &str, now: u64) -> Outcome {
    let auth = format!("Bearer {token}");
    let authorization = [auth.as_str()];
    let req = Request { method: "GET", authorization: &authorization, dpop: &[], uri: Some("https://api.example/x") };
    decision::authorize(cfg, &req, state, now)
}

#[test]
fn a_cached_tokens_key_with_another_payload_is_verified_and_refused() {
    let fx: Value = serde_json::from_str(include_str!("../bench/fixtures.json")).unwrap();
    let now = fx["now"].as_u64().unwrap();
    let token = fx["token"].as_str().unwrap();
    let cfg = serde_json::json!({"issuer": fx["issuer"], "audiences": [fx["audience"]], "jwks": fx["jwks"]});
    let cfg = Config::parse(&serde_json::to_vec(&cfg).unwrap()).unwrap();
    let KeySource::Static(keys) = &cfg.issuers[0].keys else { panic!("static keys") };
    let mut state = Mem { keys: keys.clone(), tokens: HashMap::new() };

    assert!(matches!(decide(&cfg, &mut state, token, now), Outcome::Allow(_)));
    assert_eq!(state.tokens.len(), 1, "the verified token is cached");
    // The same token again: a cache hit (still allowed).
    assert!(matches!(decide(&cfg, &mut state, token, now), Outcome::Allow(_)));

    // Same header and signature, another payload: the same cache key, another token.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = "admin".into();
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(token_cache_key(&forged), token_cache_key(token));
    match decide(&cfg, &mut state, &forged, now) {
        Outcome::Deny(e) => assert_eq!(e.reason(), "token_signature", "{e}"),
        other => panic!("forged token not refused: {other:?}"),
    }
    // The genuine token is still cached and allowed.
    assert!(matches!(decide(&cfg, &mut state, token, now), Outcome::Allow(_)));
}

#[test]
fn short_tokens_have_zero_padded_keys() {
    let mut want = [0u8; 32];
    want[..3].copy_from_slice(b"a.b");
    assert_eq!(token_cache_key("a.b"), want);
    let long = "x".repeat(40) + &"y".repeat(32);
    assert_eq!(token_cache_key(&long), [b'y'; 32]);
}
