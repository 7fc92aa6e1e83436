//! Refusal responses: status, challenges (RFC 6750 section 3, RFC 9449 section 7.1) and body.

use dpop_gate::jose::alg::Algorithm;
use dpop_gate::decision::Scheme;
use dpop_gate::decision::challenge::refusal;
use dpop_gate::config::DpopMode;
use dpop_gate::error::{Error, JwsError, ProofError, RequestError, TokenError};

const ALGS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::EdDSA];

fn challenges(r: &dpop_gate::decision::challenge::Refusal) -> Vec<&str> {
    r.headers.iter().filter(|(k, _)| *k == "www-authenticate").map(|(_, v)| v.as_str()).collect()
}

fn body(r: &dpop_gate::decision::challenge::Refusal) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap()
}

#[test]
fn no_credentials_gets_bare_challenges_for_each_accepted_scheme() {
    let r = refusal(&Error::NoCredentials, None, DpopMode::Optional, &ALGS);
    assert_eq!(r.status, 401);
    assert_eq!(challenges(&r), ["Bearer", "DPoP algs=\"ES256 EdDSA\""]);
    let r = refusal(&Error::NoCredentials, None, DpopMode::Disabled, &ALGS);
    assert_eq!(challenges(&r), ["Bearer"]);
    let r = refusal(&Error::NoCredentials, None, DpopMode::Required, &ALGS);
    assert_eq!(challenges(&r), ["DPoP algs=\"ES256 EdDSA\""]);
    assert!(!r.headers.iter().any(|(_, v)| v.contains("error=")));
}

#[test]
fn bearer_token_errors() {
    let r = refusal(&Error::Token(TokenError::Expired), Some(Scheme::Bearer), DpopMode::Optional, &ALGS);
    assert_eq!(r.status, 401);
    assert_eq!(challenges(&r), ["Bearer error=\"invalid_token\", error_description=\"access token has expired\""]);
    assert_eq!(body(&r)["error"], "invalid_token");
    assert_eq!(body(&r)["error_description"], "access token has expired");
}

#[test]
fn insufficient_scope_is_403_with_scope() {
    let e = Error::Token(TokenError::InsufficientScope("read write".into()));
    let r = refusal(&e, Some(Scheme::Bearer), DpopMode::Optional, &ALGS);
    assert_eq!(r.status, 403);
    assert!(challenges(&r)[0].ends_with(", scope=\"read write\""), "{:?}", challenges(&r));
    assert_eq!(body(&r)["error"], "insufficient_scope");
}

#[test]
fn proof_errors_use_the_dpop_challenge_with_algs() {
    let r = refusal(&Error::Proof(ProofError::Replay), Some(Scheme::Dpop), DpopMode::Optional, &ALGS);
    assert_eq!(r.status, 401);
    assert!(challenges(&r)[0].starts_with("DPoP algs=\"ES256 EdDSA\", error=\"invalid_dpop_proof\""));
    let e = Error::Proof(ProofError::Jws(JwsError::SignatureInvalid));
    assert_eq!(body(&refusal(&e, Some(Scheme::Dpop), DpopMode::Optional, &ALGS))["error"], "invalid_dpop_proof");
}

#[test]
fn downgrade_is_answered_with_a_dpop_challenge() {
    let r = refusal(&Error::Token(TokenError::BoundTokenAsBearer), Some(Scheme::Bearer), DpopMode::Optional, &ALGS);
    assert_eq!(r.status, 401);
    assert!(challenges(&r)[0].starts_with("DPoP algs="));
    assert!(challenges(&r)[0].contains("error=\"invalid_token\""));
}

#[test]
fn malformed_requests_are_400_invalid_request() {
    let r = refusal(&Error::Request(RequestError::MultipleAuthorization), None, DpopMode::Optional, &ALGS);
    assert_eq!(r.status, 400);
    assert_eq!(body(&r)["error"], "invalid_request");
}

#[test]
fn keys_unavailable_is_503_without_challenge() {
    let r = refusal(&Error::KeysUnavailable, Some(Scheme::Bearer), DpopMode::Optional, &ALGS);
    assert_eq!(r.status, 503);
    assert!(challenges(&r).is_empty());
    assert_eq!(body(&r)["error"], "temporarily_unavailable");
}

#[test]
fn quoted_strings_cannot_be_broken_out_of() {
    let e = Error::Token(TokenError::InsufficientScope("a\"b\\c".into()));
    let r = refusal(&e, Some(Scheme::Bearer), DpopMode::Optional, &ALGS);
    let c = challenges(&r)[0];
    assert!(c.ends_with("scope=\"a'b'c\""), "{c}");
}
