//! Writes `bench/RESULTS.md` from criterion's estimates and the extra measurements that
//! `bench/compare` collected. Not a benchmark itself: it only reads files.
//!
//! `report <criterion dir> <extra dir> <output file>`; the extra dir holds `memory.jsonl`
//! (one line per runtime from the `memory` binary), `machine.txt` and `checking.txt`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

struct Workload {
    group: &'static str,
    what: &'static str,
    /// Ratio to the fastest peer that meets the target (1.0 = at least as fast).
    target: f64,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        group: "spawn_join",
        what: "spawn 100 000 trivial tasks, await every handle, sum",
        target: 1.0,
    },
    Workload {
        group: "gather",
        what: "gather 100 000 futures that each yield once",
        target: 1.0,
    },
    Workload {
        group: "yield_loop",
        what: "one task yields 1 000 000 times",
        target: 1.0,
    },
    Workload {
        group: "ping_pong",
        what: "two tasks hand a token back and forth 1 000 000 times through each runtime's own \
               channel, two created once (evloop `Queue`, tokio `mpsc`, smol `async-channel`, \
               futures `mpsc`; all unbounded)",
        target: 1.0,
    },
    Workload {
        group: "ping_pong_oneshot",
        what: "ping_pong with a fresh one-shot future per hand-off (evloop `LoopFuture`, the \
               peers' `oneshot`)",
        target: 1.0,
    },
    Workload {
        group: "cross_thread_wake",
        what: "a helper OS thread completes 100 000 futures awaited by 100 000 parked tasks",
        target: 1.2,
    },
    Workload {
        group: "timers_virtual",
        what: "100 000 sleeps, deadlines spread over 1..=1000 ms, paused/virtual clock",
        target: 1.0,
    },
    Workload {
        group: "timers_real",
        what: "100 000 sleeps, deadlines spread over 1..=20 ms in whole ms, real clock (20 ms floor); \
               every runtime measures a deadline from the sleep's first poll. smol_local is not \
               one thread here: async-io's driver thread keeps and fires its timers (about a \
               third of its CPU time, see PROFILING.md), so with a free second core its wall \
               time is its main thread's share",
        target: 1.0,
    },
    Workload {
        group: "spawn_join_mt",
        what: "spawn_join with two workers",
        target: 1.0,
    },
    Workload {
        group: "gather_mt",
        what: "gather with two workers",
        target: 1.0,
    },
    Workload {
        group: "cross_thread_wake_mt",
        what: "cross_thread_wake with two workers",
        target: 1.2,
    },
    Workload {
        group: "short_runs_mt",
        what: "2 000 separate runs of a two-worker runtime kept across them (evloop \
               `run_until_complete`, the peers' `block_on`), each spawning and joining one task",
        target: 1.0,
    },
];

const EVLOOP_IDS: &[&str] = &["evloop", "evloop_workers2"];
const PYTHON_IDS: &[&str] = &["cpython_asyncio", "uvloop"];

const NOTES: &str = "
Targets (issue 6): at least as fast as the fastest peer on every workload; cross_thread_wake \
within 20% of the best peer; at least 50× CPython asyncio on gather; bytes per pending task no \
more than the leanest peer's.

How the peers run: each runtime's own entry point drives the workload (`run_until_complete`, \
`block_on`, `LocalExecutor::run`, `LocalPool::run_until`), reused across iterations; yields are \
`evloop::sleep(ZERO)`, `tokio::task::yield_now`, `futures_lite::future::yield_now`; a gather is \
`evloop::gather` on evloop and spawn-every-child + `join_all` on the Rust peers; ping_pong hands \
the token through two unbounded channels created once (evloop `Queue`, tokio \
`mpsc::unbounded_channel`, smol `async_channel::unbounded`, futures `mpsc::unbounded`; each sends \
without waiting and receives with `.await`), ping_pong_oneshot through one `LoopFuture` per \
hand-off on evloop and one `oneshot` (tokio's, or futures') on the peers; \
cross_thread_wake completes `LoopFuture`s through `Resolver`s (peers: oneshot senders) from a \
helper thread started after every waiter has parked. futures' `LocalPool` has no timer and \
smol no paused clock, so they sit out the timer rows they cannot run.
";

fn median_ns(dir: &Path) -> Option<f64> {
    let text = fs::read_to_string(dir.join("new").join("estimates.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Function id → median ns, for one group.
fn group_medians(criterion: &Path, group: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir(criterion.join(group)) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "report" {
            continue;
        }
        if let Some(m) = median_ns(&e.path()) {
            out.insert(name, m);
        }
    }
    out
}

fn fmt_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**no**"
    }
}

fn main() {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [criterion, extra, output] = &args[..] else {
        panic!("usage: report <criterion dir> <extra dir> <output file>");
    };
    let machine = fs::read_to_string(extra.join("machine.txt")).unwrap_or_default();
    let checking = fs::read_to_string(extra.join("checking.txt")).unwrap_or_default();

    let mut headline = String::new();
    let mut detail = String::new();
    headline.push_str(
        "| workload | evloop | fastest peer | evloop / fastest | evloop / tokio | CPython asyncio / evloop | target met |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for w in WORKLOADS {
        let medians = group_medians(criterion, w.group);
        let Some((ev_id, ev)) = EVLOOP_IDS
            .iter()
            .find_map(|id| medians.get(*id).map(|m| (*id, *m)))
        else {
            continue;
        };
        let peers: Vec<(&String, f64)> = medians
            .iter()
            .filter(|(id, _)| !EVLOOP_IDS.contains(&id.as_str()))
            .map(|(id, m)| (id, *m))
            .collect();
        let rust_peers: Vec<&(&String, f64)> = peers
            .iter()
            .filter(|(id, _)| !PYTHON_IDS.contains(&id.as_str()))
            .collect();
        let fastest = peers
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, m)| ((*id).clone(), *m));
        let tokio = peers
            .iter()
            .find(|(id, _)| id.starts_with("tokio"))
            .map(|(_, m)| *m);
        let cpython = medians.get("cpython_asyncio").copied();
        let ratio = |peer: Option<f64>| match peer {
            Some(p) => format!("{:.2}", ev / p),
            None => "–".into(),
        };
        let mut met = match &fastest {
            Some((_, f)) => ev / f <= w.target,
            None => true,
        };
        let mut target_note = if w.target > 1.0 {
            format!(" (≤ {:.2}× fastest)", w.target)
        } else {
            String::new()
        };
        if w.group == "gather" {
            if let Some(c) = cpython {
                met &= c / ev >= 50.0;
                target_note = format!(" (also {:.0}× CPython, target ≥ 50×)", c / ev);
            }
        }
        let _ = writeln!(
            headline,
            "| {} | {} | {} | {} | {} | {} | {}{} |",
            w.group,
            fmt_time(ev),
            fastest
                .as_ref()
                .map(|(id, m)| format!("{id} {}", fmt_time(*m)))
                .unwrap_or_else(|| "–".into()),
            ratio(fastest.as_ref().map(|f| f.1)),
            ratio(tokio),
            cpython.map_or("–".into(), |c| format!("{:.0}×", c / ev)),
            verdict(met),
            target_note,
        );

        let _ = writeln!(detail, "\n### {}\n\n{}.\n", w.group, w.what);
        let _ = writeln!(
            detail,
            "| runtime | median | evloop / runtime |\n|---|---|---|"
        );
        let _ = writeln!(detail, "| {ev_id} | {} | 1.00 |", fmt_time(ev));
        let mut sorted = peers.clone();
        sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (id, m) in sorted {
            let _ = writeln!(detail, "| {id} | {} | {:.2} |", fmt_time(m), ev / m);
        }
        let _ = rust_peers;
    }

    // Memory.
    let mut memory = String::new();
    let mems: Vec<Value> = fs::read_to_string(extra.join("memory.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let bpt = |v: &Value| v["bytes_per_task"].as_f64().unwrap_or(f64::NAN);
    let ev_mem = mems.iter().find(|v| v["runtime"] == "evloop").map(bpt);
    let leanest = mems
        .iter()
        .filter(|v| v["runtime"] != "evloop")
        .map(bpt)
        .fold(f64::INFINITY, f64::min);
    if !mems.is_empty() {
        let tasks = mems[0]["tasks"].as_u64().unwrap_or(0);
        let _ = writeln!(
            memory,
            "{tasks} tasks parked on one future, one runtime per process. Bytes per pending task = \
             (RSS with every task parked − RSS before the runtime started) / tasks; it includes \
             the task, its future, the waiter entry in the primitive and the run-queue capacity \
             the spawns left behind. \"After one more turn\": the same, read once the main task \
             has yielded once more with every task still parked.\n"
        );
        memory.push_str(
            "| runtime | parked on | bytes per pending task | after one more turn | peak RSS | evloop / runtime |\n|---|---|---|---|---|---|\n",
        );
        for v in &mems {
            let peak = v["peak_rss_kib"]
                .as_u64()
                .unwrap_or(0)
                .max(v["rss_parked_kib"].as_u64().unwrap_or(0));
            let _ = writeln!(
                memory,
                "| {} | `{}` | {:.0} | {} | {:.1} MiB | {} |",
                v["runtime"].as_str().unwrap_or("?"),
                v["primitive"].as_str().unwrap_or("?"),
                bpt(v),
                v["bytes_per_task_settled"]
                    .as_f64()
                    .map(|b| format!("{b:.0}"))
                    .unwrap_or_else(|| "–".into()),
                peak as f64 / 1024.0,
                ev_mem
                    .map(|e| format!("{:.2}", e / bpt(v)))
                    .unwrap_or_else(|| "–".into()),
            );
        }
        if let Some(e) = ev_mem {
            let _ = writeln!(
                headline,
                "| memory (bytes / pending task) | {e:.0} B | {leanest:.0} B | {:.2} | – | – | {} |",
                e / leanest,
                verdict(e <= leanest)
            );
        }
    }

    // Instructions per operation (callgrind).
    let mut instructions = String::new();
    let instr: Vec<Value> = fs::read_to_string(extra.join("instructions.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if !instr.is_empty() {
        let runtimes = ["evloop", "tokio_ct", "smol_local", "futures_localpool"];
        instructions.push_str(
            "Instructions per operation (one task spawned+joined, one child gathered, one yield, \
             one hand-off, one cross-thread completion, one timer), from `valgrind \
             --tool=callgrind` as (Ir at 2n − Ir at n) / n, so start-up cancels out. Repeatable \
             run to run, unlike wall time here (except cross_thread_wake, whose count depends on how \
             valgrind interleaves the helper thread with the loop); blind to what atomics and \
             cache misses cost.\n\n\
             | workload | evloop | tokio_ct | smol_local | futures_localpool | evloop / fewest |\n\
             |---|---|---|---|---|---|\n",
        );
        let mut workloads: Vec<&str> = Vec::new();
        for v in &instr {
            let w = v["workload"].as_str().unwrap_or("?");
            if !workloads.contains(&w) {
                workloads.push(w);
            }
        }
        for w in workloads {
            let get = |rt: &str| {
                instr
                    .iter()
                    .find(|v| v["workload"] == w && v["runtime"] == rt)
                    .and_then(|v| v["per_op"].as_f64())
            };
            let cells: Vec<String> = runtimes
                .iter()
                .map(|rt| get(rt).map_or("–".into(), |x| format!("{x:.0}")))
                .collect();
            let fewest = runtimes[1..]
                .iter()
                .filter_map(|rt| get(rt))
                .fold(f64::INFINITY, f64::min);
            let ratio = get("evloop")
                .filter(|_| fewest.is_finite())
                .map_or("–".into(), |e| format!("{:.2}", e / fewest));
            let _ = writeln!(instructions, "| {w} | {} | {ratio} |", cells.join(" | "));
        }
    }

    let mut out = String::new();
    out.push_str("# evloop benchmark results\n\n");
    out.push_str(
        "Written by `bench/compare` (do not edit by hand; re-run it). Every runtime runs the same \
         workload in the same criterion run (`bench/benches/compare.rs`, `bench/src/lib.rs`); \
         CPython is timed by the same harness through `bench/asyncio_bench.py`.\n\n",
    );
    out.push_str(&machine);
    out.push_str(
        "\n**Ratios are evloop's median time / the peer's median time: below 1.00 evloop is \
         faster.** Absolute times are noisy on a shared 2-core machine; compare ratios within one \
         run.\n\n## Headline\n\n",
    );
    out.push_str(&headline);
    out.push_str(NOTES);
    out.push_str("\n## Per workload\n");
    out.push_str(&detail);
    out.push_str("\n## Instructions per operation\n\n");
    out.push_str(if instructions.is_empty() {
        "not measured in this run (needs valgrind)\n"
    } else {
        &instructions
    });
    out.push_str("\n## Memory\n\n");
    out.push_str(if memory.is_empty() {
        "not measured in this run\n"
    } else {
        &memory
    });
    out.push_str("\n## The cost of checking\n\n");
    out.push_str(if checking.is_empty() {
        "not measured in this run (`bench/compare --checking` measures it)\n"
    } else {
        &checking
    });
    fs::write(output, out).expect("write RESULTS.md");
    println!("wrote {}", output.display());
}
