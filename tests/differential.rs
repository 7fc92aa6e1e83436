//! Differential tests: the fast verifiers behind `Jwk::verify` (src/crypto/p256.rs,
//! src/crypto/rsa.rs) against the RustCrypto crates (`p256`, `rsa`) on many random keys, messages and
//! signatures: valid, corrupted, edge scalars, malformed encodings, points off the curve. Every
//! outcome must agree. The RNG is seeded, so a failure reproduces.

mod common;
use common::TestRng;

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jwk::Jwk;
use dpop_gate::jose::jws::b64_encode;
use rsa::rand_core::RngCore;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::BigUint;
use serde_json::json;
use sha2::{Digest, Sha256, Sha384, Sha512};

impl TestRng {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill_bytes(&mut v);
        v
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The P-256 group order n and field prime p, big-endian.
const N: [u8; 32] = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const P: [u8; 32] = hex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

fn be_add(a: &[u8; 32], k: i64) -> [u8; 32] {
    let v = BigUint::from_bytes_be(a);
    let v = if k >= 0 { v + BigUint::from(k as u64) } else { v - BigUint::from((-k) as u64) };
    let mut bytes = v.to_bytes_be();
    bytes.truncate(32);
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

fn ec_jwk(x: &[u8], y: &[u8]) -> serde_json::Value {
    json!({"kty": "EC", "crv": "P-256", "x": b64_encode(x), "y": b64_encode(y)})
}

/// One ES256 comparison: our `Jwk::verify` against `p256`'s verifier for the same point, with
/// the key as parsed (small table, 257 doublings) and after `precompute` (split table).
fn es256_agree(ours: &[Jwk; 2], theirs: &p256::ecdsa::VerifyingKey, msg: &[u8], sig: &[u8], what: &str) -> bool {
    use p256::ecdsa::signature::Verifier;
    let reference = p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| theirs.verify(msg, &s).is_ok());
    for key in ours {
        let got = key.verify(Algorithm::ES256, msg, sig).is_ok();
        assert_eq!(got, reference, "{what}: msg {msg:02x?} sig {sig:02x?}");
    }
    reference
}

#[test]
fn p256_base_table_is_current() {
    let path = format!("{}/src/crypto/p256_table.rs", env!("CARGO_MANIFEST_DIR"));
    let want = dpop_gate::crypto::p256::base_table_source().expect("base table");
    if std::env::var_os("P256_TABLE_UPDATE").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert!(std::fs::read_to_string(&path).unwrap() == want, "src/crypto/p256_table.rs is stale: P256_TABLE_UPDATE=1");
}

#[test]
fn p384_base_table_is_current() {
    let path = format!("{}/src/crypto/p384_table.rs", env!("CARGO_MANIFEST_DIR"));
    let want = dpop_gate::crypto::p384::base_table_source().expect("base table");
    if std::env::var_os("P384_TABLE_UPDATE").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert!(std::fs::read_to_string(&path).unwrap() == want, "src/crypto/p384_table.rs is stale: P384_TABLE_UPDATE=1");
}

#[test]
fn es256_random_keys_and_signatures() {
    use dpop_gate::crypto::p256::{product_form, set_product_form, ProductForm};
    // Both forms of the point formulas' field product (src/crypto/p256.rs): the same cases, keys
    // parsed and precomputed under each. No other test in this binary sets the form.
    for form in [ProductForm::Inline, ProductForm::Call] {
        set_product_form(form);
        es256_random_cases();
        assert_eq!(product_form(), form);
    }
}

fn es256_random_cases() {
    use p256::ecdsa::signature::Signer;
    let mut rng = TestRng(0x5eed_0256);
    let (mut valid, mut total) = (0, 0);
    // Private keys: tiny ones (Q = G, 2G, 3G, -G: the Shamir loop then adds equal and opposite
    // points) and random ones.
    let mut secrets: Vec<[u8; 32]> =
        vec![be_add(&[0; 32], 1), be_add(&[0; 32], 2), be_add(&[0; 32], 3), be_add(&N, -1)];
    while secrets.len() < 40 {
        let mut d = [0u8; 32];
        rng.fill_bytes(&mut d);
        secrets.push(d);
    }
    for d in secrets {
        let Ok(sk) = p256::ecdsa::SigningKey::from_slice(&d) else { continue };
        let vk = *sk.verifying_key();
        let point = vk.to_encoded_point(false);
        let (x, y) = (point.x().unwrap().to_vec(), point.y().unwrap().to_vec());
        let parsed = Jwk::from_value(&ec_jwk(&x, &y)).expect("valid point parses");
        let mut precomputed = parsed.clone();
        precomputed.precompute();
        let ours = [parsed, precomputed];
        for round in 0..6 {
            let len = rng.below(100) as usize;
            let msg = rng.bytes(len);
            let sig: p256::ecdsa::Signature = sk.sign(&msg);
            let sig = sig.to_bytes().to_vec();
            let (r, s) = (<[u8; 32]>::try_from(&sig[..32]).unwrap(), <[u8; 32]>::try_from(&sig[32..]).unwrap());
            let mut cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
                (msg.clone(), sig.clone(), "valid"),
                // High-S: n - s verifies too (JWS does not require low-S).
                (msg.clone(), [&r[..], &sub_be(&N, &s)].concat(), "high-s"),
                (msg.iter().map(|b| b ^ 1).collect(), sig.clone(), "other message"),
                (msg.clone(), [&r[..], &r[..]].concat(), "s = r"),
                (msg.clone(), rng.bytes(64), "random"),
            ];
            let mut flipped = sig.clone();
            let bit = rng.below(512) as usize;
            flipped[bit / 8] ^= 1 << (bit % 8);
            cases.push((msg.clone(), flipped, "bit flip"));
            // Edge scalars for r and s.
            let edges = [[0u8; 32], be_add(&[0; 32], 1), be_add(&N, -1), N, be_add(&N, 1), [0xff; 32], P];
            let edge = edges[round % edges.len()];
            cases.push((msg.clone(), [&edge[..], &s[..]].concat(), "edge r"));
            cases.push((msg.clone(), [&r[..], &edge[..]].concat(), "edge s"));
            cases.push((msg.clone(), [&edge[..], &edge[..]].concat(), "edge r and s"));
            // r = x(R) + n is only reachable when x(R) < p - n; probe the `r + n` branch anyway.
            cases.push((msg.clone(), [&be_add(&r, 0)[..], &be_add(&N, -2)[..]].concat(), "s = n - 2"));
            for (m, sg, what) in &cases {
                valid += usize::from(es256_agree(&ours, &vk, m, sg, what));
                total += 1;
            }
        }
        // u1·G + u2·Q = identity: with Q = d·G, r = -e·d^-1·... is hard to aim in general, but for
        // d = 1 (Q = G) any s with r ≡ -e (mod n) gives u1 + u2 ≡ 0.
        if d == be_add(&[0; 32], 1) {
            for _ in 0..5 {
                let msg = rng.bytes(20);
                let e = BigUint::from_bytes_be(&Sha256::digest(&msg)) % BigUint::from_bytes_be(&N);
                let r = (BigUint::from_bytes_be(&N) - e) % BigUint::from_bytes_be(&N);
                let mut sig = vec![0u8; 32 - r.to_bytes_be().len()];
                sig.extend(r.to_bytes_be());
                sig.extend(rng.bytes(32));
                assert!(!es256_agree(&ours, &vk, &msg, &sig, "R = identity"));
                total += 1;
            }
        }
    }
    assert!(valid > 300 && total > 2000, "valid {valid} of {total}");
}

fn sub_be(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let v = BigUint::from_bytes_be(a) - BigUint::from_bytes_be(b);
    let bytes = v.to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

#[test]
fn p256_key_validation_agrees() {
    let mut rng = TestRng(0x5eed_9017);
    let g = p256::ecdsa::SigningKey::from_slice(&be_add(&[0; 32], 7)).unwrap();
    let point = g.verifying_key().to_encoded_point(false);
    let (x, y) = (
        <[u8; 32]>::try_from(&point.x().unwrap()[..]).unwrap(),
        <[u8; 32]>::try_from(&point.y().unwrap()[..]).unwrap(),
    );
    let mut cases: Vec<([u8; 32], [u8; 32])> = vec![
        (x, y),
        (x, sub_be(&P, &y)),
        (x, be_add(&y, 1)),
        (be_add(&x, 1), y),
        ([0; 32], [0; 32]),
        (P, y),
        (x, be_add(&y, 0).map(|b| b)),
        ([0xff; 32], [0xff; 32]),
        // (x + p, y) would be the same point if the coordinate were reduced: must be refused.
        (x, P),
    ];
    // x = 0 is on the curve: y^2 = b.
    let b = BigUint::parse_bytes(b"5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b", 16).unwrap();
    let p = BigUint::from_bytes_be(&P);
    let y0 = b.modpow(&((&p + 1u32) / 4u32), &p);
    let mut y0b = [0u8; 32];
    let y0v = y0.to_bytes_be();
    y0b[32 - y0v.len()..].copy_from_slice(&y0v);
    cases.push(([0; 32], y0b));
    for _ in 0..200 {
        let mut x = [0u8; 32];
        rng.fill_bytes(&mut x);
        // Half the time a valid point (the square root exists for about half the x).
        let xv = BigUint::from_bytes_be(&x) % &p;
        let rhs = (xv.modpow(&BigUint::from(3u32), &p) + &p * 3u32 - &xv * 3u32 + &b) % &p;
        let yv = rhs.modpow(&((&p + 1u32) / 4u32), &p);
        let mut yb = [0u8; 32];
        let ybytes = yv.to_bytes_be();
        yb[32 - ybytes.len()..].copy_from_slice(&ybytes);
        cases.push((x, yb));
    }
    let mut accepted = 0;
    for (x, y) in cases {
        let sec1 = [&[4u8][..], &x, &y].concat();
        let reference = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).is_ok();
        let got = Jwk::from_value(&ec_jwk(&x, &y)).is_ok();
        assert_eq!(got, reference, "x {x:02x?} y {y:02x?}");
        accepted += usize::from(got);
    }
    assert!(accepted > 50, "{accepted}");
}

/// RSA key pairs, once for all tests: (bits, e, private key, our parsed public JWK). Sizes near
/// 2048 bits are drawn from a seeded RNG; 3072, 3073, 4096 and 4097 bits are fixed keys from
/// tests/data/rsa_keys.json (made by tests/data/make_rsa_keys.py: generating them here would
/// dominate the run). Odd sizes matter for PSS (emBits = modBits - 1 crosses a byte boundary at
/// 8k + 1 bits) and for limbs (moduli not a multiple of 32 bits, a top limb of one bit).
fn rsa_keys() -> &'static [(usize, u64, rsa::RsaPrivateKey, Jwk)] {
    static KEYS: std::sync::OnceLock<Vec<(usize, u64, rsa::RsaPrivateKey, Jwk)>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let public = |key: &rsa::RsaPrivateKey| {
            let jwk =
                json!({"kty": "RSA", "n": b64_encode(&key.n().to_bytes_be()), "e": b64_encode(&key.e().to_bytes_be())});
            Jwk::from_value(&jwk).unwrap()
        };
        let mut rng = TestRng(0x5eed_2048);
        let mut keys: Vec<_> = [(2048, 65537), (2049, 65537), (2055, 3), (2080, 17)]
            .into_iter()
            .map(|(bits, e)| {
                let key = rsa::RsaPrivateKey::new_with_exp(&mut rng, bits, &BigUint::from(e)).unwrap();
                let ours = public(&key);
                (bits, e, key, ours)
            })
            .collect();
        for key in common::rsa_test_keys() {
            let bits = key.n().bits();
            let e = key.e().to_bytes_be().iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
            let ours = public(&key);
            keys.push((bits, e, key, ours));
        }
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), [2048, 2049, 2055, 2080, 3072, 3073, 4096, 4097]);
        keys
    })
}

/// The reference result, with the checks `Jwk::verify` always made before calling the crate.
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
        Algorithm::PS512 => key.verify(Pss::new::<Sha512>(), &Sha512::digest(msg), sig),
        _ => unreachable!(),
    }
    .is_ok()
}

/// "Signs" an arbitrary encoded message: `em^d mod n`, left-padded to the modulus length. Lets
/// the tests build malformed paddings that only a broken verifier would accept.
fn raw_sign(key: &rsa::RsaPrivateKey, em: &[u8]) -> Vec<u8> {
    // CRT, a few times faster than `em^d mod n` in a debug test run.
    let (p, q) = (&key.primes()[0], &key.primes()[1]);
    let m = BigUint::from_bytes_be(em);
    let m1 = m.modpow(&(key.d() % (p - 1u32)), p);
    let m2 = m.modpow(&(key.d() % (q - 1u32)), q);
    let q_inv = q.modpow(&(p - 2u32), p);
    let h = ((&m1 + p - (&m2 % p)) * q_inv) % p;
    let s = (m2 + h * q).to_bytes_be();
    let len = key.size();
    [vec![0u8; len - s.len()], s].concat()
}

/// Malformed PKCS#1 v1.5 blocks around the valid one for `hash` with DigestInfo `prefix`.
fn pkcs1_variants(len: usize, prefix: &[u8], hash: &[u8]) -> Vec<(Vec<u8>, &'static str)> {
    let build = |lead: &[u8], ps: usize, sep: &[u8], prefix: &[u8], hash: &[u8]| {
        let mut em = lead.to_vec();
        em.extend(vec![0xffu8; ps]);
        em.extend_from_slice(sep);
        em.extend_from_slice(prefix);
        em.extend_from_slice(hash);
        em
    };
    let t = prefix.len() + hash.len();
    let ps = len - t - 3;
    let mut no_null = prefix.to_vec();
    no_null[1] -= 2;
    no_null[3] -= 2;
    no_null.drain(prefix.len() - 4..prefix.len() - 2);
    let mut out = vec![
        (build(&[0, 1], ps, &[0], prefix, hash), "valid"),
        (build(&[0, 2], ps, &[0], prefix, hash), "block type 2"),
        (build(&[0, 1], ps - 1, &[0, 0], prefix, hash), "short padding"),
        (build(&[0, 1], ps, &[1], prefix, hash), "bad separator"),
        (build(&[0, 1], ps + 2, &[0], &no_null, hash), "DigestInfo without NULL"),
        (build(&[0, 1], ps, &[0], prefix, &hash.iter().map(|b| b ^ 0x80).collect::<Vec<_>>()), "other hash"),
        (build(&[0, 1], ps - 1, &[0], prefix, &[hash, &[0]].concat()), "hash one byte long"),
    ];
    let mut bad_ps = build(&[0, 1], ps, &[0], prefix, hash);
    bad_ps[5] = 0xfe;
    out.push((bad_ps, "padding byte not ff"));
    out
}

/// EMSA-PSS encoding (RFC 8017 9.1.1) with a chosen salt and knobs to break it.
fn pss_encode<D: Digest>(
    m_hash: &[u8],
    salt: &[u8],
    em_bits: usize,
    trailer: u8,
    keep_top: bool,
    db_one: u8,
) -> Vec<u8> {
    let h_len = <D as Digest>::output_size();
    let em_len = em_bits.div_ceil(8);
    let mut m = vec![0u8; 8];
    m.extend_from_slice(m_hash);
    m.extend_from_slice(salt);
    let h = D::digest(&m).to_vec();
    let mut db = vec![0u8; em_len - salt.len() - h_len - 2];
    db.push(db_one);
    db.extend_from_slice(salt);
    let mut mask = Vec::new();
    let mut counter = 0u32;
    while mask.len() < db.len() {
        let mut hh = D::new();
        hh.update(&h);
        hh.update(counter.to_be_bytes());
        mask.extend_from_slice(&hh.finalize());
        counter += 1;
    }
    for (d, m) in db.iter_mut().zip(&mask) {
        *d ^= m;
    }
    if !keep_top {
        db[0] &= 0xff >> (8 * em_len - em_bits);
    } else {
        db[0] |= 0x80;
    }
    [db, h, vec![trailer]].concat()
}

fn pss_variants<D: Digest>(rng: &mut TestRng, mod_bits: usize, m_hash: &[u8]) -> Vec<(Vec<u8>, &'static str)> {
    let h_len = <D as Digest>::output_size();
    let salt = rng.bytes(h_len);
    let em_bits = mod_bits - 1;
    vec![
        (pss_encode::<D>(m_hash, &salt, em_bits, 0xbc, false, 1), "valid"),
        (pss_encode::<D>(m_hash, &salt, em_bits, 0xbd, false, 1), "trailer"),
        (pss_encode::<D>(m_hash, &salt, em_bits, 0xbc, true, 1), "top bit set"),
        (pss_encode::<D>(m_hash, &salt, em_bits, 0xbc, false, 2), "separator 2"),
        (pss_encode::<D>(m_hash, &salt[1..], em_bits, 0xbc, false, 1), "salt one byte short"),
        (pss_encode::<D>(m_hash, &rng.bytes(h_len + 1), em_bits, 0xbc, false, 1), "salt one byte long"),
        (pss_encode::<D>(m_hash, &[], em_bits, 0xbc, false, 1), "empty salt"),
        (pss_encode::<D>(&vec![0u8; h_len], &salt, em_bits, 0xbc, false, 1), "other hash"),
    ]
}

#[test]
fn rsa_random_keys_and_signatures() {
    use rsa::{Pkcs1v15Sign, Pss};
    let mut rng = TestRng(0x5eed_2048);
    let algs =
        [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];
    let (mut valid, mut total) = (0, 0);
    for &(bits, e, ref sk, ref ours) in rsa_keys() {
        let pk = sk.to_public_key();
        let n = pk.n().to_bytes_be();
        let check = |alg: Algorithm, msg: &[u8], sig: &[u8], what: &str| -> bool {
            let reference = rsa_reference(&pk, alg, msg, sig);
            let got = ours.verify(alg, msg, sig).is_ok();
            assert_eq!(got, reference, "{bits}-bit e={e} {alg:?} {what}");
            got
        };
        for alg in algs {
            for round in 0..3 {
                let len = rng.below(64) as usize;
                let msg = rng.bytes(len);
                let (prefix, hash): (Vec<u8>, Vec<u8>) = match alg {
                    Algorithm::RS256 | Algorithm::PS256 => {
                        (Pkcs1v15Sign::new::<Sha256>().prefix.to_vec(), Sha256::digest(&msg).to_vec())
                    }
                    Algorithm::RS384 | Algorithm::PS384 => {
                        (Pkcs1v15Sign::new::<Sha384>().prefix.to_vec(), Sha384::digest(&msg).to_vec())
                    }
                    _ => (Pkcs1v15Sign::new::<Sha512>().prefix.to_vec(), Sha512::digest(&msg).to_vec()),
                };
                let signed = match alg {
                    Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => sk
                        .sign(Pkcs1v15Sign { hash_len: Some(hash.len()), prefix: prefix.clone().into() }, &hash)
                        .unwrap(),
                    Algorithm::PS256 => sk.sign_with_rng(&mut rng, Pss::new::<Sha256>(), &hash).unwrap(),
                    Algorithm::PS384 => sk.sign_with_rng(&mut rng, Pss::new::<Sha384>(), &hash).unwrap(),
                    _ => sk.sign_with_rng(&mut rng, Pss::new::<Sha512>(), &hash).unwrap(),
                };
                let mut sigs: Vec<(Vec<u8>, &str)> = vec![(signed.clone(), "signed")];
                let mut flipped = signed.clone();
                let bit = rng.below(8 * n.len() as u64) as usize;
                flipped[bit / 8] ^= 1 << (bit % 8);
                sigs.push((flipped, "bit flip"));
                sigs.push((rng.bytes(n.len()), "random"));
                sigs.push((vec![0; n.len()], "zero"));
                sigs.push((n.clone(), "s = n"));
                sigs.push(((BigUint::from_bytes_be(&signed) + pk.n()).to_bytes_be(), "s + n"));
                sigs.push((signed[1..].to_vec(), "short"));
                sigs.push(([&[0u8][..], &signed].concat(), "long"));
                let variants = if matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512) {
                    pkcs1_variants(n.len(), &prefix, &hash)
                } else {
                    match alg {
                        Algorithm::PS256 => pss_variants::<Sha256>(&mut rng, bits, &hash),
                        Algorithm::PS384 => pss_variants::<Sha384>(&mut rng, bits, &hash),
                        _ => pss_variants::<Sha512>(&mut rng, bits, &hash),
                    }
                };
                // Hand-built paddings once per key and algorithm (each costs a private operation).
                if round == 0 {
                    for (em, what) in &variants {
                        sigs.push((raw_sign(sk, em), what));
                    }
                }
                for (sig, what) in &sigs {
                    valid += usize::from(check(alg, &msg, sig, what));
                    total += 1;
                }
            }
        }
    }
    assert!(valid >= 8 * 6 * 4 && total > 1200, "valid {valid} of {total}");
}

#[test]
fn rsa_public_operation_matches_modpow() {
    let mut rng = TestRng(0x5eed_0e0e);
    for &(bits, e, ref sk, _) in rsa_keys() {
        let n = sk.n().to_bytes_be();
        let ours = dpop_gate::crypto::rsa::RsaKey::new(&n, e as u32).unwrap();
        let mut inputs = vec![vec![0u8; n.len()], BigUint::from(1u32).to_bytes_be(), (sk.n() - 1u32).to_bytes_be()];
        for _ in 0..30 {
            inputs.push((BigUint::from_bytes_be(&rng.bytes(n.len())) % sk.n()).to_bytes_be());
        }
        for s in inputs {
            let s = [vec![0u8; n.len() - s.len()], s].concat();
            let want = BigUint::from_bytes_be(&s).modpow(sk.e(), sk.n());
            let got = ours.public_op(&s).unwrap();
            assert_eq!(BigUint::from_bytes_be(&got), want, "{bits} bits");
            assert_eq!(got.len(), n.len());
        }
        assert!(ours.public_op(&n).is_none(), "s = n");
        assert!(ours.public_op(&n[1..]).is_none(), "short");
    }
}

/// The build verifies with the backend its features chose: `Jwk` reaches the `rsa` and `p256`
/// crates through src/crypto/rustcrypto.rs only with `--features rustcrypto` (`make unit` runs
/// this file both ways, so the comparisons above are also the kill switch's).
#[test]
fn backend_is_the_one_built() {
    let rustcrypto = cfg!(feature = "rustcrypto");
    assert_eq!(dpop_gate::crypto::backend::NAME, if rustcrypto { "rustcrypto" } else { "hand-written" });
    for name in [
        std::any::type_name::<dpop_gate::crypto::backend::RsaKey>(),
        std::any::type_name::<dpop_gate::crypto::backend::P256Key>(),
    ] {
        assert_eq!(name.contains("::rustcrypto::"), rustcrypto, "{name}");
    }
}

const N384: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";
const P384: &str = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff";

/// `v mod 2^384` as 48 big-endian bytes.
fn be48(v: &BigUint) -> [u8; 48] {
    let mut bytes = v.to_bytes_be();
    if bytes.len() > 48 {
        bytes.drain(..bytes.len() - 48);
    }
    let mut out = [0u8; 48];
    out[48 - bytes.len()..].copy_from_slice(&bytes);
    out
}

fn big(hex: &str) -> BigUint {
    BigUint::parse_bytes(hex.as_bytes(), 16).unwrap()
}

/// The JWK path (`Jwk::verify`, the backend this build uses) and the hand-written verifier on a
/// raw digest must both agree with the `p384` crate; returns the verdict.
fn es384_agree(ours: &Jwk, theirs: &p384::ecdsa::VerifyingKey, msg: &[u8], sig: &[u8], what: &str) -> bool {
    use p384::ecdsa::signature::Verifier;
    let reference = p384::ecdsa::Signature::from_slice(sig).is_ok_and(|s| theirs.verify(msg, &s).is_ok());
    assert_eq!(ours.verify(Algorithm::ES384, msg, sig).is_ok(), reference, "{what}: msg {msg:02x?} sig {sig:02x?}");
    reference
}

#[test]
fn es384_random_keys_and_signatures() {
    use p384::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
    use p384::ecdsa::signature::Signer;
    let mut rng = TestRng(0x5eed_0384);
    let (n, p) = (big(N384), big(P384));
    let (mut valid, mut total) = (0, 0);
    // Tiny private keys (Q = G, 2G, 3G, -G: equal and opposite points in the Shamir loop) and random ones.
    let mut secrets: Vec<[u8; 48]> =
        vec![be48(&BigUint::from(1u8)), be48(&BigUint::from(2u8)), be48(&BigUint::from(3u8)), be48(&(&n - 1u8))];
    while secrets.len() < 30 {
        let mut d = [0u8; 48];
        rng.fill_bytes(&mut d);
        secrets.push(d);
    }
    let edges = [
        BigUint::from(0u8),
        BigUint::from(1u8),
        &n - 1u8,
        n.clone(),
        &n + 1u8,
        (BigUint::from(1u8) << 384) - 1u8,
        p.clone(),
        &p - &n,
        &p - &n - 1u8,
    ];
    for d in secrets {
        let Ok(sk) = p384::ecdsa::SigningKey::from_slice(&d) else { continue };
        let vk = *sk.verifying_key();
        let point = vk.to_encoded_point(false);
        let (x, y) = (point.x().unwrap().to_vec(), point.y().unwrap().to_vec());
        let jwk = json!({"kty": "EC", "crv": "P-384", "x": b64_encode(&x), "y": b64_encode(&y)});
        let ours = Jwk::from_value(&jwk).expect("valid point parses");
        let raw =
            dpop_gate::crypto::p384::P384Key::new(x.as_slice().try_into().unwrap(), y.as_slice().try_into().unwrap())
                .expect("valid point");
        for round in 0..8 {
            let len = rng.below(100) as usize;
            let msg = rng.bytes(len);
            let sig: p384::ecdsa::Signature = sk.sign(&msg);
            let sig = sig.to_bytes().to_vec();
            let (r, s) = (BigUint::from_bytes_be(&sig[..48]), BigUint::from_bytes_be(&sig[48..]));
            let mut cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
                (msg.clone(), sig.clone(), "valid"),
                (msg.clone(), [be48(&r), be48(&(&n - &s))].concat(), "high-s"),
                (msg.iter().map(|b| b ^ 1).collect(), sig.clone(), "other message"),
                (msg.clone(), [be48(&r), be48(&r)].concat(), "s = r"),
                (msg.clone(), rng.bytes(96), "random"),
                (msg.clone(), [be48(&(&r + &n)), be48(&s)].concat(), "r + n"),
            ];
            let mut flipped = sig.clone();
            let bit = rng.below(768) as usize;
            flipped[bit / 8] ^= 1 << (bit % 8);
            cases.push((msg.clone(), flipped, "bit flip"));
            let edge = be48(&edges[round % edges.len()]);
            cases.push((msg.clone(), [&edge[..], &sig[48..]].concat(), "edge r"));
            cases.push((msg.clone(), [&sig[..48], &edge[..]].concat(), "edge s"));
            cases.push((msg.clone(), [edge, edge].concat(), "edge r and s"));
            for (m, sg, what) in &cases {
                valid += usize::from(es384_agree(&ours, &vk, m, sg, what));
                total += 1;
            }
            // Raw digests, including ones at or above n (e mod n): sign the digest itself.
            let digest = match round % 3 {
                0 => be48(&(&n + BigUint::from(rng.below(1000)))),
                1 => [0xff; 48],
                _ => rng.bytes(48).try_into().unwrap(),
            };
            let sig: p384::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
            let sig: [u8; 96] = sig.to_bytes()[..].try_into().unwrap();
            assert!(vk.verify_prehash(&digest, &p384::ecdsa::Signature::from_slice(&sig).unwrap()).is_ok());
            assert!(raw.verify(&digest, &sig), "digest {digest:02x?}");
            let mut other = digest;
            other[47] ^= 1;
            assert!(!raw.verify(&other, &sig));
            total += 1;
        }
        // u1·G + u2·Q = identity for Q = G: r ≡ -e (mod n).
        if d == be48(&BigUint::from(1u8)) {
            for _ in 0..5 {
                let msg = rng.bytes(20);
                let e = BigUint::from_bytes_be(&Sha384::digest(&msg)) % &n;
                let r = (&n - e) % &n;
                let sig = [be48(&r).to_vec(), rng.bytes(48)].concat();
                assert!(!es384_agree(&ours, &vk, &msg, &sig, "R = identity"));
                total += 1;
            }
        }
    }
    assert!(valid > 200 && total > 2000, "valid {valid} of {total}");
}

#[test]
fn p384_key_validation_agrees() {
    let mut rng = TestRng(0x5eed_1384);
    let p = big(P384);
    let sk = p384::ecdsa::SigningKey::from_slice(&[7u8; 48]).unwrap();
    let point = sk.verifying_key().to_encoded_point(false);
    let (x, y) = (BigUint::from_bytes_be(point.x().unwrap()), BigUint::from_bytes_be(point.y().unwrap()));
    let mut cases = vec![
        (x.clone(), y.clone()),
        (&x + &p, y.clone()),
        (x.clone(), &y + &p),
        (x.clone(), &p - &y),
        (x.clone(), &y + 1u8),
        (BigUint::from(0u8), BigUint::from(0u8)),
        (p.clone(), BigUint::from(0u8)),
    ];
    for _ in 0..200 {
        cases.push((BigUint::from_bytes_be(&rng.bytes(48)), BigUint::from_bytes_be(&rng.bytes(48))));
    }
    for (cx, cy) in cases {
        // Values of 2^384 and above cannot be put in 48 bytes: skip them (be48 would wrap).
        if cx.bits() > 384 || cy.bits() > 384 {
            continue;
        }
        let (bx, by) = (be48(&cx), be48(&cy));
        let theirs = p384::ecdsa::VerifyingKey::from_encoded_point(&p384::EncodedPoint::from_affine_coordinates(
            (&bx).into(),
            (&by).into(),
            false,
        ))
        .is_ok();
        assert_eq!(dpop_gate::crypto::p384::P384Key::new(&bx, &by).is_some(), theirs, "x {bx:02x?} y {by:02x?}");
        let jwk = json!({"kty": "EC", "crv": "P-384", "x": b64_encode(&bx), "y": b64_encode(&by)});
        assert_eq!(Jwk::from_value(&jwk).is_ok(), theirs, "jwk x {bx:02x?}");
    }
}

/// The Montgomery product and square at their column bounds: moduli of all-ones limbs and
/// operands `n - 1` and `n - 2` (every limb product near 2^56) from 2,048 to 8,192 bits, where
/// the columns must be normalized mid-way (src/crypto/rsa.rs, `BUDGET`), checked against a bignum.
#[test]
fn rsa_montgomery_at_its_column_bounds() {
    for bits in [2048usize, 3072, 3472, 3473, 3584, 4096, 4097, 6000, 8192] {
        let n = (BigUint::from(1u32) << bits) - 1u32;
        let n_be = n.to_bytes_be();
        for (a, b) in [(&n - 1u32, &n - 1u32), (&n - 2u32, &n - 1u32), (&n >> 1usize, &n - 3u32)] {
            for square in [false, true] {
                let (got, r_bits) =
                    dpop_gate::crypto::rsa::mont_op(&n_be, &a.to_bytes_be(), &b.to_bytes_be(), square).unwrap();
                let x = BigUint::from_bytes_be(&got);
                let want = if square { &a * &a } else { &a * &b } % &n;
                assert!(x < n && (&x << r_bits) % &n == want, "{bits} bits, square {square}");
            }
        }
    }
}
