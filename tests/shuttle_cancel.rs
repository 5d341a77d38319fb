//! shuttle: a cancellation unwinding a chain of tasks (A awaits B awaits C) spread over one to
//! three workers, each level catching it or not, with cleanup that awaits (specs/cancellation.md).
#![cfg(feature = "shuttle")]

use evloop::{catch_cancel, Builder, LoopFuture, Task, TaskError};
use evloop_check::Options;
use evloop_model::rand::scheduler_choice;
use evloop_model::sync::{Arc, Mutex};
use evloop_model::thread;
use std::future::Future;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);
const SEC: Duration = Duration::from_secs(1);

/// What one level of the chain does with a cancellation that reaches its await.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Catches it, cleans up with an await, returns a value: the task ends normally.
    Recover,
    /// Catches it, cleans up, and raises it again: no scope is left, the task ends cancelled.
    Raise,
    /// Catches it, cleans up, and returns it through `?`: the task ends cancelled (CANCEL-8).
    Escape,
    /// No scope: the future is dropped at its await (CANCEL-1).
    Bare,
}

const MODES: [Mode; 4] = [Mode::Recover, Mode::Raise, Mode::Escape, Mode::Bare];

/// How a task ended, as plain data (a `Cancelled` kept by the main task would count as its own,
/// CANCEL-8).
#[derive(Debug, Clone, PartialEq)]
enum End {
    Returned(String),
    Cancelled(Option<String>),
    Failed(String),
}

type Output = Result<String, TaskError>;

fn end(out: Result<Output, TaskError>) -> End {
    match out {
        Ok(Ok(v)) => End::Returned(v),
        Err(TaskError::Cancelled(c)) => End::Cancelled(c.message().map(str::to_owned)),
        Ok(Err(e)) | Err(e) => End::Failed(e.to_string()),
    }
}

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, entry: String) {
    log.lock().push(entry);
}

/// Logs `<name> ends` when the level's future is dropped: when it returns, or where a
/// cancellation drops it (Rust's `finally`).
struct Ends(&'static str, Log);

impl Drop for Ends {
    fn drop(&mut self) {
        push(&self.1, format!("{} ends", self.0));
    }
}

/// One level: awaits `inner` in the way `mode` says, and returns `<name>(<inner's value>)` when
/// the inner level gives a value.
async fn level(
    name: &'static str,
    mode: Mode,
    inner: impl Future<Output = Output> + Send + 'static,
    log: Log,
) -> Output {
    push(&log, format!("{name} starts"));
    let _ends = Ends(name, log.clone());
    if mode == Mode::Bare {
        return inner.await.map(|v| format!("{name}({v})"));
    }
    match catch_cancel(inner).await {
        Ok(r) => r.map(|v| format!("{name}({v})")),
        Err(c) => {
            push(&log, format!("{name} caught {}", c.message().unwrap_or("")));
            evloop::sleep(Duration::ZERO).await;
            push(&log, format!("{name} cleaned up"));
            match mode {
                Mode::Recover => Ok(format!("{name} recovered")),
                Mode::Raise => c.raise().await,
                Mode::Escape => Err(c.into()),
                Mode::Bare => unreachable!(),
            }
        }
    }
}

/// What the chain must do, worked out from the modes and from which levels started before the
/// cancellation reached them (a level cancelled before its first step runs none of its code,
/// CANCEL-2, and hands nothing down). Levels are innermost first: C, B, A.
struct Expected {
    /// Each level's own log entries after `starts`, in order.
    entries: [Vec<String>; 3],
    ends: [End; 3],
    /// Requests counted against each level (CANCEL-3).
    cancelling: [u32; 3],
}

const NAMES: [&str; 3] = ["c", "b", "a"];

/// A log entry of level `name` after its start.
fn after_start(entry: &str, name: &str) -> bool {
    entry
        .strip_prefix(name)
        .is_some_and(|rest| rest.starts_with(' ') && rest != " starts")
}

fn expected(modes: [Mode; 3], started: [bool; 3], b_via_gather: bool) -> Expected {
    // Outermost first: the cancellation reaches A, and goes down while each level it reaches has
    // started (it is then parked on the next one in, CANCEL-6).
    let mut reached = [false; 3];
    let mut down = true;
    for i in (0..3).rev() {
        reached[i] = down;
        down = down && started[i];
    }
    let stop = || End::Cancelled(Some("stop".to_owned()));
    let mut entries: [Vec<String>; 3] = Default::default();
    let mut ends: [End; 3] = [stop(), stop(), stop()];
    // What the level below hands up: its value, or `None` when it ended cancelled by the
    // cancellation (which then comes up as this level's own).
    let mut below: Option<String> = Some("slept".to_owned());
    for i in 0..3 {
        let name = NAMES[i];
        let mine = &mut entries[i];
        // Through a gather the cancellation comes back whatever the children did with theirs
        // (GATHER-10).
        let via_gather = i == 1 && b_via_gather;
        let handed_cancel = reached[i] && (i == 0 || below.is_none() || via_gather);
        if !started[i] {
            // Never ran; only the cancellation can have ended it.
            assert!(
                reached[i],
                "level {name} never started and was never cancelled"
            );
            ends[i] = stop();
            below = None;
            continue;
        }
        if !handed_cancel {
            // The level under it gave a value (or it was never reached): it returns on.
            let v = below.take().expect("a value from below");
            mine.push(format!("{name} ends"));
            ends[i] = End::Returned(format!("{name}({v})"));
            below = Some(format!("{name}({v})"));
            continue;
        }
        match modes[i] {
            Mode::Bare => {
                mine.push(format!("{name} ends"));
                ends[i] = stop();
                below = None;
            }
            m => {
                mine.push(format!("{name} caught stop"));
                mine.push(format!("{name} cleaned up"));
                mine.push(format!("{name} ends"));
                if m == Mode::Recover {
                    ends[i] = End::Returned(format!("{name} recovered"));
                    below = Some(format!("{name} recovered"));
                } else {
                    ends[i] = stop();
                    below = None;
                }
            }
        }
    }
    Expected {
        entries,
        ends,
        cancelling: reached.map(u32::from),
    }
}

/// A awaits B awaits C (C sleeps an hour), on one to three workers; A is cancelled by the main
/// task or by another thread, after the chain has settled or while it is still starting. Each
/// level (chosen per schedule) recovers, raises, lets the cancellation escape, or has no scope.
/// The cancellation travels down to the innermost level that has started (CANCEL-6), so that
/// nothing is left sleeping; each level reached ends as its mode says (CANCEL-1, CANCEL-5,
/// CANCEL-8) with the cancel's message (CANCEL-4), or with the value of a level below that
/// recovered (CANCEL-6); each counts one request (CANCEL-3); and the levels unwind innermost
/// first: every entry of a level comes before the entries of the level awaiting it, cleanup
/// included.
/// Spec: CANCEL-6, CANCEL-5, CANCEL-1, CANCEL-8, CANCEL-4, CANCEL-3, CANCEL-2, THREAD-1
#[test]
fn cancelling_the_outer_task_of_a_chain_on_several_workers_unwinds_it_innermost_first() {
    Options::new().iterations(500).check(|| {
        let modes = [0, 1, 2].map(|_| MODES[scheduler_choice(MODES.len())]);
        let workers = 1 + scheduler_choice(3);
        // How long the canceller waits: 0 to 2 turns (the chain may still be starting), or a
        // second (it has settled).
        let wait = scheduler_choice(4);
        let from_thread = scheduler_choice(2) == 1;
        // B awaits C itself, or through a gather of C (GATHER-10).
        let b_via_gather = scheduler_choice(2) == 1;
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let (ends, cancelling, now) =
            Builder::new()
                .virtual_time(true)
                .workers(workers)
                .run(async move {
                    let c: Task<Output> = evloop::create_task(level(
                        "c",
                        modes[0],
                        async {
                            evloop::sleep(HOUR).await;
                            Ok("slept".to_owned())
                        },
                        l.clone(),
                    ));
                    let (c2, c_ref) = (c.clone(), c.task_ref());
                    let b = evloop::create_task(level(
                        "b",
                        modes[1],
                        async move {
                            if b_via_gather {
                                let mut out = evloop::gather([c]).await?;
                                out.pop().expect("one child")
                            } else {
                                c.await?
                            }
                        },
                        l.clone(),
                    ));
                    let (b2, b_ref) = (b.clone(), b.task_ref());
                    let a = evloop::create_task(level("a", modes[2], async move { b.await? }, l));
                    let a_ref = a.task_ref();
                    if wait == 3 {
                        evloop::sleep(SEC).await;
                    } else {
                        for _ in 0..wait {
                            evloop::sleep(Duration::ZERO).await;
                        }
                    }
                    let accepted = if from_thread {
                        let keep_clock = LoopFuture::<()>::new();
                        let in_flight = keep_clock.resolver();
                        let target = a_ref.clone();
                        let canceller = thread::spawn("canceller".into(), move || {
                            let accepted = target.cancel_with("stop");
                            drop(in_flight);
                            accepted
                        });
                        a_ref.wait().await;
                        canceller.join().unwrap()
                    } else {
                        a_ref.cancel_with("stop")
                    };
                    assert!(accepted, "CANCEL-3: A cannot have finished within the hour");
                    let ends = [end(c2.await), end(b2.await), end(a.await)];
                    let refs = [c_ref, b_ref, a_ref];
                    let now = evloop::get_running_loop().unwrap().now();
                    (ends, refs.map(|r| r.cancelling()), now)
                });
        let log = log.lock().clone();
        let started = NAMES.map(|n| log.contains(&format!("{n} starts")));
        let want = expected(modes, started, b_via_gather);
        let context = format!(
            "modes (c, b, a) {modes:?}, b through a gather: {b_via_gather}, {workers} worker(s), \
             started {started:?}, log {log:?}"
        );
        for i in 0..3 {
            let name = NAMES[i];
            let mine: Vec<String> = log
                .iter()
                .filter(|e| after_start(e, name))
                .cloned()
                .collect();
            assert_eq!(
                mine, want.entries[i],
                "CANCEL-5/CANCEL-6: level {name}'s cleanup and end; {context}"
            );
            assert_eq!(
                ends[i], want.ends[i],
                "CANCEL-6/CANCEL-8: level {name}'s outcome; {context}"
            );
            assert_eq!(
                cancelling[i], want.cancelling[i],
                "CANCEL-3: requests counted against {name}; {context}"
            );
        }
        // Innermost first: a level that started awaits the one below, so everything the one
        // below logs (its cleanup, its end) comes before the level's own entries after its start.
        for i in 0..2 {
            let (inner, outer) = (NAMES[i], NAMES[i + 1]);
            let inner_last = log.iter().rposition(|e| after_start(e, inner));
            let outer_first = log.iter().position(|e| after_start(e, outer));
            if let (true, Some(inner_last), Some(outer_first)) =
                (started[i + 1], inner_last, outer_first)
            {
                assert!(
                    inner_last < outer_first,
                    "CANCEL-6: {outer} unwound before {inner} had finished; {context}"
                );
            }
        }
        // The cancellation reached C's sleep whenever it reached C after C started: nothing
        // slept the hour out.
        if want.cancelling[0] == 1 && started[0] {
            assert!(now < HOUR, "C slept on after its cancellation; {context}");
        }
    });
}
