//! JSON Web Keys and key sets (RFC 7517, RFC 7518 section 6, RFC 8037), RFC 7638 thumbprints,
//! and signature verification with a parsed key.
//!
//! Keys are validated once, when parsed (RSA modulus size and exponent, EC point on the curve and
//! not the identity, Ed25519 point decodes), so a cached key never needs checking again.
//! SKELETON: the implementation is being written; signatures below are the contract.

use alloc::string::String;
use alloc::vec::Vec;
use serde_json::Value;

use crate::alg::Algorithm;
use crate::error::{JwkError, JwsError};
use crate::jws::Jws;

/// A parsed public verification key.
#[derive(Debug, Clone)]
pub struct Jwk {
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `alg`, if the JWK pins one: the key then verifies only that algorithm.
    pub alg: Option<Algorithm>,
}

impl Jwk {
    /// Parses one public JWK. Private members are refused ([`JwkError::PrivateKey`]), `use` other
    /// than `sig` and `key_ops` without `verify` are refused ([`JwkError::NotForVerification`]).
    pub fn from_value(_value: &Value) -> Result<Jwk, JwkError> {
        unimplemented!()
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url without padding.
    pub fn thumbprint(&self) -> String {
        unimplemented!()
    }

    /// Whether this key may verify `alg`: key type and curve match, and `alg` (if pinned) agrees.
    pub fn supports(&self, _alg: Algorithm) -> bool {
        unimplemented!()
    }

    /// Verifies `signature` over `message` with `alg`. [`JwsError::KeyAlgMismatch`] when the key
    /// does not suit `alg`; [`JwsError::SignatureLength`] for a signature of the wrong size.
    pub fn verify(&self, _alg: Algorithm, _message: &[u8], _signature: &[u8]) -> Result<(), JwsError> {
        unimplemented!()
    }
}

/// A JWK set: the keys of one issuer.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    /// The usable keys, in document order. Keys of unknown type or unusable for verification are
    /// skipped at parse time instead of failing the whole set.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses `{"keys": [...]}`, skipping keys that do not parse.
    pub fn parse(_json: &[u8]) -> Result<JwkSet, JwkError> {
        unimplemented!()
    }

    /// Verifies `jws` with the set: by `kid` when the header has one, else with each key that
    /// supports the `alg`. Returns the key that verified.
    pub fn verify(&self, _jws: &Jws<'_>) -> Result<&Jwk, JwsError> {
        unimplemented!()
    }
}
