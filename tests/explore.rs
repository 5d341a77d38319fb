//! Task-level exploration (`specs/exploration.md`): the loop's own choice points explored on one
//! thread in virtual time, replayed from a token, shrunk.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use evloop::explore::{
    explore, note, try_explore, ChoicePoint, Chooser, Config, Failure, FailureKind,
};
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

/// Spec: EXPLORE-8
#[test]
fn token_from_another_version_is_refused_with_a_clear_error() {
    let f = fails(
        Config::conformance().dfs(2),
        check_then_act_across_to_thread,
    );
    let mut fields: Vec<&str> = f.token.split(':').collect();
    fields[1] = "0.0.1";
    let old = fields.join(":");
    let err = std::panic::catch_unwind(|| {
        try_explore(
            quiet(Config::conformance().replay(old)),
            check_then_act_across_to_thread,
        )
    })
    .expect_err("an old token must not run");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("made by evloop 0.0.1"), "{msg}");
    assert!(msg.contains("get a new token"), "{msg}");

    fields[0] = "v9";
    let err = std::panic::catch_unwind(|| {
        try_explore(
            quiet(Config::conformance().replay(fields.join(":"))),
            check_then_act_across_to_thread,
        )
    })
    .expect_err("an unknown format must not run");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("uses format v9"), "{msg}");
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
    // A shuttle token for the model checkers' harness is not ours either.
    assert!(child_with("random:0x2a", "replay_child").contains("dfs(k = 2)"));
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
