//! The proxy-wasm host layer (wasm32 only): host calls, nothing that decides.

mod filter;
