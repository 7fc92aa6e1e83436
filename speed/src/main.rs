//! Times one signature verification per algorithm, inside whatever engine runs this binary
//! (`speed/run`: wasm32-wasip1 under node, i.e. V8). Prints `name<TAB>µs per op<TAB>ops` lines.
//!
//! Inputs are the published vectors in tests/data (RFC 7515 A.2/A.3, RFC 8037 A.4, Wycheproof
//! PSS), so every timed call is a verification that succeeds; each call is checked, so a broken
//! fast path shows up as a failure here rather than as an impossibly good figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jwk::Jwk;
use dpop_gate::jose::jws::b64_decode;
use serde_json::Value;

const RFC: &str = include_str!("../../tests/data/rfc.json");
const PSS: &str = include_str!("../../tests/data/wycheproof/rsa_pss_2048_sha256_mgf1_32_test.json");

/// Runs `f` in 20 batches of about `budget / 20` each (after a warm-up so the engine has tiered
/// up) and prints the median batch's time per call: robust against other load on a shared machine.
fn time(name: &str, budget: Duration, mut f: impl FnMut() -> bool) {
    let warm = Instant::now();
    while warm.elapsed() < budget / 4 {
        assert!(f(), "{name}: verification failed");
    }
    let mut per_call = Vec::new();
    let mut total = 0u64;
    for _ in 0..20 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget / 20 {
            assert!(f(), "{name}: verification failed");
            n += 1;
        }
        total += n;
        per_call.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    per_call.sort_by(f64::total_cmp);
    let us = per_call[per_call.len() / 2];
    println!("{name}\t{us:.1}\t{total}");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

/// (JWK, signing input, signature) of a compact JWS vector in rfc.json.
fn rfc(name: &str) -> (Value, Vec<u8>, Vec<u8>) {
    let doc: Value = serde_json::from_str(RFC).unwrap();
    let v = &doc[name];
    let token = v["jws"].as_str().unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    (v["jwk"].clone(), input.as_bytes().to_vec(), b64_decode(sig).unwrap())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ms: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let filter = args.get(2).cloned().unwrap_or_default();
    let budget = Duration::from_millis(ms);
    let want = |name: &str| filter.is_empty() || name.contains(filter.as_str());

    let (es_jwk, es_msg, es_sig) = rfc("rfc7515_a3");
    let (rs_jwk, rs_msg, rs_sig) = rfc("rfc7515_a2");
    let (ed_jwk, ed_msg, ed_sig) = rfc("rfc8037_a4");
    let pss: Value = serde_json::from_str(PSS).unwrap();
    let group = &pss["testGroups"][0];
    let ps_jwk = group["publicKeyJwk"].clone();
    let ps_test = &group["tests"][0];
    let (ps_msg, ps_sig) = (hex(ps_test["msg"].as_str().unwrap()), hex(ps_test["sig"].as_str().unwrap()));

    let es_parsed = Jwk::from_value(&es_jwk).unwrap();
    let mut es = es_parsed.clone();
    es.precompute();
    let rs = Jwk::from_value(&rs_jwk).unwrap();
    let ps = Jwk::from_value(&ps_jwk).unwrap();
    let ed = Jwk::from_value(&ed_jwk).unwrap();

    // The filter's path: `Jwk::verify` on a parsed (cached) key, and a cold key parsed per call.
    if want("ES256 jwk") {
        time("ES256 jwk cached", budget, || es.verify(Algorithm::ES256, black_box(&es_msg), &es_sig).is_ok());
        time("ES256 jwk parsed", budget, || es_parsed.verify(Algorithm::ES256, black_box(&es_msg), &es_sig).is_ok());
        time("ES256 jwk cold", budget, || {
            Jwk::from_value(black_box(&es_jwk)).unwrap().verify(Algorithm::ES256, &es_msg, &es_sig).is_ok()
        });
    }
    if want("RS256 jwk") {
        time("RS256 jwk cached", budget, || rs.verify(Algorithm::RS256, black_box(&rs_msg), &rs_sig).is_ok());
    }
    if want("PS256 jwk") {
        time("PS256 jwk cached", budget, || ps.verify(Algorithm::PS256, black_box(&ps_msg), &ps_sig).is_ok());
    }
    if want("EdDSA jwk") {
        time("EdDSA jwk cached", budget, || ed.verify(Algorithm::EdDSA, black_box(&ed_msg), &ed_sig).is_ok());
    }

    // The stock crates called directly: the reference (p256 0.13, rsa 0.9) and newer releases.
    let x = b64_decode(es_jwk["x"].as_str().unwrap()).unwrap();
    let y = b64_decode(es_jwk["y"].as_str().unwrap()).unwrap();
    let sec1 = [&[4u8][..], &x, &y].concat();
    if want("ES256 p256") {
        use p256::ecdsa::signature::Verifier;
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&es_sig).unwrap();
        time("ES256 p256 0.13", budget, || vk.verify(black_box(&es_msg), &sig).is_ok());
    }
    if want("ES256 p256") {
        use p256_14::ecdsa::signature::Verifier;
        let vk = p256_14::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let sig = p256_14::ecdsa::Signature::from_slice(&es_sig).unwrap();
        time("ES256 p256 0.14", budget, || vk.verify(black_box(&es_msg), &sig).is_ok());
    }
    for (name, jwk, msg, sig) in [("RS256", &rs_jwk, &rs_msg, &rs_sig), ("PS256", &ps_jwk, &ps_msg, &ps_sig)] {
        let n = b64_decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = b64_decode(jwk["e"].as_str().unwrap()).unwrap();
        if want(&format!("{name} rsa")) {
            use sha2::{Digest, Sha256};
            let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from_bytes_be(&e)).unwrap();
            time(&format!("{name} rsa 0.9"), budget, || {
                let h = Sha256::digest(black_box(msg));
                if name == "RS256" {
                    key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &h, sig).is_ok()
                } else {
                    key.verify(rsa::Pss::new::<Sha256>(), &h, sig).is_ok()
                }
            });
            use sha2_11::Digest as _;
            let bits = (n.len() * 8) as u32;
            let key = rsa_10::PublicKey::new(
                rsa_10::BoxedUint::from_be_slice(&n, bits).unwrap(),
                rsa_10::BoxedUint::from_be_slice_vartime(&e),
            )
            .unwrap();
            time(&format!("{name} rsa 0.10"), budget, || {
                let h = sha2_11::Sha256::digest(black_box(msg));
                if name == "RS256" {
                    key.verify(rsa_10::Pkcs1v15Sign::new::<sha2_11::Sha256>(), &h, sig).is_ok()
                } else {
                    key.verify(rsa_10::Pss::<sha2_11::Sha256>::new(), &h, sig).is_ok()
                }
            });
        }
    }
    if want("field") {
        time("P-256 1000 field mul", budget, || dpop_gate::crypto::p256::bench_field(black_box(1000), false) != 7);
        time("P-256 1000 fmul + inv", budget, || dpop_gate::crypto::p256::bench_field(black_box(1000), true) != 7);
        time("P-256 1000 double", budget, || dpop_gate::crypto::p256::bench_point(black_box(1000), 0) != 7);
        time("P-256 1000 madd", budget, || dpop_gate::crypto::p256::bench_point(black_box(1000), 1) != 7);
        time("P-256 1000 wnaf", budget, || dpop_gate::crypto::p256::bench_point(black_box(1000), 2) != 7);
        let x = b64_decode(es_jwk["x"].as_str().unwrap()).unwrap();
        let y = b64_decode(es_jwk["y"].as_str().unwrap()).unwrap();
        let (x, y) = (x.as_slice().try_into().unwrap(), y.as_slice().try_into().unwrap());
        time("P-256 key parse", budget, || dpop_gate::crypto::p256::P256Key::new(black_box(x), y).is_some());
        time("P-256 key precompute", budget, || {
            let mut k = dpop_gate::crypto::p256::P256Key::new(black_box(x), y).unwrap();
            k.precompute();
            k.is_precomputed()
        });
    }
    if want("SHA-256") {
        use sha2::{Digest, Sha256};
        let m = vec![0x5au8; 900];
        time("SHA-256 900 B", budget, || Sha256::digest(black_box(&m))[0] != 1);
    }
}
