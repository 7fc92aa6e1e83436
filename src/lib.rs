//! `dpop-gate`: OAuth 2.0 / OpenID Connect access tokens and DPoP proofs (RFC 9449), checked at the
//! gateway by a proxy-wasm filter that runs in Envoy and in Kong.
//!
//! The crate is layers, one folder each:
//! - the **validation core**: `no_std` + `alloc`, no host calls, time passed in, so every decision
//!   is unit-tested natively and the core can be embedded elsewhere: [`jose`] (JWS, JWK),
//!   [`crypto`] (the fast verifiers), [`dpop`] (proofs, `htu`, nonces, the replay-store layout),
//!   [`keys`] (discovery and the key cache), [`decision`] (one request's verdict), [`config`] and
//!   [`error`];
//! - the **gateway** ([`gateway`]): everything a filter decides beyond one request (paused
//!   requests, callouts, shared data, what the upstream gets), behind the [`Host`] trait;
//! - the **host layer** (`host`, compiled for `wasm32` only): proxy-wasm ABI calls, nothing that
//!   decides.
//!
//! An embedder needs the items re-exported here: parse a [`Config`], make a [`Worker`] for a host
//! described by [`HostFacts`], implement [`Host`] (shared data, callouts, logs, counters), and
//! carry out the [`Verdict`]s. The modules stay public for the tests, the fuzz targets, the
//! benchmarks and the command-line tool; [`crypto`] in particular is an implementation detail
//! whose API may change.
#![no_std]
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
// Bad input gets an error, never a panic: a trap ends every request on a wasm worker. Denied in
// the library only (the crate root of `src/`, not when built as its own unit-test harness); the
// tests, benches and examples are other crates and may unwrap. `missing_docs` and
// `unreachable_pub` are in Cargo.toml's `[lints]`.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

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

pub use config::{Config, ConfigError};
pub use decision::{authorize, Outcome, Request, RequestHeaders};
pub use error::Error;
pub use gateway::shared::{SharedStore, StoreError};
pub use gateway::{configure, Configured, HeaderEdit, Host, HostFacts, Level, Verdict, Worker};
