//! Runs one two-worker workload `iters` times on one runtime kept across iterations (as
//! `bench/compare` does) and prints each iteration's wall time, then the median and minimum:
//! `mtiters <spawn_join|gather|cross_thread_wake|short_runs> <evloop_workers2|smol_mt2|tokio_mt2>
//! [iters]`.
//! For comparing builds in the same minute on a shared machine (bench/PROFILING.md).

use evloop_bench::rows;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, runtime, rest @ ..] = &args[..] else {
        eprintln!(
            "usage: mtiters <spawn_join|gather|cross_thread_wake|short_runs> <runtime> [iters]"
        );
        std::process::exit(2);
    };
    let iters: usize = rest.first().map(|s| s.parse().unwrap()).unwrap_or(15);
    let name = format!("{}_mt", workload.trim_end_matches("_mt"));
    let n = rows::workload(&name)
        .unwrap_or_else(|| panic!("no two-worker row for {workload}"))
        .n;
    let mut row = rows::row(&name, runtime, n).unwrap_or_else(|e| panic!("{e}"));
    // Two warm-up runs: the runtime's buffers grow to size in the first.
    for _ in 0..2 {
        row.run();
    }
    let mut times: Vec<f64> = (0..iters).map(|_| row.run().as_secs_f64() * 1e3).collect();
    let all: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{workload} {runtime}: median {:.1} ms, min {:.1} ms ({})",
        times[times.len() / 2],
        times[0],
        all.join(" ")
    );
}
