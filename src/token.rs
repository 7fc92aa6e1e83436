//! TEMP stub for type-checking (replaced by core-dpop).
use crate::error::TokenError;
pub use crate::jws::Claims;
use alloc::string::String;
pub struct TokenPolicy<'a> {
    pub issuer: &'a str,
    pub audiences: &'a [String],
    pub scopes_required: &'a [String],
    pub clock_skew: u64,
}
#[derive(Debug)]
pub struct AccessToken {
    pub exp: u64,
    pub nbf: Option<u64>,
    pub jkt: Option<String>,
    pub claims: Claims,
}
impl AccessToken {
    pub fn check_time(&self, _now: u64, _skew: u64) -> Result<(), TokenError> {
        unimplemented!()
    }
}
pub fn issuer<'j>(_claims: &'j Claims) -> Result<&'j str, TokenError> {
    unimplemented!()
}
pub fn check_claims(_claims: Claims, _policy: &TokenPolicy, _now: u64) -> Result<AccessToken, TokenError> {
    unimplemented!()
}
