//! The operations of `bench/ops.rs` inside a wasm engine: built for `wasm32-wasip1` as a WASI
//! command, run by `bench/wasm_run.mjs` (Node.js, i.e. V8, Envoy's engine) and `bench/wasm_run.py`
//! (Wasmtime, Kong's engine). The filter's own `.wasm` is not involved: this is a separate binary
//! linking the same validation core.
//!
//! Usage: `wasm_bench [SECONDS_PER_OP [NAME_FILTER]]`; first calibrates P-256's product form as
//! the filter does when it starts (`p256::calibrate`, on this clock) and prints
//! `{"calibration": ..., "form": ...}`, then one JSON object per operation:
//! `{"name": ..., "ns_per_op": ..., "iters": ...}`, the median of the batch means.
//!
//! Time is whatever the engine's WASI clock says. Both runners make every clock read this
//! process's CPU time, as `openssl speed` measures, so that time other jobs take from the shared
//! machine is not counted; run natively (`cargo run --release --example wasm_bench`), it is wall
//! time.

mod ops;

use std::time::{Duration, Instant};

/// The length of one timed batch: long against the clock's resolution and cost (a CPU clock is
/// a system call, and in Wasmtime's runner a call into Python), short enough for many batches.
const BATCH: Duration = Duration::from_millis(10);

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1.5);
    let budget = Duration::from_secs_f64(secs);
    let filter = std::env::args().nth(2);
    let epoch = Instant::now();
    let mut clock = || u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    if let Some(c) = dpop_gate::crypto::p256::calibrate(&mut clock) {
        let form = format!("{:?}", c.form).to_lowercase();
        println!("{{\"calibration\": \"{c}\", \"form\": \"{form}\"}}");
    }
    for mut op in ops::ops() {
        if filter.as_deref().is_some_and(|f| !op.name.contains(f)) {
            continue;
        }
        let (ns, iters) = time(&mut op.run, budget);
        println!("{{\"name\": \"{}\", \"ns_per_op\": {ns:.1}, \"iters\": {iters}}}", op.name);
    }
}

/// Times `run` for about `budget`: a warm-up of a fifth of it (the engine tiers up to its
/// optimising compiler) that also sizes a batch to about [`BATCH`], reading the clock only once
/// per batch; then batches until the budget is spent, at least five. Returns the median batch's
/// time per call, which resists the odd batch slowed by the machine's other work, and the calls
/// timed.
fn time(run: &mut dyn FnMut(), budget: Duration) -> (f64, u64) {
    let batch_time = |n: u64, run: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..n {
            run();
        }
        t.elapsed()
    };
    let warm = Instant::now();
    let mut batch = 1u64;
    loop {
        // Sized again after each batch: calls get faster as the engine tiers up.
        let short = batch_time(batch, run) < BATCH;
        if short {
            batch *= 2;
        } else if warm.elapsed() >= budget / 5 {
            break;
        }
    }
    let mut means = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || means.len() < 5 {
        means.push(batch_time(batch, run).as_secs_f64() * 1e9 / batch as f64);
    }
    means.sort_by(f64::total_cmp);
    (means[means.len() / 2], means.len() as u64 * batch)
}
