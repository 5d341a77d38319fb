//! loom: the races cancellation adds (specs/cancellation.md): a cancel from another thread
//! racing the awaited task's completion on another worker, racing a catch scope's inner
//! future completing, and racing a second cancel.
#![cfg(feature = "loom")]

use evloop::{catch_cancel, Builder, Event, FutureError, LoopFuture, TaskError};
use evloop_check::Options;
use evloop_model::sync::{Arc, Mutex};
use evloop_model::thread;
use std::time::Duration;

/// How a task ended, as plain data: a `Cancelled` returned out of the main task would end it
/// cancelled too (CANCEL-8).
#[derive(Debug, PartialEq)]
enum End<T> {
    Returned(T),
    Cancelled(Option<String>),
    Panicked,
}

fn end<T>(out: Result<T, TaskError>) -> End<T> {
    match out {
        Ok(v) => End::Returned(v),
        Err(TaskError::Cancelled(c)) => End::Cancelled(c.message().map(str::to_owned)),
        Err(_) => End::Panicked,
    }
}

/// What A saw at its await of C.
#[derive(Debug, PartialEq)]
enum Seen {
    /// C's outcome, as a value.
    Value(End<u32>),
    /// A's own cancellation, caught by its scope; whether C had finished by then.
    Cancelled { c_done: bool },
}

/// A awaits C inside a catch scope while C completes on one worker and a thread cancels A.
/// Whatever the interleaving, A ends once, with C's value or with its own cancellation, and C's
/// outcome agrees: a cancellation that finds C unfinished is handed to it first (CANCEL-6), so
/// A's scope never takes it while C still runs; C ends cancelled only by A's cancellation,
/// which then comes back to A as its own, never as C's value (CANCEL-7 is for someone else's).
/// A lost wake is a deadlock report; a task kept alive, loom's leak report.
/// Spec: CANCEL-6, CANCEL-5, CANCEL-3, TASK-5, THREAD-1
#[test]
fn a_cancel_racing_the_awaited_tasks_completion_on_another_worker_ends_the_awaiter_once() {
    // Two workers and a canceller thread: a bound of 2 is what the other two-worker models afford.
    Options::new().preemptions(2).check(|| {
        let (a_out, accepted, cancelling, c_cancelled) =
            Builder::new().virtual_time(true).workers(2).run(async {
                let c = evloop::create_task(async { 7u32 });
                let c_ref = c.task_ref();
                let probe = c_ref.clone();
                let a = evloop::create_task(async move {
                    match catch_cancel(c).await {
                        Ok(r) => Seen::Value(end(r)),
                        Err(_) => Seen::Cancelled {
                            c_done: probe.done(),
                        },
                    }
                });
                // A turn later, from whichever worker runs this task, while the other may be
                // running A or C.
                evloop::sleep(Duration::ZERO).await;
                let a_ref = a.task_ref();
                let accepted = a_ref.cancel();
                let a_out = end(a.await);
                c_ref.wait().await;
                (a_out, accepted, a_ref.cancelling(), c_ref.cancelled())
            });
        match &a_out {
            End::Panicked => panic!("A panicked"),
            // Cancelled before its first step, or during the step its scope returned in.
            End::Cancelled(_) => {
                assert!(
                    !c_cancelled,
                    "CANCEL-6: C was cancelled but A never handed it down"
                );
            }
            End::Returned(Seen::Value(End::Returned(v))) => {
                assert_eq!(*v, 7);
                assert!(!c_cancelled, "TASK-5: C returned and ended cancelled");
            }
            End::Returned(Seen::Value(e)) => panic!(
                "CANCEL-6: A's own cancellation came back from C as C's outcome {e:?} \
                 instead of at A's await"
            ),
            End::Returned(Seen::Cancelled { c_done }) => {
                assert!(
                    c_done,
                    "CANCEL-6: A's scope took the cancellation while C was still running: it \
                     was not handed down to C first"
                );
                assert!(accepted);
            }
        }
        if !accepted {
            assert!(
                a_out == End::Returned(Seen::Value(End::Returned(7))),
                "a refused cancel found A done: {a_out:?}"
            );
        }
        assert_eq!(
            cancelling,
            u32::from(accepted),
            "CANCEL-3: one request counted"
        );
    });
}

/// What a scope returned, in the order the scopes returned.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scope {
    InnerOk,
    InnerErr,
    OuterOk,
    OuterErr,
}

type Log = Arc<Mutex<Vec<Scope>>>;

/// A task body with two nested scopes around `fut`: the inner one raises what it catches, the
/// outer one lets it escape through `?` (CANCEL-8). Each logs what it returned.
async fn nested_scopes(fut: LoopFuture<u32>, log: Log) -> Result<u32, TaskError> {
    let l = log.clone();
    let inner = async move {
        match catch_cancel(fut).await {
            Ok(v) => {
                l.lock().push(Scope::InnerOk);
                v.expect("only the task's own cancellation cancels the future")
            }
            Err(c) => {
                l.lock().push(Scope::InnerErr);
                c.raise().await
            }
        }
    };
    match catch_cancel(inner).await {
        Ok(v) => {
            log.lock().push(Scope::OuterOk);
            Ok(v)
        }
        Err(c) => {
            log.lock().push(Scope::OuterErr);
            Err(TaskError::from(c))
        }
    }
}

/// What the scopes returned must agree with how the task ended (`ended`, with `stop` the
/// cancel's message) and with what the cancel call said (`accepted`).
fn check_scopes(log: &[Scope], ended: &End<u32>, accepted: bool, cancelled_in_step: bool) {
    let stop = End::Cancelled(Some("stop".to_owned()));
    match log {
        // Cancelled before its first step: none of its code ran (CANCEL-2).
        [] => assert_eq!(*ended, stop, "CANCEL-2: a task cancelled before it started"),
        [Scope::InnerOk, Scope::OuterOk] => assert!(
            *ended == End::Returned(5) || (cancelled_in_step && *ended == stop),
            "the task returns the scopes' value{}: {ended:?}",
            if cancelled_in_step {
                ", or ends cancelled when the cancel lands during that step"
            } else {
                ""
            }
        ),
        [Scope::InnerErr, Scope::OuterErr] => assert_eq!(
            *ended, stop,
            "CANCEL-8: the cancellation escaped the outer scope, so the task ends cancelled \
             with its message"
        ),
        other => panic!(
            "CANCEL-5: each scope returns once, `Ok` or `Err`, the innermost first, and a \
             raise reaches the outer one; the scopes returned {other:?}"
        ),
    }
    if !accepted {
        assert_eq!(
            *ended,
            End::Returned(5),
            "a refused cancel found the task done"
        );
    }
}

fn flatten(out: Result<Result<u32, TaskError>, TaskError>) -> End<u32> {
    match out {
        Ok(inner) => end(inner),
        Err(e) => end(Err(e)),
    }
}

/// A thread completes a task's inner future and then cancels the task (with a message), racing
/// the task's steps: the value and the cancel may land before its first step, while it waits,
/// or during the step that sees the value. Each scope returns once, `Ok` or `Err`, never both
/// or neither: a cancel that lands while the task waits is taken by the inner scope, even when
/// the value is already there (CANCEL-2, CANCEL-5), and its `raise` goes to the outer scope,
/// whose `?` ends the task cancelled with the message (CANCEL-8, CANCEL-4). A value seen first
/// is returned, unless the cancel lands during that same step: then it wins, as asyncio's
/// `_must_cancel` does.
/// Spec: CANCEL-5, CANCEL-8, CANCEL-2, CANCEL-4
#[test]
fn a_cancel_racing_a_catch_scopes_inner_completion_is_taken_by_one_scope_once() {
    Options::new().preemptions(2).check(|| {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let (ended, accepted) = Builder::new().virtual_time(true).run(async move {
            let fut = LoopFuture::<u32>::new();
            let resolver = fut.resolver();
            let a = evloop::create_task(nested_scopes(fut, l));
            let target = a.task_ref();
            let helper = thread::spawn("resolver".into(), move || {
                resolver
                    .resolve(5)
                    .expect("only a delivered cancel cancels the future");
                target.cancel_with("stop")
            });
            let ended = flatten(a.await);
            (ended, helper.join().unwrap())
        });
        check_scopes(&log.lock(), &ended, accepted, true);
    });
}

/// The task is cancelled from the loop while a thread completes its inner future: the future
/// the task awaits is cancelled with it (CANCEL-6, with the message, CANCEL-4) unless the value
/// got there first, and never both; the scopes return as in the check above, and a cancel that
/// cancelled the future is the one the scopes caught.
/// Spec: CANCEL-6, CANCEL-5, CANCEL-2, CANCEL-4
#[test]
fn a_cancel_from_the_loop_racing_a_resolve_from_a_thread_cancels_the_awaited_future_or_not() {
    Options::new().preemptions(2).check(|| {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let (ended, accepted, resolved, fut_end) =
            Builder::new().virtual_time(true).run(async move {
                let fut = LoopFuture::<u32>::new();
                let probe = fut.clone();
                let resolver = fut.resolver();
                let helper = thread::spawn("resolver".into(), move || resolver.resolve(5).is_ok());
                let a = evloop::create_task(nested_scopes(fut, l));
                evloop::sleep(Duration::ZERO).await; // A's first step
                let accepted = a.task_ref().cancel_with("stop");
                let ended = flatten(a.await);
                let resolved = helper.join().unwrap();
                let fut_end = match probe.await {
                    Ok(v) => End::Returned(v),
                    Err(FutureError::Cancelled(c)) => {
                        End::Cancelled(c.message().map(str::to_owned))
                    }
                    Err(_) => End::Panicked,
                };
                (ended, accepted, resolved, fut_end)
            });
        let log = log.lock().clone();
        check_scopes(&log, &ended, accepted, false);
        if resolved {
            assert_eq!(
                fut_end,
                End::Returned(5),
                "a resolved future keeps its value"
            );
        } else {
            assert_eq!(
                fut_end,
                End::Cancelled(Some("stop".to_owned())),
                "CANCEL-6: the resolve was refused, so the task's cancellation cancelled the \
                 future it awaited, with its message"
            );
            assert_eq!(log, [Scope::InnerErr, Scope::OuterErr]);
        }
    });
}

/// Two threads cancel a parked task at once, with two messages: both calls return true and
/// count, so `cancelling()` is 2 afterwards (asyncio counts every `cancel()`); the task's scope
/// catches one cancellation carrying one of the two messages, and the count stays 2 after the
/// task ends (catching does not take a request back).
/// Spec: CANCEL-3, CANCEL-4
#[test]
fn two_cancels_from_two_threads_count_two_requests() {
    Options::new().preemptions(2).check(|| {
        Builder::new().virtual_time(true).run(async {
            let ev = Event::new();
            let ev2 = ev.clone();
            let a = evloop::create_task(async move {
                let mut messages = Vec::new();
                // Catches two at most, so that a failed run's shutdown can still cancel it.
                for _ in 0..2 {
                    match catch_cancel(ev2.wait()).await {
                        Ok(()) => return messages,
                        Err(c) => messages.push(c.message().map(str::to_owned)),
                    }
                }
                ev2.wait().await;
                messages
            });
            evloop::sleep(std::time::Duration::ZERO).await; // A waits on the event
            let spawn = |msg: &'static str| {
                let target = a.task_ref();
                thread::spawn(msg.into(), move || target.cancel_with(msg))
            };
            let (one, two) = (spawn("one"), spawn("two"));
            // Joined on the loop's only worker: A cannot step until both have cancelled.
            assert!(one.join().unwrap(), "CANCEL-3: cancel of a pending task");
            assert!(two.join().unwrap(), "CANCEL-3: cancel of a pending task");
            assert_eq!(a.cancelling(), 2, "CANCEL-3: two cancels at once count two");
            ev.set();
            let messages = (&a).await.unwrap();
            assert_eq!(
                messages.len(),
                1,
                "both requests land in one step: {messages:?}"
            );
            let m = messages[0].as_deref();
            assert!(matches!(m, Some("one" | "two")), "CANCEL-4: {m:?}");
            assert_eq!(a.cancelling(), 2, "CANCEL-3: catching takes nothing back");
        });
    });
}
