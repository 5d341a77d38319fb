//! Wall time of every workload on every runtime, in interleaved rounds: what `bench/compare`
//! reports. For each workload every runtime is set up once and kept (as a user keeps a runtime),
//! warmed up, and then run in rounds: in each round every runtime runs for at least
//! `BENCH_ROUND_MS` (at least one iteration), one after the other, in an order rotated by one
//! each round, so that a slow phase of a shared machine falls on every runtime alike. A
//! runtime's figure for a round is the median of its iterations in that round; ratios are taken
//! per round (`report`).
//!
//! `rounds [workload ...]` (default: every workload) prints one JSON object per (workload,
//! runtime, round) on stdout, progress on stderr. Environment: `BENCH_ROUNDS` (default 11),
//! `BENCH_ROUND_MS` (250), `BENCH_WARMUP_MS` (500); `BENCH_ALLOW_MISSING=1` skips a row that
//! cannot run (python3 or uvloop missing) instead of failing.

use evloop_bench::rows::{self, Row, WORKLOADS};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("error: {name}={v:?} is not a whole number");
            std::process::exit(2);
        }),
        Err(_) => default,
    }
}

/// Runs `row` until `budget` has passed (at least once); returns the iterations' times.
fn sample(row: &mut Row, budget: Duration) -> Vec<Duration> {
    let start = Instant::now();
    let mut times = Vec::new();
    while times.is_empty() || start.elapsed() < budget {
        times.push(row.run());
    }
    times
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    let m = times.len() / 2;
    if times.len() % 2 == 1 {
        times[m]
    } else {
        (times[m - 1] + times[m]) / 2
    }
}

fn main() {
    let rounds = env_u64("BENCH_ROUNDS", 11).max(1);
    let budget = Duration::from_millis(env_u64("BENCH_ROUND_MS", 250));
    let warmup = Duration::from_millis(env_u64("BENCH_WARMUP_MS", 500));
    let allow_missing = std::env::var("BENCH_ALLOW_MISSING").is_ok_and(|v| v == "1");
    let only: Vec<String> = std::env::args().skip(1).collect();
    for name in &only {
        if rows::workload(name).is_none() {
            eprintln!("error: unknown workload {name}");
            std::process::exit(2);
        }
    }
    for w in WORKLOADS
        .iter()
        .filter(|w| only.is_empty() || only.iter().any(|o| o == w.name))
    {
        let mut rows = Vec::new();
        for rt in w.runtimes {
            match rows::row(w.name, rt, w.n) {
                Ok(r) => rows.push(r),
                Err(e) if allow_missing => {
                    eprintln!("note: {} on {rt} skipped: {e}", w.name);
                    println!(
                        "{}",
                        serde_json::json!({"workload": w.name, "runtime": rt, "skipped": e})
                    );
                }
                Err(e) => {
                    eprintln!(
                        "error: {} on {rt} cannot run: {e} (BENCH_ALLOW_MISSING=1 skips it)",
                        w.name
                    );
                    std::process::exit(1);
                }
            }
        }
        for row in &mut rows {
            sample(row, warmup);
        }
        for round in 0..rounds {
            let k = rows.len();
            let mut line = Vec::new();
            for position in 0..k {
                let row = &mut rows[(round as usize + position) % k];
                let mut times = sample(row, budget);
                let iters = times.len();
                let (min, max) = (times.iter().min().copied(), times.iter().max().copied());
                let med = median(&mut times);
                line.push(format!("{} {:.1} ms", row.runtime, med.as_secs_f64() * 1e3));
                println!(
                    "{}",
                    serde_json::json!({
                        "workload": w.name,
                        "runtime": row.runtime,
                        "round": round,
                        "position": position,
                        "iters": iters,
                        "median_ns": med.as_nanos() as u64,
                        "min_ns": min.unwrap_or_default().as_nanos() as u64,
                        "max_ns": max.unwrap_or_default().as_nanos() as u64,
                    })
                );
            }
            eprintln!(
                "{} round {}/{rounds}: {}",
                w.name,
                round + 1,
                line.join(", ")
            );
        }
    }
}
