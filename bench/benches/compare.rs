//! evloop against its peers, one criterion group per workload, every runtime in the same run.
//!
//! Group and function names are what `bench/compare` reads back from `target/criterion/`:
//! group = workload, function = runtime (`evloop`, `tokio_ct`, `smol_local`, `futures_localpool`,
//! `cpython_asyncio`, `uvloop`; the `_mt` groups compare `evloop_workers2`, `tokio_mt2`, `smol_mt2`).
//!
//! `cargo bench -p evloop-bench --bench compare -- <filter>` runs a subset; `bench/compare` runs all.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use evloop_bench::{
    evl, expected_sum, fut, py, real_deadline, smol, tok, virtual_deadline, GATHER_N, PINGS,
    SHORT_RUNS, SPAWN_N, TIMERS, WAKES, YIELDS,
};
use futures::executor::LocalPool;
use std::time::Duration;

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    // Every iteration is a whole workload (milliseconds to seconds): equal-sized samples.
    g.sampling_mode(SamplingMode::Flat);
    g
}

/// Times a CPython workload with the same harness; skipped (with a note) when the interpreter or
/// uvloop is missing.
fn python(g: &mut BenchmarkGroup<'_, WallTime>, workload: &str, n: u64) {
    for (id, uvloop) in [("cpython_asyncio", false), ("uvloop", true)] {
        match py::Python::start(uvloop) {
            Some(mut p) => {
                g.bench_function(id, |b| b.iter_custom(|iters| p.run(workload, n, iters)));
            }
            None => eprintln!("note: {id} unavailable, {workload} skipped for it"),
        }
    }
}

fn spawn_join(c: &mut Criterion) {
    let n = SPAWN_N;
    let want = expected_sum(n);
    let mut g = group(c, "spawn_join");
    let lp = evl::new_loop(1, false);
    g.bench_function("evloop", |b| {
        b.iter(|| assert_eq!(evl::spawn_join(&lp, n), want))
    });
    lp.close();
    let rt = tok::current_thread(false);
    g.bench_function("tokio_ct", |b| {
        b.iter(|| assert_eq!(tok::spawn_join(&rt, n), want))
    });
    drop(rt);
    let ex = async_executor::LocalExecutor::new();
    g.bench_function("smol_local", |b| {
        b.iter(|| assert_eq!(smol::spawn_join(&ex, n), want))
    });
    let mut pool = LocalPool::new();
    g.bench_function("futures_localpool", |b| {
        b.iter(|| assert_eq!(fut::spawn_join(&mut pool, n), want))
    });
    python(&mut g, "spawn_join", n);
    g.finish();
}

fn gather(c: &mut Criterion) {
    let n = GATHER_N;
    let want = expected_sum(n);
    let mut g = group(c, "gather");
    let lp = evl::new_loop(1, false);
    g.bench_function("evloop", |b| {
        b.iter(|| assert_eq!(evl::gather(&lp, n), want))
    });
    lp.close();
    let rt = tok::current_thread(false);
    g.bench_function("tokio_ct", |b| {
        b.iter(|| assert_eq!(tok::gather(&rt, n), want))
    });
    drop(rt);
    let ex = async_executor::LocalExecutor::new();
    g.bench_function("smol_local", |b| {
        b.iter(|| assert_eq!(smol::gather(&ex, n), want))
    });
    let mut pool = LocalPool::new();
    g.bench_function("futures_localpool", |b| {
        b.iter(|| assert_eq!(fut::gather(&mut pool, n), want))
    });
    python(&mut g, "gather", n);
    g.finish();
}

fn yield_loop(c: &mut Criterion) {
    let n = YIELDS;
    let mut g = group(c, "yield_loop");
    let lp = evl::new_loop(1, false);
    g.bench_function("evloop", |b| {
        b.iter(|| assert_eq!(evl::yield_loop(&lp, n), n))
    });
    lp.close();
    let rt = tok::current_thread(false);
    g.bench_function("tokio_ct", |b| {
        b.iter(|| assert_eq!(tok::yield_loop(&rt, n), n))
    });
    drop(rt);
    let ex = async_executor::LocalExecutor::new();
    g.bench_function("smol_local", |b| {
        b.iter(|| assert_eq!(smol::yield_loop(&ex, n), n))
    });
    let mut pool = LocalPool::new();
    g.bench_function("futures_localpool", |b| {
        b.iter(|| assert_eq!(fut::yield_loop(&mut pool, n), n))
    });
    python(&mut g, "yield_loop", n);
    g.finish();
}

fn ping_pong(c: &mut Criterion) {
    let n = PINGS;
    let mut g = group(c, "ping_pong");
    let lp = evl::new_loop(1, false);
    g.bench_function("evloop", |b| {
        b.iter(|| assert_eq!(evl::ping_pong(&lp, n), n))
    });
    lp.close();
    let rt = tok::current_thread(false);
    g.bench_function("tokio_ct", |b| {
        b.iter(|| assert_eq!(tok::ping_pong(&rt, n), n))
    });
    drop(rt);
    let ex = async_executor::LocalExecutor::new();
    g.bench_function("smol_local", |b| {
        b.iter(|| assert_eq!(smol::ping_pong(&ex, n), n))
    });
    let mut pool = LocalPool::new();
    g.bench_function("futures_localpool", |b| {
        b.iter(|| assert_eq!(fut::ping_pong(&mut pool, n), n))
    });
    g.finish();
}

fn ping_pong_oneshot(c: &mut Criterion) {
    let n = PINGS;
    let mut g = group(c, "ping_pong_oneshot");
    let lp = evl::new_loop(1, false);
    g.bench_function("evloop", |b| {
        b.iter(|| assert_eq!(evl::ping_pong_oneshot(&lp, n), n))
    });
    lp.close();
    let rt = tok::current_thread(false);
    g.bench_function("tokio_ct", |b| {
        b.iter(|| assert_eq!(tok::ping_pong_oneshot(&rt, n), n))
    });
    drop(rt);
    let ex = async_executor::LocalExecutor::new();
    g.bench_function("smol_local", |b| {
        b.iter(|| assert_eq!(smol::ping_pong_oneshot(&ex, n), n))
    });
    let mut pool = LocalPool::new();
    g.bench_function("futures_localpool", |b| {
        b.iter(|| assert_eq!(fut::ping_pong_oneshot(&mut pool, n), n))
    });
    g.finish();
}

fn cross_thread_wake(c: &mut Criterion) {
    let n = WAKES;
    let want = expected_sum(n);
    let mut g = group(c, "cross_thread_wake");
    let lp = evl::new_loop(1, false);
    g.bench_function("evloop", |b| {
        b.iter(|| assert_eq!(evl::cross_thread_wake(&lp, n), want))
    });
    lp.close();
    let rt = tok::current_thread(false);
    g.bench_function("tokio_ct", |b| {
        b.iter(|| assert_eq!(tok::cross_thread_wake(&rt, n), want))
    });
    drop(rt);
    let ex = async_executor::LocalExecutor::new();
    g.bench_function("smol_local", |b| {
        b.iter(|| assert_eq!(smol::cross_thread_wake(&ex, n), want))
    });
    let mut pool = LocalPool::new();
    g.bench_function("futures_localpool", |b| {
        b.iter(|| assert_eq!(fut::cross_thread_wake(&mut pool, n), want))
    });
    g.finish();
}

fn timers(c: &mut Criterion) {
    let n = TIMERS;
    let want = expected_sum(n);
    // Virtual time: only peers with a paused clock take part.
    let mut g = group(c, "timers_virtual");
    let lp = evl::new_loop(1, true);
    g.bench_function("evloop", |b| {
        b.iter(|| assert_eq!(evl::timers(&lp, n, virtual_deadline), want))
    });
    lp.close();
    let rt = tok::current_thread(true);
    g.bench_function("tokio_ct", |b| {
        b.iter(|| assert_eq!(tok::timers(&rt, n, virtual_deadline), want))
    });
    drop(rt);
    g.finish();

    let mut g = group(c, "timers_real");
    let lp = evl::new_loop(1, false);
    g.bench_function("evloop", |b| {
        b.iter(|| assert_eq!(evl::timers(&lp, n, real_deadline), want))
    });
    lp.close();
    let rt = tok::current_thread(false);
    g.bench_function("tokio_ct", |b| {
        b.iter(|| assert_eq!(tok::timers(&rt, n, real_deadline), want))
    });
    drop(rt);
    let ex = async_executor::LocalExecutor::new();
    g.bench_function("smol_local", |b| {
        b.iter(|| assert_eq!(smol::timers(&ex, n, real_deadline), want))
    });
    g.finish();
}

/// Two workers on each side: evloop `workers(2)`, tokio multi_thread(2), smol `Executor` on two
/// threads.
fn multi_thread(c: &mut Criterion) {
    let workers = 2;
    {
        let n = SPAWN_N;
        let want = expected_sum(n);
        let mut g = group(c, "spawn_join_mt");
        let lp = evl::new_loop(workers, false);
        g.bench_function("evloop_workers2", |b| {
            b.iter(|| assert_eq!(evl::spawn_join(&lp, n), want))
        });
        lp.close();
        let rt = tok::multi_thread(workers);
        g.bench_function("tokio_mt2", |b| {
            b.iter(|| assert_eq!(tok::spawn_join(&rt, n), want))
        });
        drop(rt);
        let mt = smol::Mt::new(workers);
        g.bench_function("smol_mt2", |b| {
            b.iter(|| assert_eq!(smol::spawn_join_mt(&mt, n), want))
        });
        drop(mt);
        g.finish();
    }
    {
        let n = GATHER_N;
        let want = expected_sum(n);
        let mut g = group(c, "gather_mt");
        let lp = evl::new_loop(workers, false);
        g.bench_function("evloop_workers2", |b| {
            b.iter(|| assert_eq!(evl::gather(&lp, n), want))
        });
        lp.close();
        let rt = tok::multi_thread(workers);
        g.bench_function("tokio_mt2", |b| {
            b.iter(|| assert_eq!(tok::gather(&rt, n), want))
        });
        drop(rt);
        let mt = smol::Mt::new(workers);
        g.bench_function("smol_mt2", |b| {
            b.iter(|| assert_eq!(smol::gather_mt(&mt, n), want))
        });
        drop(mt);
        g.finish();
    }
    {
        let n = WAKES;
        let want = expected_sum(n);
        let mut g = group(c, "cross_thread_wake_mt");
        let lp = evl::new_loop(workers, false);
        g.bench_function("evloop_workers2", |b| {
            b.iter(|| assert_eq!(evl::cross_thread_wake(&lp, n), want))
        });
        lp.close();
        let rt = tok::multi_thread(workers);
        g.bench_function("tokio_mt2", |b| {
            b.iter(|| assert_eq!(tok::cross_thread_wake(&rt, n), want))
        });
        drop(rt);
        let mt = smol::Mt::new(workers);
        g.bench_function("smol_mt2", |b| {
            b.iter(|| assert_eq!(smol::cross_thread_wake_mt(&mt, n), want))
        });
        drop(mt);
        g.finish();
    }
    {
        let n = SHORT_RUNS;
        let want = expected_sum(n);
        let mut g = group(c, "short_runs_mt");
        let lp = evl::new_loop(workers, false);
        g.bench_function("evloop_workers2", |b| {
            b.iter(|| assert_eq!(evl::short_runs(&lp, n), want))
        });
        lp.close();
        let rt = tok::multi_thread(workers);
        g.bench_function("tokio_mt2", |b| {
            b.iter(|| assert_eq!(tok::short_runs(&rt, n), want))
        });
        drop(rt);
        let mt = smol::Mt::new(workers);
        g.bench_function("smol_mt2", |b| {
            b.iter(|| assert_eq!(smol::short_runs_mt(&mt, n), want))
        });
        drop(mt);
        g.finish();
    }
}

fn config() -> Criterion {
    // Short by default: the machine is shared and noisy, so ratios within one run are what we
    // report. Command-line flags (`--measurement-time` etc.) override these.
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn_join, gather, yield_loop, ping_pong, ping_pong_oneshot, cross_thread_wake, timers, multi_thread
}
criterion_main!(benches);
