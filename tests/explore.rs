//! Task-level exploration (`specs/exploration.md`): the loop's own choice points explored on one
//! thread in virtual time, replayed from a token, shrunk.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use evloop::explore::{
    explore, note, try_explore, ChoicePoint, Chooser, Config, Failure, FailureKind,
};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A shared log the program under test writes to; one per run.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        let s = s.into();
        note(&s);
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn quiet(c: Config) -> Config {
    // These tests check exploration itself: an EVLOOP_REPLAY meant for another test must not
    // leak in, and expected failures need no records.
    c.use_env(false).write_record(false)
}

/// Two withdrawals of 80 from 100: `a` checks the balance, then awaits an audit on a thread, then
/// withdraws without checking again. In asyncio's order the audit of `a` lands first, so `a`
/// finishes before `b` looks at the balance; if `b`'s job finishes first, the account goes
/// negative.
async fn check_then_act_across_to_thread() {
    let balance = Arc::new(Mutex::new(100i64));
    let mine = balance.clone();
    let a = evloop::create_task_named("withdraw-a", async move {
        let enough = *mine.lock().unwrap() >= 80;
        evloop::to_thread(|| "audited").await.unwrap();
        if enough {
            *mine.lock().unwrap() -= 80;
        }
    });
    let mine = balance.clone();
    let b = evloop::create_task_named("withdraw-b", async move {
        evloop::to_thread(|| "fetched").await.unwrap();
        let enough = *mine.lock().unwrap() >= 80;
        if enough {
            *mine.lock().unwrap() -= 80;
        }
    });
    a.await.unwrap();
    b.await.unwrap();
    let left = *balance.lock().unwrap();
    assert!(left >= 0, "overdrawn: balance is {left}");
}

/// Hands out ticket numbers in the order the workers start, and assumes the first argument of
/// `gather` gets ticket 0: true in asyncio 3.7+'s FIFO order, not a promise (Python 3.6's gather
/// started its children in arbitrary order).
async fn tickets_assume_gather_start_order() {
    let next = Arc::new(Mutex::new(0u32));
    let worker = |name: &'static str| {
        let next = next.clone();
        async move {
            let mine = {
                let mut n = next.lock().unwrap();
                *n += 1;
                *n - 1
            };
            note(format!("{name} takes ticket {mine}"));
            mine
        }
    };
    let tickets = evloop::gather([worker("alpha"), worker("beta"), worker("gamma")])
        .await
        .unwrap();
    assert_eq!(tickets, vec![0, 1, 2], "alpha must be served first");
}

fn fails<Fut>(config: Config, body: impl Fn() -> Fut) -> Failure
where
    Fut: Future<Output = ()> + Send + 'static,
{
    *try_explore(quiet(config), body).expect_err("exploration should find the bug")
}

/// Spec: EXPLORE-1, EXPLORE-12
#[test]
fn fifo_schedule_runs_items_in_the_production_order() {
    async fn program(log: Log) {
        let lp = evloop::get_running_loop().unwrap();
        let l = log.clone();
        lp.call_soon(move || l.push("callback"));
        let l = log.clone();
        let t = evloop::create_task(async move {
            l.push("task starts");
            evloop::sleep(Duration::ZERO).await;
            l.push("task resumes");
        });
        log.push("main yields");
        evloop::sleep(Duration::from_millis(5)).await;
        log.push("main resumes");
        t.await.unwrap();
    }
    let plain = Log::default();
    evloop::Builder::new()
        .virtual_time(true)
        .run(program(plain.clone()));
    let explored = Log::default();
    let seen = explored.clone();
    let report = explore(quiet(Config::conformance().fifo()), move || {
        program(seen.clone())
    });
    assert_eq!(explored.take(), plain.take());
    assert_eq!(report.runs, 1);
    assert!(report.exhausted);
}

/// Spec: EXPLORE-2, EXPLORE-7
#[test]
fn dfs_enumerates_every_order_of_three_ready_tasks_within_its_bound() {
    let program = || async {
        let a = evloop::create_task(async { note("a") });
        let b = evloop::create_task(async { note("b") });
        let c = evloop::create_task(async { note("c") });
        a.await.unwrap();
        b.await.unwrap();
        c.await.unwrap();
    };
    // One batch [a, b, c]: a 3-way then a 2-way choice. k = 0: FIFO only; k = 1: FIFO, start with
    // b, start with c, or swap the last two; k = 2: all 3! orders.
    for (k, expected) in [(0, 1), (1, 4), (2, 6), (3, 6)] {
        let report = explore(quiet(Config::robustness().dfs(k)), program);
        assert_eq!(report.runs, expected, "k = {k}");
        assert_eq!(report.distinct_schedules, expected, "k = {k}");
        assert_eq!(report.distinct_timelines, expected, "k = {k}");
        assert!(report.exhausted);
    }
}

/// Spec: EXPLORE-2, EXPLORE-6, EXPLORE-13
#[test]
fn gathered_coroutines_start_in_any_order_but_results_follow_argument_order() {
    let orders: Arc<Mutex<BTreeSet<Vec<String>>>> = Default::default();
    let seen = orders.clone();
    let report = explore(quiet(Config::robustness().dfs(5)), move || {
        let seen = seen.clone();
        async move {
            let log = Log::default();
            let coroutine = |name: &'static str| {
                let log = log.clone();
                async move {
                    log.push(name);
                    evloop::sleep(Duration::from_secs(1)).await;
                    name.to_string()
                }
            };
            let results = evloop::gather([
                coroutine("coroutine1"),
                coroutine("coroutine2"),
                coroutine("coroutine3"),
            ])
            .await
            .unwrap();
            assert_eq!(results, ["coroutine1", "coroutine2", "coroutine3"]);
            seen.lock().unwrap().insert(log.take());
        }
    });
    assert!(report.exhausted);
    assert_eq!(
        orders.lock().unwrap().len(),
        6,
        "every start order is explored"
    );
    assert!(report.distinct_schedules > report.distinct_timelines);
}

/// Spec: EXPLORE-5
#[test]
fn conformance_mode_keeps_asyncio_fifo_order() {
    let report = explore(quiet(Config::conformance().dfs(3)), || async {
        let log = Log::default();
        let names = ["coroutine1", "coroutine2", "coroutine3"];
        let out = evloop::gather(names.map(|n| {
            let log = log.clone();
            async move {
                log.push(n);
                n
            }
        }))
        .await
        .unwrap();
        assert_eq!(log.take(), names);
        assert_eq!(out, names);
    });
    assert_eq!(report.runs, 1, "no choice point is open without threads");
    assert!(report.exhausted);
}

/// Spec: EXPLORE-4, EXPLORE-5
#[test]
fn check_then_act_across_to_thread_is_caught_in_conformance_mode() {
    // A plain run, and exploration's FIFO schedule, pass.
    evloop::Builder::new()
        .virtual_time(true)
        .max_threads(1)
        .run(check_then_act_across_to_thread());
    explore(
        quiet(Config::conformance().fifo()),
        check_then_act_across_to_thread,
    );
    let f = fails(
        Config::conformance().dfs(1),
        check_then_act_across_to_thread,
    );
    assert_eq!(f.kind, FailureKind::Panic);
    assert!(f.message.contains("overdrawn"), "{}", f.message);
    assert_eq!(f.deviations, 1);
    let b_job = f
        .timeline
        .iter()
        .position(|l| l.contains("job #2 runs"))
        .unwrap();
    let a_job = f
        .timeline
        .iter()
        .position(|l| l.contains("job #1 runs"))
        .unwrap();
    assert!(
        b_job < a_job,
        "the failing story: b's job finishes first\n{f}"
    );
}

/// Spec: EXPLORE-2, EXPLORE-6
#[test]
fn gather_start_order_bug_is_caught_in_robustness_mode_only() {
    evloop::run(tickets_assume_gather_start_order());
    explore(
        quiet(Config::conformance().dfs(3)),
        tickets_assume_gather_start_order,
    );
    let f = fails(
        Config::robustness().dfs(1),
        tickets_assume_gather_start_order,
    );
    assert!(f.message.contains("alpha must be served first"), "{f}");
    assert_eq!(f.deviations, 1);
}

/// Spec: EXPLORE-8
#[test]
fn token_replays_the_same_failure_and_timeline() {
    let f = fails(
        Config::conformance().dfs(2),
        check_then_act_across_to_thread,
    );
    assert!(f.token.starts_with("v1:"), "{}", f.token);
    for _ in 0..2 {
        let again = fails(
            Config::conformance().replay(f.token.clone()),
            check_then_act_across_to_thread,
        );
        assert_eq!(again.kind, f.kind);
        assert_eq!(again.message, f.message);
        assert_eq!(again.timeline, f.timeline);
        assert_eq!(again.token, f.token);
    }
    // The line as printed (with its prefix) is accepted too.
    let again = fails(
        Config::conformance().replay(format!("EVLOOP_REPLAY={}", f.token)),
        check_then_act_across_to_thread,
    );
    assert_eq!(again.timeline, f.timeline);
}

/// Spec: EXPLORE-8, EXPLORE-18
#[test]
fn token_from_another_version_is_refused_with_a_clear_error() {
    let f = fails(
        Config::conformance().dfs(2),
        check_then_act_across_to_thread,
    );
    let mut fields: Vec<&str> = f.token.split(':').collect();
    fields[1] = "0.0.1";
    let old = fails(
        Config::conformance().replay(fields.join(":")),
        check_then_act_across_to_thread,
    );
    assert_eq!(old.kind, FailureKind::Config);
    assert!(old.message.contains("made by evloop 0.0.1"), "{old}");
    assert!(old.message.contains("get a new token"), "{old}");
    assert_eq!(old.coverage.runs, 0, "an old token must not run");

    fields[0] = "v9";
    let newer = fails(
        Config::conformance().replay(fields.join(":")),
        check_then_act_across_to_thread,
    );
    assert_eq!(newer.kind, FailureKind::Config);
    assert!(newer.message.contains("uses token format v9"), "{newer}");
    assert_eq!(newer.coverage.runs, 0, "an unknown format must not run");
}

/// Spec: EXPLORE-8
#[test]
fn replay_of_a_changed_program_is_reported_as_divergence() {
    let f = fails(
        Config::conformance().dfs(2),
        check_then_act_across_to_thread,
    );
    let changed = || async {
        note("an extra line the token never saw");
        check_then_act_across_to_thread().await;
    };
    let d = fails(Config::conformance().replay(f.token.clone()), changed);
    assert_eq!(d.kind, FailureKind::Diverged);
    assert!(d.message.contains("overdrawn"), "{}", d.message);
}

/// The child of `printed_replay_command_reproduces_the_failure`: the buggy program under
/// `explore`, as a user would write it.
///
/// Spec: EXPLORE-8
#[test]
#[ignore = "run by printed_replay_command_reproduces_the_failure with EVLOOP_REPLAY set"]
fn replay_child() {
    explore(
        Config::conformance().write_record(false),
        check_then_act_across_to_thread,
    );
}

/// Spec: EXPLORE-8, EXPLORE-14
#[test]
fn printed_replay_command_reproduces_the_failure() {
    let f = fails(
        Config::conformance().dfs(2),
        check_then_act_across_to_thread,
    );
    assert!(
        f.replay_command.starts_with(&format!(
            "EVLOOP_REPLAY='{}' cargo test --test explore",
            f.token
        )),
        "{}",
        f.replay_command
    );
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "replay_child", "--ignored", "--test-threads=1"])
        .env("EVLOOP_REPLAY", &f.token)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("EVLOOP_REPLAY={}", f.token)),
        "{text}"
    );
    assert!(text.contains("replay(v1:"), "{text}");
    // The same events; only the main task's creation site (the `explore` call) differs.
    for line in f.timeline.iter().filter(|l| !l.contains("Task-1")) {
        assert!(text.contains(line.as_str()), "{line} missing in {text}");
    }
}

/// Spec: EXPLORE-11, EXPLORE-15
#[test]
fn random_failures_shrink_to_the_fewest_deviations() {
    // Noise tasks give random schedules many deviations; the bug needs only one.
    let program = || async {
        let noise: Vec<_> = (0..4)
            .map(|i| {
                evloop::create_task(async move {
                    for _ in 0..3 {
                        evloop::sleep(Duration::ZERO).await;
                    }
                    i
                })
            })
            .collect();
        tickets_assume_gather_start_order().await;
        for t in noise {
            t.await.unwrap();
        }
    };
    let f = fails(Config::robustness().random(7, 200), program);
    let (before, _) = f.shrunk_from.expect("random failures are shrunk");
    assert!(before > 1, "random took {before} deviation(s)");
    assert_eq!(f.deviations, 1, "{f}");
    assert!(f.seed.is_some());
    // The same seed finds the same failure.
    let again = fails(Config::robustness().random(7, 200), program);
    assert_eq!(again.token, f.token);
    // PCT finds it too.
    let pct = fails(Config::robustness().pct(3, 2, 200), program);
    assert_eq!(pct.deviations, 1, "{pct}");
}

/// Spec: EXPLORE-9
#[test]
fn deadlock_names_each_pending_task() {
    let f = fails(Config::conformance().fifo(), || async {
        let lp = evloop::get_running_loop().unwrap();
        let never: evloop::LoopFuture<u32> = lp.create_future();
        let waiter = evloop::create_task_named("waiter", never);
        waiter.await.unwrap().unwrap();
    });
    assert_eq!(f.kind, FailureKind::Deadlock);
    let names: Vec<&str> = f.pending.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"waiter"), "{names:?}");
    assert_eq!(f.pending.len(), 2, "main and waiter");
    assert!(f.pending.iter().all(|t| t.created_at.file() == file!()));
    assert!(f.to_string().contains("waiter (id"), "{f}");
    let main = f.pending.iter().find(|t| t.name != "waiter").unwrap();
    let waits = |id: u64| f.awaits.iter().find(|(t, _)| *t == id).unwrap().1.clone();
    assert!(waits(main.id).starts_with("awaits task waiter"), "{f}");
    let waiter = f.pending.iter().find(|t| t.name == "waiter").unwrap();
    assert!(waits(waiter.id).contains("not a task"), "{f}");
    assert!(
        f.timeline
            .iter()
            .any(|l| l.contains("deadlock: nothing ready")),
        "{f}"
    );
}

/// Spec: EXPLORE-10
#[test]
fn livelock_is_reported_after_the_turn_bound() {
    let f = fails(Config::conformance().fifo().max_turns(50), || async {
        let spinner = evloop::create_task_named("spinner", async {
            loop {
                evloop::sleep(Duration::ZERO).await;
            }
        });
        spinner.await.unwrap();
    });
    assert_eq!(f.kind, FailureKind::Livelock);
    assert!(f.message.contains("50 loop turns"), "{}", f.message);
    assert!(f.pending.iter().any(|t| t.name == "spinner"));
}

/// Spec: EXPLORE-4, EXPLORE-3
#[test]
fn to_thread_results_race_timers_and_each_other() {
    let orders: Arc<Mutex<BTreeSet<Vec<String>>>> = Default::default();
    let seen = orders.clone();
    let report = explore(quiet(Config::conformance().dfs(2)), move || {
        let seen = seen.clone();
        async move {
            let log = Log::default();
            let l = log.clone();
            let timer = evloop::create_task(async move {
                evloop::sleep(Duration::from_millis(10)).await;
                l.push("timer");
            });
            let l = log.clone();
            let job = evloop::create_task(async move {
                evloop::to_thread(|| ()).await.unwrap();
                l.push("job");
            });
            timer.await.unwrap();
            job.await.unwrap();
            seen.lock().unwrap().insert(log.take());
        }
    });
    let orders = orders.lock().unwrap();
    assert!(orders.contains(&vec!["job".to_string(), "timer".to_string()]));
    assert!(orders.contains(&vec!["timer".to_string(), "job".to_string()]));
    assert!(report.exhausted);
}

/// Spec: EXPLORE-14
#[test]
fn failure_record_is_written_as_json() {
    let f = *try_explore(
        Config::conformance()
            .dfs(1)
            .use_env(false)
            .name("explore_record_check"),
        check_then_act_across_to_thread,
    )
    .unwrap_err();
    let path = f.record.clone().expect("a record was written");
    assert!(path.ends_with("evloop-failures/explore_record_check.json"));
    let json = std::fs::read_to_string(path).unwrap();
    for field in [
        "\"test\": \"explore_record_check\"",
        "\"mode\": \"conformance\"",
        &format!("\"token\": \"{}\"", f.token),
        "\"timeline\": [",
        "\"pending_tasks\": []",
        "\"kind\": \"panic\"",
    ] {
        assert!(json.contains(field), "{field} missing in\n{json}");
    }
}

/// Spec: EXPLORE-8
#[test]
fn replay_only_limits_the_token_to_the_named_exploration() {
    let f = fails(
        Config::conformance().dfs(2),
        check_then_act_across_to_thread,
    );
    let child_with = |token: &str, only: &str| {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "replay_child", "--ignored", "--test-threads=1"])
            .env("EVLOOP_REPLAY", token)
            .env("EVLOOP_REPLAY_ONLY", only)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    // The child explores with its own strategy (DFS, k = 2 by default) when the token is not
    // for it, and replays when it is.
    let child = |only: &str| child_with(&f.token, only);
    assert!(child("some_other_test").contains("dfs(k = 2)"));
    assert!(child("replay_child").contains("replay(v1:"));
    // Any value, even one for the model checkers' harness, is for the named exploration only.
    assert!(child_with("random:2a", "some_other_test").contains("dfs(k = 2)"));
}

/// Spec: EXPLORE-3, EXPLORE-7
#[test]
fn a_job_result_can_land_at_the_start_of_any_turn() {
    let positions: Arc<Mutex<BTreeSet<usize>>> = Default::default();
    let seen = positions.clone();
    let report = explore(quiet(Config::conformance().dfs(1)), move || {
        let seen = seen.clone();
        async move {
            let log = Log::default();
            let l = log.clone();
            let ticker = evloop::create_task(async move {
                for i in 0..3 {
                    l.push(format!("tick {i}"));
                    evloop::sleep(Duration::ZERO).await;
                }
            });
            let l = log.clone();
            let job = evloop::create_task(async move {
                evloop::to_thread(|| ()).await.unwrap();
                l.push("job result");
            });
            ticker.await.unwrap();
            job.await.unwrap();
            let order = log.take();
            let at = order.iter().position(|e| e == "job result").unwrap();
            seen.lock().unwrap().insert(at);
        }
    });
    // FIFO delivers the job only when nothing else is ready (after the last tick); one deviation
    // lets it land at the start of an earlier turn, behind the ticker's step already queued for
    // that turn (position 1 would need the ready order itself to change: robustness mode).
    assert_eq!(*positions.lock().unwrap(), BTreeSet::from([2, 3]));
    assert!(report.exhausted);
    let capped = explore(quiet(Config::conformance().dfs(1).max_runs(2)), || async {
        let t = evloop::create_task(async {
            evloop::sleep(Duration::ZERO).await;
        });
        evloop::to_thread(|| ()).await.unwrap();
        t.await.unwrap();
    });
    assert_eq!(capped.runs, 2);
    assert!(!capped.exhausted);
}

/// Always the last option: LIFO where FIFO takes the first.
struct Last;

impl Chooser for Last {
    fn choose(&mut self, point: &ChoicePoint<'_>) -> usize {
        point.keys.len() - 1
    }
}

/// Spec: EXPLORE-1, EXPLORE-8
#[test]
fn a_chooser_of_your_own_answers_every_choice_point() {
    let f = fails(
        Config::robustness()
            .custom(1, |_| Box::new(Last))
            .shrink_budget(0),
        tickets_assume_gather_start_order,
    );
    let served: Vec<&str> = f
        .timeline
        .iter()
        .filter_map(|l| l.split("note: ").nth(1))
        .map(|n| n.split(' ').next().unwrap())
        .collect();
    assert_eq!(served, ["gamma", "beta", "alpha"], "{f}");
    assert!(f.strategy.starts_with("custom"));
    let again = fails(
        Config::robustness().replay(f.token.clone()),
        tickets_assume_gather_start_order,
    );
    assert_eq!(again.timeline, f.timeline);
}

/// Always the last option, saying so in the timeline.
struct NotingLast;

impl Chooser for NotingLast {
    fn choose(&mut self, point: &ChoicePoint<'_>) -> usize {
        let chosen = point.keys.len() - 1;
        note(format_args!(
            "chooser took option {chosen} of {}",
            point.keys.len()
        ));
        chosen
    }
}

/// A chooser of your own is user code: it runs with none of the explorer's locks held, so it may
/// call `note` (which takes them) without hanging its run.
/// Spec: EXPLORE-1
#[test]
fn a_chooser_of_your_own_may_write_notes() {
    let f = fails(
        Config::robustness()
            .custom(1, |_| Box::new(NotingLast))
            .shrink_budget(0),
        tickets_assume_gather_start_order,
    );
    assert!(
        f.timeline
            .iter()
            .any(|l| l.contains("note: chooser took option")),
        "{f}"
    );
}

/// What a failed exploration prints, from `Config::replay` or `EVLOOP_REPLAY`, and must not run:
/// empty, blank, cut short, mistyped, out of bounds.
fn malformed_tokens() -> Vec<String> {
    let v = env!("CARGO_PKG_VERSION");
    let zero = "0000000000000000";
    [
        "".to_owned(),
        "   ".to_owned(),
        "v".to_owned(),
        "v1".to_owned(),
        "v1:".to_owned(),
        format!("v1:{v}:r"),
        format!("v1:{v}:r:3=1,7=2"),
        format!("V1:{v}:r:-:{zero}"),
        format!("vv1:{v}:r:-:{zero}"),
        format!("v1:{v}:x:-:{zero}"),
        format!("v1:{v}:r::{zero}"),
        format!("v1:{v}:r:3=0:{zero}"),
        format!("v1:{v}:r:7=1,3=1:{zero}"),
        format!("v1:{v}:r:3=1,:{zero}"),
        format!("v1:{v}:r:+3=1:{zero}"),
        format!("v1:{v}:r:-:0000"),
        format!("v1:{v}:r:-:zzzzzzzzzzzzzzzz"),
        // Once a dense vector as long as the number (the process aborted) ...
        format!("v1:{v}:r:99999999999999=1:{zero}"),
        // ... and an index overflow.
        format!("v1:{v}:r:18446744073709551615=1:{zero}"),
        format!("v1:{v}:r:3=18446744073709551615:{zero}"),
    ]
    .into()
}

/// The shape every refusal names.
const SHAPE: &str = "expected `v1:<evloop version>:<c|r>:<deviations>:<hash>`";

/// Spec: EXPLORE-17, EXPLORE-18
#[test]
fn malformed_replay_tokens_are_one_clear_error_naming_the_value() {
    for token in malformed_tokens() {
        let f = fails(Config::conformance().replay(token.clone()), || async {
            panic!("a malformed token must not run the body");
        });
        assert_eq!(f.kind, FailureKind::Config, "{token:?}: {f}");
        assert_eq!(f.coverage.runs, 0, "{token:?}");
        assert!(
            (f.token.is_empty() && f.replay_command.is_empty()),
            "{token:?}"
        );
        let quoted = format!("Config::replay({token:?})");
        assert!(f.message.contains(&quoted), "{quoted} not named in: {f}");
        assert!(f.message.contains(SHAPE), "{f}");
        assert!(!f.message.contains('\n'), "one line: {f}");
        assert!(f.to_string().starts_with(&f.message), "{f}");
    }
}

/// The model-check harness's shuttle tokens, as its failures print them.
const SHUTTLE_TOKENS: [&str; 2] = ["random:000000000000002a", "pct:3:594:3a6371e877c6d6ab"];

/// Spec: EXPLORE-17
#[test]
fn a_shuttle_token_is_named_as_the_model_check_harness_s() {
    for token in SHUTTLE_TOKENS {
        for text in [token.to_owned(), format!("EVLOOP_REPLAY='{token}'")] {
            let f = fails(Config::conformance().replay(text.clone()), || async {});
            assert_eq!(f.kind, FailureKind::Config, "{f}");
            assert!(f.message.contains(&format!("{text:?}")), "{f}");
            assert!(f.message.contains("shuttle replay token"), "{f}");
            assert!(f.message.contains("cargo test --features shuttle"), "{f}");
            assert!(!f.message.contains('\n'), "one line: {f}");
        }
    }
}

/// Spec: EXPLORE-17, EXPLORE-18
#[test]
fn a_bad_evloop_replay_is_one_error_at_the_caller_not_a_fresh_run() {
    let mut values = malformed_tokens();
    values.extend(SHUTTLE_TOKENS.map(String::from));
    for value in values {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "replay_child", "--ignored", "--test-threads=1"])
            .env("EVLOOP_REPLAY", &value)
            .env_remove("EVLOOP_REPLAY_ONLY")
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        // A test failure (exit code 101), not an abort by a signal or a failed allocation.
        assert_eq!(out.status.code(), Some(101), "{value:?}: {text}");
        assert!(
            !text.contains("dfs(k = 2)"),
            "{value:?} ran a fresh exploration: {text}"
        );
        let at = text.find("panicked at ").expect("the child panicked");
        assert!(
            text[at..].starts_with(&format!("panicked at {}:", file!())),
            "{value:?}: the panic must point at the caller: {text}"
        );
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("evloop explore:"))
            .collect();
        assert_eq!(errors.len(), 1, "{value:?}: {text}");
        assert!(
            errors[0].contains(&format!("EVLOOP_REPLAY={value:?}")),
            "{text}"
        );
        if value.contains(":0000000000000000") || value.starts_with(['v', 'V']) {
            assert!(errors[0].contains(SHAPE), "{text}");
        }
    }
}

/// Spec: EXPLORE-18
#[test]
fn exploring_inside_a_running_loop_is_a_configuration_error() {
    evloop::run(async {
        let f = *try_explore(quiet(Config::conformance()), || async {}).unwrap_err();
        assert_eq!(f.kind, FailureKind::Config, "{f}");
        assert!(f.message.contains("inside a running loop"), "{f}");
    });
}

/// Answers one past the last option.
struct OutOfRange;

impl Chooser for OutOfRange {
    fn choose(&mut self, point: &ChoicePoint<'_>) -> usize {
        point.keys.len()
    }
}

/// Spec: EXPLORE-20
#[test]
fn a_chooser_answering_out_of_range_is_a_configuration_error() {
    let f = fails(
        Config::robustness().custom(3, |_| Box::new(OutOfRange)),
        tickets_assume_gather_start_order,
    );
    assert_eq!(f.kind, FailureKind::Config, "{f}");
    assert!(
        f.message
            .contains("answered 3 at choice point #0 (ready), which has 3 option(s)"),
        "{f}"
    );
    // Not a failing schedule: nothing to shrink or replay, and the first run stopped there.
    assert!(f.token.is_empty() && f.replay_command.is_empty(), "{f}");
    assert_eq!((f.shrunk_from, f.coverage.runs), (None, 1));
    let panic = std::panic::catch_unwind(|| {
        explore(
            quiet(Config::robustness().custom(1, |_| Box::new(OutOfRange))),
            tickets_assume_gather_start_order,
        )
    })
    .expect_err("explore panics with the error");
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.contains("which has 3 option(s)"), "{msg}");
}

/// Strings near a token: its pieces in any order, cut anywhere, with stray text.
fn near_token() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("v1".to_owned()),
        Just(env!("CARGO_PKG_VERSION").to_owned()),
        Just("c".to_owned()),
        Just("r".to_owned()),
        Just("-".to_owned()),
        Just(":".to_owned()),
        Just(",".to_owned()),
        Just("=".to_owned()),
        Just("'".to_owned()),
        Just("EVLOOP_REPLAY=".to_owned()),
        Just("random:".to_owned()),
        Just("18446744073709551615".to_owned()),
        "[0-9]{1,12}",
        "[0-9a-f]{16}",
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

/// A program with ready-order choice points that always fails, so every schedule prints a token.
async fn always_fails_after_some_choices() {
    let out = evloop::gather([1, 2, 3].map(|n| async move {
        note(format!("child {n}"));
        evloop::sleep(Duration::ZERO).await;
        n
    }))
    .await
    .unwrap();
    panic!("fails after {out:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary text given as a token is refused with one message, or replayed: never a panic,
    /// an abort, or a fresh exploration.
    ///
    /// Spec: EXPLORE-19, EXPLORE-17
    #[test]
    fn any_text_given_as_a_replay_token_is_refused_or_replayed(
        text in prop_oneof![any::<String>(), near_token()],
    ) {
        match try_explore(quiet(Config::conformance().replay(text.clone())), || async {}) {
            Ok(report) => prop_assert_eq!(report.runs, 1),
            Err(f) if f.kind == FailureKind::Config => {
                prop_assert_eq!(f.coverage.runs, 0);
                prop_assert!(f.message.starts_with("evloop explore: "), "{}", f);
            }
            Err(f) => {
                prop_assert_eq!(f.kind, FailureKind::Diverged, "{}", f);
                prop_assert_eq!(f.coverage.runs, 1);
            }
        }
    }

    /// Every token a failure prints replays that schedule and prints itself again, also given as
    /// the printed line or the shell command's quoted word.
    ///
    /// Spec: EXPLORE-19, EXPLORE-8
    #[test]
    fn every_printed_token_replays_to_itself(seed in any::<u64>()) {
        let config = Config::robustness().random(seed, 1).shrink_budget(0);
        let f = fails(config, always_fails_after_some_choices);
        for text in [
            f.token.clone(),
            format!("EVLOOP_REPLAY={}", f.token),
            format!("EVLOOP_REPLAY='{}'", f.token),
            format!("'{}'", f.token),
            format!(" {}\n", f.token),
        ] {
            let again = fails(Config::robustness().replay(text), always_fails_after_some_choices);
            prop_assert_eq!(again.kind, FailureKind::Panic, "{}", again);
            prop_assert_eq!(&again.token, &f.token);
            prop_assert_eq!(&again.timeline, &f.timeline);
        }
    }
}

/// Spec: EXPLORE-21
#[test]
fn a_future_resolved_from_an_outside_thread_is_waited_for_not_a_deadlock() {
    let report = explore(quiet(Config::conformance().random(1, 3)), || async {
        let fut = evloop::LoopFuture::<u32>::new();
        let resolver = fut.resolver();
        // A thread the program starts itself: the explorer neither runs nor sees it.
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            resolver.resolve(7).unwrap();
        });
        assert_eq!(fut.await.unwrap(), 7);
    });
    assert_eq!(report.runs, 3);
}

/// Spec: EXPLORE-21
#[test]
fn a_resolver_an_outside_thread_never_uses_is_reported_as_waiting_on_it() {
    // The threads hold their resolvers until this test lets them go.
    let release: Arc<Mutex<Vec<std::sync::mpsc::Sender<()>>>> = Default::default();
    let senders = release.clone();
    let f = fails(
        Config::conformance()
            .fifo()
            .outside_thread_wait(Duration::from_millis(50)),
        move || {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            senders.lock().unwrap().push(tx);
            async move {
                let fut = evloop::LoopFuture::<u32>::new();
                let resolver = fut.resolver();
                std::thread::spawn(move || {
                    let _ = rx.recv();
                    drop(resolver);
                });
                fut.await.unwrap();
            }
        },
    );
    release.lock().unwrap().clear();
    assert_eq!(f.kind, FailureKind::OutsideThread, "{f}");
    assert!(
        f.to_string().contains("waiting on an outside thread"),
        "{f}"
    );
    assert!(f.message.contains("1 Resolver(s) are still alive"), "{f}");
    assert_eq!(f.pending.len(), 1, "main: {f}");
    assert_eq!(f.shrunk_from, None, "real time is not shrunk");
}

/// A program whose gathered children may start in either order, and which panics unless `a`
/// started first: some schedules panic in a task (caught by the loop), then in main.
async fn panics_unless_a_starts_first() {
    let first = evloop::LoopFuture::new(); // the first `set_result` wins
    let child = |n: &'static str| {
        let f = first.clone();
        async move {
            let _ = f.set_result(n);
        }
    };
    evloop::gather([child("a"), child("b")]).await.unwrap();
    let started = first.await.unwrap();
    let check = evloop::create_task(async move { assert_eq!(started, "a", "b started first") });
    check.await.unwrap();
}

/// The child of `the_explorer_installs_a_panic_hook_only_when_the_config_asks`: one thread, its
/// own panic hook, so that what replaces the process's hook, and which panics reach it, is seen.
///
/// Spec: EXPLORE-22
#[test]
#[ignore = "run by the_explorer_installs_a_panic_hook_only_when_the_config_asks in a process of its own"]
fn panic_hook_child() {
    use std::panic::{set_hook, take_hook};
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    // A hook that captures something has an allocation of its own, so its address names it.
    let marker = Arc::new(());
    let ours: Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> = Box::new(move |info| {
        let _ = &marker;
        SEEN.fetch_add(1, Ordering::SeqCst);
        eprintln!("the child's hook: {info}");
    });
    let address = &*ours as *const _ as *const ();
    set_hook(ours);
    let hook_is_ours = || {
        let hook = take_hook();
        let same = std::ptr::eq(&*hook as *const _ as *const (), address);
        set_hook(hook);
        same
    };
    let seen = || SEEN.load(Ordering::SeqCst);

    // A plain run and joint mode never touch the hook; the task's panic reaches it.
    let _ = evloop::run(async {
        evloop::create_task(async { panic!("in a plain run") })
            .await
            .unwrap_err()
    });
    assert_eq!((seen(), hook_is_ours()), (1, true), "evloop::run");
    evloop::explore::joint(evloop::explore::Mode::Conformance, || async {
        evloop::create_task(async { panic!("in joint mode") })
            .await
            .unwrap_err();
    });
    assert_eq!((seen(), hook_is_ours()), (2, true), "joint");

    // Asked not to, an exploration leaves the hook alone: every schedule's panics reach it.
    let off = quiet(Config::robustness()).quiet_panics(false);
    let f = fails(off, panics_unless_a_starts_first);
    assert!(
        hook_is_ours(),
        "an exploration with quiet_panics(false) replaced the hook"
    );
    assert!(
        seen() >= 4,
        "a panicking schedule's two panics reach the hook: {}",
        seen()
    );
    assert!(f.message.contains("b started first"), "{f}");
    assert!(
        !f.message.contains(" (at "),
        "only a hook sees the location: {f}"
    );
    assert!(!f.timeline.iter().any(|l| l.contains("panic:")), "{f}");

    // By default (the caller asked for an exploration) its panics are recorded, not printed.
    let before = seen();
    let f = fails(quiet(Config::robustness()), panics_unless_a_starts_first);
    assert_eq!(
        seen(),
        before,
        "a recorded panic reached the process's hook"
    );
    assert!(f.message.contains("b started first"), "{f}");
    assert!(f.message.contains(&format!(" (at {}:", file!())), "{f}");
    assert!(f.timeline.iter().any(|l| l.contains("panic:")), "{f}");
    assert!(!hook_is_ours(), "the default exploration installs its hook");
}

/// Spec: EXPLORE-22
#[test]
fn the_explorer_installs_a_panic_hook_only_when_the_config_asks() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "panic_hook_child",
            "--ignored",
            "--test-threads=1",
        ])
        .env_remove("EVLOOP_REPLAY")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran: {text}");
}
