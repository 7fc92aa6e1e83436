//! The whole request decision (`decision::authorize`) with in-memory host state, as in
//! tests/authz.rs. Input: the method, the request URI (empty: no `Host`), then header lines,
//! `a:<Authorization value>` or `d:<DPoP value>`. The request is decided under two
//! configurations (DPoP optional; DPoP required with server nonces), twice each, so the token
//! cache, the nonce check and the replay store are exercised too. No panic; nothing is allowed
//! that the rules forbid, and no forwarded header value can split a header.
#![no_main]

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

use dpop_gate::decision::{authorize, Keys, Outcome, Request, State};
use dpop_gate::config::{Config, KeySource};
use dpop_gate::dpop::{MemoryReplayStore, ReplayStore};
use dpop_gate::error::ProofError;
use dpop_gate::jose::jwk::JwkSet;
use dpop_gate::decision::token::AccessToken;
use libfuzzer_sys::fuzz_target;

/// The clock of the seeds (`fuzz/make_seeds.py`).
const NOW: u64 = 1_700_000_000;

/// The seeds' issuer and its public key (P-256 scalar 0x0101..01, as in tests/authz.rs).
const CONFIG: &str = r#"{
  "issuer": "https://idp.example.com/realms/test",
  "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "kid": "idp-1",
                     "x": "b_A7lJJBzh2t1DUZ5pYOCoW0GmmgXDKBA6orzhWUyhY",
                     "y": "PE91OlW_AdxT9sCwx-7ni0DG_30lqW4igrmJzvccFEo"}]},
  "audiences": ["api"],
  "claims_to_headers": {"sub": "x-sub", "realm_access.roles": "x-roles", "scope": "x-scope"}
}"#;

/// What the second configuration adds: nonces made with the seeds' secret (bytes 0..32).
const NONCE_CONFIG: &str = r#"{"dpop": "required", "dpop_nonce": {"secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "step_seconds": 60}}"#;

fn configs() -> &'static [Config; 2] {
    static CFGS: OnceLock<[Config; 2]> = OnceLock::new();
    CFGS.get_or_init(|| {
        let mut with_nonce: serde_json::Value = serde_json::from_str(CONFIG).expect("JSON");
        let extra: serde_json::Value = serde_json::from_str(NONCE_CONFIG).expect("JSON");
        with_nonce.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        let parse = |doc: &[u8]| Config::parse(doc).expect("the fuzz configurations are valid");
        [parse(CONFIG.as_bytes()), parse(with_nonce.to_string().as_bytes())]
    })
}

/// Static keys, a token cache and the reference replay store.
struct Mem {
    keys: JwkSet,
    tokens: HashMap<[u8; 32], Rc<AccessToken>>,
    replay: MemoryReplayStore,
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
    fn record_proof(&mut self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError> {
        self.replay.check_and_record(key, expires_at, now)
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let (Some(method), Some(uri)) = (lines.next(), lines.next()) else {
        return;
    };
    let (mut authorization, mut dpop) = (Vec::new(), Vec::new());
    for line in lines {
        if let Some(v) = line.strip_prefix("a:") {
            authorization.push(v);
        } else if let Some(v) = line.strip_prefix("d:") {
            dpop.push(v);
        }
    }
    let req = Request { method, authorization: &authorization, dpop: &dpop, uri: Some(uri).filter(|u| !u.is_empty()) };
    for cfg in configs() {
        let KeySource::Static(keys) = &cfg.issuers[0].keys else {
            return;
        };
        let mut state = Mem { keys: keys.clone(), tokens: HashMap::new(), replay: MemoryReplayStore::new(16) };
        let mut allowed_proofs = 0;
        for _ in 0..2 {
            match authorize(cfg, &req, &mut state, NOW) {
                Outcome::Allow(grant) => {
                    assert_eq!(authorization.len(), 1);
                    assert!(dpop.len() <= 1);
                    if grant.token.jkt.is_some() {
                        assert_eq!(dpop.len(), 1, "a DPoP-bound token passed without a proof");
                        allowed_proofs += 1;
                    } else {
                        assert!(cfg.dpop_nonce.is_none(), "a plain token passed where DPoP is required");
                    }
                    for (_, value) in &grant.headers {
                        assert!(!value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0), "header value {value:?}");
                    }
                }
                Outcome::Deny(e) => {
                    let _ = (e.status(), e.reason(), e.to_string());
                }
                Outcome::NeedKeys(_) | Outcome::UnknownKid(_) | Outcome::Introspect(_) => {}
            }
        }
        assert!(allowed_proofs <= 1, "a DPoP proof was accepted twice");
    }
});
