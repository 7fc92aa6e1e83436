//! Native micro-benchmarks (criterion): `cargo bench --bench native`. The operations are defined once
//! in `bench/ops.rs`, shared with the wasm bench (`bench/wasm_bench.rs`). `make bench` runs both.
//!
//! Time is this process's CPU time, as in the wasm runners and `openssl speed`: on this shared
//! machine, wall time counts whatever other jobs take (criterion's wall-clock medians moved by ×3
//! with the machine's load), CPU time does not.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_main, Criterion};

mod ops;

/// This process's CPU time (user + system), `CLOCK_PROCESS_CPUTIME_ID`.
struct CpuTime;

fn cpu_now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the call writes only to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Formats values as criterion does wall time (both are nanoseconds).
static NANOSECONDS: WallTime = WallTime;

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        NANOSECONDS.formatter()
    }
}

fn native(c: &mut Criterion<CpuTime>) {
    for mut op in ops::ops() {
        c.bench_function(&op.name, |b| b.iter(&mut op.run));
    }
}

/// What `criterion_group!` would make, written out: its `pub fn` cannot carry a doc comment.
fn benches() {
    // Short, so the whole `make bench` stays bounded; noise is handled by reporting ratios.
    let mut criterion = Criterion::default()
        .with_measurement(CpuTime)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    native(&mut criterion);
}
criterion_main!(benches);
