//! Runs one workload once on one runtime, for profilers (`valgrind --tool=callgrind`, `perf`):
//! `one <workload> <runtime> [n]`, e.g. `one spawn_join evloop 100000`. Workloads and runtimes
//! are those of `evloop_bench::rows::WORKLOADS`; the two-worker rows are `spawn_join_mt`,
//! `gather_mt`, `cross_thread_wake_mt` and `short_runs_mt` on `evloop_workers2`, `tokio_mt2` or
//! `smol_mt2` (the old spelling, the base workload with a two-worker runtime, also works).
//!
//! `one --callgrind-plan` prints `<workload> <runtime> <n>` for every pair whose instructions
//! `bench/compare` counts (the single-thread Rust rows).

use evloop_bench::rows::{self, WORKLOADS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--callgrind-plan") {
        for w in WORKLOADS {
            let Some(n) = w.callgrind_n else { continue };
            for rt in w.runtimes {
                if !matches!(*rt, "cpython_asyncio" | "uvloop") {
                    println!("{} {rt} {n}", w.name);
                }
            }
        }
        return;
    }
    let [workload, runtime, rest @ ..] = &args[..] else {
        eprintln!("usage: one <workload> <runtime> [n] | one --callgrind-plan");
        std::process::exit(2);
    };
    let mut name = workload.clone();
    if matches!(
        runtime.as_str(),
        "evloop_workers2" | "tokio_mt2" | "smol_mt2"
    ) && !name.ends_with("_mt")
    {
        name.push_str("_mt");
    }
    let Some(w) = rows::workload(&name) else {
        eprintln!("unknown workload {name}");
        std::process::exit(2);
    };
    let n: u64 = match rest.first() {
        Some(s) => s.parse().expect("n: a number"),
        None => w.n,
    };
    let mut row = rows::row(&name, runtime, n).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let took = row.run();
    println!("{name} on {runtime}, n = {n}: {took:?}");
}
