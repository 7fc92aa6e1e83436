//! An issuer's verification keys: discovery ([`discovery`]) and the per-worker key cache, a state
//! machine that says when to fetch, what a callout's answer means and when to give up.

mod cache;
pub mod discovery;

pub use cache::*;
