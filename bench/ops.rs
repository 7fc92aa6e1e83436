//! The benchmarked operations, defined once and timed by one runner per engine: natively by
//! criterion (`bench/native.rs`), in V8 and in Wasmtime by `bench/wasm_bench.rs` (run by
//! `bench/wasm_run.mjs` and `bench/wasm_run.py`), so each operation has one figure per engine.
//!
//! Inputs: signatures are published vectors (RFC 7515 A.2/A.3, RFC 8037 A.4, Wycheproof), so
//! anyone can check them; tokens, proofs and the JWKS are `bench/fixtures.json` (made by
//! `bench/mint.py`, Keycloak-shaped), checked at the fixture's fixed instant. Each operation is run
//! once and checked to succeed before it is timed, and every timed call unwraps its result, so a
//! broken fast path fails the run instead of printing an impossibly good figure.

use std::collections::HashMap;
use std::hint::black_box;
use std::rc::Rc;

use dpop_gate::config::{Config, KeySource};
use dpop_gate::crypto::p256::{self, P256Key, ProductForm};
use dpop_gate::decision::token::{self, AccessToken, TokenPolicy};
use dpop_gate::decision::{self, Keys, Outcome, Request, State};
use dpop_gate::dpop::replay::{self, Locator};
use dpop_gate::dpop::{self, ProofPolicy};
use dpop_gate::error::{JwkError, ProofError};
use dpop_gate::gateway::caches::ProofKeys;
use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jwk::{Jwk, JwkSet};
use dpop_gate::jose::jws::{self, b64_decode};
use serde_json::Value;
use sha2::{Digest, Sha256};

const FIXTURES: &str = include_str!("fixtures.json");
const RFC: &str = include_str!("../tests/data/rfc.json");
const PSS: &str = include_str!("../tests/data/wycheproof/rsa_pss_2048_sha256_mgf1_32_test.json");
const P384: &str = include_str!("../tests/data/wycheproof/ecdsa_secp384r1_sha384_p1363_test.json");

/// One benchmarked operation: a stable name (the key of its figures in every runner's output and
/// in BENCHMARKS.md) and a closure doing it once.
pub(crate) struct Op {
    pub name: String,
    pub run: Box<dyn FnMut()>,
}

fn op(name: impl Into<String>, run: impl FnMut() + 'static) -> Op {
    Op { name: name.into(), run: Box::new(run) }
}

/// The host side of a decision, as the filter keeps it: static keys, a verified-token cache, the
/// proof keys of returning clients (`gateway::caches::ProofKeys`, as the filter's worker has
/// them), and a replay store that accepts everything (the benches replay one proof; the
/// shared-data replay store is measured in Envoy under load).
struct BenchState {
    keys: JwkSet,
    tokens: HashMap<[u8; 32], Rc<AccessToken>>,
    cache: bool,
    proof_keys: ProofKeys,
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
    fn proof_key(&mut self, header: &str, jwk: &Value) -> Result<Rc<Jwk>, JwkError> {
        self.proof_keys.get(header, jwk)
    }
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("fixture {key}")).to_string()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

/// A published signature: the public JWK, the signed message, the signature.
struct Vector {
    jwk: Value,
    message: Vec<u8>,
    signature: Vec<u8>,
}

/// The compact JWS `name` of tests/data/rfc.json.
fn rfc(name: &str) -> Vector {
    let doc: Value = serde_json::from_str(RFC).unwrap();
    let (input, sig) = doc[name]["jws"].as_str().unwrap().rsplit_once('.').unwrap();
    Vector { jwk: doc[name]["jwk"].clone(), message: input.as_bytes().to_vec(), signature: b64_decode(sig).unwrap() }
}

/// The first valid test of a Wycheproof file's first group.
fn wycheproof(text: &str) -> Vector {
    let doc: Value = serde_json::from_str(text).unwrap();
    let group = &doc["testGroups"][0];
    let test = group["tests"].as_array().unwrap().iter().find(|t| t["result"] == "valid").unwrap();
    Vector {
        jwk: group["publicKeyJwk"].clone(),
        message: hex(test["msg"].as_str().unwrap()),
        signature: hex(test["sig"].as_str().unwrap()),
    }
}

fn assert_allowed(o: Outcome) {
    match o {
        Outcome::Allow(_) => {}
        other => panic!("bench request refused: {other:?}"),
    }
}

/// Every operation, ready to run (each was run once and checked to succeed).
pub(crate) fn ops() -> Vec<Op> {
    let mut out: Vec<Op> = Vec::new();
    signatures(&mut out);
    p256_internals(&mut out);
    multiplier(&mut out);
    decisions(&mut out);
    for o in &mut out {
        (o.run)();
    }
    out
}

/// One signature verification per algorithm with a key parsed beforehand, as the keys of an
/// issuer's JWKS are (`JwkSet::parse` precomputes P-256 keys), and ES256 with the keys a DPoP
/// proof brings: fresh from `Jwk::from_value` (a client's first proof, small table) and cold
/// (parsed and verified per call).
fn signatures(out: &mut Vec<Op>) {
    let vectors = [
        (Algorithm::RS256, rfc("rfc7515_a2")),
        (Algorithm::PS256, wycheproof(PSS)),
        (Algorithm::ES256, rfc("rfc7515_a3")),
        (Algorithm::ES384, wycheproof(P384)),
        (Algorithm::EdDSA, rfc("rfc8037_a4")),
    ];
    for (alg, v) in vectors {
        let mut key = Jwk::from_value(&v.jwk).unwrap();
        key.precompute();
        let (message, sig) = (v.message.clone(), v.signature.clone());
        out.push(op(format!("verify/{}", alg.name()), move || {
            key.verify(alg, black_box(&message), &sig).unwrap();
        }));
        if alg == Algorithm::ES256 {
            let key = Jwk::from_value(&v.jwk).unwrap();
            let (message, sig) = (v.message.clone(), v.signature.clone());
            out.push(op("verify/ES256 fresh key", move || {
                key.verify(alg, black_box(&message), &sig).unwrap();
            }));
            let Vector { jwk, message, signature: sig } = v;
            out.push(op("verify/ES256 cold key", move || {
                Jwk::from_value(black_box(&jwk)).unwrap().verify(alg, &message, &sig).unwrap();
            }));
        }
    }
}

/// The P-256 building blocks (`crypto::p256`), for performance work on the verifier: where a
/// verification's time goes.
fn p256_internals(out: &mut Vec<Op>) {
    out.push(op("p256/1000 field multiplications", || {
        black_box(p256::bench_field(black_box(1000), false));
    }));
    out.push(op("p256/1000 field multiplications + 1 inversion", || {
        black_box(p256::bench_field(black_box(1000), true));
    }));
    out.push(op("p256/1000 point doublings", || {
        black_box(p256::bench_point(black_box(1000), 0));
    }));
    out.push(op("p256/1000 mixed additions", || {
        black_box(p256::bench_point(black_box(1000), 1));
    }));
    out.push(op("p256/1000 wNAF recodings of 256-bit scalars", || {
        black_box(p256::bench_point(black_box(1000), 2));
    }));
    let jwk = rfc("rfc7515_a3").jwk;
    let coordinate = |c: &str| -> [u8; 32] { b64_decode(jwk[c].as_str().unwrap()).unwrap().try_into().unwrap() };
    let (x, y) = (coordinate("x"), coordinate("y"));
    out.push(op("p256/key parse", move || {
        black_box(P256Key::new(black_box(&x), &y).unwrap());
    }));
    out.push(op("p256/key parse + precompute", move || {
        let mut key = P256Key::new(black_box(&x), &y).unwrap();
        key.precompute();
        assert!(black_box(key).is_precomputed());
    }));
    // Both forms of the point formulas' field product, whichever the calibration chose for the
    // rest (`p256::calibrate`, run by bench/wasm_bench.rs as the filter runs it): RFC 7515 A.3
    // with the key as a DPoP client's first proof has it (small table), and parsed per call.
    let v = rfc("rfc7515_a3");
    let digest: [u8; 32] = Sha256::digest(&v.message).into();
    let sig: [u8; 64] = v.signature.clone().try_into().unwrap();
    for (form, name) in [(ProductForm::Inline, "inline"), (ProductForm::Call, "call")] {
        let with_form = move |run: &dyn Fn() -> bool| {
            let chosen = p256::product_form();
            p256::set_product_form(form);
            let ok = run();
            p256::set_product_form(chosen);
            assert!(ok);
        };
        let key = P256Key::new(&x, &y).unwrap();
        out.push(op(format!("p256/ES256 fresh key, {name} form"), move || {
            with_form(&|| key.verify(black_box(&digest), &sig));
        }));
        out.push(op(format!("p256/ES256 cold key, {name} form"), move || {
            with_form(&|| P256Key::new(black_box(&x), &y).unwrap().verify(black_box(&digest), &sig));
        }));
    }
}

/// The multiplier's own rate, the floor under every verifier here: the 4,096 products of a
/// 64×64-limb schoolbook product (RSA-2048's size) with every carry free (the columns wrap) and
/// the limbs already widened to `u64`, done in 4×4 blocks so that each block's eight limbs and
/// seven column sums stay in registers. What is left per product is what any big-number product
/// needs in wasm, whose widest multiply is `i64.mul` of two 32-bit values: that `i64.mul` and an
/// `i64.add` (plus a quarter of a load). BENCHMARKS.md prices the verifiers' products at this rate.
fn multiplier(out: &mut Vec<Op>) {
    let a: [u64; 64] = core::array::from_fn(|i| 0x9e37_79b9_u64.wrapping_mul(i as u64 + 1) & 0xffff_ffff);
    let b: [u64; 64] = core::array::from_fn(|i| 0x85eb_ca6b_u64.wrapping_mul(i as u64 + 7) & 0xffff_ffff);
    out.push(op("mac/4096 products, carries free", move || {
        black_box(product_blocks(black_box(&a), black_box(&b)));
    }));
}

/// `a·b` as 127 wrapping column sums, block by block: block `(i, j)` multiplies limbs
/// `4i..4i+4` of `a` by limbs `4j..4j+4` of `b` into seven local sums, added to columns
/// `4(i+j)..`. (Only the work is wanted, not the value.)
fn product_blocks(a: &[u64; 64], b: &[u64; 64]) -> [u64; 127] {
    const N: usize = 4;
    let mut cols = [0u64; 127];
    for (i, ab) in a.chunks_exact(N).enumerate() {
        for (j, bb) in b.chunks_exact(N).enumerate() {
            let x: [u64; N] = core::array::from_fn(|t| ab[t]);
            let y: [u64; N] = core::array::from_fn(|t| bb[t]);
            let mut sums = [0u64; 2 * N - 1];
            for (p, xp) in x.iter().enumerate() {
                for (sum, yq) in sums[p..p + N].iter_mut().zip(&y) {
                    *sum = sum.wrapping_add(xp.wrapping_mul(*yq));
                }
            }
            for (col, sum) in cols[(i + j) * N..].iter_mut().zip(sums) {
                *col = col.wrapping_add(sum);
            }
        }
    }
    cols
}

/// Validation steps and whole decisions on the fixtures' Keycloak-like token, JWKS and proofs.
fn decisions(out: &mut Vec<Op>) {
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
    let state =
        |cache: bool| BenchState { keys: jwks.clone(), tokens: HashMap::new(), cache, proof_keys: ProofKeys::new(16) };

    // Full access-token validation: parse + verify with the issuer's JWKS + claims.
    {
        let (jwks, token, issuer, audiences) = (jwks.clone(), token.clone(), issuer.clone(), vec![audience.clone()]);
        out.push(op("token/validate RS256", move || {
            let jws = jws::parse(black_box(&token), 8192).unwrap();
            jwks.verify(&jws).unwrap();
            let policy = TokenPolicy { issuer: &issuer, audiences: &audiences, scopes_required: &[], clock_skew: 60 };
            black_box(token::check_claims(jws.claims, &policy, now).unwrap());
        }));
    }

    // Full DPoP proof validation, the proof's key parsed from it (a client's first proof).
    for alg in ["ES256", "EdDSA", "RS256"] {
        let d = &fx["dpop"][alg];
        let (proof, bound) = (s(d, "proof"), s(d, "token"));
        let (htm, htu) = (htm.clone(), htu.clone());
        let algs = Algorithm::ALL.to_vec();
        out.push(op(format!("dpop/verify_proof {alg}"), move || {
            let policy = ProofPolicy { algs: &algs, max_age: 300, clock_skew: 60, max_len: 8192 };
            black_box(dpop::verify_proof(black_box(&proof), &htm, &htu, Some(&bound), &policy, now).unwrap());
        }));
    }

    // JWKS parsing: a realistic 2-key set (RSA + P-256 with x5c, as Keycloak serves it).
    out.push(op("jwks/parse 2 keys", move || {
        black_box(JwkSet::parse(black_box(&jwks_text)).unwrap());
    }));

    // RFC 7638 thumbprint of a proof's P-256 key.
    {
        let proof = s(&fx["dpop"]["ES256"], "proof");
        let parsed = jws::parse(&proof, 8192).unwrap();
        let key = Jwk::from_value(parsed.header.jwk.as_ref().unwrap()).unwrap();
        out.push(op("jwk/thumbprint P-256", move || {
            black_box(black_box(&key).thumbprint());
        }));
    }

    // SHA-256 of 1 KiB (compare with `openssl speed -evp sha256`, 1024-byte blocks).
    {
        let data = vec![0x5au8; 1024];
        out.push(op("sha256/1 KiB", move || {
            black_box(Sha256::digest(black_box(&data)));
        }));
    }

    // The filter's side of recording a proof in the shared replay store: its digest, and the
    // check and rewrite of a bucket holding 73 live entries (the average at 20 000 proofs/s with
    // the default window). The host's copies of the value (a get and a set) are not included.
    {
        let locator = Locator::new([0x5a; replay::SECRET_LEN]);
        let mut bucket = replay::empty(0, locator.secret(), 0);
        for i in 0..73u64 {
            bucket = replay::insert(&bucket, 0, locator.secret(), &i.to_be_bytes(), now + 120, now).unwrap();
        }
        let key = format!("{}\0jti-0123456789abcdef", "x".repeat(43));
        out.push(op("replay/record, bucket of 73", move || {
            let (_, id) = locator.locate(black_box(&key));
            black_box(replay::insert(&bucket, 0, locator.secret(), &id, now + 120, now).unwrap());
        }));
    }

    // The whole decision, `decision::authorize`, with the caches the filter keeps.
    let bearer_header = format!("Bearer {token}");
    for (name, cache) in [("authz/Bearer cached token", true), ("authz/Bearer uncached", false)] {
        let (cfg, auth, uri, method) = (cfg.clone(), bearer_header.clone(), htu.clone(), htm.clone());
        let mut state = state(cache);
        out.push(op(name, move || {
            let authorization = [auth.as_str()];
            let req = Request { method: &method, authorization: &authorization, dpop: &[], uri: Some(&uri) };
            assert_allowed(black_box(decision::authorize(&cfg, &req, &mut state, now)));
        }));
    }
    for alg in ["ES256", "EdDSA", "RS256"] {
        let d = &fx["dpop"][alg];
        let (proof, auth) = (s(d, "proof"), format!("DPoP {}", s(d, "token")));
        let (cfg, uri, method) = (cfg.clone(), htu.clone(), htm.clone());
        let mut state = state(true);
        out.push(op(format!("authz/DPoP {alg} proof, cached token and key"), move || {
            let authorization = [auth.as_str()];
            let dpop = [proof.as_str()];
            let req = Request { method: &method, authorization: &authorization, dpop: &dpop, uri: Some(&uri) };
            assert_allowed(black_box(decision::authorize(&cfg, &req, &mut state, now)));
        }));
    }
}
