//! `dpop-gate`: OAuth 2.0 / OpenID Connect access tokens and DPoP proofs (RFC 9449), checked at the
//! gateway by a proxy-wasm filter that runs in Envoy and in Kong.
//!
//! The crate is two layers:
//! - the **validation core** (every module but `filter`): `no_std` + `alloc`, no host calls, time
//!   passed in, so it is unit-tested natively and could be embedded elsewhere;
//! - the **proxy-wasm glue** (`filter`, compiled for `wasm32` only): host calls, caches in shared
//!   data, HTTP callouts, and nothing that decides validity.
#![no_std]
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(any(test, target_arch = "wasm32"))]
extern crate std;

pub mod alg;
pub mod authz;
pub mod challenge;
pub mod config;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod htu;
pub mod jwk;
pub mod jwks;
pub mod jws;
pub mod p256_fast;
mod p256_table;
pub mod nonce;
pub mod replay;
pub mod rsa_fast;
pub mod shared;
pub mod token;

#[cfg(target_arch = "wasm32")]
mod filter;
