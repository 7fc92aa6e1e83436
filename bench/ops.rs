//! The benchmarked operations, shared by the native criterion bench (`bench/native.rs`) and the
//! wasm bench (`bench/wasm_bench.rs`), so both time exactly the same code on the same inputs
//! (`bench/fixtures.json`, made by `bench/mint.py`; checked at the fixture's fixed instant).

use std::collections::HashMap;
use std::rc::Rc;

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::decision::{self, Keys, Outcome, Request, State};
use dpop_gate::config::{Config, KeySource};
use dpop_gate::dpop::{self, ProofPolicy};
use dpop_gate::error::ProofError;
use dpop_gate::jose::jwk::{Jwk, JwkSet};
use dpop_gate::jose::jws::{self, b64_decode};
use dpop_gate::dpop::replay::{self, Locator};
use dpop_gate::decision::token::{self, AccessToken, TokenPolicy};
use serde_json::Value;
use sha2::{Digest, Sha256};

const FIXTURES: &str = include_str!("fixtures.json");

/// One benchmarked operation: a stable name and a closure doing it once.
pub struct Op {
    pub name: &'static str,
    pub run: Box<dyn FnMut()>,
}

/// The host side of a decision, as the filter keeps it: static keys, a verified-token cache, and
/// a replay store that accepts everything (the benches replay one proof; the shared-data replay
/// store is measured in Envoy under load).
struct BenchState {
    keys: JwkSet,
    tokens: HashMap<[u8; 32], Rc<AccessToken>>,
    cache: bool,
}

impl State for BenchState {
    fn keys(&self, _index: usize) -> Keys<'_> {
        Keys::Ready(&self.keys)
    }
    fn cached_token(&mut self, hash: &[u8; 32]) -> Option<Rc<AccessToken>> {
        self.tokens.get(hash).cloned()
    }
    fn store_token(&mut self, hash: [u8; 32], token: Rc<AccessToken>) {
        if self.cache {
            self.tokens.insert(hash, token);
        }
    }
    fn record_proof(&mut self, _key: &str, _expires_at: u64, _now: u64) -> Result<(), ProofError> {
        Ok(())
    }
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("fixture {key}")).to_string()
}

fn assert_allowed(o: Outcome) {
    match o {
        Outcome::Allow(_) => {}
        other => panic!("bench request refused: {other:?}"),
    }
}

/// Every operation, ready to run (each was run once and checked to succeed).
pub fn ops() -> Vec<Op> {
    let fx: Value = serde_json::from_str(FIXTURES).expect("fixtures.json");
    let now = fx["now"].as_u64().unwrap();
    let issuer = s(&fx, "issuer");
    let audience = s(&fx, "audience");
    let (htm, htu) = (s(&fx, "htm"), s(&fx, "htu"));
    let token = s(&fx, "token");
    let jwks_text = serde_json::to_vec(&fx["jwks"]).unwrap();
    let cfg_json = serde_json::json!({
        "issuer": issuer, "audiences": [audience], "jwks": fx["jwks"], "dpop_max_age_seconds": 300,
    });
    let cfg = Rc::new(Config::parse(&serde_json::to_vec(&cfg_json).unwrap()).expect("bench config"));
    let jwks = match &cfg.issuers[0].keys {
        KeySource::Static(set) => set.clone(),
        _ => unreachable!(),
    };
    assert_eq!(jwks.keys.len(), 2);

    let mut out: Vec<Op> = Vec::new();

    // 1. Signature verification per algorithm (key parsed beforehand, as cached keys are).
    for alg in ["RS256", "PS256", "ES256", "ES384", "EdDSA"] {
        let v = &fx["signatures"][alg];
        let key = Jwk::from_value(&v["jwk"]).unwrap();
        let message = s(v, "message").into_bytes();
        let sig = b64_decode(&s(v, "signature")).unwrap();
        let a = Algorithm::from_name(alg).unwrap();
        key.verify(a, &message, &sig).expect(alg);
        let name: &'static str = Box::leak(format!("verify/{alg}").into_boxed_str());
        out.push(Op {
            name,
            run: Box::new(move || {
                std::hint::black_box(key.verify(a, std::hint::black_box(&message), &sig)).unwrap();
            }),
        });
    }

    // 2. Full access-token validation: parse + verify with the issuer's JWKS + claims.
    {
        let (jwks, token, issuer, audiences) = (jwks.clone(), token.clone(), issuer.clone(), vec![audience.clone()]);
        let run = move || {
            let jws = jws::parse(std::hint::black_box(&token), 8192).unwrap();
            jwks.verify(&jws).unwrap();
            let policy = TokenPolicy { issuer: &issuer, audiences: &audiences, scopes_required: &[], clock_skew: 60 };
            std::hint::black_box(token::check_claims(jws.claims, &policy, now).unwrap());
        };
        out.push(Op { name: "token/validate RS256", run: Box::new(run) });
    }

    // 3. Full DPoP proof validation (the proof only; the token is cached in real use).
    for alg in ["ES256", "EdDSA", "RS256"] {
        let d = &fx["dpop"][alg];
        let (proof, bound) = (s(d, "proof"), s(d, "token"));
        let (htm, htu) = (htm.clone(), htu.clone());
        let algs = Algorithm::ALL.to_vec();
        let run = move || {
            let policy = ProofPolicy { algs: &algs, max_age: 300, clock_skew: 60, max_len: 8192 };
            let p = dpop::verify_proof(std::hint::black_box(&proof), &htm, &htu, Some(&bound), &policy, now);
            std::hint::black_box(p.unwrap());
        };
        let name: &'static str = Box::leak(format!("dpop/verify_proof {alg}").into_boxed_str());
        out.push(Op { name, run: Box::new(run) });
    }

    // 4. JWKS parsing: a realistic 2-key set (RSA + P-256 with x5c, as Keycloak serves it).
    out.push(Op {
        name: "jwks/parse 2 keys",
        run: Box::new(move || {
            std::hint::black_box(JwkSet::parse(std::hint::black_box(&jwks_text)).unwrap());
        }),
    });

    // 5. RFC 7638 thumbprint of a proof's P-256 key.
    {
        let proof = s(&fx["dpop"]["ES256"], "proof");
        let parsed = jws::parse(&proof, 8192).unwrap();
        let key = Jwk::from_value(parsed.header.jwk.as_ref().unwrap()).unwrap();
        out.push(Op {
            name: "jwk/thumbprint P-256",
            run: Box::new(move || {
                std::hint::black_box(std::hint::black_box(&key).thumbprint());
            }),
        });
    }

    // 6. SHA-256 of 1 KiB (compare with `openssl speed -evp sha256`, 1024-byte blocks).
    {
        let data = vec![0x5au8; 1024];
        out.push(Op {
            name: "sha256/1 KiB",
            run: Box::new(move || {
                std::hint::black_box(Sha256::digest(std::hint::black_box(&data)));
            }),
        });
    }

    // 6b. The filter's side of recording a proof in the shared replay store: its digest, and the
    // check and rewrite of a bucket holding 73 live entries (the average at 20 000 proofs/s with
    // the default window). The host's copies of the value (a get and a set) are not included.
    {
        let locator = Locator::new([0x5a; replay::SECRET_LEN]);
        let mut bucket = replay::empty(0, locator.secret(), 0);
        for i in 0..73u64 {
            bucket = replay::insert(&bucket, 0, locator.secret(), &i.to_be_bytes(), now + 120, now).unwrap();
        }
        let key = format!("{}\0jti-0123456789abcdef", "x".repeat(43));
        out.push(Op {
            name: "replay/record, bucket of 73",
            run: Box::new(move || {
                let (_, id) = locator.locate(std::hint::black_box(&key));
                std::hint::black_box(replay::insert(&bucket, 0, locator.secret(), &id, now + 120, now).unwrap());
            }),
        });
    }

    // 7. The whole decision, `decision::authorize`.
    let bearer_header = format!("Bearer {token}");
    for (name, cache) in [("authz/Bearer cached token", true), ("authz/Bearer uncached", false)] {
        let cfg = cfg.clone();
        let auth = bearer_header.clone();
        let uri = htu.clone();
        let method = htm.clone();
        let mut state = BenchState { keys: jwks.clone(), tokens: HashMap::new(), cache };
        let mut run = move || {
            let authorization = [auth.as_str()];
            let req = Request { method: &method, authorization: &authorization, dpop: &[], uri: Some(&uri) };
            assert_allowed(std::hint::black_box(decision::authorize(&cfg, &req, &mut state, now)));
        };
        run();
        out.push(Op { name, run: Box::new(run) });
    }
    for alg in ["ES256", "EdDSA", "RS256"] {
        let d = &fx["dpop"][alg];
        let (proof, auth) = (s(d, "proof"), format!("DPoP {}", s(d, "token")));
        let (cfg, uri, method) = (cfg.clone(), htu.clone(), htm.clone());
        let mut state = BenchState { keys: jwks.clone(), tokens: HashMap::new(), cache: true };
        let mut run = move || {
            let authorization = [auth.as_str()];
            let dpop = [proof.as_str()];
            let req = Request { method: &method, authorization: &authorization, dpop: &dpop, uri: Some(&uri) };
            assert_allowed(std::hint::black_box(decision::authorize(&cfg, &req, &mut state, now)));
        };
        run();
        let name: &'static str = Box::leak(format!("authz/DPoP {alg} proof, cached token").into_boxed_str());
        out.push(Op { name, run: Box::new(run) });
    }
    out
}
