//! DPoP server nonces (RFC 9449 section 9): the stateless nonce itself (`dpop_gate::dpop::nonce`), its
//! configuration, and its place in the request decision (after the proof verifies, before the
//! replay store records it).

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::{b64, key, public_jwk, sign, thumbprint, FakeHost, FakeState, FakeStore, Semantics};
use dpop_gate::config::Config;
use dpop_gate::decision::challenge::Refusal;
use dpop_gate::decision::{authorize, fresh_nonce, Outcome, Request, RequestHeaders};
use dpop_gate::dpop::nonce::{self, Freshness, NonceError, Secret};
use dpop_gate::dpop::replay;
use dpop_gate::error::{Error, JwsError, ProofError, TokenError};
use dpop_gate::gateway::{shared, HostFacts, Verdict, Worker};

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

/// The issuer (key 1), a client holding key 2 and its DPoP-bound token, under a configuration
/// that requires nonces made with `secret(7)`.
struct World {
    cfg: Config,
    client: SigningKey,
    token: String,
}

fn world(dpop_nonce: Value) -> World {
    let client = key(2);
    let cfg = json!({"issuer": ISS, "jwks": {"keys": [public_jwk(&key(1), Some("k1"))]}, "dpop_nonce": dpop_nonce});
    let token = sign(
        &key(1),
        json!({"alg": "ES256", "kid": "k1"}),
        json!({"iss": ISS, "exp": NOW + 600, "iat": NOW, "sub": "client", "cnf": {"jkt": thumbprint(&client)}}),
    );
    World { cfg: Config::parse(cfg.to_string().as_bytes()).unwrap(), client, token }
}

fn configured() -> World {
    world(json!({"secret": b64(&[7; 32]), "step_seconds": STEP}))
}

impl World {
    /// The client's valid proof for the request `decide` makes.
    fn proof(&self, jti: &str, nonce: Option<&str>) -> String {
        self.proof_by(&self.client, jti, nonce, |_, _| {})
    }

    /// A proof signed by `signer` (with its own `jwk`), after `edit` changed its header and claims.
    fn proof_by(
        &self,
        signer: &SigningKey,
        jti: &str,
        nonce: Option<&str>,
        edit: impl FnOnce(&mut Value, &mut Value),
    ) -> String {
        let mut header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(signer, None)});
        let mut claims = json!({"jti": jti, "htm": "POST", "htu": URI, "iat": NOW,
                                "ath": b64(&Sha256::digest(self.token.as_bytes()))});
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        edit(&mut header, &mut claims);
        sign(signer, header, claims)
    }

    fn decide(&self, state: &mut FakeState, proof: &str) -> Outcome {
        let authorization = format!("DPoP {}", self.token);
        let req = Request { method: "POST", authorization: &[&authorization], dpop: &[proof], uri: Some(URI) };
        authorize(&self.cfg, &req, state, NOW)
    }

    fn state(&self) -> FakeState {
        FakeState::for_config(&self.cfg)
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
    let mut host = w.state();
    let e = refusal(w.decide(&mut host, &w.proof("j1", None)));
    assert_eq!(e, Error::UseNonce);
    assert_eq!((e.status(), e.code().unwrap().as_str()), (401, "use_dpop_nonce"));
    assert!(host.recorded.is_empty(), "a refused proof must not use replay-store capacity: {:?}", host.recorded);
    // The nonce to send with the refusal, and the retry with it. The retry may even keep its
    // `jti`: the refused proof was never recorded, so it is no replay.
    let n = fresh_nonce(&w.cfg, &mut host, NOW).unwrap();
    assert_eq!(grant_nonce(w.decide(&mut host, &w.proof("j1", Some(&n)))), None);
    assert_eq!(host.recorded.len(), 1);
}

#[test]
fn a_wrong_nonce_is_refused() {
    let w = configured();
    let mut host = w.state();
    let other_server = nonce::issue(&secret(8), STEP, NOW);
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j1", Some(&other_server)))), Error::UseNonce);
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j2", Some("made-up-nonce")))), Error::UseNonce);
    assert!(host.recorded.is_empty());
}

#[test]
fn a_previous_step_nonce_is_accepted_with_a_fresh_one_in_the_grant() {
    let w = configured();
    let mut host = w.state();
    let previous = nonce::issue(&secret(7), STEP, NOW - STEP);
    let fresh = grant_nonce(w.decide(&mut host, &w.proof("j1", Some(&previous)))).expect("a fresh nonce");
    assert_eq!(fresh, nonce::issue(&secret(7), STEP, NOW));
    assert_eq!(nonce::verify(&secret(7), STEP, NOW, Some(&fresh)), Ok(Freshness::Current));
}

#[test]
fn a_nonce_two_steps_old_is_refused() {
    let w = configured();
    let mut host = w.state();
    let old = nonce::issue(&secret(7), STEP, NOW - 2 * STEP);
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j1", Some(&old)))), Error::UseNonce);
}

#[test]
fn a_tampered_nonce_is_refused() {
    let w = configured();
    let mut host = w.state();
    let n = nonce::issue(&secret(7), STEP, NOW);
    let tampered = format!("{}{}", if n.starts_with('A') { 'B' } else { 'A' }, &n[1..]);
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j1", Some(&tampered)))), Error::UseNonce);
    // The untouched nonce passes, once: nonces do not replace the replay check.
    let proof = w.proof("j2", Some(&n));
    assert!(matches!(w.decide(&mut host, &proof), Outcome::Allow(_)));
    assert_eq!(refusal(w.decide(&mut host, &proof)), Error::Proof(ProofError::Replay));
}

/// Flips one character in the middle of a JWS's signature: same length, another signature.
fn bad_signature(jws: &str) -> String {
    let (input, sig) = jws.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = sig.chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    format!("{input}.{}", sig.into_iter().collect::<String>())
}

/// Proofs that fail their own checks or their binding to the token, each sent without a nonce and
/// with another server's: the refusal is always the proof's (`invalid_dpop_proof`) or the
/// binding's (`invalid_token`), never `use_dpop_nonce`, and nothing reaches the replay store. A
/// decision that checked the nonce first would answer `use_dpop_nonce` to every one of them:
/// a nonce and a "retry" for whoever sent a forgery, and for a client whose proof cannot pass.
#[test]
fn the_nonce_is_checked_only_after_the_proof_verifies() {
    let world = configured();
    let w = &world;
    let other_server = nonce::issue(&secret(8), STEP, NOW);
    let thief = key(4);
    type Make<'a> = Box<dyn Fn(Option<&str>) -> String + 'a>;
    let edited = |edit: fn(&mut Value, &mut Value)| -> Make { Box::new(move |n| w.proof_by(&w.client, "j1", n, edit)) };
    let cases: Vec<(&str, Make, Error)> = vec![
        (
            "a bad signature",
            Box::new(|n| bad_signature(&w.proof("j1", n))),
            Error::Proof(ProofError::Jws(JwsError::SignatureInvalid)),
        ),
        ("typ JWT", edited(|h, _| h["typ"] = json!("JWT")), Error::Proof(ProofError::Typ)),
        (
            "no jti",
            edited(|_, c| drop(c.as_object_mut().unwrap().remove("jti"))),
            Error::Proof(ProofError::Claim("jti")),
        ),
        ("htm GET", edited(|_, c| c["htm"] = json!("GET")), Error::Proof(ProofError::Htm)),
        (
            "htu of another resource",
            edited(|_, c| c["htu"] = json!("https://api.example.com/admin")),
            Error::Proof(ProofError::Htu),
        ),
        ("iat an hour old", edited(|_, c| c["iat"] = json!(NOW - 3600)), Error::Proof(ProofError::IatTooOld)),
        (
            "ath of another token",
            edited(|_, c| c["ath"] = json!(b64(&Sha256::digest(b"another token")))),
            Error::Proof(ProofError::Ath),
        ),
        (
            "a thief's own key",
            Box::new(|n| w.proof_by(&thief, "j1", n, |_, _| {})),
            Error::Token(TokenError::JktMismatch),
        ),
    ];
    for (what, make, want) in &cases {
        for nonce in [None, Some(other_server.as_str())] {
            let mut host = w.state();
            assert_eq!(&refusal(w.decide(&mut host, &make(nonce))), want, "{what}, nonce {nonce:?}");
            assert!(host.recorded.is_empty(), "{what}: recorded {:?}", host.recorded);
        }
    }
    // With a valid nonce each is refused alike; the same proof with nothing wrong passes.
    let n = nonce::issue(&secret(7), STEP, NOW);
    for (what, make, want) in &cases {
        assert_eq!(&refusal(w.decide(&mut w.state(), &make(Some(&n)))), want, "{what}, valid nonce");
    }
    assert!(matches!(w.decide(&mut w.state(), &w.proof("j1", Some(&n))), Outcome::Allow(_)));
}

#[test]
fn without_a_configured_secret_the_hosts_secret_is_used_and_none_fails_closed() {
    let w = world(json!({}));
    let mut host = w.state();
    // A host that cannot provide a secret: every proof is refused, and there is no nonce to give.
    assert_eq!(refusal(w.decide(&mut host, &w.proof("j1", None))), Error::UseNonce);
    assert_eq!(fresh_nonce(&w.cfg, &mut host, NOW), None);

    host.nonce_secret = Some(secret(3));
    let n = fresh_nonce(&w.cfg, &mut host, NOW).unwrap();
    assert_eq!(n, nonce::issue(&secret(3), 60, NOW));
    assert!(matches!(w.decide(&mut host, &w.proof("j2", Some(&n))), Outcome::Allow(_)));
}

#[test]
fn without_dpop_nonce_a_nonce_claim_is_ignored() {
    let w = world(Value::Null);
    let mut host = w.state();
    assert_eq!(fresh_nonce(&w.cfg, &mut host, NOW), None);
    assert_eq!(grant_nonce(w.decide(&mut host, &w.proof("j1", None))), None);
    assert_eq!(grant_nonce(w.decide(&mut host, &w.proof("j2", Some("anything")))), None);
}

// ---- in the engine ----

/// The same order in the filter's engine (`gateway::Worker`: the shared replay store and the
/// host-made nonce secret in shared data), on both hosts: a forged proof without a nonce is
/// refused as a proof, with no `DPoP-Nonce` to retry with; a valid proof without one gets
/// `use_dpop_nonce` and a nonce and leaves the replay store as it was, so its retry with the
/// nonce, even under the same `jti`, passes.
#[test]
fn in_the_engine_no_nonce_is_given_for_a_forged_proof_and_none_recorded_before_the_nonce() {
    for (facts, semantics) in [(HostFacts::ENVOY, Semantics::Envoy), (HostFacts::NGX_WASM, Semantics::Kong)] {
        let w = world(json!({}));
        let store = FakeStore::new(semantics);
        let mut host = FakeHost::new(&store);
        let mut worker = Worker::new(w.cfg.clone(), facts, Some([5; 32]));
        worker.init_shared(&mut host).unwrap();
        // The buckets as opened (each holds the store's header): untouched means unchanged.
        let opened: Vec<Option<Vec<u8>>> =
            (0..replay::BUCKETS).map(|b| store.value(&shared::replay_bucket_key(b))).collect();
        let replay_untouched =
            || (0..replay::BUCKETS).all(|b| store.value(&shared::replay_bucket_key(b)) == opened[b]);
        let auth = format!("DPoP {}", w.token);
        let mut send = |host: &mut FakeHost, ctx: u32, proof: &str| {
            let h = RequestHeaders::read([
                (":method", "POST"),
                (":path", "/orders"),
                (":scheme", "https"),
                ("host", "api.example.com"),
                ("authorization", auth.as_str()),
                ("dpop", proof),
            ]);
            let v = worker.on_request(host, ctx, &h, NOW);
            worker.flush_counts(host); // as if a tick came: the host's counters are exact after it
            v
        };
        let refused = |v: Verdict| match v {
            Verdict::Refuse(r) => r,
            other => panic!("{semantics:?}: expected a refusal, got {other:?}"),
        };
        let nonce_of = |r: &Refusal| r.headers.iter().find(|(k, _)| *k == "dpop-nonce").map(|(_, v)| v.clone());

        let r = refused(send(&mut host, 1, &bad_signature(&w.proof("j1", None))));
        assert!(r.body.contains("invalid_dpop_proof"), "{semantics:?}: {}", r.body);
        assert_eq!(nonce_of(&r), None, "{semantics:?}: a nonce for a forged proof");
        assert_eq!(host.count_of("refused_proof_signature"), 1);
        assert!(replay_untouched());

        let r = refused(send(&mut host, 2, &w.proof("j1", None)));
        assert!(r.body.contains("use_dpop_nonce"), "{semantics:?}: {}", r.body);
        let n = nonce_of(&r).expect("a nonce to retry with");
        assert!(replay_untouched(), "{semantics:?}: a proof refused for its nonce was recorded");

        assert!(matches!(send(&mut host, 3, &w.proof("j1", Some(&n))), Verdict::Allow(_)), "{semantics:?}");
        assert!(!replay_untouched(), "the accepted proof is recorded");
        assert_eq!((host.count_of("refused_use_dpop_nonce"), host.count_of("allowed")), (1, 1));
    }
}
