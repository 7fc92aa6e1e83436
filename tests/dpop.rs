//! DPoP proofs (RFC 9449 section 4.3): the RFC's own examples, and an attack for every check, each
//! asserting the exact error.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::dpop::{
    ath_of, check_binding, parse_key, replay_key, verify_proof, verify_proof_with, MemoryReplayStore, Proof,
    ProofPolicy, ReplayStore,
};
use dpop_gate::error::{JwkError, JwsError, ProofError, TokenError};

/// RFC 9449 figure 13 (section 7.1): a proof for a protected-resource request, with `ath`.
const FIG13: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
/// RFC 9449 figure 2 (section 4.1): a proof for a token request, without `ath`.
const FIG2: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
/// RFC 9449 section 7.1: the access token the figure-13 proof was made for, and the thumbprint of
/// the examples' key (section 6.1, figure 8).
const RFC_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_ATH: &str = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo";
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

const NOW: u64 = 1_700_000_000;
const URI: &str = "https://api.example.com/orders?page=2";
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

fn policy() -> ProofPolicy<'static> {
    ProofPolicy { algs: &Algorithm::ALL, max_age: 60, clock_skew: 5, max_len: 8192 }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn holder() -> SigningKey {
    SigningKey::from_slice(&[7; 32]).unwrap()
}

fn public_jwk(k: &SigningKey) -> Value {
    let p = k.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-256", "x": b64(p.x().unwrap()), "y": b64(p.y().unwrap())})
}

fn sign_raw(k: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig: Signature = k.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

fn header() -> Value {
    json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&holder())})
}

fn claims() -> Value {
    json!({"jti": "0b6a7c1e-proof", "htm": "POST", "htu": "https://api.example.com/orders", "iat": NOW,
           "ath": ath_of(TOKEN)})
}

/// A proof by the holder with the header and claims changed by `edit`.
fn proof_with(edit: impl FnOnce(&mut Value, &mut Value)) -> String {
    let (mut h, mut c) = (header(), claims());
    edit(&mut h, &mut c);
    sign_raw(&holder(), &h, &c)
}

fn check(proof: &str) -> Result<Proof, ProofError> {
    verify_proof(proof, "POST", URI, Some(TOKEN), &policy(), NOW)
}

#[test]
fn rfc9449_ath_of_the_section_7_1_token() {
    assert_eq!(ath_of(RFC_TOKEN), RFC_ATH);
}

#[test]
fn rfc9449_figure_13_proof_verifies_with_its_claims() {
    let p = verify_proof(
        FIG13,
        "GET",
        "https://resource.example.org/protectedresource",
        Some(RFC_TOKEN),
        &policy(),
        1_562_262_618,
    )
    .unwrap();
    assert_eq!(p, Proof { jti: "e1j3V_bKic8-LAEB".into(), jkt: RFC_JKT.into(), iat: 1_562_262_618, nonce: None });
    check_binding(Some(RFC_JKT), &p).unwrap();
    // The same proof for another token, URI, method, or too late.
    let other = |m, u, t: &str, now| verify_proof(FIG13, m, u, Some(t), &policy(), now).unwrap_err();
    let uri = "https://resource.example.org/protectedresource";
    assert_eq!(other("GET", uri, "another-token", 1_562_262_618), ProofError::Ath);
    assert_eq!(other("GET", "https://resource.example.org/other", RFC_TOKEN, 1_562_262_618), ProofError::Htu);
    assert_eq!(other("POST", uri, RFC_TOKEN, 1_562_262_618), ProofError::Htm);
    assert_eq!(other("GET", uri, RFC_TOKEN, 1_562_262_618 + 66), ProofError::IatTooOld);
}

#[test]
fn rfc9449_figure_2_proof_parses_and_checks_out() {
    let p = verify_proof(FIG2, "POST", "https://server.example.com/token", None, &policy(), 1_562_262_616).unwrap();
    assert_eq!((p.jti.as_str(), p.jkt.as_str(), p.iat), ("-BwC3ESc6acc2lTc", RFC_JKT, 1_562_262_616));
    // Presented with an access token, the figure-2 proof lacks `ath`.
    let e = verify_proof(FIG2, "POST", "https://server.example.com/token", Some(RFC_TOKEN), &policy(), 1_562_262_616);
    assert_eq!(e.unwrap_err(), ProofError::Ath);
    // One changed signature character (not the last: its low bits must stay zero, or the
    // encoding itself is refused as non-canonical).
    let at = FIG2.len() - 10;
    let swapped = if &FIG2[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &FIG2[..at], &FIG2[at + 1..]);
    let e = verify_proof(&tampered, "POST", "https://server.example.com/token", None, &policy(), 1_562_262_616);
    assert_eq!(e.unwrap_err(), ProofError::Jws(JwsError::SignatureInvalid));
}

#[test]
fn a_valid_proof_yields_jti_thumbprint_and_replay_expiry() {
    let p = check(&proof_with(|_, _| {})).unwrap();
    assert_eq!(p.jti, "0b6a7c1e-proof");
    assert_eq!(p.replay_expiry(&policy()), NOW + 65);
    assert_eq!(replay_key(&p), format!("{}\0{}", p.jkt, p.jti));
    // The thumbprint is the RFC 7638 one of the header key.
    let jwk = public_jwk(&holder());
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    use sha2::Digest;
    assert_eq!(p.jkt, b64(&sha2::Sha256::digest(canonical.as_bytes())));
}

#[test]
fn header_attacks() {
    let cases: Vec<(&str, String, ProofError)> = vec![
        ("typ missing", proof_with(|h, _| drop(h.as_object_mut().unwrap().remove("typ"))), ProofError::Typ),
        ("typ JWT", proof_with(|h, _| h["typ"] = json!("JWT")), ProofError::Typ),
        ("typ with media prefix", proof_with(|h, _| h["typ"] = json!("application/dpop+jwt")), ProofError::Typ),
        ("jwk missing", proof_with(|h, _| drop(h.as_object_mut().unwrap().remove("jwk"))), ProofError::JwkMissing),
        (
            "jwk with the private key",
            proof_with(|h, _| h["jwk"]["d"] = json!(b64(&[7; 32]))),
            ProofError::Jwk(JwkError::PrivateKey),
        ),
        (
            "jwk symmetric",
            proof_with(|h, _| h["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"})),
            ProofError::Jwk(JwkError::UnsupportedKeyType),
        ),
        (
            "jwk off the curve",
            proof_with(|h, _| h["jwk"]["y"] = h["jwk"]["x"].clone()),
            ProofError::Jwk(JwkError::BadPoint),
        ),
        ("crit", proof_with(|h, _| h["crit"] = json!(["exp"])), ProofError::Jws(JwsError::CritUnsupported)),
        (
            "alg mismatching the key",
            proof_with(|h, _| h["alg"] = json!("EdDSA")),
            ProofError::Jws(JwsError::KeyAlgMismatch),
        ),
    ];
    for (what, proof, want) in cases {
        assert_eq!(check(&proof).unwrap_err(), want, "{what}");
    }
    // alg none and HS256 never reach a key.
    let unsigned = format!("{}.{}.", b64(br#"{"typ":"dpop+jwt","alg":"none"}"#), b64(claims().to_string().as_bytes()));
    assert_eq!(check(&unsigned).unwrap_err(), ProofError::Jws(JwsError::AlgNone));
    let hs = proof_with(|h, _| h["alg"] = json!("HS256"));
    assert_eq!(check(&hs).unwrap_err(), ProofError::Jws(JwsError::AlgUnsupported));
    // An algorithm outside `dpop_algs`.
    let only_eddsa = ProofPolicy { algs: &[Algorithm::EdDSA], ..policy() };
    let e = verify_proof(&proof_with(|_, _| {}), "POST", URI, Some(TOKEN), &only_eddsa, NOW).unwrap_err();
    assert_eq!(e, ProofError::Jws(JwsError::AlgNotAllowed));
}

#[test]
fn signature_attacks() {
    // Signed by another key than the header's jwk (the attacker swaps in the victim's key).
    let other = SigningKey::from_slice(&[8; 32]).unwrap();
    let forged = sign_raw(&other, &header(), &claims());
    assert_eq!(check(&forged).unwrap_err(), ProofError::Jws(JwsError::SignatureInvalid));
    // Claims changed after signing.
    let good = proof_with(|_, _| {});
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    let mut c = claims();
    c["htu"] = json!("https://api.example.com/orders");
    c["jti"] = json!("another");
    parts[1] = b64(c.to_string().as_bytes());
    assert_eq!(check(&parts.join(".")).unwrap_err(), ProofError::Jws(JwsError::SignatureInvalid));
    // Wrong length, zero r.
    let short = format!("{}.{}.{}", parts[0], parts[1], b64(&[1; 63]));
    assert_eq!(check(&short).unwrap_err(), ProofError::Jws(JwsError::SignatureLength));
    let mut zero_r = [1u8; 64];
    zero_r[..32].fill(0);
    let zero = format!("{}.{}.{}", parts[0], parts[1], b64(&zero_r));
    assert_eq!(check(&zero).unwrap_err(), ProofError::Jws(JwsError::SignatureInvalid));
}

#[test]
fn claim_shape_attacks() {
    let drop_claim = |name: &'static str| proof_with(move |_, c| drop(c.as_object_mut().unwrap().remove(name)));
    let set = |name: &'static str, v: Value| proof_with(move |_, c| c[name] = v);
    let cases: Vec<(&str, String, ProofError)> = vec![
        ("no jti", drop_claim("jti"), ProofError::Claim("jti")),
        ("empty jti", set("jti", json!("")), ProofError::Claim("jti")),
        ("huge jti", set("jti", json!("j".repeat(300))), ProofError::Claim("jti")),
        ("numeric jti", set("jti", json!(42)), ProofError::Claim("jti")),
        ("no htm", drop_claim("htm"), ProofError::Claim("htm")),
        ("no htu", drop_claim("htu"), ProofError::Claim("htu")),
        ("no iat", drop_claim("iat"), ProofError::Claim("iat")),
        ("iat as a string", set("iat", json!(NOW.to_string())), ProofError::Claim("iat")),
        ("negative iat", set("iat", json!(-1)), ProofError::Claim("iat")),
        ("nonce as a number", set("nonce", json!(1)), ProofError::Claim("nonce")),
        ("no ath", drop_claim("ath"), ProofError::Ath),
        ("ath of another token", set("ath", json!(ath_of("another"))), ProofError::Ath),
        ("ath not a string", set("ath", json!(["x"])), ProofError::Ath),
    ];
    for (what, proof, want) in cases {
        assert_eq!(check(&proof).unwrap_err(), want, "{what}");
    }
}

#[test]
fn request_binding_attacks() {
    let set = |name: &'static str, v: Value| proof_with(move |_, c| c[name] = v);
    let cases: Vec<(&str, String, ProofError)> = vec![
        ("htm of another method", set("htm", json!("GET")), ProofError::Htm),
        ("htm in lower case", set("htm", json!("post")), ProofError::Htm),
        ("htu of another path", set("htu", json!("https://api.example.com/admin")), ProofError::Htu),
        ("htu of another host", set("htu", json!("https://evil.example.com/orders")), ProofError::Htu),
        ("htu of another scheme", set("htu", json!("http://api.example.com/orders")), ProofError::Htu),
        ("htu of another port", set("htu", json!("https://api.example.com:8443/orders")), ProofError::Htu),
        ("htu with a path prefix only", set("htu", json!("https://api.example.com/")), ProofError::Htu),
        ("htu relative", set("htu", json!("/orders")), ProofError::Htu),
        ("htu with userinfo", set("htu", json!("https://u@api.example.com/orders")), ProofError::Htu),
        ("htu climbing out", set("htu", json!("https://api.example.com/orders/../admin")), ProofError::Htu),
        ("stale iat", set("iat", json!(NOW - 66)), ProofError::IatTooOld),
        ("future iat", set("iat", json!(NOW + 6)), ProofError::IatInFuture),
    ];
    for (what, proof, want) in cases {
        assert_eq!(check(&proof).unwrap_err(), want, "{what}");
    }
    // Within the window and equivalent spellings of the URI pass.
    for (name, v) in [
        ("iat", json!(NOW - 65)),
        ("iat", json!(NOW + 5)),
        ("htu", json!("HTTPS://API.example.com:443/orders")),
        ("htu", json!("https://api.example.com/%6Frders#frag")),
        ("htu", json!("https://api.example.com/x/../orders?other=query")),
    ] {
        let p = proof_with(|_, c| c[name] = v.clone());
        assert!(check(&p).is_ok(), "{name} = {v}");
    }
}

#[test]
fn input_bounds_and_encoding() {
    let tight = ProofPolicy { max_len: 300, ..policy() };
    let p = proof_with(|_, _| {});
    assert_eq!(
        verify_proof(&p, "POST", URI, Some(TOKEN), &tight, NOW).unwrap_err(),
        ProofError::Jws(JwsError::TooLarge)
    );
    assert_eq!(check(&format!("{p}.")).unwrap_err(), ProofError::Jws(JwsError::Segments));
    assert_eq!(check("a.b").unwrap_err(), ProofError::Jws(JwsError::Segments));
    assert_eq!(check(&p.replacen('.', "=.", 1)).unwrap_err(), ProofError::Jws(JwsError::Base64));
    let not_json = format!("{}.{}.{}", b64(b"not json"), b64(b"{}"), b64(&[0; 64]));
    assert_eq!(check(&not_json).unwrap_err(), ProofError::Jws(JwsError::HeaderJson));
    let payload_array = format!("{}.{}.{}", b64(header().to_string().as_bytes()), b64(b"[1]"), b64(&[0; 64]));
    assert_eq!(check(&payload_array).unwrap_err(), ProofError::Jws(JwsError::PayloadJson));
}

#[test]
fn ed25519_proofs_verify() {
    let sk = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let h = json!({"typ": "dpop+jwt", "alg": "EdDSA",
                   "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(sk.verifying_key().as_bytes())}});
    let input = format!("{}.{}", b64(h.to_string().as_bytes()), b64(claims().to_string().as_bytes()));
    use ed25519_dalek::Signer as _;
    let proof = format!("{input}.{}", b64(&sk.sign(input.as_bytes()).to_bytes()));
    assert!(check(&proof).is_ok());
}

#[test]
fn token_binding() {
    let p = check(&proof_with(|_, _| {})).unwrap();
    assert_eq!(check_binding(Some(&p.jkt), &p), Ok(()));
    assert_eq!(check_binding(Some(RFC_JKT), &p), Err(TokenError::JktMismatch));
    assert_eq!(check_binding(None, &p), Err(TokenError::UnboundTokenAsDpop));
}

#[test]
fn memory_replay_store_accepts_once_and_fails_closed_when_full() {
    let mut store = MemoryReplayStore::new(2);
    assert_eq!(store.check_and_record("a", 100, 10), Ok(()));
    assert_eq!(store.check_and_record("a", 100, 50), Err(ProofError::Replay));
    assert_eq!(store.check_and_record("b", 100, 50), Ok(()));
    assert_eq!(store.check_and_record("c", 100, 50), Err(ProofError::ReplayStoreUnavailable));
    // Once entries expire they make room, and an expired key may be seen again.
    assert_eq!(store.check_and_record("c", 300, 101), Ok(()));
    assert_eq!(store.check_and_record("a", 300, 101), Ok(()));
}

#[test]
fn the_key_source_is_asked_with_the_header_segment_and_its_key_is_used() {
    let p = proof_with(|_, _| {});
    let header = p.split('.').next().unwrap().to_string();
    let mut asked = Vec::new();
    let mut same = |h: &str, v: &Value| {
        asked.push(h.to_string());
        let mut k = (*parse_key(h, v)?).clone();
        k.precompute();
        Ok(std::rc::Rc::new(k))
    };
    assert!(verify_proof_with(&p, "POST", URI, Some(TOKEN), &policy(), NOW, &mut same).is_ok());
    assert_eq!(asked, vec![header]);
    // A source that hands back another key makes the signature fail: the source's key is the one used.
    let thief = public_jwk(&SigningKey::from_slice(&[8; 32]).unwrap());
    let mut other = |h: &str, _: &Value| parse_key(h, &thief);
    let e = verify_proof_with(&p, "POST", URI, Some(TOKEN), &policy(), NOW, &mut other).unwrap_err();
    assert_eq!(e, ProofError::Jws(JwsError::SignatureInvalid));
}
