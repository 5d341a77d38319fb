//! Runs one workload once on one runtime, for profilers (`valgrind --tool=callgrind`, `perf`):
//! `one <workload> <runtime> [n]`, e.g. `one spawn_join evloop 100000`. The two-worker rows
//! (`_mt` in the criterion groups) are `evloop_workers2`, `tokio_mt2` and `smol_mt2` on
//! `spawn_join`, `gather`, `cross_thread_wake` or `short_runs`.

use evloop_bench::*;
use futures::executor::LocalPool;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (workload, runtime) = (args[0].as_str(), args[1].as_str());
    let default_n = match workload {
        "spawn_join" => SPAWN_N,
        "gather" => GATHER_N,
        "yield_loop" => YIELDS,
        "ping_pong" | "ping_pong_oneshot" => PINGS,
        "cross_thread_wake" => WAKES,
        "short_runs" => SHORT_RUNS,
        _ => TIMERS,
    };
    let n: u64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(default_n);
    let out = match runtime {
        "evloop" | "evloop_workers2" => {
            let workers = if runtime == "evloop" { 1 } else { 2 };
            let lp = evl::new_loop(workers, workload == "timers_virtual");
            match workload {
                "spawn_join" => evl::spawn_join(&lp, n),
                "gather" => evl::gather(&lp, n),
                "yield_loop" => evl::yield_loop(&lp, n),
                "ping_pong" => evl::ping_pong(&lp, n),
                "ping_pong_oneshot" => evl::ping_pong_oneshot(&lp, n),
                "cross_thread_wake" => evl::cross_thread_wake(&lp, n),
                "short_runs" => evl::short_runs(&lp, n),
                "timers_virtual" => evl::timers(&lp, n, virtual_deadline),
                "timers_real" => evl::timers(&lp, n, real_deadline),
                w => panic!("unknown workload {w}"),
            }
        }
        "tokio_ct" => {
            let rt = tok::current_thread(workload == "timers_virtual");
            match workload {
                "spawn_join" => tok::spawn_join(&rt, n),
                "gather" => tok::gather(&rt, n),
                "yield_loop" => tok::yield_loop(&rt, n),
                "ping_pong" => tok::ping_pong(&rt, n),
                "ping_pong_oneshot" => tok::ping_pong_oneshot(&rt, n),
                "cross_thread_wake" => tok::cross_thread_wake(&rt, n),
                "timers_virtual" => tok::timers(&rt, n, virtual_deadline),
                "timers_real" => tok::timers(&rt, n, real_deadline),
                w => panic!("unknown workload {w}"),
            }
        }
        "tokio_mt2" => {
            let rt = tok::multi_thread(2);
            match workload {
                "spawn_join" => tok::spawn_join(&rt, n),
                "gather" => tok::gather(&rt, n),
                "cross_thread_wake" => tok::cross_thread_wake(&rt, n),
                "short_runs" => tok::short_runs(&rt, n),
                w => panic!("no two-worker row for {w}"),
            }
        }
        "smol_mt2" => {
            let mt = smol::Mt::new(2);
            match workload {
                "spawn_join" => smol::spawn_join_mt(&mt, n),
                "gather" => smol::gather_mt(&mt, n),
                "cross_thread_wake" => smol::cross_thread_wake_mt(&mt, n),
                "short_runs" => smol::short_runs_mt(&mt, n),
                w => panic!("no two-worker row for {w}"),
            }
        }
        "smol_local" => {
            let ex = async_executor::LocalExecutor::new();
            match workload {
                "spawn_join" => smol::spawn_join(&ex, n),
                "gather" => smol::gather(&ex, n),
                "yield_loop" => smol::yield_loop(&ex, n),
                "ping_pong" => smol::ping_pong(&ex, n),
                "ping_pong_oneshot" => smol::ping_pong_oneshot(&ex, n),
                "cross_thread_wake" => smol::cross_thread_wake(&ex, n),
                "timers_real" => smol::timers(&ex, n, real_deadline),
                w => panic!("unknown workload {w}"),
            }
        }
        "futures_localpool" => {
            let mut pool = LocalPool::new();
            match workload {
                "spawn_join" => fut::spawn_join(&mut pool, n),
                "gather" => fut::gather(&mut pool, n),
                "yield_loop" => fut::yield_loop(&mut pool, n),
                "ping_pong" => fut::ping_pong(&mut pool, n),
                "ping_pong_oneshot" => fut::ping_pong_oneshot(&mut pool, n),
                "cross_thread_wake" => fut::cross_thread_wake(&mut pool, n),
                w => panic!("unknown workload {w}"),
            }
        }
        r => panic!("unknown runtime {r}"),
    };
    println!("{workload} on {runtime}: {out}");
}
