//! Native micro-benchmarks (criterion): `cargo bench --bench native`. The operations are defined once
//! in `bench/ops.rs`, shared with the wasm bench (`bench/wasm_bench.rs`). `make bench` runs both.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

mod ops;

fn core(c: &mut Criterion) {
    for mut op in ops::ops() {
        c.bench_function(&op.name, |b| b.iter(&mut op.run));
    }
}

criterion_group! {
    name = benches;
    // Short, so the whole `make bench` stays bounded; noise is handled by reporting ratios.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = core
}
criterion_main!(benches);
