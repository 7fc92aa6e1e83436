//! A proxy-wasm filter that makes exactly the host calls of dpop-gate's cached Bearer request and
//! decides nothing (every request continues): `make bench` loads it as case h, to measure what
//! those calls cost in Envoy apart from the filter's own work. Its cost over the no-op filter
//! (bench/noop_filter.rs, case w) is the floor for any filter that must read these headers and the
//! clock in this host; dpop-gate's cost over it (c/h) is what its own wasm code takes.
//!
//! The calls, in dpop-gate's order (`src/host/filter.rs` `on_http_request_headers`, checked by
//! `bench/abi_host.mjs`, which counts them): `proxy_get_header_map_value` of `dpop` (absent: no
//! copy), of `authorization` (the ~1.2 KB value copied into the VM through
//! `proxy_on_memory_allocate`), `proxy_get_current_time_nanoseconds`. No header is written: the
//! filter rewrites none when the client sent `Authorization: Bearer <token>`.
//! Built by `cargo build --release --example floor_filter --target wasm32-wasip1` (a cdylib example).

#[cfg(target_arch = "wasm32")]
mod filter {
    use core::hint::black_box;

    use proxy_wasm::hostcalls;
    use proxy_wasm::traits::{Context, HttpContext};
    use proxy_wasm::types::{Action, MapType};

    proxy_wasm::main! {{
        proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> { Box::new(Floor) });
    }}

    struct Floor;
    impl Context for Floor {}
    impl HttpContext for Floor {
        fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
            // The raw bytes: what the host hands over, without even the SDK's UTF-8 check (that is
            // wasm work, which this floor leaves out). `black_box`: the reads must happen.
            let read = |name| hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name).ok().flatten();
            black_box(read("dpop"));
            black_box(read("authorization"));
            black_box(hostcalls::get_current_time().ok());
            Action::Continue
        }
    }
}
