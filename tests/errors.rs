//! Every refusal the filter can give, as one table: each `error::Error` value, nested enums
//! included, with its HTTP status, its RFC 6750 / RFC 9449 error code, its reason label and the
//! shape of its `WWW-Authenticate` challenge (as Envoy sends it, and joined into one header as
//! Kong's engine needs it).
//!
//! The reason labels are an external interface: each is the suffix of a counter,
//! `dpop_gate_refused_<reason>` (Envoy: `wasmcustom.dpop_gate_refused_<reason>` in `/stats`), and
//! the label in the refusal's log line. Dashboards and alerts are built on them, so every one is
//! pinned here, exactly.
//!
//! The table cannot fall behind the enums: `expected` is a `match` without a wildcard arm down to
//! the last nested variant, and the values the test walks are listed by `every!`, whose patterns
//! also make such a `match`. Adding a variant fails to compile until it has its row and its value.

use std::collections::{BTreeMap, BTreeSet};

use dpop_gate::config::DpopMode;
use dpop_gate::decision::challenge::{join_challenges, refusal, Refusal};
use dpop_gate::decision::Scheme;
use dpop_gate::error::{Error, JwkError, JwsError, ProofError, RequestError, TokenError};
use dpop_gate::jose::alg::Algorithm;

/// What a client and an operator see of one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    status: u16,
    /// The `error` of the challenge and of the JSON body; `None`: no error code.
    code: Option<&'static str>,
    /// `dpop_gate_refused_<reason>`.
    reason: &'static str,
    challenge: Challenge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Challenge {
    /// No credentials: one bare challenge per accepted scheme, no error (RFC 6750 section 3.1).
    Bare,
    /// No challenge at all: the gateway, not the client, is at fault (503).
    Nothing,
    /// One challenge with the error, in the scheme the client used (`Bearer`, or `DPoP` if it used
    /// DPoP or DPoP is required).
    ClientsScheme,
    /// One `DPoP` challenge with the error, whatever the client used: the fix is DPoP.
    Dpop,
}

/// The table: one arm per variant, nested variants spelt out, no wildcard.
fn expected(e: &Error) -> Row {
    use Challenge::{Bare, ClientsScheme, Dpop, Nothing};
    let row = |status, code, reason, challenge| Row { status, code, reason, challenge };
    let token = |reason| row(401, Some("invalid_token"), reason, ClientsScheme);
    let proof = |reason| row(401, Some("invalid_dpop_proof"), reason, Dpop);
    match e {
        Error::NoCredentials => row(401, None, "no_credentials", Bare),
        Error::KeysUnavailable => row(503, None, "keys_unavailable", Nothing),
        Error::IntrospectionUnavailable => row(503, None, "introspection_unavailable", Nothing),
        Error::UseNonce => row(401, Some("use_dpop_nonce"), "use_dpop_nonce", Dpop),
        Error::Request(r) => row(
            400,
            Some("invalid_request"),
            match r {
                RequestError::MultipleAuthorization => "request_multiple_authorization",
                RequestError::BadAuthorization => "request_bad_authorization",
                RequestError::MultipleDpop => "request_multiple_dpop",
                RequestError::DpopProofMissing => "request_dpop_proof_missing",
                RequestError::ClaimHeaderCopies => "request_claim_header_copies",
                RequestError::MultipleCertificateHeaders => "request_multiple_certificate_headers",
                RequestError::BadCertificateHeader => "request_certificate_header",
            },
            ClientsScheme,
        ),
        Error::Token(t) => match t {
            TokenError::Jws(j) => token(match j {
                JwsError::SignatureInvalid => "token_signature",
                JwsError::KeyNotFound => "token_key_not_found",
                JwsError::TooLarge
                | JwsError::Segments
                | JwsError::Base64
                | JwsError::HeaderJson
                | JwsError::PayloadJson
                | JwsError::AlgMissing
                | JwsError::AlgNone
                | JwsError::AlgUnsupported
                | JwsError::AlgNotAllowed
                | JwsError::CritUnsupported
                | JwsError::B64False
                | JwsError::SignatureLength
                | JwsError::KeyAlgMismatch => "token_malformed",
            }),
            TokenError::Issuer => token("token_issuer"),
            TokenError::Audience => token("token_audience"),
            TokenError::ExpMissing | TokenError::ClaimType(_) => token("token_claims"),
            TokenError::Expired => token("token_expired"),
            TokenError::NotYetValid | TokenError::IssuedInFuture => token("token_not_yet_valid"),
            TokenError::InsufficientScope(_) => row(403, Some("insufficient_scope"), "token_scope", ClientsScheme),
            // A bound token sent as Bearer, or a Bearer token where DPoP is required: the
            // challenge tells the client to use DPoP.
            TokenError::BoundTokenAsBearer | TokenError::DpopRequired => {
                row(401, Some("invalid_token"), "token_scheme", Dpop)
            }
            TokenError::UnboundTokenAsDpop => token("token_scheme"),
            TokenError::JktMismatch => token("token_jkt_mismatch"),
            TokenError::Typ => token("token_typ"),
            TokenError::CertificateMissing => token("token_cert_missing"),
            TokenError::CertificateMismatch => token("token_cert_mismatch"),
            TokenError::CertificateRequired => token("token_cert_required"),
            TokenError::CertificateBindingDisabled => token("token_cert_disabled"),
            TokenError::Inactive => token("token_inactive"),
            TokenError::TokenType => token("token_type"),
            TokenError::IntrospectionBinding => token("token_jkt_mismatch"),
        },
        Error::Proof(p) => match p {
            ProofError::Jws(j) => proof(match j {
                JwsError::SignatureInvalid => "proof_signature",
                JwsError::TooLarge
                | JwsError::Segments
                | JwsError::Base64
                | JwsError::HeaderJson
                | JwsError::PayloadJson
                | JwsError::AlgMissing
                | JwsError::AlgNone
                | JwsError::AlgUnsupported
                | JwsError::AlgNotAllowed
                | JwsError::CritUnsupported
                | JwsError::B64False
                | JwsError::SignatureLength
                | JwsError::KeyAlgMismatch
                | JwsError::KeyNotFound => "proof_malformed",
            }),
            ProofError::Typ | ProofError::JwkMissing => proof("proof_malformed"),
            ProofError::Jwk(k) => proof(match k {
                JwkError::Json
                | JwkError::UnsupportedKeyType
                | JwkError::MissingMember(_)
                | JwkError::BadMember(_)
                | JwkError::PrivateKey
                | JwkError::RsaModulusTooSmall
                | JwkError::RsaBadKey
                | JwkError::RsaWeakKey
                | JwkError::BadPoint
                | JwkError::NotForVerification
                | JwkError::SetTooLarge => "proof_malformed",
            }),
            ProofError::Claim(_) => proof("proof_claims"),
            ProofError::Htm | ProofError::Htu => proof("proof_htm_htu"),
            ProofError::IatTooOld | ProofError::IatInFuture => proof("proof_iat"),
            ProofError::Ath => proof("proof_ath"),
            ProofError::Replay => proof("proof_replay"),
            ProofError::ReplayStoreUnavailable => proof("proof_replay_store"),
        },
    }
}

/// Every reason label, i.e. every `dpop_gate_refused_*` counter the filter can create.
const REASONS: [&str; 37] = [
    "keys_unavailable",
    "introspection_unavailable",
    "token_inactive",
    "token_type",
    "no_credentials",
    "proof_ath",
    "proof_htm_htu",
    "proof_iat",
    "proof_claims",
    "proof_malformed",
    "proof_replay",
    "proof_replay_store",
    "proof_signature",
    "request_bad_authorization",
    "request_certificate_header",
    "request_claim_header_copies",
    "request_dpop_proof_missing",
    "request_multiple_authorization",
    "request_multiple_certificate_headers",
    "request_multiple_dpop",
    "token_audience",
    "token_cert_disabled",
    "token_cert_mismatch",
    "token_cert_missing",
    "token_cert_required",
    "token_claims",
    "token_expired",
    "token_issuer",
    "token_jkt_mismatch",
    "token_key_not_found",
    "token_malformed",
    "token_not_yet_valid",
    "token_scheme",
    "token_scope",
    "token_signature",
    "token_typ",
    "use_dpop_nonce",
];

/// The values of every variant of `$ty`: after each pattern, the values listed for it (one, or
/// several for a variant with data). The patterns also make a `match` without a wildcard (and
/// without a repeated arm), so a variant added to `$ty` fails to compile here until it is listed;
/// each value is checked to match the pattern it is listed under.
macro_rules! every {
    ($ty:ty { $($pat:pat => $values:expr),+ $(,)? }) => {{
        #[deny(unreachable_patterns)]
        fn _exhaustive(e: &$ty) {
            match e {
                $($pat => {})+
            }
        }
        let mut all: Vec<$ty> = Vec::new();
        $(
            for v in $values {
                assert!(matches!(&v, $pat), "{v:?} is listed under {}", stringify!($pat));
                all.push(v);
            }
        )+
        all
    }};
}

fn every_jws() -> Vec<JwsError> {
    every!(JwsError {
        JwsError::TooLarge => [JwsError::TooLarge],
        JwsError::Segments => [JwsError::Segments],
        JwsError::Base64 => [JwsError::Base64],
        JwsError::HeaderJson => [JwsError::HeaderJson],
        JwsError::PayloadJson => [JwsError::PayloadJson],
        JwsError::AlgMissing => [JwsError::AlgMissing],
        JwsError::AlgNone => [JwsError::AlgNone],
        JwsError::AlgUnsupported => [JwsError::AlgUnsupported],
        JwsError::AlgNotAllowed => [JwsError::AlgNotAllowed],
        JwsError::CritUnsupported => [JwsError::CritUnsupported],
        JwsError::B64False => [JwsError::B64False],
        JwsError::SignatureLength => [JwsError::SignatureLength],
        JwsError::SignatureInvalid => [JwsError::SignatureInvalid],
        JwsError::KeyAlgMismatch => [JwsError::KeyAlgMismatch],
        JwsError::KeyNotFound => [JwsError::KeyNotFound],
    })
}

fn every_jwk() -> Vec<JwkError> {
    every!(JwkError {
        JwkError::Json => [JwkError::Json],
        JwkError::UnsupportedKeyType => [JwkError::UnsupportedKeyType],
        JwkError::MissingMember(_) => [JwkError::MissingMember("kty"), JwkError::MissingMember("crv")],
        JwkError::BadMember(_) => [JwkError::BadMember("x"), JwkError::BadMember("n")],
        JwkError::PrivateKey => [JwkError::PrivateKey],
        JwkError::RsaModulusTooSmall => [JwkError::RsaModulusTooSmall],
        JwkError::RsaBadKey => [JwkError::RsaBadKey],
        JwkError::RsaWeakKey => [JwkError::RsaWeakKey],
        JwkError::BadPoint => [JwkError::BadPoint],
        JwkError::NotForVerification => [JwkError::NotForVerification],
        JwkError::SetTooLarge => [JwkError::SetTooLarge],
    })
}

fn every_request() -> Vec<RequestError> {
    every!(RequestError {
        RequestError::MultipleAuthorization => [RequestError::MultipleAuthorization],
        RequestError::BadAuthorization => [RequestError::BadAuthorization],
        RequestError::MultipleDpop => [RequestError::MultipleDpop],
        RequestError::DpopProofMissing => [RequestError::DpopProofMissing],
        RequestError::ClaimHeaderCopies => [RequestError::ClaimHeaderCopies],
        RequestError::MultipleCertificateHeaders => [RequestError::MultipleCertificateHeaders],
        RequestError::BadCertificateHeader => [RequestError::BadCertificateHeader],
    })
}

fn every_token() -> Vec<TokenError> {
    every!(TokenError {
        TokenError::Jws(_) => every_jws().into_iter().map(TokenError::Jws),
        TokenError::Issuer => [TokenError::Issuer],
        TokenError::Audience => [TokenError::Audience],
        TokenError::ExpMissing => [TokenError::ExpMissing],
        TokenError::Expired => [TokenError::Expired],
        TokenError::NotYetValid => [TokenError::NotYetValid],
        TokenError::IssuedInFuture => [TokenError::IssuedInFuture],
        TokenError::ClaimType(_) => [TokenError::ClaimType("aud"), TokenError::ClaimType("cnf")],
        TokenError::InsufficientScope(_) => [
            TokenError::InsufficientScope("webhook:write".into()),
            TokenError::InsufficientScope("read write".into()),
        ],
        TokenError::BoundTokenAsBearer => [TokenError::BoundTokenAsBearer],
        TokenError::UnboundTokenAsDpop => [TokenError::UnboundTokenAsDpop],
        TokenError::DpopRequired => [TokenError::DpopRequired],
        TokenError::JktMismatch => [TokenError::JktMismatch],
        TokenError::Typ => [TokenError::Typ],
        TokenError::CertificateMissing => [TokenError::CertificateMissing],
        TokenError::CertificateMismatch => [TokenError::CertificateMismatch],
        TokenError::CertificateRequired => [TokenError::CertificateRequired],
        TokenError::CertificateBindingDisabled => [TokenError::CertificateBindingDisabled],
        TokenError::Inactive => [TokenError::Inactive],
        TokenError::TokenType => [TokenError::TokenType],
        TokenError::IntrospectionBinding => [TokenError::IntrospectionBinding],
    })
}

fn every_proof() -> Vec<ProofError> {
    every!(ProofError {
        ProofError::Jws(_) => every_jws().into_iter().map(ProofError::Jws),
        ProofError::Typ => [ProofError::Typ],
        ProofError::JwkMissing => [ProofError::JwkMissing],
        ProofError::Jwk(_) => every_jwk().into_iter().map(ProofError::Jwk),
        ProofError::Claim(_) => [ProofError::Claim("jti"), ProofError::Claim("iat")],
        ProofError::Htm => [ProofError::Htm],
        ProofError::Htu => [ProofError::Htu],
        ProofError::IatTooOld => [ProofError::IatTooOld],
        ProofError::IatInFuture => [ProofError::IatInFuture],
        ProofError::Ath => [ProofError::Ath],
        ProofError::Replay => [ProofError::Replay],
        ProofError::ReplayStoreUnavailable => [ProofError::ReplayStoreUnavailable],
    })
}

fn every_error() -> Vec<Error> {
    every!(Error {
        Error::NoCredentials => [Error::NoCredentials],
        Error::Request(_) => every_request().into_iter().map(Error::Request),
        Error::Token(_) => every_token().into_iter().map(Error::Token),
        Error::Proof(_) => every_proof().into_iter().map(Error::Proof),
        Error::UseNonce => [Error::UseNonce],
        Error::KeysUnavailable => [Error::KeysUnavailable],
        Error::IntrospectionUnavailable => [Error::IntrospectionUnavailable],
    })
}

#[test]
fn every_error_has_its_status_code_and_reason() {
    for e in &every_error() {
        let want = expected(e);
        assert_eq!(e.status(), want.status, "status of {e:?}");
        assert_eq!(e.code().map(|c| c.as_str()), want.code, "code of {e:?}");
        if let Some(code) = e.code() {
            assert_eq!(code.status(), e.status(), "{e:?}: the code's status is the refusal's");
        }
        assert_eq!(e.reason(), want.reason, "reason label of {e:?}");
    }
}

#[test]
fn the_reason_labels_are_exactly_the_published_counters() {
    let labels: BTreeSet<&str> = every_error().iter().map(Error::reason).collect();
    let published = BTreeSet::from(REASONS);
    assert_eq!(published.len(), REASONS.len(), "a label is listed twice");
    assert_eq!(labels, published, "a counter appeared or disappeared: update the table and the README");
    for label in &labels {
        // A Prometheus / Envoy stat name part: lower-case words joined by `_`.
        assert!(
            !label.starts_with('_')
                && !label.ends_with('_')
                && !label.contains("__")
                && label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{label:?} is not a clean metric name suffix"
        );
    }
}

/// Identifiers of the Rust side (type and variant names) in `e`'s `Debug` text: what a message
/// must never show a client.
fn rust_names(e: &Error) -> BTreeSet<String> {
    format!("{e:?}")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(String::from)
        .collect()
}

#[test]
fn every_message_is_readable_and_says_exactly_what_failed() {
    let mut seen: BTreeMap<String, Error> = BTreeMap::new();
    for e in every_error() {
        let message = e.to_string();
        assert!(!message.trim().is_empty(), "{e:?} has no message");
        assert_eq!(message, message.trim(), "{e:?}: stray blanks");
        for name in rust_names(&e) {
            assert!(
                !message.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == name),
                "{e:?}: the message {message:?} shows the Rust name {name}"
            );
        }
        for bad in ["::", "Some(", "None", "{", "}", "Error"] {
            assert!(!message.contains(bad), "{e:?}: the message {message:?} contains {bad:?}");
        }
        // It goes into a quoted-string as it is (see the challenge test).
        assert!(!message.contains(['"', '\\']) && !message.contains(char::is_control), "{e:?}: {message:?}");
        // Distinct refusals read differently, so a client (and a log) tells them apart.
        if let Some(other) = seen.insert(message.clone(), e.clone()) {
            panic!("{e:?} and {other:?} both read {message:?}");
        }
    }
}

const ALGS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::EdDSA];
const ALGS_PARAM: &str = r#"algs="ES256 EdDSA""#;

#[test]
fn every_refusal_has_the_challenge_and_body_of_its_row() {
    for e in every_error() {
        let want = expected(&e);
        let message = e.to_string();
        for mode in [DpopMode::Disabled, DpopMode::Optional, DpopMode::Required] {
            for used in [None, Some(Scheme::Bearer), Some(Scheme::Dpop)] {
                let r = refusal(&e, used, mode, &ALGS);
                let ctx = format!("{e:?}, mode {mode:?}, client used {used:?}");
                assert_eq!(r.status, want.status, "{ctx}");
                let challenges: Vec<&str> =
                    r.headers.iter().filter(|(k, _)| *k == "www-authenticate").map(|(_, v)| v.as_str()).collect();
                let dpop_bare = format!("DPoP {ALGS_PARAM}");
                let with_error = |scheme_dpop: bool| {
                    let code = want.code.expect("a challenge with an error has a code");
                    let mut params = format!(r#"error="{code}", error_description="{message}""#);
                    if let Error::Token(TokenError::InsufficientScope(scopes)) = &e {
                        params.push_str(&format!(r#", scope="{scopes}""#));
                    }
                    if scheme_dpop {
                        format!("DPoP {ALGS_PARAM}, {params}")
                    } else {
                        format!("Bearer {params}")
                    }
                };
                let expected_challenges: Vec<String> = match want.challenge {
                    Challenge::Bare => match mode {
                        DpopMode::Disabled => vec!["Bearer".into()],
                        DpopMode::Optional => vec!["Bearer".into(), dpop_bare.clone()],
                        DpopMode::Required => vec![dpop_bare.clone()],
                    },
                    Challenge::Nothing => vec![],
                    Challenge::ClientsScheme => {
                        vec![with_error(used == Some(Scheme::Dpop) || mode == DpopMode::Required)]
                    }
                    Challenge::Dpop => vec![with_error(true)],
                };
                assert_eq!(challenges, expected_challenges, "{ctx}");
                // A host that keeps one copy of a repeated response header (Kong's engine) gets
                // the same challenges as one list, and nothing else changes.
                let mut joined = r.clone();
                join_challenges(&mut joined);
                let one: Vec<String> =
                    joined.headers.iter().filter(|(k, _)| *k == "www-authenticate").map(|(_, v)| v.clone()).collect();
                let want_one: Vec<String> =
                    Some(expected_challenges.join(", ")).filter(|j| !j.is_empty()).into_iter().collect();
                assert_eq!(one, want_one, "{ctx}, joined");
                let others = |r: &Refusal| {
                    r.headers.iter().filter(|(k, _)| *k != "www-authenticate").cloned().collect::<Vec<_>>()
                };
                assert_eq!((others(&joined), &joined.body, joined.status), (others(&r), &r.body, r.status), "{ctx}");
                let header = |name: &str| r.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
                assert_eq!(header("content-type"), Some("application/json"), "{ctx}");
                assert_eq!(header("cache-control"), Some("no-store"), "{ctx}");
                let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_else(|x| panic!("{ctx}: {x}"));
                let body_error = match want.challenge {
                    Challenge::Bare => "invalid_request",
                    Challenge::Nothing => "temporarily_unavailable",
                    Challenge::ClientsScheme | Challenge::Dpop => want.code.unwrap_or_default(),
                };
                assert_eq!(body, serde_json::json!({"error": body_error, "error_description": message}), "{ctx}");
            }
        }
    }
}
