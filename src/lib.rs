//! `dpop-gate`: OAuth 2.0 / OpenID Connect access tokens and DPoP proofs (RFC 9449), checked at the
//! gateway by a proxy-wasm filter that runs in Envoy and in Kong.
//!
//! The crate is two layers:
//! - the **validation core** (every module but `host`): `no_std` + `alloc`, no host calls, time
//!   passed in, so it is unit-tested natively and could be embedded elsewhere;
//! - the **proxy-wasm glue** (`host`, compiled for `wasm32` only): host calls, caches in shared
//!   data, HTTP callouts, and nothing that decides validity.
#![no_std]
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(any(test, target_arch = "wasm32"))]
extern crate std;

pub mod config;
pub mod crypto;
pub mod decision;
pub mod dpop;
pub mod error;
pub mod gateway;
pub mod jose;
pub mod keys;

#[cfg(target_arch = "wasm32")]
mod host;
