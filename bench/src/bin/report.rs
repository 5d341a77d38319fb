//! Writes `bench/RESULTS.md` (and the results table in `README.md`) from what `bench/compare`
//! measured. Not a benchmark itself: it only reads files.
//!
//! `report <extra dir> <RESULTS.md> [README.md]`. The extra dir holds `rounds.jsonl` (the `rounds`
//! binary's output), `instructions.jsonl` (callgrind, per operation), `memory.jsonl` (one line per
//! runtime from the `memory` binary), `machine.txt` and `checking.txt`. The README's table is the
//! text between the two `RESULTS_TABLE` marker comments; it is replaced, nothing else is touched.

use evloop_bench::rows::WORKLOADS;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

const README_BEGIN: &str = "<!-- RESULTS_TABLE: written by bench/compare, do not edit by hand -->";
const README_END: &str = "<!-- /RESULTS_TABLE -->";

/// What a workload does and its target: evloop / fastest peer (1.0 = at least as fast).
fn about(workload: &str) -> (&'static str, f64) {
    match workload {
        "spawn_join" => ("spawn 100 000 trivial tasks, await every handle, sum", 1.0),
        "gather" => (
            "gather 100 000 children that each yield once: `evloop::gather` (every child a task, as \
             in asyncio); the Rust peers spawn every child as a task and await the handles in \
             order into a `Vec` (see the notes on `join_all`)",
            1.0,
        ),
        "yield_loop" => ("one spawned task yields 1 000 000 times", 1.0),
        "ping_pong" => (
            "two tasks hand a token back and forth 1 000 000 times through each runtime's own \
             channel, two created once (evloop `Queue`, tokio `mpsc`, smol `async-channel`, futures \
             `mpsc`; all unbounded)",
            1.0,
        ),
        "ping_pong_oneshot" => (
            "ping_pong with a fresh one-shot future per hand-off (evloop `LoopFuture`, the peers' \
             `oneshot`)",
            1.0,
        ),
        "cross_thread_wake" => (
            "a helper OS thread completes 100 000 futures awaited by 100 000 parked tasks",
            1.2,
        ),
        "timers_virtual" => (
            "100 000 sleeps, deadlines spread over 1..=1000 ms, paused/virtual clock",
            1.0,
        ),
        "timers_real" => (
            "100 000 sleeps, deadlines spread over 1..=20 ms in whole ms, real clock (20 ms \
             floor); every runtime measures a deadline from the sleep's first poll. smol_local is \
             not one thread here: async-io's driver thread keeps and fires its timers (about a \
             third of its CPU time, see PROFILING.md), so with a free second core its wall time is \
             its main thread's share; its instruction count includes that thread. Real-time \
             instruction counts vary by about 2 % run to run",
            1.0,
        ),
        "spawn_join_mt" => ("spawn_join with two workers", 1.0),
        "gather_mt" => ("gather with two workers", 1.0),
        "cross_thread_wake_mt" => ("cross_thread_wake with two workers", 1.2),
        "short_runs_mt" => (
            "2 000 separate runs of a two-worker runtime kept across them (evloop \
             `run_until_complete`, the peers' `block_on`), each spawning and joining one task",
            1.0,
        ),
        _ => ("", 1.0),
    }
}

const PYTHON_IDS: &[&str] = &["cpython_asyncio", "uvloop"];

const NOTES: &str = "
Targets (issue 6): at least as fast as the fastest peer on every workload; cross_thread_wake \
within 20% of the best peer; at least 50× CPython asyncio on gather; bytes per pending task no \
more than the leanest peer's. **Target met** is decided on the median ratio: `yes` / `**no**` when \
the whole interquartile range is on one side of the target, `edge` when it straddles the target \
(`edge, yes on median` or `**edge, no on median**`).

Like with like, workload by workload (`bench/src/lib.rs`):
- **Every root is a task.** evloop's `run_until_complete` makes its argument a task (as asyncio's \
  does), so each peer spawns the root future on its executor and waits for the handle \
  (`tokio::Runtime::spawn` + `block_on`, smol `LocalExecutor::spawn` inside `run`, futures \
  `spawn_local_with_handle` + `run_until`) instead of polling it in place. On two workers this also \
  keeps tokio's root on a worker (polled by `block_on` it ran on a third thread).
- **yield_loop**: the yields run in one spawned task on every runtime (and in asyncio). A yield is \
  each runtime's own: `evloop::sleep(ZERO)` (one loop turn, asyncio's bare `yield`), \
  `tokio::task::yield_now`, `futures_lite::future::yield_now` (smol, futures).
- **spawn_join**: \"join\" is awaiting the spawn's own handle: evloop's `TaskRef` (an asyncio \
  Task's done list), tokio's `JoinHandle`, async-task's `Task` (smol). futures' \
  `spawn_local_with_handle` is heavier by design: it wraps the future in `Remote` \
  (`catch_unwind` and a `oneshot` for the output). Named, not changed: it is futures' way to join.
- **gather**: every child is a task on every runtime, as in asyncio's gather. The Rust peers await \
  the handles in order into a `Vec`, the cheapest way to the same result; not \
  `futures::future::join_all`, which costs the peers a `FuturesOrdered` node per handle and on \
  tokio, in a task, turns quadratic (tokio's cooperative budget; PROFILING.md, \"Measuring\"). \
  Still not the same: evloop's gather also watches for the first failure (asyncio's semantics), \
  which the peers' loop does not.
- **ping_pong**: two tasks, two channels created once; each sends without waiting and receives \
  with `.await`. evloop's `Queue` is asyncio's (a locked deque with a list of waiting getters); the \
  peers' channels are lock-free single- or multi-consumer queues. Named: it is what each offers.
- **ping_pong_oneshot**: evloop's `LoopFuture` is asyncio's Future (any number of waiters, a \
  cloneable outcome, callbacks); the peers' `oneshot` has one receiver. Named.
- **cross_thread_wake**: evloop's `Resolver` against `oneshot::Sender` from a helper OS thread that \
  starts after every waiter has parked; the same shape on every runtime.
- **timers_virtual**: evloop's virtual clock against tokio's paused clock (both jump to the next \
  deadline when idle). futures' `LocalPool` has no timer and smol no paused clock, so they sit out \
  the timer rows they cannot run.
- **timers_real**: smol_local's timers run partly on async-io's driver thread (see the row's text).
- **the `_mt` rows**: two threads run tasks on each side: evloop `workers(2)` (the calling thread \
  is one worker), tokio `multi_thread(2)`, smol's `Executor` run by the calling thread and one \
  helper. On every side the threads live as long as the runtime (evloop's since THREAD-8: started \
  by the loop's first run, parked between runs, joined by `close`). **short_runs_mt** times what a \
  run itself costs: 2 000 separate evloop `run_until_complete` / peer `block_on` calls on one \
  runtime, each spawning and joining one task.
- **CPython**: asyncio and uvloop run the same three workloads (`bench/asyncio_bench.py`, \
  `create_task`, `asyncio.gather`, `asyncio.sleep(0)`), timed in the child around \
  `run_until_complete`.
";

#[derive(Clone, Copy)]
struct Spread {
    median: f64,
    q1: f64,
    q3: f64,
    min: f64,
    max: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some(Spread {
        median: quantile(&v, 0.5),
        q1: quantile(&v, 0.25),
        q3: quantile(&v, 0.75),
        min: v[0],
        max: v[v.len() - 1],
    })
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

/// `0.97 (0.91–1.05)`: median and interquartile range.
fn fmt_ratio(s: &Spread) -> String {
    format!("{:.2} ({:.2}–{:.2})", s.median, s.q1, s.q3)
}

/// `35× (33–36)`.
fn fmt_times(s: &Spread) -> String {
    format!("{:.0}× ({:.0}–{:.0})", s.median, s.q1, s.q3)
}

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Verdict {
    No,
    EdgeNo,
    EdgeYes,
    Yes,
}

impl Verdict {
    /// `ok(x)` says whether ratio `x` meets the target; decided on the median, `edge` when the
    /// interquartile range straddles the target.
    fn of(s: &Spread, ok: impl Fn(f64) -> bool) -> Verdict {
        match (ok(s.median), ok(s.q1), ok(s.q3)) {
            (true, true, true) => Verdict::Yes,
            (false, false, false) => Verdict::No,
            (true, _, _) => Verdict::EdgeYes,
            (false, _, _) => Verdict::EdgeNo,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::EdgeYes => "edge, yes on median",
            Verdict::EdgeNo => "**edge, no on median**",
            Verdict::No => "**no**",
        }
    }
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Per runtime, its per-round median times (ns), indexed by round.
type Rounds = BTreeMap<String, BTreeMap<u64, f64>>;

fn per_round_ratios(a: &BTreeMap<u64, f64>, b: &BTreeMap<u64, f64>) -> Vec<f64> {
    a.iter()
        .filter_map(|(r, x)| b.get(r).map(|y| x / y))
        .collect()
}

fn median_time(rounds: &BTreeMap<u64, f64>) -> f64 {
    spread(&rounds.values().copied().collect::<Vec<_>>()).map_or(f64::NAN, |s| s.median)
}

fn main() {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let (extra, output, readme) = match &args[..] {
        [e, o] => (e, o, None),
        [e, o, r] => (e, o, Some(r)),
        _ => {
            eprintln!("usage: report <extra dir> <RESULTS.md> [README.md]");
            std::process::exit(2);
        }
    };
    let machine = fs::read_to_string(extra.join("machine.txt")).unwrap_or_default();
    let checking = fs::read_to_string(extra.join("checking.txt")).unwrap_or_default();

    let mut by_workload: BTreeMap<String, Rounds> = BTreeMap::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut rounds_seen = 0;
    for v in read_jsonl(&extra.join("rounds.jsonl")) {
        let (Some(w), Some(rt)) = (v["workload"].as_str(), v["runtime"].as_str()) else {
            continue;
        };
        if let Some(why) = v["skipped"].as_str() {
            skipped.push(format!("{w} on {rt}: {why}"));
            continue;
        }
        let (Some(round), Some(ns)) = (v["round"].as_u64(), v["median_ns"].as_f64()) else {
            continue;
        };
        rounds_seen = rounds_seen.max(round + 1);
        by_workload
            .entry(w.into())
            .or_default()
            .entry(rt.into())
            .or_default()
            .insert(round, ns);
    }
    if by_workload.is_empty() {
        eprintln!(
            "error: no wall-time rounds in {} (run bench/compare)",
            extra.join("rounds.jsonl").display()
        );
        std::process::exit(1);
    }

    let instr: BTreeMap<(String, String), f64> = read_jsonl(&extra.join("instructions.jsonl"))
        .iter()
        .filter_map(|v| {
            Some((
                (
                    v["workload"].as_str()?.into(),
                    v["runtime"].as_str()?.into(),
                ),
                v["per_op"].as_f64()?,
            ))
        })
        .collect();
    let instr_ratio = |w: &str, ev: &str, peer: &str, applies: bool| {
        if !applies {
            return "n/a".to_string();
        }
        match (
            instr.get(&(w.into(), ev.into())),
            instr.get(&(w.into(), peer.into())),
        ) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "–".into(),
        }
    };

    let mut headline = String::new();
    headline.push_str(
        "| workload | evloop | fastest peer | evloop / fastest: time | instructions | evloop / tokio: time | instructions | CPython asyncio / evloop | target met |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let mut detail = String::new();
    for w in WORKLOADS {
        let Some(rounds) = by_workload.get(w.name) else {
            continue;
        };
        let ev_id = w.runtimes[0];
        let Some(ev) = rounds.get(ev_id) else {
            continue;
        };
        let (what, target) = about(w.name);
        let applies = w.callgrind_n.is_some();
        let peers: Vec<(&str, &BTreeMap<u64, f64>)> = w.runtimes[1..]
            .iter()
            .filter_map(|rt| rounds.get(*rt).map(|r| (*rt, r)))
            .collect();
        let fastest = peers
            .iter()
            .filter(|(id, _)| !PYTHON_IDS.contains(id))
            .min_by(|a, b| median_time(a.1).total_cmp(&median_time(b.1)))
            .copied();
        let tokio = peers
            .iter()
            .find(|(id, _)| id.starts_with("tokio"))
            .copied();
        let ratio_to = |peer: Option<(&str, &BTreeMap<u64, f64>)>| {
            peer.and_then(|(_, r)| spread(&per_round_ratios(ev, r)))
        };
        let vs_fastest = ratio_to(fastest);
        let vs_tokio = ratio_to(tokio);
        let cpython = rounds
            .get("cpython_asyncio")
            .and_then(|c| spread(&per_round_ratios(c, ev)));
        let mut verdict = vs_fastest.map_or(Verdict::Yes, |s| Verdict::of(&s, |x| x <= target));
        let mut target_note = if target > 1.0 {
            format!(" (≤ {target:.2}× fastest)")
        } else {
            String::new()
        };
        if w.name == "gather" {
            if let Some(c) = &cpython {
                let v = Verdict::of(c, |x| x >= 50.0);
                target_note = format!(
                    " (time ≤ fastest: {}; ≥ 50× CPython: {})",
                    verdict.text().replace("**", ""),
                    v.text().replace("**", "")
                );
                if v < verdict {
                    verdict = v;
                }
            }
        }
        let _ = writeln!(
            headline,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}{} |",
            w.name,
            fmt_time(median_time(ev)),
            fastest.map_or("–".into(), |(id, r)| format!(
                "{id} {}",
                fmt_time(median_time(r))
            )),
            vs_fastest.as_ref().map_or("–".into(), fmt_ratio),
            fastest.map_or("–".into(), |(id, _)| instr_ratio(
                w.name, ev_id, id, applies
            )),
            vs_tokio.as_ref().map_or("–".into(), fmt_ratio),
            tokio.map_or("–".into(), |(id, _)| instr_ratio(
                w.name, ev_id, id, applies
            )),
            cpython.as_ref().map_or("–".into(), fmt_times),
            verdict.text(),
            target_note,
        );

        let _ = writeln!(detail, "\n### {}\n\n{}.\n", w.name, what);
        let _ = writeln!(
            detail,
            "| runtime | median time (IQR) | evloop / runtime: median (IQR) | min–max | instructions per op | evloop / runtime: instructions |\n|---|---|---|---|---|---|"
        );
        let instr_cell = |rt: &str| {
            instr
                .get(&(w.name.into(), rt.into()))
                .map_or(if applies { "–" } else { "n/a" }.into(), |x| {
                    format!("{x:.0}")
                })
        };
        let time_cell = |r: &BTreeMap<u64, f64>| {
            let s = spread(&r.values().copied().collect::<Vec<_>>()).unwrap();
            format!(
                "{} ({}–{})",
                fmt_time(s.median),
                fmt_time(s.q1),
                fmt_time(s.q3)
            )
        };
        let _ = writeln!(
            detail,
            "| {ev_id} | {} | 1.00 | – | {} | {} |",
            time_cell(ev),
            instr_cell(ev_id),
            if applies { "1.00" } else { "n/a" }
        );
        let mut sorted = peers.clone();
        sorted.sort_by(|a, b| median_time(a.1).total_cmp(&median_time(b.1)));
        for (id, r) in sorted {
            let s = spread(&per_round_ratios(ev, r)).unwrap();
            let py = PYTHON_IDS.contains(&id);
            let _ = writeln!(
                detail,
                "| {id} | {} | {} | {:.2}–{:.2} | {} | {} |",
                time_cell(r),
                fmt_ratio(&s),
                s.min,
                s.max,
                if py { "–".into() } else { instr_cell(id) },
                if py {
                    "–".into()
                } else {
                    instr_ratio(w.name, ev_id, id, applies)
                },
            );
        }
    }

    // Memory.
    let mut memory = String::new();
    let mems = read_jsonl(&extra.join("memory.jsonl"));
    let bpt = |v: &Value| v["bytes_per_task"].as_f64().unwrap_or(f64::NAN);
    let ev_mem = mems.iter().find(|v| v["runtime"] == "evloop").map(bpt);
    let leanest = mems
        .iter()
        .filter(|v| v["runtime"] != "evloop")
        .min_by(|a, b| bpt(a).total_cmp(&bpt(b)));
    if !mems.is_empty() {
        let tasks = mems[0]["tasks"].as_u64().unwrap_or(0);
        let _ = writeln!(
            memory,
            "{tasks} tasks parked on one future, one runtime per process. Bytes per pending task = \
             (RSS with every task parked − RSS before the runtime started) / tasks; it includes \
             the task, its future, the waiter entry in the primitive and the run-queue capacity \
             the spawns left behind. \"After one more turn\": the same, read once the main task \
             has yielded once more with every task still parked. One measurement: RSS does not \
             depend on the machine's load.\n"
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
        if let (Some(e), Some(l)) = (ev_mem, leanest) {
            let _ = writeln!(
                headline,
                "| memory (bytes / pending task) | {e:.0} B | {} {:.0} B | {:.2} | – | – | – | – | {} |",
                l["runtime"].as_str().unwrap_or("?"),
                bpt(l),
                e / bpt(l),
                if e <= bpt(l) { "yes" } else { "**no**" }
            );
        }
    }

    // Instructions per operation (callgrind).
    let mut instructions = String::new();
    if !instr.is_empty() {
        let runtimes = ["evloop", "tokio_ct", "smol_local", "futures_localpool"];
        instructions.push_str(
            "Instructions per operation (one task spawned and joined, one child gathered, one \
             yield, one hand-off, one cross-thread completion, one timer), from `valgrind \
             --tool=callgrind` as (Ir at 2n − Ir at n) / n, so start-up cancels out; n is \
             `callgrind_n` in `bench/src/rows.rs`. They do not depend on the machine's load (the \
             same binary gives the same count to within a few instructions, timers_real to about \
             2 %), and they are blind to what atomics and cache misses cost. The two-worker rows \
             have none: callgrind runs one thread at a time.\n\n\
             | workload | evloop | tokio_ct | smol_local | futures_localpool | evloop / fewest |\n\
             |---|---|---|---|---|---|\n",
        );
        for w in WORKLOADS.iter().filter(|w| w.callgrind_n.is_some()) {
            let get = |rt: &str| instr.get(&(w.name.into(), rt.into())).copied();
            if get("evloop").is_none() {
                continue;
            }
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
            let _ = writeln!(
                instructions,
                "| {} | {} | {ratio} |",
                w.name,
                cells.join(" | ")
            );
        }
    }

    let method = format!(
        "**Ratios are evloop's time / the peer's: below 1.00 evloop is faster.** Wall time comes \
         from {rounds_seen} interleaved rounds (`bench/src/bin/rounds.rs`): every runtime of a \
         workload is set up once and kept, warmed up, and then in each round runs for at least \
         `BENCH_ROUND_MS` (at least one iteration), one runtime after the other in an order \
         rotated by one each round, so that a slow phase of the machine falls on every runtime \
         alike. A runtime's figure for a round is the median of its iterations in that round; a \
         ratio is taken per round and shown as its median over the rounds with the interquartile \
         range in parentheses (min–max in the per-workload tables). Times are medians over the \
         rounds. The instruction ratio beside a time ratio is against the same peer (callgrind, \
         below). The fastest peer is the Rust peer with the lowest median time.\n\n"
    );

    let mut table = String::new();
    table.push_str(&headline);

    let mut out = String::new();
    out.push_str("# evloop benchmark results\n\n");
    out.push_str(
        "Written by `bench/compare` (do not edit by hand; re-run it). Every runtime runs the same \
         workload code (`bench/src/lib.rs`, listed in `bench/src/rows.rs`); CPython is driven \
         through `bench/asyncio_bench.py`.\n\n",
    );
    out.push_str(&machine);
    out.push('\n');
    out.push_str(&method);
    out.push_str("## Headline\n\n");
    out.push_str(&table);
    if !skipped.is_empty() {
        out.push_str("\nNot measured in this run:\n");
        for s in &skipped {
            let _ = writeln!(out, "- {s}");
        }
    }
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
    write_atomically(output, &out);
    println!("wrote {}", output.display());

    if let Some(readme) = readme {
        let text = fs::read_to_string(readme).unwrap_or_else(|e| {
            eprintln!("error: cannot read {}: {e}", readme.display());
            std::process::exit(1);
        });
        let (Some(b), Some(e)) = (text.find(README_BEGIN), text.find(README_END)) else {
            eprintln!(
                "error: {} has no results table markers ({README_BEGIN} … {README_END})",
                readme.display()
            );
            std::process::exit(1);
        };
        let summary = machine_summary(&machine, rounds_seen);
        let new = format!(
            "{}{README_BEGIN}\n{summary}\n\n{table}{}",
            &text[..b],
            &text[e..]
        );
        write_atomically(readme, &new);
        println!("wrote the results table in {}", readme.display());
    }
}

/// One line for the README: when, at which commit, how many rounds, how loaded.
fn machine_summary(machine: &str, rounds: u64) -> String {
    let field = |name: &str| {
        machine
            .lines()
            .find_map(|l| l.strip_prefix(&format!("- {name}: ")))
            .unwrap_or("unknown")
            .to_string()
    };
    format!(
        "Run of {} at commit {}: {rounds} interleaved rounds; load (1/5/15 min) {} at the start, {} \
         at the end{}.",
        field("date"),
        field("evloop commit"),
        field("load at the start (1/5/15 min)"),
        field("load at the end (1/5/15 min)"),
        match field("note").as_str() {
            "unknown" => String::new(),
            note => format!("; {note}"),
        }
    )
}

fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text)
        .and_then(|_| fs::rename(&tmp, path))
        .unwrap_or_else(|e| {
            eprintln!("error: cannot write {}: {e}", path.display());
            std::process::exit(1);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_between_rounds() {
        let s = spread(&[4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
        assert_eq!(
            (s.min, s.q1, s.median, s.q3, s.max),
            (1.0, 2.0, 3.0, 4.0, 5.0)
        );
        let s = spread(&[1.0, 2.0]).unwrap();
        assert_eq!((s.q1, s.median, s.q3), (1.25, 1.5, 1.75));
    }

    #[test]
    fn a_range_straddling_the_target_is_an_edge_decided_on_the_median() {
        let at = |q1, median, q3| Spread {
            median,
            q1,
            q3,
            min: q1,
            max: q3,
        };
        let ok = |x: f64| x <= 1.0;
        assert!(Verdict::of(&at(0.8, 0.9, 0.95), ok) == Verdict::Yes);
        assert!(Verdict::of(&at(0.9, 0.97, 1.05), ok) == Verdict::EdgeYes);
        assert!(Verdict::of(&at(0.95, 1.02, 1.1), ok) == Verdict::EdgeNo);
        assert!(Verdict::of(&at(1.01, 1.1, 1.2), ok) == Verdict::No);
    }

    #[test]
    fn every_workload_says_what_it_does() {
        for w in WORKLOADS {
            assert!(
                !about(w.name).0.is_empty(),
                "{} has no text in `about`",
                w.name
            );
        }
    }

    #[test]
    fn ratios_pair_the_same_round_only() {
        let a: BTreeMap<u64, f64> = [(0, 2.0), (1, 4.0), (2, 6.0)].into();
        let b: BTreeMap<u64, f64> = [(0, 1.0), (2, 3.0)].into();
        assert_eq!(per_round_ratios(&a, &b), vec![2.0, 2.0]);
    }
}
