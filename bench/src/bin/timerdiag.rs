//! `timerdiag <evloop|smol_local|tokio_ct> [iterations]`: runs `timers_real` repeatedly on one
//! runtime kept across iterations (as the criterion bench does) and prints, per iteration, wall
//! time, CPU time of all the process's threads and of the main thread alone (Linux schedstat), and
//! minor page faults. It shows where a runtime's timer work runs: smol's `async_io::Timer` does
//! its bookkeeping and waking on async-io's driver thread, so smol_local's wall time is its main
//! thread's CPU time when a second core is free (see bench/PROFILING.md, timers).
use evloop_bench::*;
use std::time::Instant;

fn cpu_ns() -> u64 {
    let mut t = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let p = e.unwrap().path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(p) {
            t += s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
    }
    t
}
fn main_thread_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}
fn minflt() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(7).unwrap().parse().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = args[0].as_str();
    let iters: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(10);
    let n = TIMERS;
    let lp = evl::new_loop(1, false);
    let tr = tok::current_thread(false);
    let ex = smol::local();
    let mut rows = vec![];
    for _ in 0..iters {
        let (c0, m0, f0, t0) = (cpu_ns(), main_thread_ns(), minflt(), Instant::now());
        let s = match rt {
            "evloop" => evl::timers(&lp, n, real_deadline),
            "tokio_ct" => tok::timers(&tr, n, real_deadline),
            "smol_local" => smol::timers(&ex, n, real_deadline),
            _ => panic!(),
        };
        assert_eq!(s, expected_sum(n));
        let wall = t0.elapsed().as_secs_f64() * 1e3;
        rows.push((
            wall,
            (cpu_ns() - c0) as f64 / 1e6,
            (main_thread_ns() - m0) as f64 / 1e6,
            minflt() - f0,
        ));
    }
    for (w, c, m, f) in &rows {
        println!("{rt:10} wall {w:7.1} ms  cpu(all threads) {c:7.1} ms  cpu(main) {m:7.1} ms  minflt {f}");
    }
    let mut w: Vec<f64> = rows.iter().map(|r| r.0).collect();
    w.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{rt:10} wall min {:.1} median {:.1} max {:.1}",
        w[0],
        w[w.len() / 2],
        w[w.len() - 1]
    );
}
