//! The micro-benchmarks of `bench/ops.rs` inside a wasm engine: built for `wasm32-wasip1` as a WASI
//! command, run by `bench/wasm_run.mjs` (Node.js, i.e. V8, Envoy's engine) and `bench/wasm_run.py`
//! (Wasmtime, Kong's engine). The filter's own `.wasm` is not involved: this is a separate binary
//! linking the same validation core.
//!
//! Usage: `wasm_bench [SECONDS_PER_OP]`; prints one JSON object per operation:
//! `{"name": ..., "ns_per_op": ..., "iters": ...}`, the median of the batch means.

mod ops;

use std::time::{Duration, Instant};

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1.5);
    let budget = Duration::from_secs_f64(secs);
    let filter = std::env::args().nth(2);
    for mut op in ops::ops() {
        if filter.as_deref().is_some_and(|f| !op.name.contains(f)) {
            continue;
        }
        // Warm-up (and JIT tier-up): a fifth of the budget.
        let start = Instant::now();
        let mut warm = 0u64;
        while start.elapsed() < budget / 5 {
            (op.run)();
            warm += 1;
        }
        // Batches of ~10 ms each; the median batch mean resists preemption on a shared machine.
        let per = start.elapsed().as_secs_f64() / warm as f64;
        let batch = ((0.01 / per) as u64).max(1);
        let mut means = Vec::new();
        let mut iters = 0u64;
        let start = Instant::now();
        while start.elapsed() < budget || means.len() < 5 {
            let t = Instant::now();
            for _ in 0..batch {
                (op.run)();
            }
            means.push(t.elapsed().as_secs_f64() * 1e9 / batch as f64);
            iters += batch;
        }
        means.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = means[means.len() / 2];
        println!("{{\"name\": \"{}\", \"ns_per_op\": {:.1}, \"iters\": {}}}", op.name, median, iters);
    }
}
