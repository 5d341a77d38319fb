//! Runs one two-worker workload `iters` times on one runtime kept across iterations (as the
//! criterion bench does) and prints each iteration's wall time, then the median and minimum:
//! `mtiters <spawn_join|gather|cross_thread_wake|short_runs> <evloop_workers2|smol_mt2|tokio_mt2>
//! [iters]`.
//! For comparing builds in the same minute on a shared machine (bench/PROFILING.md).

use evloop_bench::*;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (workload, runtime) = (args[0].as_str(), args[1].as_str());
    let iters: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(15);
    let n = match workload {
        "spawn_join" => SPAWN_N,
        "gather" => GATHER_N,
        "cross_thread_wake" => WAKES,
        "short_runs" => SHORT_RUNS,
        w => panic!("no two-worker row for {w}"),
    };
    let mut times = Vec::with_capacity(iters);
    let mut time = |f: &mut dyn FnMut() -> u64| {
        // Two warm-up runs: the runtime's buffers grow to size in the first.
        for _ in 0..2 {
            f();
        }
        for _ in 0..iters {
            let t = Instant::now();
            let out = f();
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(
                out,
                expected_sum(n),
                "{workload} on {runtime}: wrong checksum"
            );
        }
    };
    match runtime {
        "evloop_workers2" => {
            let lp = evl::new_loop(2, false);
            time(&mut || match workload {
                "spawn_join" => evl::spawn_join(&lp, n),
                "gather" => evl::gather(&lp, n),
                "short_runs" => evl::short_runs(&lp, n),
                _ => evl::cross_thread_wake(&lp, n),
            });
        }
        "tokio_mt2" => {
            let rt = tok::multi_thread(2);
            time(&mut || match workload {
                "spawn_join" => tok::spawn_join(&rt, n),
                "gather" => tok::gather(&rt, n),
                "short_runs" => tok::short_runs(&rt, n),
                _ => tok::cross_thread_wake(&rt, n),
            });
        }
        "smol_mt2" => {
            let mt = smol::Mt::new(2);
            time(&mut || match workload {
                "spawn_join" => smol::spawn_join_mt(&mt, n),
                "gather" => smol::gather_mt(&mt, n),
                "short_runs" => smol::short_runs_mt(&mt, n),
                _ => smol::cross_thread_wake_mt(&mt, n),
            });
        }
        r => panic!("unknown runtime {r}"),
    }
    let all: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{workload} {runtime}: median {:.1} ms, min {:.1} ms ({})",
        times[times.len() / 2],
        times[0],
        all.join(" ")
    );
}
