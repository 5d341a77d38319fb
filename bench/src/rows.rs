//! Every workload with the runtimes that run it, and one timed iteration of a (workload, runtime)
//! pair: what `bench/compare` (through `rounds`), the criterion bench and `one` share, so that
//! they all run exactly the same code on the same set of runtimes.

use crate::*;
use futures::executor::LocalPool;
use std::time::{Duration, Instant};

/// A workload: its name in every report, the runtimes that run it (evloop first), its size and
/// the smaller size `bench/compare` counts instructions at.
pub struct Workload {
    /// Name (the criterion group, the `one` argument, the row in RESULTS.md).
    pub name: &'static str,
    /// evloop's id first, then its peers.
    pub runtimes: &'static [&'static str],
    /// Operations per iteration (tasks, children, yields, hand-offs, futures, sleeps, runs).
    pub n: u64,
    /// `Some(n)`: callgrind counts instructions per operation as (Ir at 2n − Ir at n) / n. `None`
    /// for the two-worker rows: callgrind runs one thread at a time, so it cannot see what
    /// costs there (contention, parking).
    pub callgrind_n: Option<u64>,
}

const SINGLE: &[&str] = &["evloop", "tokio_ct", "smol_local", "futures_localpool"];
const WITH_PYTHON: &[&str] = &[
    "evloop",
    "tokio_ct",
    "smol_local",
    "futures_localpool",
    "cpython_asyncio",
    "uvloop",
];
const TWO_WORKERS: &[&str] = &["evloop_workers2", "tokio_mt2", "smol_mt2"];

/// Every workload, in report order.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "spawn_join",
        runtimes: WITH_PYTHON,
        n: SPAWN_N,
        callgrind_n: Some(10_000),
    },
    Workload {
        name: "gather",
        runtimes: WITH_PYTHON,
        n: GATHER_N,
        callgrind_n: Some(10_000),
    },
    Workload {
        name: "yield_loop",
        runtimes: WITH_PYTHON,
        n: YIELDS,
        callgrind_n: Some(100_000),
    },
    Workload {
        name: "ping_pong",
        runtimes: SINGLE,
        n: PINGS,
        callgrind_n: Some(50_000),
    },
    Workload {
        name: "ping_pong_oneshot",
        runtimes: SINGLE,
        n: PINGS,
        callgrind_n: Some(50_000),
    },
    Workload {
        name: "cross_thread_wake",
        runtimes: SINGLE,
        n: WAKES,
        callgrind_n: Some(10_000),
    },
    Workload {
        name: "timers_virtual",
        // futures' `LocalPool` has no timer, smol no paused clock.
        runtimes: &["evloop", "tokio_ct"],
        n: TIMERS,
        callgrind_n: Some(10_000),
    },
    Workload {
        name: "timers_real",
        runtimes: &["evloop", "tokio_ct", "smol_local"],
        n: TIMERS,
        callgrind_n: Some(10_000),
    },
    Workload {
        name: "spawn_join_mt",
        runtimes: TWO_WORKERS,
        n: SPAWN_N,
        callgrind_n: None,
    },
    Workload {
        name: "gather_mt",
        runtimes: TWO_WORKERS,
        n: GATHER_N,
        callgrind_n: None,
    },
    Workload {
        name: "cross_thread_wake_mt",
        runtimes: TWO_WORKERS,
        n: WAKES,
        callgrind_n: None,
    },
    Workload {
        name: "short_runs_mt",
        runtimes: TWO_WORKERS,
        n: SHORT_RUNS,
        callgrind_n: None,
    },
];

/// The workload called `name`.
pub fn workload(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// The checksum `name`'s workload returns at size `n` (see the crate docs).
pub fn expected(name: &str, n: u64) -> u64 {
    match name.trim_end_matches("_mt") {
        "yield_loop" | "ping_pong" | "ping_pong_oneshot" => n,
        _ => expected_sum(n),
    }
}

/// One runtime set up for one workload, kept across iterations (as a user keeps a runtime).
pub struct Row {
    /// The runtime's id.
    pub runtime: &'static str,
    run: Box<dyn FnMut() -> Duration>,
}

impl Row {
    /// Runs one iteration, checks its checksum (panics on a wrong answer) and returns its wall
    /// time (CPython's as the child measured it around `run_until_complete`).
    pub fn run(&mut self) -> Duration {
        (self.run)()
    }
}

fn timed(want: u64, mut f: impl FnMut() -> u64 + 'static) -> Box<dyn FnMut() -> Duration> {
    Box::new(move || {
        let start = Instant::now();
        let out = f();
        let took = start.elapsed();
        assert_eq!(out, want, "wrong checksum");
        took
    })
}

/// Sets up `runtime` for the workload `name` at size `n`. `Err` says why the row cannot run
/// (python3 or uvloop missing); an unknown pair is also an `Err`.
pub fn row(name: &str, runtime: &str, n: u64) -> Result<Row, String> {
    let w = workload(name).ok_or_else(|| format!("unknown workload {name}"))?;
    let runtime: &'static str = w
        .runtimes
        .iter()
        .copied()
        .find(|r| *r == runtime)
        .ok_or_else(|| format!("{name} has no {runtime} row (runtimes: {:?})", w.runtimes))?;
    let want = expected(name, n);
    let virt = name == "timers_virtual";
    let run = match runtime {
        "evloop" | "evloop_workers2" => {
            let lp = evl::new_loop(if runtime == "evloop" { 1 } else { 2 }, virt);
            match name.trim_end_matches("_mt") {
                "spawn_join" => timed(want, move || evl::spawn_join(&lp, n)),
                "gather" => timed(want, move || evl::gather(&lp, n)),
                "yield_loop" => timed(want, move || evl::yield_loop(&lp, n)),
                "ping_pong" => timed(want, move || evl::ping_pong(&lp, n)),
                "ping_pong_oneshot" => timed(want, move || evl::ping_pong_oneshot(&lp, n)),
                "cross_thread_wake" => timed(want, move || evl::cross_thread_wake(&lp, n)),
                "short_runs" => timed(want, move || evl::short_runs(&lp, n)),
                "timers_virtual" => timed(want, move || evl::timers(&lp, n, virtual_deadline)),
                _ => timed(want, move || evl::timers(&lp, n, real_deadline)),
            }
        }
        "tokio_ct" | "tokio_mt2" => {
            let rt = if runtime == "tokio_ct" {
                tok::current_thread(virt)
            } else {
                tok::multi_thread(2)
            };
            match name.trim_end_matches("_mt") {
                "spawn_join" => timed(want, move || tok::spawn_join(&rt, n)),
                "gather" => timed(want, move || tok::gather(&rt, n)),
                "yield_loop" => timed(want, move || tok::yield_loop(&rt, n)),
                "ping_pong" => timed(want, move || tok::ping_pong(&rt, n)),
                "ping_pong_oneshot" => timed(want, move || tok::ping_pong_oneshot(&rt, n)),
                "cross_thread_wake" => timed(want, move || tok::cross_thread_wake(&rt, n)),
                "short_runs" => timed(want, move || tok::short_runs(&rt, n)),
                "timers_virtual" => timed(want, move || tok::timers(&rt, n, virtual_deadline)),
                _ => timed(want, move || tok::timers(&rt, n, real_deadline)),
            }
        }
        "smol_local" => {
            let ex = smol::local();
            match name {
                "spawn_join" => timed(want, move || smol::spawn_join(&ex, n)),
                "gather" => timed(want, move || smol::gather(&ex, n)),
                "yield_loop" => timed(want, move || smol::yield_loop(&ex, n)),
                "ping_pong" => timed(want, move || smol::ping_pong(&ex, n)),
                "ping_pong_oneshot" => timed(want, move || smol::ping_pong_oneshot(&ex, n)),
                "cross_thread_wake" => timed(want, move || smol::cross_thread_wake(&ex, n)),
                _ => timed(want, move || smol::timers(&ex, n, real_deadline)),
            }
        }
        "smol_mt2" => {
            let mt = smol::Mt::new(2);
            match name {
                "spawn_join_mt" => timed(want, move || smol::spawn_join_mt(&mt, n)),
                "gather_mt" => timed(want, move || smol::gather_mt(&mt, n)),
                "short_runs_mt" => timed(want, move || smol::short_runs_mt(&mt, n)),
                _ => timed(want, move || smol::cross_thread_wake_mt(&mt, n)),
            }
        }
        "futures_localpool" => {
            let mut pool = LocalPool::new();
            match name {
                "spawn_join" => timed(want, move || fut::spawn_join(&mut pool, n)),
                "gather" => timed(want, move || fut::gather(&mut pool, n)),
                "yield_loop" => timed(want, move || fut::yield_loop(&mut pool, n)),
                "ping_pong" => timed(want, move || fut::ping_pong(&mut pool, n)),
                "ping_pong_oneshot" => timed(want, move || fut::ping_pong_oneshot(&mut pool, n)),
                _ => timed(want, move || fut::cross_thread_wake(&mut pool, n)),
            }
        }
        _ => {
            // cpython_asyncio or uvloop: the child checks the checksum and times itself.
            let mut child = py::Python::start(runtime == "uvloop")?;
            let name = w.name;
            Box::new(move || child.run(name, n, 1)) as Box<dyn FnMut() -> Duration>
        }
    };
    Ok(Row { runtime, run })
}
