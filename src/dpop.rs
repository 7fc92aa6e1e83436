//! TEMP stub
use crate::alg::Algorithm;
use crate::error::{ProofError, TokenError};
use alloc::string::String;
pub struct ProofPolicy<'a> {
    pub algs: &'a [Algorithm],
    pub max_age: u64,
    pub clock_skew: u64,
    pub max_len: usize,
}
pub struct Proof {
    pub jti: String,
    pub jkt: String,
    pub iat: u64,
    pub nonce: Option<String>,
}
pub fn verify_proof(
    _proof: &str,
    _method: &str,
    _request_uri: &str,
    _access_token: Option<&str>,
    _policy: &ProofPolicy,
    _now: u64,
) -> Result<Proof, ProofError> {
    unimplemented!()
}
pub fn check_binding(_token_jkt: Option<&str>, _proof: &Proof) -> Result<(), TokenError> {
    unimplemented!()
}
pub fn replay_key(_proof: &Proof) -> String {
    unimplemented!()
}
