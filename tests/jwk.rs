//! Attack and edge-case tests for JWK parsing, JWKS key selection and per-algorithm verification,
//! plus the JWS-level refusals. Keys are the fixed RFC 7515 A.2/A.3 and RFC 8037 keys from
//! tests/data/rfc.json (no randomness).

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::error::{JwkError, JwsError};
use dpop_gate::jose::jwk::{Jwk, JwkSet};
use dpop_gate::jose::jws::{self, b64_decode, b64_encode};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer;
use rsa::rand_core::{CryptoRng, RngCore};
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const MAX: usize = 16 * 1024;

fn rfc(name: &str) -> Value {
    let path = format!("{}/tests/data/rfc.json", env!("CARGO_MANIFEST_DIR"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc[name].clone()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap().to_owned()
}

fn rsa_jwk() -> Value {
    rfc("rfc7515_a2")["jwk"].clone()
}
fn ec_jwk() -> Value {
    rfc("rfc7515_a3")["jwk"].clone()
}
fn ed_jwk() -> Value {
    rfc("rfc8037_a4")["jwk"].clone()
}

/// `jwk` with `extra` members merged in.
fn with(mut jwk: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        jwk[k] = v.clone();
    }
    jwk
}

fn signing_input(header: &Value, payload: &Value) -> String {
    format!("{}.{}", b64_encode(header.to_string().as_bytes()), b64_encode(payload.to_string().as_bytes()))
}

fn es256_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&b64_decode(&s(&rfc("rfc7515_a3"), "d")).unwrap()).unwrap()
}

/// A second, unrelated P-256 key (fixed scalar).
fn other_es256_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
}

fn es256_public_jwk(sk: &p256::ecdsa::SigningKey) -> Value {
    let point = sk.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-256", "x": b64_encode(point.x().unwrap()), "y": b64_encode(point.y().unwrap())})
}

fn es256_token(sk: &p256::ecdsa::SigningKey, header: Value) -> String {
    let input = signing_input(&header, &json!({"iss": "joe"}));
    let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
    format!("{input}.{}", b64_encode(&sig.to_bytes()))
}

fn rsa_private() -> RsaPrivateKey {
    let b = |v: &Value, k: &str| BigUint::from_bytes_be(&b64_decode(&s(v, k)).unwrap());
    let (jwk, private) = (rsa_jwk(), rfc("rfc7515_a2")["private"].clone());
    RsaPrivateKey::from_components(
        b(&jwk, "n"),
        b(&jwk, "e"),
        b(&private, "d"),
        vec![b(&private, "p"), b(&private, "q")],
    )
    .unwrap()
}

/// A deterministic byte stream for PSS salts and blinding in tests only.
struct TestRng(u8);
impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            self.0 = self.0.wrapping_mul(31).wrapping_add(17);
            *d = self.0;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for TestRng {}

fn rsa_token(alg: &str, kid: Option<&str>, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let mut header = json!({"alg": alg});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let input = signing_input(&header, &json!({"iss": "joe"}));
    let sig = sign(&Sha256::digest(input.as_bytes()));
    format!("{input}.{}", b64_encode(&sig))
}

fn pkcs1_sha256(hash: &[u8]) -> Vec<u8> {
    rsa_private().sign(Pkcs1v15Sign::new::<Sha256>(), hash).unwrap()
}

fn pss_sha256(salt: usize) -> impl Fn(&[u8]) -> Vec<u8> {
    move |hash| rsa_private().sign_with_rng(&mut TestRng(1), Pss::new_with_salt::<Sha256>(salt), hash).unwrap()
}

/// Parses `token` (which must parse) and verifies it with `key`.
fn check(token: &str, key: &Jwk) -> Result<(), JwsError> {
    jws::parse(token, MAX).unwrap().verify(key)
}

fn key(v: &Value) -> Jwk {
    Jwk::from_value(v).unwrap()
}

fn err(v: Value) -> JwkError {
    Jwk::from_value(&v).unwrap_err()
}

// ---- algorithm confusion ----

#[test]
fn hs256_signed_with_rsa_public_key_is_unsupported() {
    // The classic attack: HMAC keyed with the server's RSA public key. HS* cannot even be parsed.
    let input = signing_input(&json!({"alg": "HS256"}), &json!({"iss": "joe"}));
    let mut mac = Hmac::<Sha256>::new_from_slice(rsa_jwk().to_string().as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let token = format!("{input}.{}", b64_encode(&mac.finalize().into_bytes()));
    assert_eq!(jws::parse(&token, MAX).err(), Some(JwsError::AlgUnsupported));
}

#[test]
fn key_type_must_match_alg() {
    let (es256, rs256) = (s(&rfc("rfc7515_a3"), "jws"), s(&rfc("rfc7515_a2"), "jws"));
    let es256 = jws::parse(&es256, MAX).unwrap();
    let rs256 = jws::parse(&rs256, MAX).unwrap();
    assert_eq!(es256.verify(&key(&rsa_jwk())), Err(JwsError::KeyAlgMismatch));
    assert_eq!(rs256.verify(&key(&ec_jwk())), Err(JwsError::KeyAlgMismatch));
    assert_eq!(rs256.verify(&key(&ed_jwk())), Err(JwsError::KeyAlgMismatch));
    let ec = key(&ec_jwk());
    for alg in [Algorithm::ES384, Algorithm::EdDSA, Algorithm::PS256] {
        assert!(!ec.supports(alg));
        assert_eq!(ec.verify(alg, b"m", &[1; 64]), Err(JwsError::KeyAlgMismatch));
    }
    let ed = key(&ed_jwk());
    assert_eq!(ed.verify(Algorithm::ES256, b"m", &[1; 64]), Err(JwsError::KeyAlgMismatch));
    // Through a set, a key of the wrong type is no candidate at all.
    let set = JwkSet::parse(json!({"keys": [rsa_jwk()]}).to_string().as_bytes()).unwrap();
    assert_eq!(set.verify(&es256).err(), Some(JwsError::KeyNotFound));
}

#[test]
fn pinned_alg_restricts_the_key() {
    let pinned = key(&with(rsa_jwk(), json!({"alg": "RS256"})));
    assert!(pinned.supports(Algorithm::RS256));
    assert!(!pinned.supports(Algorithm::PS256));
    let token = rsa_token("PS256", None, pss_sha256(32));
    assert_eq!(check(&token, &pinned), Err(JwsError::KeyAlgMismatch));
    assert_eq!(check(&token, &key(&rsa_jwk())), Ok(()));
}

#[test]
fn jwk_alg_must_fit_key_type() {
    assert_eq!(err(with(ec_jwk(), json!({"alg": "RS256"}))), JwkError::UnsupportedKeyType);
    assert_eq!(err(with(ec_jwk(), json!({"alg": "ES384"}))), JwkError::UnsupportedKeyType);
    assert_eq!(err(with(rsa_jwk(), json!({"alg": "HS256"}))), JwkError::UnsupportedKeyType);
    assert_eq!(err(with(rsa_jwk(), json!({"alg": "RSA-OAEP"}))), JwkError::UnsupportedKeyType);
    assert_eq!(err(with(ed_jwk(), json!({"alg": "none"}))), JwkError::UnsupportedKeyType);
    assert_eq!(err(with(ed_jwk(), json!({"alg": 1}))), JwkError::Json);
    assert_eq!(key(&with(ed_jwk(), json!({"alg": "EdDSA"}))).alg, Some(Algorithm::EdDSA));
}

// ---- signature shape ----

#[test]
fn ecdsa_signature_length() {
    let ec = key(&ec_jwk());
    assert_eq!(ec.verify(Algorithm::ES256, b"m", &[1; 63]), Err(JwsError::SignatureLength));
    assert_eq!(ec.verify(Algorithm::ES256, b"m", &[1; 65]), Err(JwsError::SignatureLength));
    // A DER-encoded signature (what many libraries produce) is not the JWS form.
    assert_eq!(ec.verify(Algorithm::ES256, b"m", &[0x30; 70]), Err(JwsError::SignatureLength));
    let token = s(&rfc("rfc7515_a3"), "jws");
    let mut sig = b64_decode(token.rsplit('.').next().unwrap()).unwrap();
    sig.pop();
    let (input, _) = token.rsplit_once('.').unwrap();
    assert_eq!(check(&format!("{input}.{}", b64_encode(&sig)), &ec), Err(JwsError::SignatureLength));
}

#[test]
fn ecdsa_zero_or_out_of_range_scalars() {
    let ec = key(&ec_jwk());
    let token = s(&rfc("rfc7515_a3"), "jws");
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = b64_decode(sig).unwrap();
    let mut r0 = sig.clone();
    r0[..32].fill(0);
    let mut s0 = sig.clone();
    s0[32..].fill(0);
    // r = s = 0 is the "psychic signature" (CVE-2022-21449).
    for bad in [r0, s0, vec![0; 64]] {
        assert_eq!(ec.verify(Algorithm::ES256, input.as_bytes(), &bad), Err(JwsError::SignatureInvalid));
    }
    // r = n (the group order) and all-ones are out of range.
    let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let mut rn = sig.clone();
    rn[..32].copy_from_slice(&n);
    assert_eq!(ec.verify(Algorithm::ES256, input.as_bytes(), &rn), Err(JwsError::SignatureInvalid));
    assert_eq!(ec.verify(Algorithm::ES256, input.as_bytes(), &[0xff; 64]), Err(JwsError::SignatureInvalid));
    assert_eq!(ec.verify(Algorithm::ES256, input.as_bytes(), &sig), Ok(()));
}

#[test]
fn eddsa_signature_length() {
    let ed = key(&ed_jwk());
    assert_eq!(ed.verify(Algorithm::EdDSA, b"m", &[1; 63]), Err(JwsError::SignatureLength));
    assert_eq!(ed.verify(Algorithm::EdDSA, b"m", &[1; 65]), Err(JwsError::SignatureLength));
    assert_eq!(ed.verify(Algorithm::EdDSA, b"m", &[1; 64]), Err(JwsError::SignatureInvalid));
}

#[test]
fn rsa_signature_length_and_range() {
    let rsa = key(&rsa_jwk());
    assert_eq!(rsa.verify(Algorithm::RS256, b"m", &[1; 255]), Err(JwsError::SignatureLength));
    assert_eq!(rsa.verify(Algorithm::PS256, b"m", &[1; 257]), Err(JwsError::SignatureLength));
    // s >= n is refused for PSS as well as PKCS#1 v1.5 (the crate checks only the latter).
    let n = b64_decode(&s(&rsa_jwk(), "n")).unwrap();
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        assert_eq!(rsa.verify(alg, b"m", &n), Err(JwsError::SignatureInvalid));
        assert_eq!(rsa.verify(alg, b"m", &[0xff; 256]), Err(JwsError::SignatureInvalid));
    }
}

#[test]
fn pss_salt_length_must_equal_hash_length() {
    let rsa = key(&rsa_jwk());
    assert_eq!(check(&rsa_token("PS256", None, pss_sha256(32)), &rsa), Ok(()));
    for salt in [0, 20, 64] {
        assert_eq!(
            check(&rsa_token("PS256", None, pss_sha256(salt)), &rsa),
            Err(JwsError::SignatureInvalid),
            "salt {salt}"
        );
    }
    // A PKCS#1 v1.5 signature relabelled PS256 (and the reverse) does not verify.
    assert_eq!(check(&rsa_token("PS256", None, pkcs1_sha256), &rsa), Err(JwsError::SignatureInvalid));
    assert_eq!(check(&rsa_token("RS256", None, pss_sha256(32)), &rsa), Err(JwsError::SignatureInvalid));
}

// ---- JWK validation ----

fn rsa_n(bits: usize) -> String {
    let mut n = vec![0u8; bits.div_ceil(8)];
    n[0] = 1 << ((bits - 1) % 8);
    let last = n.len() - 1;
    n[last] |= 1;
    b64_encode(&n)
}

#[test]
fn rsa_modulus_bounds() {
    assert_eq!(err(json!({"kty": "RSA", "n": rsa_n(1024), "e": "AQAB"})), JwkError::RsaModulusTooSmall);
    assert_eq!(err(json!({"kty": "RSA", "n": rsa_n(2047), "e": "AQAB"})), JwkError::RsaModulusTooSmall);
    assert_eq!(err(json!({"kty": "RSA", "n": "", "e": "AQAB"})), JwkError::RsaModulusTooSmall);
    // Leading zero octets do not count towards the size.
    let padded = b64_encode(&[vec![0u8; 200], b64_decode(&rsa_n(1024)).unwrap()].concat());
    assert_eq!(err(json!({"kty": "RSA", "n": padded, "e": "AQAB"})), JwkError::RsaModulusTooSmall);
    assert_eq!(err(json!({"kty": "RSA", "n": rsa_n(8193), "e": "AQAB"})), JwkError::RsaBadKey);
    assert!(Jwk::from_value(&json!({"kty": "RSA", "n": rsa_n(8192), "e": "AQAB"})).is_ok());
    let mut even = b64_decode(&rsa_n(2048)).unwrap();
    *even.last_mut().unwrap() = 0;
    assert_eq!(err(json!({"kty": "RSA", "n": b64_encode(&even), "e": "AQAB"})), JwkError::RsaBadKey);
}

#[test]
fn rsa_exponent_bounds() {
    let n = s(&rsa_jwk(), "n");
    for e in [&[1u8][..], &[2], &[0], &[], &[1, 0, 0], &[1, 0, 0, 0, 1]] {
        assert_eq!(err(json!({"kty": "RSA", "n": n, "e": b64_encode(e)})), JwkError::RsaBadKey, "e {e:?}");
    }
    for e in [&[3u8][..], &[0xff, 0xff, 0xff, 0xff], &[0, 1, 0, 1]] {
        assert!(Jwk::from_value(&json!({"kty": "RSA", "n": n, "e": b64_encode(e)})).is_ok(), "e {e:?}");
    }
}

#[test]
fn private_members_are_refused() {
    assert_eq!(err(with(ec_jwk(), json!({"d": s(&rfc("rfc7515_a3"), "d")}))), JwkError::PrivateKey);
    for m in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
        assert_eq!(err(with(rsa_jwk(), json!({m: "AQAB"}))), JwkError::PrivateKey, "{m}");
    }
    assert_eq!(err(with(ed_jwk(), json!({"d": s(&rfc("rfc8037_a4"), "d")}))), JwkError::PrivateKey);
}

#[test]
fn unsupported_key_types() {
    let k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    assert_eq!(err(json!({"kty": "oct", "k": k})), JwkError::UnsupportedKeyType);
    assert_eq!(err(json!({"kty": "oct"})), JwkError::UnsupportedKeyType);
    assert_eq!(err(json!({"kty": "rsa", "n": "AQAB", "e": "AQAB"})), JwkError::UnsupportedKeyType);
    assert_eq!(err(with(ec_jwk(), json!({"crv": "P-521"}))), JwkError::UnsupportedKeyType);
    assert_eq!(err(with(ec_jwk(), json!({"crv": "secp256k1"}))), JwkError::UnsupportedKeyType);
    assert_eq!(err(with(ed_jwk(), json!({"crv": "X25519"}))), JwkError::UnsupportedKeyType);
    assert_eq!(err(with(ed_jwk(), json!({"crv": "Ed448"}))), JwkError::UnsupportedKeyType);
    assert_eq!(err(json!({"n": "AQAB"})), JwkError::MissingMember("kty"));
    assert_eq!(err(json!({"kty": 1})), JwkError::Json);
    assert_eq!(err(json!([1, 2])), JwkError::Json);
}

#[test]
fn ec_points_must_be_on_the_curve() {
    let mut y = b64_decode(&s(&ec_jwk(), "y")).unwrap();
    y[31] ^= 1;
    assert_eq!(err(with(ec_jwk(), json!({"y": b64_encode(&y)}))), JwkError::BadPoint);
    assert_eq!(err(with(ec_jwk(), json!({"x": b64_encode(&[0; 32]), "y": b64_encode(&[0; 32])}))), JwkError::BadPoint);
    // A P-256 point presented as P-384 is caught by the coordinate length.
    assert_eq!(err(with(ec_jwk(), json!({"crv": "P-384"}))), JwkError::BadMember("x"));
}

#[test]
fn ed25519_points() {
    // The identity (small order): `verify_strict` would refuse every signature; refuse the key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(err(with(ed_jwk(), json!({"x": b64_encode(&identity)}))), JwkError::BadPoint);
    assert_eq!(err(with(ed_jwk(), json!({"x": b64_encode(&[0; 31])}))), JwkError::BadMember("x"));
    assert_eq!(err(with(ed_jwk(), json!({"x": b64_encode(&[0; 33])}))), JwkError::BadMember("x"));
}

#[test]
fn members_must_be_unpadded_base64url() {
    let x = s(&ec_jwk(), "x");
    assert_eq!(err(with(ec_jwk(), json!({"x": format!("{x}=")}))), JwkError::BadMember("x"));
    assert_eq!(err(with(ec_jwk(), json!({"x": format!("+{}", &x[1..])}))), JwkError::BadMember("x"));
    assert_eq!(err(with(ec_jwk(), json!({"y": s(&ec_jwk(), "y").replace('_', "/")}))), JwkError::BadMember("y"));
    assert_eq!(err(with(rsa_jwk(), json!({"n": format!("{}==", &s(&rsa_jwk(), "n")[1..])}))), JwkError::BadMember("n"));
    assert_eq!(err(with(rsa_jwk(), json!({"e": "AQAB="}))), JwkError::BadMember("e"));
    assert_eq!(err(with(rsa_jwk(), json!({"e": 65537}))), JwkError::Json);
    assert_eq!(err(json!({"kty": "EC", "crv": "P-256", "x": x})), JwkError::MissingMember("y"));
    assert_eq!(err(json!({"kty": "RSA", "e": "AQAB"})), JwkError::MissingMember("n"));
    assert_eq!(err(json!({"kty": "EC", "x": x})), JwkError::MissingMember("crv"));
}

#[test]
fn intended_use() {
    assert_eq!(err(with(ec_jwk(), json!({"use": "enc"}))), JwkError::NotForVerification);
    assert_eq!(err(with(ec_jwk(), json!({"key_ops": ["encrypt"]}))), JwkError::NotForVerification);
    assert_eq!(err(with(ec_jwk(), json!({"key_ops": []}))), JwkError::NotForVerification);
    assert_eq!(err(with(ec_jwk(), json!({"key_ops": "verify"}))), JwkError::Json);
    assert!(Jwk::from_value(&with(ec_jwk(), json!({"use": "sig", "key_ops": ["sign", "verify"]}))).is_ok());
}

#[test]
fn thumbprint_ignores_extra_members() {
    let plain = key(&ec_jwk());
    let extra = key(&with(ec_jwk(), json!({"kid": "k1", "use": "sig", "alg": "ES256", "zzz": 1})));
    assert_eq!(plain.thumbprint(), extra.thumbprint());
    assert_ne!(plain.thumbprint(), key(&es256_public_jwk(&other_es256_key())).thumbprint());
}

// ---- JWK sets ----

fn set(keys: Vec<Value>) -> JwkSet {
    JwkSet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

#[test]
fn jwks_skips_unusable_keys() {
    let s = set(vec![json!({"kty": "unknown", "x": "AA"}), with(ec_jwk(), json!({"kid": "good"}))]);
    assert_eq!(s.keys.len(), 1);
    assert_eq!(s.keys[0].kid.as_deref(), Some("good"));
    let s = set(vec![with(ec_jwk(), json!({"d": "AA"})), json!({"kty": "oct", "k": "AA"}), json!("x")]);
    assert!(s.keys.is_empty());
}

#[test]
fn jwks_shape_and_bounds() {
    assert_eq!(JwkSet::parse(b"[]").unwrap_err(), JwkError::Json);
    assert_eq!(JwkSet::parse(b"not json").unwrap_err(), JwkError::Json);
    assert_eq!(JwkSet::parse(br#"{"key":[]}"#).unwrap_err(), JwkError::Json);
    assert_eq!(JwkSet::parse(br#"{"keys":{}}"#).unwrap_err(), JwkError::Json);
    let many: Vec<Value> = (0..=JwkSet::MAX_KEYS).map(|_| ec_jwk()).collect();
    let doc = json!({ "keys": many }).to_string();
    assert!(doc.len() < JwkSet::MAX_BYTES);
    assert_eq!(JwkSet::parse(doc.as_bytes()).unwrap_err(), JwkError::SetTooLarge);
    let mut big = br#"{"keys":[]}"#.to_vec();
    big.resize(JwkSet::MAX_BYTES + 1, b' ');
    assert_eq!(JwkSet::parse(&big).unwrap_err(), JwkError::SetTooLarge);
    assert_eq!(set(vec![ec_jwk(); JwkSet::MAX_KEYS]).keys.len(), JwkSet::MAX_KEYS);
}

#[test]
fn jwks_kid_selection() {
    let (a, b) = (es256_key(), other_es256_key());
    let keys = set(vec![
        with(rsa_jwk(), json!({"kid": "r"})),
        with(es256_public_jwk(&b), json!({"kid": "b"})),
        with(ec_jwk(), json!({"kid": "a"})),
    ]);
    let verify = |token: String| keys.verify(&jws::parse(&token, MAX).unwrap()).map(|k| k.kid.clone().unwrap());
    assert_eq!(verify(es256_token(&a, json!({"alg": "ES256", "kid": "a"}))), Ok("a".into()));
    assert_eq!(verify(es256_token(&b, json!({"alg": "ES256", "kid": "b"}))), Ok("b".into()));
    // The kid names a key that did not sign: no fallback to the other keys.
    assert_eq!(verify(es256_token(&a, json!({"alg": "ES256", "kid": "b"}))), Err(JwsError::SignatureInvalid));
    assert_eq!(verify(es256_token(&a, json!({"alg": "ES256", "kid": "nope"}))), Err(JwsError::KeyNotFound));
    // The kid exists but its key cannot do the alg.
    assert_eq!(verify(es256_token(&a, json!({"alg": "ES256", "kid": "r"}))), Err(JwsError::KeyNotFound));
    // No kid: every key supporting the alg is tried.
    assert_eq!(verify(es256_token(&a, json!({"alg": "ES256"}))), Ok("a".into()));
    assert_eq!(verify(es256_token(&b, json!({"alg": "ES256"}))), Ok("b".into()));
    assert_eq!(verify(rsa_token("RS256", None, pkcs1_sha256)), Ok("r".into()));
    assert_eq!(verify(rsa_token("RS256", Some("r"), pkcs1_sha256)), Ok("r".into()));
    let stranger = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    assert_eq!(verify(es256_token(&stranger, json!({"alg": "ES256"}))), Err(JwsError::SignatureInvalid));
    assert_eq!(verify(rsa_token("PS384", None, pkcs1_sha256)), Err(JwsError::SignatureInvalid));
    let ed = es256_token(&a, json!({"alg": "EdDSA"}));
    let ed = jws::parse(&ed, MAX).unwrap();
    assert_eq!(keys.verify(&ed).err(), Some(JwsError::KeyNotFound));
    assert_eq!(JwkSet::default().verify(&ed).err(), Some(JwsError::KeyNotFound));
}

#[test]
fn jwks_reports_common_failure() {
    // Two candidates both refuse a 63-byte signature for the same reason.
    let keys = set(vec![ec_jwk(), es256_public_jwk(&other_es256_key())]);
    let token = es256_token(&es256_key(), json!({"alg": "ES256"}));
    let (input, sig) = token.rsplit_once('.').unwrap();
    let short = format!("{input}.{}", b64_encode(&b64_decode(sig).unwrap()[..63]));
    assert_eq!(keys.verify(&jws::parse(&short, MAX).unwrap()).err(), Some(JwsError::SignatureLength));
}

// ---- JWS level ----

fn token_with(header: &str, payload: &str) -> String {
    format!("{}.{}.{}", b64_encode(header.as_bytes()), b64_encode(payload.as_bytes()), b64_encode(&[1; 64]))
}

#[test]
fn jws_refusals() {
    let p = r#"{"iss":"joe"}"#;
    for none in ["none", "None", "NONE", "nOnE"] {
        let t = format!("{}.{}.", b64_encode(format!(r#"{{"alg":"{none}"}}"#).as_bytes()), b64_encode(p.as_bytes()));
        assert_eq!(jws::parse(&t, MAX).err(), Some(JwsError::AlgNone), "{none}");
    }
    assert_eq!(jws::parse(&token_with(r#"{"alg":"HS512"}"#, p), MAX).err(), Some(JwsError::AlgUnsupported));
    assert_eq!(jws::parse(&token_with(r#"{"typ":"JWT"}"#, p), MAX).err(), Some(JwsError::AlgMissing));
    let good = token_with(r#"{"alg":"ES256"}"#, p);
    assert!(jws::parse(&good, MAX).is_ok());
    let (h, rest) = good.split_once('.').unwrap();
    let (pl, sig) = rest.split_once('.').unwrap();
    for bad in [
        format!("{h}=.{pl}.{sig}"),
        format!("{h}.{pl}.{sig}=="),
        format!("{h}.{pl}.+{sig}"),
        format!("{h}.{pl}/.{sig}"),
    ] {
        assert_eq!(jws::parse(&bad, MAX).err(), Some(JwsError::Base64), "{bad}");
    }
    assert_eq!(jws::parse(&token_with("not json", p), MAX).err(), Some(JwsError::HeaderJson));
    assert_eq!(jws::parse(&token_with(r#"["ES256"]"#, p), MAX).err(), Some(JwsError::HeaderJson));
    assert_eq!(jws::parse(&token_with(r#"{"alg":"ES256"}"#, "not json"), MAX).err(), Some(JwsError::PayloadJson));
    assert_eq!(jws::parse(&token_with(r#"{"alg":"ES256"}"#, "[1]"), MAX).err(), Some(JwsError::PayloadJson));
    assert_eq!(jws::parse(&format!("{good}.x"), MAX).err(), Some(JwsError::Segments));
    assert_eq!(jws::parse(&format!("{h}.{pl}"), MAX).err(), Some(JwsError::Segments));
    assert_eq!(jws::parse(&format!("{h}.{pl}..{sig}"), MAX).err(), Some(JwsError::Segments));
    assert_eq!(jws::parse(&good, good.len() - 1).err(), Some(JwsError::TooLarge));
    let crit = token_with(r#"{"alg":"ES256","crit":["exp"],"exp":1}"#, p);
    assert_eq!(jws::parse(&crit, MAX).err(), Some(JwsError::CritUnsupported));
    let b64 = token_with(r#"{"alg":"ES256","b64":false,"crit":["b64"]}"#, p);
    assert_eq!(jws::parse(&b64, MAX).err(), Some(JwsError::CritUnsupported));
    let b64 = token_with(r#"{"alg":"ES256","b64":false}"#, p);
    assert_eq!(jws::parse(&b64, MAX).err(), Some(JwsError::B64False));
}

// ---- no panics ----

#[test]
fn no_panic_on_any_signature_length() {
    let keys = [key(&rsa_jwk()), key(&ec_jwk()), key(&ed_jwk())];
    for k in &keys {
        for alg in Algorithm::ALL {
            for len in 0..300 {
                for fill in [0u8, 1, 0xff] {
                    let r = k.verify(alg, b"message", &vec![fill; len]);
                    assert!(r.is_err(), "{alg:?} len {len} fill {fill}");
                }
            }
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
