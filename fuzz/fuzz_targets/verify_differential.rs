//! Differential: `Jwk::verify` (the fast verifiers in src/crypto/p256.rs, src/crypto/p384.rs and
//! src/crypto/rsa.rs) against the RustCrypto crates on fuzzer-chosen inputs; any disagreement is a
//! crash.
//!
//! Input: one selector byte, then the rest split by it into parts.
//! - ES256 (selector even, bit 4 clear; bit 5 picks the P-256 product form) and ES384 (even, bit 4 set): a private scalar (the key is `d·G`, so keys are always valid and
//!   include tiny multiples of G), a message and a signature; or, with the low bits set, a
//!   raw point (x, y) (mostly off the curve: parsing must agree too). A valid signature is made
//!   and then XORed with fuzzer bytes, so both valid and near-valid signatures are reached.
//! - RS*/PS* (selector odd): one of five keys, the RFC 7515 A.2 key (2048 bits) or those of
//!   tests/data/rsa_keys.json (3072, 3073, 4096, 4097 bits), and one of the six algorithms, both
//!   chosen by the selector's bits 1..6; the fuzzer chooses the message and either the signature
//!   directly or an encoded message that is "signed" with the private key (`em^d mod n`), which
//!   reaches every padding check.
#![no_main]

use std::sync::OnceLock;

use dpop_gate::crypto::p256::ProductForm;
use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jwk::Jwk;
use dpop_gate::jose::jws::{b64_decode, b64_encode};
use libfuzzer_sys::fuzz_target;
use rsa::traits::PublicKeyParts;
use rsa::BigUint;
use sha2::{Digest, Sha256, Sha384, Sha512};

const RFC: &str = include_str!("../../tests/data/rfc.json");
const RSA_KEYS: &str = include_str!("../../tests/data/rsa_keys.json");

struct RsaFixture {
    jwk: Jwk,
    public: rsa::RsaPublicKey,
    /// CRT form of the private exponent: p, q, d mod (p-1), d mod (q-1), q^-1 mod p.
    crt: [BigUint; 5],
}

/// A fixture from a private JWK (RFC 7518 6.3.2; `dp`, `dq` and `qi` computed when absent).
fn fixture(private: &serde_json::Value, public: &serde_json::Value) -> RsaFixture {
    let int = |name: &str| BigUint::from_bytes_be(&b64_decode(private[name].as_str().unwrap()).unwrap());
    let (d, p, q) = (int("d"), int("p"), int("q"));
    let (dp, dq) = (&d % (&p - 1u32), &d % (&q - 1u32));
    let q_inv = q.modpow(&(&p - 2u32), &p);
    RsaFixture {
        jwk: Jwk::from_value(public).unwrap(),
        public: rsa::RsaPublicKey::new_with_max_size(int("n"), int("e"), 8192).unwrap(),
        crt: [p, q, dp, dq, q_inv],
    }
}

fn rsa_fixtures() -> &'static [RsaFixture] {
    static F: OnceLock<Vec<RsaFixture>> = OnceLock::new();
    F.get_or_init(|| {
        let doc: serde_json::Value = serde_json::from_str(RFC).unwrap();
        let v = &doc["rfc7515_a2"];
        let mut private = v["private"].clone();
        private["n"] = v["jwk"]["n"].clone();
        private["e"] = v["jwk"]["e"].clone();
        let mut out = vec![fixture(&private, &v["jwk"])];
        let keys: serde_json::Value = serde_json::from_str(RSA_KEYS).unwrap();
        for k in keys["keys"].as_array().unwrap() {
            out.push(fixture(k, &serde_json::json!({"kty": "RSA", "n": k["n"], "e": k["e"]})));
        }
        out
    })
}

fn rsa_reference(key: &rsa::RsaPublicKey, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
    use rsa::{Pkcs1v15Sign, Pss};
    let n = key.n().to_bytes_be();
    if sig.len() != n.len() || sig >= n.as_slice() {
        return false;
    }
    match alg {
        Algorithm::RS256 => key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(msg), sig),
        Algorithm::RS384 => key.verify(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(msg), sig),
        Algorithm::RS512 => key.verify(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(msg), sig),
        Algorithm::PS256 => key.verify(Pss::new::<Sha256>(), &Sha256::digest(msg), sig),
        Algorithm::PS384 => key.verify(Pss::new::<Sha384>(), &Sha384::digest(msg), sig),
        _ => key.verify(Pss::new::<Sha512>(), &Sha512::digest(msg), sig),
    }
    .is_ok()
}

/// One ECDSA curve's differential check, instantiated for P-256 (ES256) and P-384 (ES384): the
/// same four input shapes against the curve's RustCrypto crate, so neither curve is fuzzed less.
macro_rules! ecdsa_differential {
    ($name:ident, $crate_:ident, $len:literal, $alg:expr, $crv:literal) => {
        fn $name(mode: u8, parts: &[&[u8]]) {
            use $crate_::ecdsa::signature::{Signer, Verifier};
            let part = |i: usize| parts.get(i).copied().unwrap_or_default();
            let pad = |b: &[u8]| {
                let mut out = [0u8; $len];
                let b = &b[..b.len().min($len)];
                out[$len - b.len()..].copy_from_slice(b);
                out
            };
            let msg = part(1);
            if mode & 2 == 0 {
                // A key from a scalar; a valid signature XOR fuzzer bytes.
                let Ok(sk) = $crate_::ecdsa::SigningKey::from_slice(&pad(part(0))) else { return };
                let vk = *sk.verifying_key();
                let point = vk.to_encoded_point(false);
                let jwk = serde_json::json!({"kty": "EC", "crv": $crv,
                    "x": b64_encode(point.x().unwrap()), "y": b64_encode(point.y().unwrap())});
                let ours = Jwk::from_value(&jwk).expect("a valid point must parse");
                let sig: $crate_::ecdsa::Signature = sk.sign(msg);
                let mut sig = sig.to_bytes().to_vec();
                for (s, x) in sig.iter_mut().zip(part(2)) {
                    *s ^= x;
                }
                if mode & 4 != 0 {
                    // Replace r or s wholesale with fuzzer bytes (edge scalars: 0, n, n-1, 2^k-1, ...).
                    let edge = pad(part(3));
                    let at = if mode & 8 == 0 { 0 } else { $len };
                    sig[at..at + $len].copy_from_slice(&edge);
                }
                let reference =
                    $crate_::ecdsa::Signature::from_slice(&sig).is_ok_and(|s| vk.verify(msg, &s).is_ok());
                assert_eq!(ours.verify($alg, msg, &sig).is_ok(), reference, "sig {sig:02x?}");
                // The precomputed path (P-256's split table; nothing to precompute for P-384) too.
                let mut pre = ours.clone();
                pre.precompute();
                assert_eq!(pre.verify($alg, msg, &sig).is_ok(), reference, "precomputed, sig {sig:02x?}");
            } else {
                // A raw point: parse results must agree, and so must verification when both accept.
                let (x, y) = (pad(part(0)), pad(part(2)));
                let sec1 = [&[4u8][..], &x, &y].concat();
                let reference = $crate_::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).ok();
                let jwk = serde_json::json!({"kty": "EC", "crv": $crv, "x": b64_encode(&x), "y": b64_encode(&y)});
                let ours = Jwk::from_value(&jwk).ok();
                assert_eq!(ours.is_some(), reference.is_some(), "x {x:02x?} y {y:02x?}");
                if let (Some(ours), Some(vk)) = (ours, reference) {
                    let sig = part(3);
                    let want =
                        $crate_::ecdsa::Signature::from_slice(sig).is_ok_and(|s| vk.verify(msg, &s).is_ok());
                    assert_eq!(ours.verify($alg, msg, sig).is_ok(), want);
                }
            }
        }
    };
}

ecdsa_differential!(es256, p256, 32, Algorithm::ES256, "P-256");
ecdsa_differential!(es384, p384, 48, Algorithm::ES384, "P-384");

fn rsa(mode: u8, parts: &[&[u8]]) {
    let fixtures = rsa_fixtures();
    let choice = usize::from(mode >> 1) & 0x3f;
    let f = &fixtures[choice / 6 % fixtures.len()];
    let part = |i: usize| parts.get(i).copied().unwrap_or_default();
    let alg =
        [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512]
            [choice % 6];
    let msg = part(0);
    let sig = if mode & 0x80 == 0 {
        part(1).to_vec()
    } else {
        // "Sign" the fuzzer's encoded message, reduced below n; pad to the modulus length.
        let em = BigUint::from_bytes_be(part(1)) % f.public.n();
        let [p, q, dp, dq, q_inv] = &f.crt;
        let (m1, m2) = (em.modpow(dp, p), em.modpow(dq, q));
        let h = ((&m1 + p - (&m2 % p)) * q_inv) % p;
        let s = (m2 + h * q).to_bytes_be();
        [vec![0u8; f.public.size() - s.len()], s].concat()
    };
    let reference = rsa_reference(&f.public, alg, msg, &sig);
    assert_eq!(f.jwk.verify(alg, msg, &sig).is_ok(), reference, "{} bits {alg:?} sig {sig:02x?}", f.public.n().bits());
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    // Parts are separated by the selector byte's complement, so the fuzzer controls the split.
    let parts: Vec<&[u8]> = rest.split(|&b| b == !selector).collect();
    if selector & 1 == 0 {
        if selector & 0x10 == 0 {
            // Bit 5: which form of the field product P-256's point formulas use.
            let form = if selector & 0x20 == 0 { ProductForm::Inline } else { ProductForm::Call };
            dpop_gate::crypto::p256::set_product_form(form);
            es256(selector, &parts);
        } else {
            es384(selector, &parts);
        }
    } else {
        rsa(selector, &parts);
    }
});
