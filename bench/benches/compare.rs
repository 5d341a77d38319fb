//! evloop against its peers, one criterion group per workload (group = workload, function =
//! runtime), on the rows of `evloop_bench::rows`: for a quick look at one workload,
//! `cargo bench -p evloop-bench --bench compare -- gather`. The published figures come from
//! `bench/compare`, which runs the same rows in interleaved rounds (`src/bin/rounds.rs`):
//! criterion runs one runtime after the other, so a slow phase of a shared machine lands on
//! whichever runtime it meets.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use evloop_bench::rows::{self, WORKLOADS};
use std::time::Duration;

fn all(c: &mut Criterion) {
    for w in WORKLOADS {
        let mut g = c.benchmark_group(w.name);
        // Every iteration is a whole workload (milliseconds to seconds): equal-sized samples.
        g.sampling_mode(SamplingMode::Flat);
        for rt in w.runtimes {
            match rows::row(w.name, rt, w.n) {
                Ok(mut row) => {
                    g.bench_function(*rt, |b| {
                        b.iter_custom(|iters| (0..iters).map(|_| row.run()).sum())
                    });
                }
                Err(e) => eprintln!("note: {} on {rt} skipped: {e}", w.name),
            }
        }
        g.finish();
    }
}

fn config() -> Criterion {
    // Short by default; command-line flags (`--measurement-time` etc.) override these.
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = all
}
criterion_main!(benches);
