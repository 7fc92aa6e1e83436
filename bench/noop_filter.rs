//! A proxy-wasm filter that does nothing (every request continues): `make bench` loads it in the
//! same Envoy setup as dpop-gate, to measure what any proxy-wasm filter costs in Envoy's V8 (context
//! creation and the per-request callbacks) apart from dpop-gate's own work.
//! Built by `cargo build --release --example noop_filter --target wasm32-wasip1` (a cdylib example).

#[cfg(target_arch = "wasm32")]
mod filter {
    use proxy_wasm::traits::{Context, HttpContext};

    proxy_wasm::main! {{
        proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> { Box::new(Noop) });
    }}

    struct Noop;
    impl Context for Noop {}
    impl HttpContext for Noop {}
}
