//! Published test vectors: RFC 7515 A.2/A.3, RFC 8037 A.4, RFC 7638 3.1, and Project Wycheproof
//! (tests/data/wycheproof, Apache-2.0, LICENSE beside the files).

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::error::JwsError;
use dpop_gate::jose::jwk::{Jwk, JwkSet};
use dpop_gate::jose::jws::{self, b64_decode, b64_encode};
use serde_json::Value;

const MAX: usize = 16 * 1024;

fn data(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn rfc(name: &str) -> (String, Value) {
    let v = &data("rfc.json")[name];
    (v["jws"].as_str().unwrap_or_default().to_owned(), v["jwk"].clone())
}

/// Replaces segment `i` of a compact JWS.
fn with_segment(token: &str, i: usize, new: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[i] = new;
    parts.join(".")
}

fn flip_signature_bit(token: &str) -> String {
    let mut sig = b64_decode(token.split('.').nth(2).unwrap()).unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    with_segment(token, 2, &b64_encode(&sig))
}

fn flip_payload_byte(token: &str) -> String {
    let mut payload = b64_decode(token.split('.').nth(1).unwrap()).unwrap();
    // `"joe"` -> `"jof"`: still a JSON object, one byte different.
    let pos = payload.windows(3).position(|w| w == b"joe").unwrap() + 2;
    payload[pos] = b'f';
    with_segment(token, 1, &b64_encode(&payload))
}

fn check_rfc_jws(name: &str, alg: Algorithm, tampered_header: &str) {
    let (token, jwk) = rfc(name);
    let key = Jwk::from_value(&jwk).unwrap();
    let parsed = jws::parse(&token, MAX).unwrap();
    assert_eq!(parsed.header.alg, alg);
    assert_eq!(parsed.verify(&key), Ok(()));
    let set = JwkSet::parse(format!(r#"{{"keys":[{jwk}]}}"#).as_bytes()).unwrap();
    assert!(set.verify(&parsed).is_ok());

    let header = with_segment(&token, 0, &b64_encode(tampered_header.as_bytes()));
    for forged in [header, flip_payload_byte(&token), flip_signature_bit(&token)] {
        let parsed = jws::parse(&forged, MAX).unwrap();
        assert_eq!(parsed.verify(&key), Err(JwsError::SignatureInvalid), "{forged}");
        assert_eq!(set.verify(&parsed).err(), Some(JwsError::SignatureInvalid));
    }
}

#[test]
fn rfc7515_a2_rs256() {
    check_rfc_jws("rfc7515_a2", Algorithm::RS256, r#"{"alg":"RS256","typ":"JWT"}"#);
}

#[test]
fn rfc7515_a3_es256() {
    check_rfc_jws("rfc7515_a3", Algorithm::ES256, r#"{"alg":"ES256","typ":"JWT"}"#);
}

#[test]
fn rfc8037_a4_ed25519() {
    let (token, jwk) = rfc("rfc8037_a4");
    let key = Jwk::from_value(&jwk).unwrap();
    // The RFC payload is plain text, not a JWT claims object, so check the signature directly.
    assert_eq!(jws::parse(&token, MAX).err(), Some(JwsError::PayloadJson));
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = b64_decode(sig).unwrap();
    assert_eq!(key.verify(Algorithm::EdDSA, input.as_bytes(), &sig), Ok(()));
    let mut bad = input.as_bytes().to_vec();
    bad[25] ^= 1;
    assert_eq!(key.verify(Algorithm::EdDSA, &bad, &sig), Err(JwsError::SignatureInvalid));
    assert_eq!(key.thumbprint(), data("rfc.json")["rfc8037_a4"]["thumbprint"].as_str().unwrap());
}

#[test]
fn rfc7638_thumbprint() {
    let v = &data("rfc.json")["rfc7638_3_1"];
    let key = Jwk::from_value(&v["jwk"]).unwrap();
    assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(key.kid.as_deref(), Some("2011-04-29"));
    assert_eq!(key.alg, Some(Algorithm::RS256));
}

#[test]
fn ec_thumbprint_member_order() {
    // RFC 7638 3.2: EC input is crv, kty, x, y; computed independently with Python's hashlib.
    let (_, jwk) = rfc("rfc7515_a3");
    let key = Jwk::from_value(&jwk).unwrap();
    let input = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    use sha2::Digest;
    assert_eq!(key.thumbprint(), b64_encode(&sha2::Sha256::digest(input.as_bytes())));
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The group's key as a JWK: `publicKeyJwk` (EC, EdDSA, PSS) or `keyJwk` (PKCS#1); the few EC
/// groups without one (keys whose JWK form Wycheproof omits) are built from the uncompressed point.
fn group_jwk(group: &Value) -> Value {
    if let Some(jwk) = group.get("publicKeyJwk").or_else(|| group.get("keyJwk")) {
        return jwk.clone();
    }
    let key = &group["publicKey"];
    let point = hex(key["uncompressed"].as_str().expect("uncompressed point"));
    let len = (point.len() - 1) / 2;
    let crv = match key["curve"].as_str() {
        Some("secp256r1") => "P-256",
        Some("secp384r1") => "P-384",
        other => panic!("curve {other:?}"),
    };
    serde_json::json!({
        "kty": "EC", "crv": crv,
        "x": b64_encode(&point[1..1 + len]), "y": b64_encode(&point[1 + len..]),
    })
}

/// Runs every test of a Wycheproof file through `Jwk::from_value` + `Jwk::verify`: `valid` must
/// verify, `invalid` must not; `acceptable` may go either way (the only ones in these files are
/// RSA PKCS#1 v1.5 DigestInfo without the NULL parameter, which the `rsa` crate refuses) and the
/// outcome is returned for the caller to pin. Returns (tests run, acceptable that verified).
fn wycheproof(file: &str, alg: Algorithm) -> (usize, usize) {
    let doc = data(&format!("wycheproof/{file}"));
    let mut run = 0;
    let mut acceptable_ok = 0;
    for group in doc["testGroups"].as_array().unwrap() {
        let jwk = group_jwk(group);
        let key = Jwk::from_value(&jwk).unwrap_or_else(|e| panic!("{file}: key {jwk}: {e:?}"));
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let result = key.verify(alg, &hex(t["msg"].as_str().unwrap()), &hex(t["sig"].as_str().unwrap()));
            match t["result"].as_str().unwrap() {
                "valid" => assert_eq!(result, Ok(()), "{file} tcId {id} {}", t["comment"]),
                "invalid" => assert!(result.is_err(), "{file} tcId {id} {} verified", t["comment"]),
                "acceptable" => acceptable_ok += usize::from(result.is_ok()),
                other => panic!("{file} tcId {id}: result {other}"),
            }
            run += 1;
        }
    }
    assert_eq!(run as u64, doc["numberOfTests"].as_u64().unwrap(), "{file}: not every test ran");
    (run, acceptable_ok)
}

#[test]
fn wycheproof_es256_p1363() {
    assert_eq!(wycheproof("ecdsa_secp256r1_sha256_p1363_test.json", Algorithm::ES256), (262, 0));
}

#[test]
fn wycheproof_es384_p1363() {
    assert_eq!(wycheproof("ecdsa_secp384r1_sha384_p1363_test.json", Algorithm::ES384), (280, 0));
}

#[test]
fn wycheproof_ed25519() {
    assert_eq!(wycheproof("ed25519_test.json", Algorithm::EdDSA), (151, 0));
}

#[test]
fn wycheproof_rs256() {
    assert_eq!(wycheproof("rsa_signature_2048_sha256_test.json", Algorithm::RS256), (259, 0));
}

#[test]
fn wycheproof_rs384() {
    assert_eq!(wycheproof("rsa_signature_2048_sha384_test.json", Algorithm::RS384), (258, 0));
}

#[test]
fn wycheproof_rs512() {
    assert_eq!(wycheproof("rsa_signature_2048_sha512_test.json", Algorithm::RS512), (259, 0));
}

#[test]
fn wycheproof_ps256() {
    assert_eq!(wycheproof("rsa_pss_2048_sha256_mgf1_32_test.json", Algorithm::PS256), (108, 0));
}

/// RSA keys of 3072 and 4096 bits (PKCS#1 v1.5 with each hash) and PS384/PS512 (and PS256 at
/// 3072 bits): every size and hash the fast verifier has a path for, at the edges Wycheproof
/// probes. Acceptable cases (DigestInfo without NULL) are refused, as at 2048 bits.
#[test]
fn wycheproof_rsa_3072_4096_and_pss_384_512() {
    for (file, alg, tests) in [
        ("rsa_signature_3072_sha256_test.json", Algorithm::RS256, 259),
        ("rsa_signature_3072_sha384_test.json", Algorithm::RS384, 259),
        ("rsa_signature_3072_sha512_test.json", Algorithm::RS512, 260),
        ("rsa_signature_4096_sha256_test.json", Algorithm::RS256, 258),
        ("rsa_signature_4096_sha384_test.json", Algorithm::RS384, 259),
        ("rsa_signature_4096_sha512_test.json", Algorithm::RS512, 259),
        ("rsa_pss_2048_sha384_mgf1_48_test.json", Algorithm::PS384, 141),
        ("rsa_pss_3072_sha256_mgf1_32_test.json", Algorithm::PS256, 108),
        ("rsa_pss_4096_sha384_mgf1_48_test.json", Algorithm::PS384, 141),
        ("rsa_pss_4096_sha512_mgf1_64_test.json", Algorithm::PS512, 179),
    ] {
        assert_eq!(wycheproof(file, alg), (tests, 0), "{file}");
    }
}
