//! Why a request is refused, as data.
//!
//! One enum, [`Error`], whose outer variant says *which part of the request* failed and so fixes the
//! RFC 6750 / RFC 9449 error code and HTTP status, and whose inner enums say *exactly what* failed.
//! The same JWS failure (say, a bad signature) is `invalid_token` on the access token and
//! `invalid_dpop_proof` on the proof; keeping the part in the outer variant makes that mapping total
//! and impossible to get wrong at a call site.

use core::fmt;

/// The error codes of RFC 6750 section 3.1 and RFC 9449 sections 7.1 and 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the request is malformed (duplicate headers, unknown scheme, ...).
    InvalidRequest,
    /// 401: the access token is missing its validity (signature, expiry, issuer, audience, binding).
    InvalidToken,
    /// 403: the token is valid but lacks a required scope.
    InsufficientScope,
    /// 401: the DPoP proof is invalid.
    InvalidDpopProof,
    /// 401: the proof lacks the server nonce (or carries a stale one); the client retries with `DPoP-Nonce`.
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as it appears in `WWW-Authenticate` and in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::InsufficientScope => 403,
            ErrorCode::InvalidToken | ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce => 401,
        }
    }
}

/// A failure to parse or verify a compact JWS (access token or proof alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwsError {
    /// Longer than the configured limit; refused before any decoding.
    TooLarge,
    /// Not exactly three dot-separated segments.
    Segments,
    /// A segment is not unpadded base64url.
    Base64,
    /// The protected header is not a JSON object, or a member has the wrong type.
    HeaderJson,
    /// The payload is not a JSON object.
    PayloadJson,
    /// `alg` is missing.
    AlgMissing,
    /// `alg` is `none` (in any letter case).
    AlgNone,
    /// `alg` is not one this filter implements (HS*, unknown names).
    AlgUnsupported,
    /// `alg` is implemented but not allowed here.
    AlgNotAllowed,
    /// `crit` names an extension this filter does not understand.
    CritUnsupported,
    /// `b64: false` (RFC 7797 unencoded payload) is refused.
    B64False,
    /// The signature has the wrong length for the algorithm (ECDSA `r||s`, Ed25519, RSA modulus size).
    SignatureLength,
    /// The signature does not verify.
    SignatureInvalid,
    /// The key's type or curve cannot be used with the header's `alg` (algorithm confusion).
    KeyAlgMismatch,
    /// No key with the token's `kid` (or, without `kid`, no key usable for its `alg`).
    KeyNotFound,
}

/// A failure to parse a JWK or to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkError {
    /// Not a JSON object, or a member has the wrong type.
    Json,
    /// `kty` (or `crv`) is not one this filter implements.
    UnsupportedKeyType,
    /// A required member (`n`, `e`, `x`, `y`, `crv`) is missing.
    MissingMember(&'static str),
    /// A member is not valid unpadded base64url, or has the wrong length.
    BadMember(&'static str),
    /// The key carries private members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`).
    PrivateKey,
    /// RSA modulus shorter than 2048 bits.
    RsaModulusTooSmall,
    /// RSA public exponent not odd, below 3 or above 2^32 - 1, or modulus above 8192 bits.
    RsaBadKey,
    /// The RSA modulus has the ROCA fingerprint (CVE-2017-15361, Infineon RSALib): it can be
    /// factored, so signatures made with it prove nothing (see `src/crypto/roca.rs`).
    RsaWeakKey,
    /// The EC point is not on the curve, or is the identity; or the Ed25519 point is invalid.
    BadPoint,
    /// `use` is present and not `sig`, or `key_ops` is present without `verify`.
    NotForVerification,
    /// A JWK set document is over the size or key-count bound (see [`crate::jose::jwk::JwkSet::parse`]).
    SetTooLarge,
}

/// An access-token failure (`invalid_token`, 401; or `insufficient_scope`, 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The token's JWS does not parse or verify.
    Jws(JwsError),
    /// `iss` missing or not a configured issuer.
    Issuer,
    /// No configured audience is among `aud`.
    Audience,
    /// `exp` is missing.
    ExpMissing,
    /// `exp` is in the past (beyond the skew).
    Expired,
    /// `nbf` is in the future (beyond the skew).
    NotYetValid,
    /// `iat` is in the future (beyond the skew).
    IssuedInFuture,
    /// A registered claim has the wrong JSON type (e.g. `exp` as a string); names the claim.
    ClaimType(&'static str),
    /// A required scope is missing; names the scopes the configuration requires (space-separated).
    InsufficientScope(alloc::string::String),
    /// The token is DPoP-bound (`cnf.jkt`) but was sent with the `Bearer` scheme.
    BoundTokenAsBearer,
    /// The token is not DPoP-bound but was sent with the `DPoP` scheme.
    UnboundTokenAsDpop,
    /// A DPoP-bound token is required and this one is not bound.
    DpopRequired,
    /// The token's `cnf.jkt` does not match the proof key's thumbprint.
    JktMismatch,
    /// `require_at_jwt_typ` is on and the token's JOSE header `typ` is not `at+jwt` (RFC 9068
    /// section 4): a token of another kind (an ID token, say) signed by the same issuer.
    Typ,
    /// The token is certificate-bound (`cnf.x5t#S256`, RFC 8705 section 3) and the request came
    /// without a client certificate.
    CertificateMissing,
    /// The token's `cnf.x5t#S256` is not the thumbprint of the request's client certificate.
    CertificateMismatch,
    /// `mtls` is `required` and the token is not certificate-bound.
    CertificateRequired,
    /// `mtls` is `disabled` and the token is certificate-bound: a bound token is never usable
    /// without its key, so it is refused rather than taken as a plain one.
    CertificateBindingDisabled,
    /// Introspection (RFC 7662) answered `active: false`: unknown, expired or revoked.
    Inactive,
    /// The introspection answer's `token_type` disagrees with its binding (`DPoP` without a
    /// `cnf.jkt`, or `Bearer` with one).
    TokenType,
    /// A JWT introspected in mode `always` is bound (`cnf.jkt`) to another key than the
    /// introspection answer says.
    IntrospectionBinding,
}

/// A DPoP proof failure (`invalid_dpop_proof`, 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The proof's JWS does not parse or verify.
    Jws(JwsError),
    /// `typ` is not `dpop+jwt`.
    Typ,
    /// The header has no `jwk`.
    JwkMissing,
    /// The header `jwk` is unusable (private members, bad point, unsupported type, ...).
    Jwk(JwkError),
    /// A required claim is missing or has the wrong type; names the claim.
    Claim(&'static str),
    /// `htm` differs from the request method.
    Htm,
    /// `htu` differs from the request URI (after normalisation), or is not a valid absolute URI.
    Htu,
    /// `iat` is older than the allowed window.
    IatTooOld,
    /// `iat` is in the future beyond the skew.
    IatInFuture,
    /// `ath` is missing (a token is presented) or differs from the hash of the token.
    Ath,
    /// The `jti` was seen before within the proof window.
    Replay,
    /// The replay store cannot record the `jti` (full or unavailable): fail closed.
    ReplayStoreUnavailable,
}

/// Why a request is refused. See the module docs for the layering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No credentials at all: 401 with a bare challenge (RFC 6750 section 3.1: no error code).
    NoCredentials,
    /// The request is malformed at the HTTP level (`invalid_request`, 400).
    Request(RequestError),
    /// The access token is invalid (`invalid_token`, 401) or lacks scope (`insufficient_scope`, 403).
    Token(TokenError),
    /// The DPoP proof is invalid (`invalid_dpop_proof`, 401).
    Proof(ProofError),
    /// A DPoP nonce is required and the proof has none or a stale one (`use_dpop_nonce`, 401).
    UseNonce,
    /// No verification keys can be had for the issuer (503, fail closed).
    KeysUnavailable,
    /// The token must be introspected and no answer can be had: the endpoint is down, slow,
    /// refuses the gateway's credentials or answers nonsense (503, fail closed; never 401, which
    /// would tell the client its token is bad).
    IntrospectionUnavailable,
}

/// HTTP-level malformations (`invalid_request`, 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// More than one `Authorization` header.
    MultipleAuthorization,
    /// An `Authorization` scheme other than `Bearer` or `DPoP`, or no token after it.
    BadAuthorization,
    /// More than one `DPoP` header.
    MultipleDpop,
    /// The `DPoP` scheme was used without a `DPoP` header.
    DpopProofMissing,
    /// Several copies of a configured claim header, on a host that cannot keep the later ones
    /// from the upstream (Kong's engine): the request is refused rather than forwarded with a
    /// client's copy beside the filter's value.
    ClaimHeaderCopies,
    /// More than one `mtls_certificate_header`: the trusted proxy sets exactly one.
    MultipleCertificateHeaders,
    /// The `mtls_certificate_header` is not one URL-encoded PEM certificate.
    BadCertificateHeader,
}

impl Error {
    /// The RFC error code; `None` for [`Error::NoCredentials`] and [`Error::KeysUnavailable`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::NoCredentials | Error::KeysUnavailable | Error::IntrospectionUnavailable => None,
            Error::Request(_) => Some(ErrorCode::InvalidRequest),
            Error::Token(TokenError::InsufficientScope(_)) => Some(ErrorCode::InsufficientScope),
            Error::Token(_) => Some(ErrorCode::InvalidToken),
            Error::Proof(_) => Some(ErrorCode::InvalidDpopProof),
            Error::UseNonce => Some(ErrorCode::UseDpopNonce),
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            Error::NoCredentials => 401,
            Error::KeysUnavailable | Error::IntrospectionUnavailable => 503,
            _ => self.code().map_or(401, ErrorCode::status),
        }
    }

    /// A short stable label for metrics and logs (`token_expired`, `proof_replay`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NoCredentials => "no_credentials",
            Error::KeysUnavailable => "keys_unavailable",
            Error::IntrospectionUnavailable => "introspection_unavailable",
            Error::UseNonce => "use_dpop_nonce",
            Error::Request(r) => match r {
                RequestError::MultipleAuthorization => "request_multiple_authorization",
                RequestError::BadAuthorization => "request_bad_authorization",
                RequestError::MultipleDpop => "request_multiple_dpop",
                RequestError::DpopProofMissing => "request_dpop_proof_missing",
                RequestError::ClaimHeaderCopies => "request_claim_header_copies",
                RequestError::MultipleCertificateHeaders => "request_multiple_certificate_headers",
                RequestError::BadCertificateHeader => "request_certificate_header",
            },
            Error::Token(t) => match t {
                TokenError::Jws(j) => match j {
                    JwsError::SignatureInvalid => "token_signature",
                    JwsError::KeyNotFound => "token_key_not_found",
                    _ => "token_malformed",
                },
                TokenError::Issuer => "token_issuer",
                TokenError::Audience => "token_audience",
                TokenError::ExpMissing | TokenError::ClaimType(_) => "token_claims",
                TokenError::Expired => "token_expired",
                TokenError::NotYetValid | TokenError::IssuedInFuture => "token_not_yet_valid",
                TokenError::InsufficientScope(_) => "token_scope",
                TokenError::BoundTokenAsBearer | TokenError::UnboundTokenAsDpop | TokenError::DpopRequired => {
                    "token_scheme"
                }
                TokenError::JktMismatch => "token_jkt_mismatch",
                TokenError::Typ => "token_typ",
                TokenError::CertificateMissing => "token_cert_missing",
                TokenError::CertificateMismatch => "token_cert_mismatch",
                TokenError::CertificateRequired => "token_cert_required",
                TokenError::CertificateBindingDisabled => "token_cert_disabled",
                TokenError::Inactive => "token_inactive",
                TokenError::TokenType => "token_type",
                TokenError::IntrospectionBinding => "token_jkt_mismatch",
            },
            Error::Proof(p) => match p {
                ProofError::Jws(JwsError::SignatureInvalid) => "proof_signature",
                ProofError::Jws(_) | ProofError::Typ | ProofError::JwkMissing | ProofError::Jwk(_) => "proof_malformed",
                ProofError::Claim(_) => "proof_claims",
                ProofError::Htm | ProofError::Htu => "proof_htm_htu",
                ProofError::IatTooOld | ProofError::IatInFuture => "proof_iat",
                ProofError::Ath => "proof_ath",
                ProofError::Replay => "proof_replay",
                ProofError::ReplayStoreUnavailable => "proof_replay_store",
            },
        }
    }
}

impl fmt::Display for JwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwsError::TooLarge => "JWS exceeds the size limit",
            JwsError::Segments => "JWS must have exactly three segments",
            JwsError::Base64 => "JWS segment is not unpadded base64url",
            JwsError::HeaderJson => "JWS header is not a valid JSON object",
            JwsError::PayloadJson => "JWS payload is not a JSON object",
            JwsError::AlgMissing => "JWS header has no alg",
            JwsError::AlgNone => "alg none is not allowed",
            JwsError::AlgUnsupported => "alg is not supported",
            JwsError::AlgNotAllowed => "alg is not allowed",
            JwsError::CritUnsupported => "crit names an unsupported extension",
            JwsError::B64False => "unencoded payloads (b64 false) are not allowed",
            JwsError::SignatureLength => "signature has the wrong length",
            JwsError::SignatureInvalid => "signature verification failed",
            JwsError::KeyAlgMismatch => "key cannot be used with this alg",
            JwsError::KeyNotFound => "no matching key",
        })
    }
}

impl fmt::Display for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwkError::Json => f.write_str("JWK is not a valid JSON object"),
            JwkError::UnsupportedKeyType => f.write_str("JWK key type is not supported"),
            JwkError::MissingMember(m) => write!(f, "JWK member {m} is missing"),
            JwkError::BadMember(m) => write!(f, "JWK member {m} is malformed"),
            JwkError::PrivateKey => f.write_str("JWK contains private key material"),
            JwkError::RsaModulusTooSmall => f.write_str("RSA modulus is shorter than 2048 bits"),
            JwkError::RsaBadKey => f.write_str("RSA key parameters are out of range"),
            JwkError::RsaWeakKey => {
                f.write_str("RSA key has the ROCA fingerprint (CVE-2017-15361) and can be factored")
            }
            JwkError::BadPoint => f.write_str("public key point is invalid"),
            JwkError::NotForVerification => f.write_str("JWK is not meant for signature verification"),
            JwkError::SetTooLarge => f.write_str("JWK set exceeds the size or key-count limit"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoCredentials => f.write_str("no access token"),
            Error::KeysUnavailable => f.write_str("verification keys are unavailable"),
            Error::IntrospectionUnavailable => f.write_str("the token cannot be introspected now"),
            Error::UseNonce => f.write_str("a DPoP nonce is required"),
            Error::Request(r) => f.write_str(match r {
                RequestError::MultipleAuthorization => "more than one Authorization header",
                RequestError::BadAuthorization => "Authorization must be 'Bearer <token>' or 'DPoP <token>'",
                RequestError::MultipleDpop => "more than one DPoP header",
                RequestError::DpopProofMissing => "DPoP scheme without a DPoP proof header",
                RequestError::ClaimHeaderCopies => "several copies of a header the gateway sets from the token",
                RequestError::MultipleCertificateHeaders => "more than one forwarded client certificate header",
                RequestError::BadCertificateHeader => {
                    "the forwarded client certificate header is not one URL-encoded PEM certificate"
                }
            }),
            Error::Token(t) => match t {
                TokenError::Jws(j) => write!(f, "access token: {j}"),
                TokenError::Issuer => f.write_str("access token issuer is not trusted"),
                TokenError::Audience => f.write_str("access token audience is not accepted"),
                TokenError::ExpMissing => f.write_str("access token has no exp"),
                TokenError::Expired => f.write_str("access token has expired"),
                TokenError::NotYetValid => f.write_str("access token is not yet valid (nbf)"),
                TokenError::IssuedInFuture => f.write_str("access token iat is in the future"),
                TokenError::ClaimType(c) => write!(f, "access token claim {c} has the wrong type"),
                TokenError::InsufficientScope(s) => {
                    write!(f, "access token lacks the required scope: {s}")
                }
                TokenError::BoundTokenAsBearer => f.write_str("DPoP-bound access token sent with the Bearer scheme"),
                TokenError::UnboundTokenAsDpop => {
                    f.write_str("access token is not DPoP-bound but sent with the DPoP scheme")
                }
                TokenError::DpopRequired => f.write_str("a DPoP-bound access token is required"),
                TokenError::JktMismatch => f.write_str("access token cnf.jkt does not match the DPoP proof key"),
                TokenError::Typ => f.write_str("access token typ must be at+jwt (RFC 9068)"),
                TokenError::CertificateMissing => {
                    f.write_str("access token is bound to a client certificate and none was presented")
                }
                TokenError::CertificateMismatch => {
                    f.write_str("access token cnf.x5t#S256 does not match the client certificate")
                }
                TokenError::CertificateRequired => f.write_str("a certificate-bound access token is required"),
                TokenError::CertificateBindingDisabled => {
                    f.write_str("certificate-bound access tokens are not accepted here")
                }
                TokenError::Inactive => f.write_str("access token is not active"),
                TokenError::TokenType => f.write_str("access token token_type does not match its binding"),
                TokenError::IntrospectionBinding => {
                    f.write_str("access token cnf.jkt differs from the introspection answer's")
                }
            },
            Error::Proof(p) => match p {
                ProofError::Jws(j) => write!(f, "DPoP proof: {j}"),
                ProofError::Typ => f.write_str("DPoP proof typ must be dpop+jwt"),
                ProofError::JwkMissing => f.write_str("DPoP proof header has no jwk"),
                ProofError::Jwk(j) => write!(f, "DPoP proof: {j}"),
                ProofError::Claim(c) => {
                    write!(f, "DPoP proof claim {c} is missing or has the wrong type")
                }
                ProofError::Htm => f.write_str("DPoP proof htm does not match the request method"),
                ProofError::Htu => f.write_str("DPoP proof htu does not match the request URI"),
                ProofError::IatTooOld => f.write_str("DPoP proof iat is too old"),
                ProofError::IatInFuture => f.write_str("DPoP proof iat is in the future"),
                ProofError::Ath => f.write_str("DPoP proof ath does not match the access token"),
                ProofError::Replay => f.write_str("DPoP proof jti has been used before"),
                ProofError::ReplayStoreUnavailable => f.write_str("DPoP proof jti cannot be recorded"),
            },
        }
    }
}
