//! Weak keys: RSA keys with the ROCA fingerprint (CVE-2017-15361) are never trusted. The
//! vulnerable keys are the published test keys of the reference detector (tests/data/roca.json,
//! which names each file's source); one of them comes with its private key, so the attack is real:
//! a token that verifies under a ROCA key (checked with the `rsa` crate) is refused because the
//! key was skipped, not because its signature is bad.

use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

mod common;
use common::{FakeHost, FakeState, FakeStore, Semantics, TestRng};

use dpop_gate::config::{Config, FetchUrl, KeySource};
use dpop_gate::decision::{authorize, Outcome, Request, RequestHeaders};
use dpop_gate::dpop::{verify_proof, ProofPolicy};
use dpop_gate::error::{Error, JwkError, JwsError, ProofError, TokenError};
use dpop_gate::gateway::{HostFacts, Level, Verdict, Worker};
use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jwk::{Jwk, JwkSet};
use dpop_gate::jose::jws::{b64_decode, b64_encode};
use dpop_gate::keys::{FetchError, IssuerKeys, Timing};

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com";
const ROCA_MESSAGE: &str = "RSA key has the ROCA fingerprint (CVE-2017-15361) and can be factored";

fn data(file: &str) -> Value {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn public(n: &Value, kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "n": n["n"], "e": "AQAB"})
}

/// The published ROCA-vulnerable public keys, as JWKs.
fn vulnerable() -> Vec<Value> {
    data("roca.json")["vulnerable"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, k)| public(k, &format!("roca-{i}")))
        .collect()
}

/// The published moduli that the reference detector does not flag.
fn not_vulnerable() -> Vec<Value> {
    data("roca.json")["not_vulnerable"].as_array().unwrap().iter().map(|k| public(k, "clean")).collect()
}

fn big(v: &Value, member: &str) -> BigUint {
    BigUint::from_bytes_be(&b64_decode(v[member].as_str().unwrap()).unwrap())
}

fn private_from(v: &Value) -> RsaPrivateKey {
    RsaPrivateKey::from_components(big(v, "n"), big(v, "e"), big(v, "d"), vec![big(v, "p"), big(v, "q")]).unwrap()
}

/// The published private key of a ROCA-vulnerable modulus (roca/tests/data/privkey05.pem).
fn roca_private() -> RsaPrivateKey {
    private_from(&data("roca.json")["vulnerable_private"])
}

/// RFC 7515 appendix A.2's RSA key: a normal key.
fn rfc_private() -> RsaPrivateKey {
    let a2 = &data("rfc.json")["rfc7515_a2"];
    let mut all = a2["jwk"].clone();
    for (k, v) in a2["private"].as_object().unwrap() {
        all[k] = v.clone();
    }
    private_from(&all)
}

fn jwk_of(key: &RsaPublicKey, kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "n": b64_encode(&key.n().to_bytes_be()), "e": b64_encode(&key.e().to_bytes_be())})
}

fn rs256(key: &RsaPrivateKey, header: Value, claims: Value) -> String {
    let input = format!("{}.{}", b64_encode(header.to_string().as_bytes()), b64_encode(claims.to_string().as_bytes()));
    let sig = key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input.as_bytes())).unwrap();
    format!("{input}.{}", b64_encode(&sig))
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "attacker"})
}

fn set(keys: Vec<Value>) -> JwkSet {
    JwkSet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

#[test]
fn published_roca_keys_are_refused() {
    let keys = vulnerable();
    assert_eq!(keys.len(), 2);
    for jwk in &keys {
        let err = Jwk::from_value(jwk).unwrap_err();
        assert_eq!(err, JwkError::RsaWeakKey, "{}", jwk["kid"]);
        assert_eq!(err.to_string(), ROCA_MESSAGE);
    }
    // The private key in the data file is that of the second published modulus.
    assert_eq!(jwk_of(&roca_private().to_public_key(), "roca-1"), keys[1]);
}

#[test]
fn published_clean_keys_and_a_normal_key_pass() {
    let clean = not_vulnerable();
    assert_eq!(clean.len(), 5);
    for jwk in &clean {
        Jwk::from_value(jwk).unwrap();
    }
    Jwk::from_value(&data("rfc.json")["rfc7515_a2"]["jwk"]).unwrap();
}

/// mod06 of the reference tests differs from the vulnerable mod03 only in its first hex digit:
/// the test reads the whole modulus, not a prefix or a suffix.
#[test]
fn a_near_copy_of_a_roca_modulus_passes() {
    let roca = b64_decode(vulnerable()[0]["n"].as_str().unwrap()).unwrap();
    let near = b64_decode(not_vulnerable()[2]["n"].as_str().unwrap()).unwrap();
    assert_eq!((roca[0], near[0]), (0x9d, 0x8d));
    assert_eq!(roca[1..], near[1..]);
}


/// False positives: RSA keys made by an ordinary generator are never flagged. Twenty keys, as key
/// generation is slow (about a second each); src/crypto/roca.rs runs the test itself over 100,000 random
/// moduli.
#[test]
fn random_rsa_keys_are_not_flagged() {
    let mut rng = TestRng(0x0c0a_2017);
    let keys: Vec<Value> = (0..20)
        .map(|i| jwk_of(&RsaPrivateKey::new(&mut rng, 2048).unwrap().to_public_key(), &format!("k{i}")))
        .collect();
    let parsed = set(keys);
    assert_eq!(parsed.keys.len(), 20);
    assert!(parsed.weak_keys.is_empty());
}

#[test]
fn key_set_skips_roca_keys_and_says_which() {
    let [roca0, roca1] = <[Value; 2]>::try_from(vulnerable()).unwrap();
    let good = json!({"kty": "RSA", "kid": "good", "n": data("rfc.json")["rfc7515_a2"]["jwk"]["n"], "e": "AQAB"});
    let s = set(vec![roca0, json!({"kty": "oct", "k": "AAAA"}), good, roca1]);
    assert_eq!(s.keys.iter().map(|k| k.kid.as_deref()).collect::<Vec<_>>(), [Some("good")]);
    // The `oct` key is skipped too, but it is not a broken key of the issuer: not counted.
    assert_eq!(s.weak_keys, [0, 3]);
}

fn jwks_uri_keys() -> IssuerKeys {
    IssuerKeys::new(ISS, &KeySource::JwksUri(FetchUrl::parse("https://idp.example.com/jwks").unwrap()))
}

/// A fetched set whose only keys are ROCA keys is no key at all: refused like an empty set (the
/// issuer stays without keys, so its requests fail closed), with a reason that names ROCA and the
/// count the filter logs and puts in `dpop_gate_jwks_weak_keys_skipped`.
#[test]
fn fetched_set_of_only_roca_keys_fails_closed() {
    let mut k = jwks_uri_keys();
    let body = json!({ "keys": vulnerable() }).to_string();
    let err = k.on_jwks(Ok(body.as_bytes()), NOW).unwrap_err();
    assert_eq!(err, FetchError::WeakKeysOnly(2));
    assert_eq!(err.weak_keys(), 2);
    assert!(err.to_string().contains("ROCA fingerprint (CVE-2017-15361)"), "{err}");
    assert!(k.keys().is_none());
    let t = Timing { refresh: 300, min_refetch: 30, timeout: 5 };
    assert!(k.unavailable(NOW + 1, &t));
    // Other failures carry no weak-key count.
    assert_eq!(FetchError::Jwks.weak_keys(), 0);
}

fn decide(keys: JwkSet, token: &str) -> Outcome {
    let cfg = Config::parse(
        json!({"issuer": ISS, "jwks_uri": "https://idp.example.com/jwks", "audiences": ["api"]}).to_string().as_bytes(),
    )
    .unwrap();
    let authorization = [format!("Bearer {token}")];
    let authorization: Vec<&str> = authorization.iter().map(String::as_str).collect();
    let req =
        Request { method: "GET", authorization: &authorization, dpop: &[], uri: Some("https://api.example.com/") };
    let mut state = FakeState::for_config(&cfg);
    state.keys[0] = Some(keys);
    authorize(&cfg, &req, &mut state, NOW)
}

/// The attack: the issuer's published set holds a ROCA key; whoever factors it signs tokens with
/// it. Here the private key is published, so the token below is a real signature under that key.
/// The fetched set skips the key (and says so); the token naming its `kid` is refused as signed by
/// an unknown key (after the filter's rate-limited refetch finds the same set: `KeyNotFound`), and
/// without a `kid` it is tried against the remaining keys and fails their check. A token
/// of the issuer's sound key still passes.
#[test]
fn token_signed_with_a_roca_key_is_refused() {
    let roca = roca_private();
    let forged = rs256(&roca, json!({"alg": "RS256", "kid": "roca-1"}), claims());
    // The signature is valid under the ROCA key: only the weak-key check stands in the way.
    let (input, sig) = forged.rsplit_once('.').unwrap();
    roca.to_public_key()
        .verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input.as_bytes()), &b64_decode(sig).unwrap())
        .unwrap();

    let sound = rfc_private();
    let body =
        json!({"keys": [jwk_of(&roca.to_public_key(), "roca-1"), jwk_of(&sound.to_public_key(), "sound")]}).to_string();
    let mut k = jwks_uri_keys();
    assert_eq!(k.on_jwks(Ok(body.as_bytes()), NOW), Ok(1));
    let keys = JwkSet::clone(k.keys().unwrap());
    assert_eq!(keys.keys.len(), 1);

    match decide(keys.clone(), &forged) {
        Outcome::UnknownKid(0) => {}
        other => panic!("expected an unknown kid, got {other:?}"),
    }
    let refusal = Outcome::unknown_kid_refusal();
    assert_eq!(refusal, Error::Token(TokenError::Jws(JwsError::KeyNotFound)));
    assert_eq!((refusal.status(), refusal.reason()), (401, "token_key_not_found"));

    // The ROCA modulus has 2049 bits, so its signature (257 bytes) does not even have the length
    // of the sound key's.
    let no_kid = rs256(&roca, json!({"alg": "RS256"}), claims());
    match decide(keys.clone(), &no_kid) {
        Outcome::Deny(e) => {
            assert_eq!(e, Error::Token(TokenError::Jws(JwsError::SignatureLength)));
            assert_eq!(e.status(), 401);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    let honest = rs256(&sound, json!({"alg": "RS256", "kid": "sound"}), claims());
    assert!(matches!(decide(keys, &honest), Outcome::Allow(_)));
}

/// A DPoP client whose key has the ROCA fingerprint: its proofs could be forged by whoever factors
/// the key, so the proof is refused (`invalid_dpop_proof`) even though its signature is valid.
#[test]
fn dpop_proof_with_a_roca_key_is_refused() {
    let roca = roca_private();
    let jwk = json!({"kty": "RSA", "n": b64_encode(&roca.n().to_bytes_be()), "e": "AQAB"});
    let uri = "https://api.example.com/orders";
    let proof = rs256(
        &roca,
        json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}),
        json!({"jti": "j1", "htm": "GET", "htu": uri, "iat": NOW}),
    );
    let policy = ProofPolicy { algs: &[Algorithm::RS256], max_age: 60, clock_skew: 5, max_len: 8192 };
    let err = verify_proof(&proof, "GET", uri, None, &policy, NOW).unwrap_err();
    assert_eq!(err, ProofError::Jwk(JwkError::RsaWeakKey));
    let e = Error::Proof(err);
    assert_eq!((e.status(), e.reason()), (401, "proof_malformed"));
    assert_eq!(e.to_string(), format!("DPoP proof: {ROCA_MESSAGE}"));

    // The same proof with a sound RSA key passes: the refusal is the key, not the proof.
    let sound = rfc_private();
    let jwk = json!({"kty": "RSA", "n": b64_encode(&sound.n().to_bytes_be()), "e": "AQAB"});
    let proof = rs256(
        &sound,
        json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}),
        json!({"jti": "j1", "htm": "GET", "htu": uri, "iat": NOW}),
    );
    verify_proof(&proof, "GET", uri, None, &policy, NOW).unwrap();
}

/// A static `jwks` is the operator's own text: a ROCA key in it is refused at configuration time,
/// naming the entry.
#[test]
fn static_jwks_with_a_roca_key_is_refused_naming_the_entry() {
    let good = data("rfc.json")["rfc7515_a2"]["jwk"].clone();
    let roca = vulnerable()[0].clone();
    let err = Config::parse(json!({"issuer": ISS, "jwks": {"keys": [roca]}}).to_string().as_bytes()).unwrap_err();
    assert_eq!(err.field, "jwks.keys[0]");
    assert_eq!(err.problem, ROCA_MESSAGE);
    assert_eq!(err.to_string(), format!("invalid configuration: field `jwks.keys[0]`: {ROCA_MESSAGE}"));

    let doc = json!({"issuers": [
        {"issuer": ISS, "jwks": {"keys": [good.clone()]}},
        {"issuer": "https://other.example.com", "jwks": {"keys": [good.clone(), roca]}},
    ]});
    let err = Config::parse(doc.to_string().as_bytes()).unwrap_err();
    assert_eq!((err.field.as_str(), err.problem.as_str()), ("issuers[1].jwks.keys[1]", ROCA_MESSAGE));

    // Without the ROCA key the same configuration loads.
    let doc = json!({"issuers": [{"issuer": ISS, "jwks": {"keys": [good]}}]});
    Config::parse(doc.to_string().as_bytes()).unwrap();
}

/// The gateway engine, as either host runs it, fetching that set: the forged token is refused
/// (401, after the one refetch an unknown `kid` may cause), each fetch logs one warn line naming
/// the issuer and ROCA and counts the skipped key in `jwks_weak_keys_skipped`; the sound key's
/// token passes. With only ROCA keys, the fetch fails and the request gets 503.
#[test]
fn the_gateway_logs_and_counts_skipped_roca_keys() {
    let roca = roca_private();
    let sound = rfc_private();
    let mixed = json!({"keys": [jwk_of(&roca.to_public_key(), "roca-1"), jwk_of(&sound.to_public_key(), "sound")]});
    let only_roca = json!({"keys": [jwk_of(&roca.to_public_key(), "roca-1")]});
    for (facts, semantics) in [(HostFacts::ENVOY, Semantics::Envoy), (HostFacts::NGX_WASM, Semantics::Kong)] {
        for (body, forged_status) in [(&mixed, 401), (&only_roca, 503)] {
            let store = FakeStore::new(semantics);
            let mut host = FakeHost::new(&store);
            let cfg = json!({"issuer": ISS, "jwks_uri": "https://idp.example.com/jwks", "audiences": ["api"]});
            let mut w = Worker::new(Config::parse(cfg.to_string().as_bytes()).unwrap(), facts, Some([7; 32]));
            let body = body.to_string();
            let send = |w: &mut Worker, host: &mut FakeHost, ctx: u32, token: &str| -> Verdict {
                let auth = format!("Bearer {token}");
                let h = RequestHeaders::read([
                    (":method", "GET"),
                    (":path", "/"),
                    ("host", "api.example.com"),
                    ("authorization", auth.as_str()),
                ]);
                let mut answered = host.callouts.len();
                let mut verdict = w.on_request(host, ctx, &h, NOW);
                while verdict == Verdict::Pause {
                    let (token, _, path) = host.callouts[answered].clone();
                    assert_eq!(path, "/jwks");
                    answered += 1;
                    let decided = w.on_callout(host, token, &[(":status", "200")], Some(body.as_bytes()), ctx, NOW);
                    if let Some((_, v)) = decided.into_iter().find(|(c, _)| *c == ctx) {
                        verdict = v;
                    }
                }
                w.flush_counts(host); // as if a tick came: the host's counters are exact after it
                verdict
            };
            let forged = rs256(&roca, json!({"alg": "RS256", "kid": "roca-1"}), claims());
            match send(&mut w, &mut host, 1, &forged) {
                Verdict::Refuse(r) => assert_eq!(r.status, forged_status, "{facts:?}"),
                other => panic!("{facts:?}: expected a refusal, got {other:?}"),
            }
            let fetches = host.callouts.len() as u64;
            assert!((1..=2).contains(&fetches), "{fetches}");
            assert_eq!(host.count_of("jwks_weak_keys_skipped"), fetches, "{facts:?}");
            let warned = host
                .logs
                .iter()
                .filter(|(level, line)| {
                    *level == Level::Warn
                        && line.contains(&format!("JWKS of {ISS}: skipped 1 RSA key(s) with the ROCA fingerprint"))
                })
                .count() as u64;
            assert_eq!(warned, fetches, "{:?}", host.logs);
            if forged_status == 503 {
                assert_eq!(host.count_of("jwks_fetch_failures"), fetches);
                continue;
            }
            let honest = rs256(&sound, json!({"alg": "RS256", "kid": "sound"}), claims());
            assert!(matches!(send(&mut w, &mut host, 2, &honest), Verdict::Allow(_)), "{facts:?}");
        }
    }
}
