//! DPoP server nonces (RFC 9449 section 9): the stateless nonce itself (`dpop_gate::dpop::nonce`), its
//! configuration, and its place in the request decision (after the proof verifies, before the
//! replay store records it).

use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use dpop_gate::decision::{authorize, fresh_nonce, Keys, Outcome, Request, State};
use dpop_gate::config::{Config, KeySource};
use dpop_gate::dpop::{MemoryReplayStore, ReplayStore};
use dpop_gate::error::{Error, ProofError};
use dpop_gate::jose::jwk::JwkSet;
use dpop_gate::dpop::nonce::{self, Freshness, NonceError, Secret};
use dpop_gate::decision::token::AccessToken;

/// 30 seconds into a 60-second step (steps start at multiples of 60), so `NOW - 60` is in the
/// previous step.
const NOW: u64 = 1_700_000_010;
const STEP: u64 = 60;
const ISS: &str = "https://idp.example.com/realms/test";
const URI: &str = "https://api.example.com/orders";

fn secret(byte: u8) -> Secret {
    Secret::new(&[byte; 32]).unwrap()
}

// ---- the nonce itself ----

#[test]
fn a_nonce_is_accepted_in_its_step_and_the_next_only() {
    let s = secret(7);
    let n = nonce::issue(&s, STEP, NOW);
    assert_eq!(n.len(), nonce::NONCE_CHARS);
    assert_eq!(nonce::verify(&s, STEP, NOW, Some(&n)), Ok(Freshness::Current));
    // Same step, later: still current; the step is `now / step_seconds`.
    assert_eq!(nonce::verify(&s, STEP, NOW + 29, Some(&n)), Ok(Freshness::Current));
    assert_eq!(nonce::verify(&s, STEP, NOW + 30, Some(&n)), Ok(Freshness::Previous));
    assert_eq!(nonce::verify(&s, STEP, NOW + 89, Some(&n)), Ok(Freshness::Previous));
    assert_eq!(nonce::verify(&s, STEP, NOW + 90, Some(&n)), Err(NonceError::Invalid));
    // A nonce from the future (a server with a fast clock) is not accepted either.
    assert_eq!(nonce::verify(&s, STEP, NOW - STEP, Some(&n)), Err(NonceError::Invalid));
}

/// The format is a contract (gateways configured with one secret accept each other's nonces):
/// `base64url(HMAC-SHA256(secret, "dpop-gate nonce v1" NUL || big-endian u64 step))`. The
/// expected value was computed with Python's `hmac` module, independently of this crate.
#[test]
fn nonce_format_known_answer() {
    assert_eq!(nonce::issue(&secret(7), STEP, NOW), "qBNgn6RfQ0h5slNDJPs4u__PJ_8Ko1LDv4PxIv8LXAk");
}

#[test]
fn nonces_are_bound_to_the_secret_and_the_step() {
    let n = nonce::issue(&secret(7), STEP, NOW);
    assert_eq!(nonce::verify(&secret(8), STEP, NOW, Some(&n)), Err(NonceError::Invalid));
    assert_ne!(n, nonce::issue(&secret(7), STEP, NOW + STEP));
    assert_eq!(n, nonce::issue(&secret(7), STEP, NOW + 1), "stateless: the same within a step");
}

#[test]
fn missing_malformed_and_tampered_nonces_are_refused() {
    let s = secret(7);
    let n = nonce::issue(&s, STEP, NOW);
    assert_eq!(nonce::verify(&s, STEP, NOW, None), Err(NonceError::Missing));
    for bad in ["", "x", &n[..42], &format!("{n}A"), &format!("{n}="), &n.replace(|c: char| c.is_ascii(), "!")] {
        assert_eq!(nonce::verify(&s, STEP, NOW, Some(bad)), Err(NonceError::Invalid), "{bad:?}");
    }
    // Every single-character change of a valid nonce is refused.
    for i in 0..n.len() {
        let mut chars: Vec<char> = n.chars().collect();
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(nonce::verify(&s, STEP, NOW, Some(&tampered)), Err(NonceError::Invalid), "position {i}");
    }
}

#[test]
fn secrets_have_a_bounded_length_and_never_show_in_debug_output() {
    assert!(Secret::new(&[1; 31]).is_none());
    assert!(Secret::new(&[1; 65]).is_none());
    assert!(Secret::new(&[1; 64]).is_some());
    assert!(Secret::from_base64url(&URL_SAFE_NO_PAD.encode([1; 32])).is_some());
    assert!(Secret::from_base64url("not base64!").is_none());
    assert_eq!(format!("{:?}", secret(0x41)), "Secret(..)");
}

#[test]
fn step_zero_has_no_previous_step() {
    let s = secret(7);
    let n = nonce::issue(&s, STEP, 5);
    assert_eq!(nonce::verify(&s, STEP, 5, Some(&n)), Ok(Freshness::Current));
    assert_eq!(nonce::step(5, STEP), 0);
    assert_eq!(nonce::step(5, 0), 5, "a zero step is read as one second, never a division by zero");
}

// ---- configuration ----

fn parse(extra: Value) -> Result<Config, String> {
    let mut c = json!({"issuer": ISS});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    Config::parse(c.to_string().as_bytes()).map_err(|e| e.to_string())
}

#[test]
fn dpop_nonce_configuration() {
    assert!(parse(json!({})).unwrap().dpop_nonce.is_none());
    assert!(parse(json!({"dpop_nonce": null})).unwrap().dpop_nonce.is_none());
    let on = parse(json!({"dpop_nonce": {}})).unwrap().dpop_nonce.unwrap();
    assert_eq!(on.step_seconds, 60);
    assert!(on.secret.is_none());
    let set = parse(json!({"dpop_nonce": {"secret": URL_SAFE_NO_PAD.encode([9; 48]), "step_seconds": 10}})).unwrap();
    assert_eq!(set.dpop_nonce.unwrap().step_seconds, 10);

    for (bad, field) in [
        (json!({"dpop_nonce": {"secret": URL_SAFE_NO_PAD.encode([9; 31])}}), "dpop_nonce.secret"),
        (json!({"dpop_nonce": {"secret": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw=="}}), "dpop_nonce.secret"),
        (json!({"dpop_nonce": {"step_seconds": 9}}), "dpop_nonce.step_seconds"),
        (json!({"dpop_nonce": {"step_seconds": 3601}}), "dpop_nonce.step_seconds"),
        (json!({"dpop_nonce": {"required": true}}), ""),
        (json!({"dpop_nonce": {}, "dpop": "disabled"}), "dpop_nonce"),
    ] {
        let e = parse(bad.clone()).err().unwrap_or_else(|| panic!("accepted {bad}"));
        assert!(e.contains(&format!("`{field}`")) || field.is_empty(), "{bad}: {e}");
    }
}

// ---- the request decision ----

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The public JWK of `k` and its RFC 7638 thumbprint.
fn jwk_and_thumbprint(k: &SigningKey) -> (Value, String) {
    let p = k.verifying_key().to_encoded_point(false);
    let (x, y) = (b64(p.x().unwrap()), b64(p.y().unwrap()));
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    (json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}), b64(&Sha256::digest(canonical)))
}

fn jws(k: &SigningKey, header: Value, claims: Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig: Signature = k.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

/// The issuer (key 1), a client holding key 2 and its DPoP-bound token, under a configuration
/// that requires nonces made with `secret(7)`.
struct World {
    cfg: Config,
    client: SigningKey,
    token: String,
}

fn world(dpop_nonce: Value) -> World {
    let issuer = SigningKey::from_slice(&[1; 32]).unwrap();
    let client = SigningKey::from_slice(&[2; 32]).unwrap();
    let (mut issuer_jwk, _) = jwk_and_thumbprint(&issuer);
    issuer_jwk["kid"] = json!("k1");
    let (_, jkt) = jwk_and_thumbprint(&client);
    let cfg = json!({"issuer": ISS, "jwks": {"keys": [issuer_jwk]}, "dpop_nonce": dpop_nonce});
    let token = jws(
        &issuer,
        json!({"alg": "ES256", "kid": "k1"}),
        json!({"iss": ISS, "exp": NOW + 600, "iat": NOW, "sub": "client", "cnf": {"jkt": jkt}}),
    );
    World { cfg: Config::parse(cfg.to_string().as_bytes()).unwrap(), client, token }
}

fn configured() -> World {
    world(json!({"secret": b64(&[7; 32]), "step_seconds": STEP}))
}

impl World {
    fn proof(&self, jti: &str, nonce: Option<&str>) -> String {
        let (jwk, _) = jwk_and_thumbprint(&self.client);
        let mut claims = json!({"jti": jti, "htm": "POST", "htu": URI, "iat": NOW,
                                "ath": b64(&Sha256::digest(self.token.as_bytes()))});
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        jws(&self.client, json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}), claims)
    }

    fn decide(&self, state: &mut Host, proof: &str) -> Outcome {
        let authorization = format!("DPoP {}", self.token);
        let req = Request { method: "POST", authorization: &[&authorization], dpop: &[proof], uri: Some(URI) };
        authorize(&self.cfg, &req, state, NOW)
    }
}

/// In-memory host: the configuration's static keys, no token cache, a replay store that counts
/// what it records, and optionally a host-made nonce secret.
struct Host {
    keys: JwkSet,
    replay: MemoryReplayStore,
    recorded: usize,
    host_secret: Option<Secret>,
}

impl Host {
    fn new(w: &World) -> Host {
        let KeySource::Static(keys) = &w.cfg.issuers[0].keys else { panic!("static keys") };
        Host { keys: keys.clone(), replay: MemoryReplayStore::new(10), recorded: 0, host_secret: None }
    }
}

impl State for Host {
    fn keys(&self, _index: usize) -> Keys<'_> {
        Keys::Ready(&self.keys)
    }
    fn cached_token(&mut self, _hash: &[u8; 32]) -> Option<Rc<AccessToken>> {
        None
    }
    fn store_token(&mut self, _hash: [u8; 32], _token: Rc<AccessToken>) {}
    fn record_proof(&mut self, key: &str, expires_at: u64, now: u64) -> Result<(), ProofError> {
        self.recorded += 1;
        self.replay.check_and_record(key, expires_at, now)
    }
    fn nonce_secret(&mut self) -> Option<Secret> {
        self.host_secret.clone()
    }
}

fn refusal(o: Outcome) -> Error {
    match o {
        Outcome::Deny(e) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn grant_nonce(o: Outcome) -> Option<String> {
    match o {
        Outcome::Allow(g) => g.nonce,
        other => panic!("expected Allow, got {other:?}"),
    }
}

#[test]
fn a_proof_without_a_nonce_gets_use_dpop_nonce_and_is_not_recorded() {
    let w = configured();
    let mut host = Host::new(&w);
    let e = refusal(w.decide(&mut host, &w.proof("j1", None)));
    assert_eq!(e, Error::UseNonce);
    assert_eq!((e.status(), e.code().unwrap().as_str()), (401, "use_dpop_nonce"));
    assert_eq!(host.recorded, 0, "a refused proof must not use replay-store capacity");
    // The nonce to send with the refusal, and the retry with it.
    let n = fresh_nonce(&w.cfg, &mut host, NOW).unwrap();
    assert_eq!(grant_nonce(w.decide(&mut host, &w.proof("j2", Some(&n)))), None);
    assert_eq!(host.recorded, 1);
}

#[test]
fn a_wrong_nonce_is_refused() {
    let w = configured();
    let mut host = Host::new(&w);
    let other_server = nonce::issue(&secret(8), STEP, NOW);
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j1", Some(&other_server)))), Error::UseNonce);
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j2", Some("made-up-nonce")))), Error::UseNonce);
    assert_eq!(host.recorded, 0);
}

#[test]
fn a_previous_step_nonce_is_accepted_with_a_fresh_one_in_the_grant() {
    let w = configured();
    let mut host = Host::new(&w);
    let previous = nonce::issue(&secret(7), STEP, NOW - STEP);
    let fresh = grant_nonce(w.decide(&mut host, &w.proof("j1", Some(&previous)))).expect("a fresh nonce");
    assert_eq!(fresh, nonce::issue(&secret(7), STEP, NOW));
    assert_eq!(nonce::verify(&secret(7), STEP, NOW, Some(&fresh)), Ok(Freshness::Current));
}

#[test]
fn a_nonce_two_steps_old_is_refused() {
    let w = configured();
    let mut host = Host::new(&w);
    let old = nonce::issue(&secret(7), STEP, NOW - 2 * STEP);
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j1", Some(&old)))), Error::UseNonce);
}

#[test]
fn a_tampered_nonce_is_refused() {
    let w = configured();
    let mut host = Host::new(&w);
    let n = nonce::issue(&secret(7), STEP, NOW);
    let tampered = format!("{}{}", if n.starts_with('A') { 'B' } else { 'A' }, &n[1..]);
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j1", Some(&tampered)))), Error::UseNonce);
    // The untouched nonce passes, once: nonces do not replace the replay check.
    let proof = w.proof("j2", Some(&n));
    assert!(matches!(w.decide(&mut host, &proof), Outcome::Allow(_)));
    assert_eq!(refusal(w.decide(&mut host, &proof)), Error::Proof(ProofError::Replay));
}

#[test]
fn the_nonce_is_checked_only_after_the_proof_verifies() {
    let w = configured();
    let mut host = Host::new(&w);
    let n = nonce::issue(&secret(7), STEP, NOW);
    // A bad signature is the proof's error, not a nonce hint for whoever sent it.
    let mut forged = w.proof("j1", Some(&n));
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    assert!(matches!(refusal(w.decide(&mut host, &forged)), Error::Proof(_)));
}

#[test]
fn without_a_configured_secret_the_hosts_secret_is_used_and_none_fails_closed() {
    let w = world(json!({}));
    let mut host = Host::new(&w);
    // A host that cannot provide a secret: every proof is refused, and there is no nonce to give.
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j1", None))), Error::UseNonce);
    assert_eq!(fresh_nonce(&w.cfg, &mut host, NOW), None);

    host.host_secret = Some(secret(3));
    let n = fresh_nonce(&w.cfg, &mut host, NOW).unwrap();
    assert_eq!(n, nonce::issue(&secret(3), 60, NOW));
    assert!(matches!(w.decide(&mut host, &w.proof("j2", Some(&n))), Outcome::Allow(_)));
}

#[test]
fn without_dpop_nonce_a_nonce_claim_is_ignored() {
    let w = world(Value::Null);
    let mut host = Host::new(&w);
    assert_eq!(fresh_nonce(&w.cfg, &mut host, NOW), None);
    assert_eq!(grant_nonce(w.decide(&mut host, &w.proof("j1", None))), None);
    assert_eq!(grant_nonce(w.decide(&mut host, &w.proof("j2", Some("anything")))), None);
}
