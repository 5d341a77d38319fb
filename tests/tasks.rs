//! Tasks: when they start, how they are polled, completed, cancelled, and kept alive
//! (specs/tasks.md).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;
#[path = "common/stays_put.rs"]
mod stays_put;
use stays_put::{StaysPut, Witness};

use common::{capture_logs, vrun, yield_now, DropGuard, Trace};
use evloop::{Task, TaskError, TaskRef};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Spec: TASK-1
#[test]
fn new_task_does_not_start_before_its_creator_yields() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let child = {
            let t = t.clone();
            evloop::create_task(async move { t.push("child runs") })
        };
        t.push("creator: task created");
        assert!(!child.done());
        t.push("creator: still running");
        yield_now().await;
        t.push("creator: resumed");
        child.await.unwrap();
    });
    assert_eq!(
        trace.get(),
        [
            "creator: task created",
            "creator: still running",
            "child runs",
            "creator: resumed"
        ]
    );
}

/// Spec: TASK-1, TASK-2
#[test]
fn ensure_future_is_create_task_under_another_name() {
    let trace = Trace::new();
    let t = trace.clone();
    let out = vrun(async move {
        let t2 = t.clone();
        let task = evloop::ensure_future(async move {
            t2.push("child runs");
            5
        });
        t.push("creator before yield");
        task.await.unwrap()
    });
    assert_eq!(out, 5);
    assert_eq!(trace.get(), ["creator before yield", "child runs"]);
}

/// Spec: TASK-2
#[test]
fn awaiting_a_task_returns_its_output_and_done_reports_it() {
    vrun(async {
        let task = evloop::create_task(async {
            yield_now().await;
            "value"
        });
        let r = task.task_ref();
        assert!(!task.done() && !task.cancelled());
        assert!(task.name().starts_with("Task-"));
        assert_eq!(task.await.unwrap(), "value");
        assert!(r.done() && !r.cancelled() && !r.panicked());

        let named = evloop::create_task_named("worker", async {});
        assert_eq!(named.name(), "worker");
        named.await.unwrap();
    });
}

/// A named task's name is read from the loop, not the task, and is kept for exactly as long as
/// something can ask for it: after completion while a handle lives, gone with the last one.
/// Spec: TASK-2
#[test]
fn a_tasks_name_stays_readable_after_it_completes_and_goes_with_its_last_handle() {
    let lp = evloop::EventLoop::builder().virtual_time(true).build();
    let named = lp.create_task_named("worker", async { 7 });
    let unnamed = lp.create_task(async {});
    let (r, u) = (named.task_ref(), unnamed.task_ref());
    assert_eq!(evloop::__private::named_tasks(&lp), 1);
    assert_eq!(lp.run_until_complete(named), 7);
    lp.run_until_complete(unnamed);
    assert!(r.done());
    assert_eq!(r.name(), "worker");
    assert_eq!(format!("{r:?}").matches("\"worker\"").count(), 1);
    assert_eq!(u.name(), format!("Task-{}", u.id()));
    assert_eq!(r.id() + 1, u.id(), "ids are unchanged by names");
    let again = r.clone();
    drop(r);
    assert_eq!(again.name(), "worker");
    assert_eq!(evloop::__private::named_tasks(&lp), 1);
    drop(again);
    assert_eq!(evloop::__private::named_tasks(&lp), 0);

    // No handle at all: the loop's own reference is the last, dropped at completion.
    drop(lp.create_task_named("detached", async {}));
    assert_eq!(evloop::__private::named_tasks(&lp), 1);
    lp.run_until_complete(async {});
    assert_eq!(evloop::__private::named_tasks(&lp), 0);
    lp.close();
}

/// A future that counts its polls and fails if two of them overlap.
struct Exclusive {
    polling: Arc<AtomicUsize>,
    polls: Arc<AtomicUsize>,
    wakes_left: usize,
}

impl Future for Exclusive {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        assert_eq!(
            self.polling.fetch_add(1, Ordering::SeqCst),
            0,
            "TASK-3: a task was polled by two threads at once"
        );
        self.polls.fetch_add(1, Ordering::SeqCst);
        let out = if self.wakes_left == 0 {
            Poll::Ready(())
        } else {
            self.wakes_left -= 1;
            // Wake from another thread while this poll is still running, several times over.
            let w = cx.waker().clone();
            let h = std::thread::spawn(move || {
                w.wake_by_ref();
                w.wake();
            });
            h.join().unwrap();
            cx.waker().wake_by_ref();
            Poll::Pending
        };
        self.polling.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

/// Spec: TASK-3, TASK-4, THREAD-1
#[test]
fn a_task_is_never_polled_twice_at_once_even_when_woken_from_many_threads() {
    let polls: Vec<Arc<AtomicUsize>> = (0..8).map(|_| Arc::default()).collect();
    let p = polls.clone();
    evloop::Builder::new()
        .workers(3)
        .virtual_time(true)
        .run(async move {
            let tasks: Vec<_> = p
                .iter()
                .map(|polls| {
                    evloop::create_task(Exclusive {
                        polling: Arc::default(),
                        polls: polls.clone(),
                        wakes_left: 5,
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
    for p in polls {
        // Each pending poll is followed by at least one more; a wake may be merged with another
        // that arrived while the task was already queued, never lost.
        assert_eq!(p.load(Ordering::SeqCst), 6);
    }
}

/// Returns Pending once after waking itself during the poll.
struct WakeSelfOnce {
    trace: Trace,
    polled: bool,
}

impl Future for WakeSelfOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polled {
            self.trace.push("poll 2: ready");
            return Poll::Ready(());
        }
        self.polled = true;
        self.trace.push("poll 1: wakes itself, returns Pending");
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Spec: TASK-4
#[test]
fn a_wake_during_the_poll_polls_the_task_again() {
    let trace = Trace::new();
    let t = trace.clone();
    // Virtual time: if the wake were lost, the loop would report a deadlock instead of hanging.
    vrun(async move {
        evloop::create_task(WakeSelfOnce {
            trace: t,
            polled: false,
        })
        .await
        .unwrap();
    });
    assert_eq!(
        trace.get(),
        ["poll 1: wakes itself, returns Pending", "poll 2: ready"]
    );
}

/// Spec: TASK-5, TASK-6
#[test]
fn a_task_completes_exactly_once_and_tells_each_callback_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    vrun(async move {
        let task = evloop::create_task(async {
            yield_now().await;
            1
        });
        for _ in 0..3 {
            let c = c.clone();
            task.add_done_callback(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
        let r = task.task_ref();
        assert_eq!(task.await.unwrap(), 1);
        // Completion is final: cancel is refused, nothing runs twice.
        assert!(!r.cancel());
        assert!(!r.cancelled());
        for _ in 0..3 {
            yield_now().await;
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// Spec: TASK-6
#[test]
fn done_callbacks_run_via_call_soon_in_registration_order_never_inline() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let task = evloop::create_task(async {});
        for name in ["cb1", "cb2", "cb3"] {
            let t = t.clone();
            task.add_done_callback(move |r: &TaskRef| {
                assert!(r.done());
                t.push(name)
            });
        }
        let r = task.task_ref();
        r.wait().await;
        t.push("task done; adding cb4");
        let t4 = t.clone();
        r.add_done_callback(move |_| t4.push("cb4"));
        t.push("cb4 added (not run inline)");
        yield_now().await;
        t.push("after one turn");
    });
    assert_eq!(
        trace.get(),
        [
            "cb1",
            "cb2",
            "cb3",
            "task done; adding cb4",
            "cb4 added (not run inline)",
            "cb4",
            "after one turn"
        ]
    );
}

/// Spec: TASK-7, CANCEL-1
#[test]
fn cancel_drops_the_future_at_its_next_suspension_point() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let t2 = t.clone();
        let task = evloop::create_task(async move {
            let _guard = DropGuard(t2.clone(), "child future dropped");
            t2.push("child suspends");
            evloop::sleep(Duration::from_secs(3600)).await;
            t2.push("child resumed (must not happen)");
        });
        yield_now().await;
        t.push("cancel asked");
        assert!(task.cancel());
        assert!(
            !task.done(),
            "cancellation takes effect at the suspension point, later"
        );
        let r = task.task_ref();
        let out = task.await;
        assert!(matches!(out, Err(TaskError::Cancelled(_))));
        assert!(r.cancelled() && r.done());
        assert!(!r.cancel(), "cancel returns false once the task is done");
        t.push("awaiter saw Cancelled");
    });
    assert_eq!(
        trace.get(),
        [
            "child suspends",
            "cancel asked",
            "child future dropped",
            "awaiter saw Cancelled"
        ]
    );
}

/// Spec: TASK-1, TASK-7
#[test]
fn a_task_cancelled_before_it_starts_never_runs() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let t2 = t.clone();
        let task = evloop::create_task(async move { t2.push("body ran (must not happen)") });
        assert!(task.cancel());
        assert!(
            task.cancel(),
            "asking twice before it takes effect still says true"
        );
        assert!(task.await.unwrap_err().is_cancelled());
    });
    assert!(trace.get().is_empty());
}

/// Spec: TASK-7
#[test]
fn a_cancel_asked_during_the_final_step_wins_over_the_value() {
    // asyncio's `_must_cancel`: a task cancelled while its step runs ends cancelled even if the
    // step returned.
    vrun(async {
        let me: Arc<Mutex<Option<TaskRef>>> = Arc::default();
        let m = me.clone();
        let task = evloop::create_task(async move {
            let r = m.lock().unwrap().clone().unwrap();
            assert!(r.cancel());
            7
        });
        *me.lock().unwrap() = Some(task.task_ref());
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

/// Spec: TASK-8
#[test]
fn a_panicking_task_is_caught_and_the_loop_keeps_running() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let bad = evloop::create_task(async {
            yield_now().await;
            panic!("task exploded");
        });
        let t2 = t.clone();
        let good = evloop::create_task(async move {
            for i in 0..3 {
                t2.push(format!("good step {i}"));
                yield_now().await;
            }
        });
        match bad.await {
            Err(TaskError::Panicked(p)) => t.push(format!("caught: {}", p.message())),
            other => panic!("expected a caught panic, got {other:?}"),
        }
        good.await.unwrap();
    });
    assert_eq!(
        trace.get(),
        [
            "good step 0",
            "good step 1",
            "caught: task exploded",
            "good step 2"
        ]
    );
}

/// Spec: TASK-8
#[test]
fn an_unobserved_panic_is_reported_as_never_retrieved() {
    let ((), logs) = capture_logs(|| {
        vrun(async {
            // Dropped before it finishes: reported when it panics.
            drop(evloop::create_task_named("detached", async {
                yield_now().await;
                panic!("nobody listens");
            }));
            // Finished, then dropped without taking the outcome: reported on drop.
            let finished = evloop::create_task_named("finished", async { panic!("ignored") });
            finished.task_ref().wait().await;
            drop(finished);
            for _ in 0..3 {
                yield_now().await;
            }
        })
    });
    assert_eq!(
        logs.matches("Task exception was never retrieved").count(),
        2
    );
    assert!(
        logs.contains("detached") && logs.contains("finished"),
        "{logs}"
    );

    // Observed panics are not reported.
    let ((), logs) = capture_logs(|| {
        vrun(async {
            let t = evloop::create_task(async { panic!("observed") });
            assert!(t.await.unwrap_err().is_panic());
        })
    });
    assert!(!logs.contains("never retrieved"), "{logs}");
}

/// Spec: TASK-9
#[test]
fn the_loop_keeps_a_task_alive_when_every_handle_is_dropped() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let t2 = t.clone();
        drop(evloop::create_task(async move {
            evloop::sleep(Duration::from_secs(1)).await;
            t2.push("unowned task finished");
        }));
        evloop::sleep(Duration::from_secs(2)).await;
        t.push("main finished");
    });
    assert_eq!(trace.get(), ["unowned task finished", "main finished"]);
}

/// Hands a task its own handle, lets it await `wrap(handle)`, and says whether it panicked (with
/// its debug form for the failure message).
fn awaiting_own_handle<F>(wrap: fn(Task<()>) -> F) -> (bool, String)
where
    F: Future + Send + 'static,
{
    vrun(async move {
        let slot: Arc<Mutex<Option<Task<()>>>> = Arc::default();
        let mine = slot.clone();
        let task = evloop::create_task(async move {
            let me = mine
                .lock()
                .unwrap()
                .take()
                .expect("the handle was handed over");
            let _ = wrap(me).await;
        });
        let r = task.task_ref();
        *slot.lock().unwrap() = Some(task);
        r.wait().await;
        (r.panicked(), format!("{r:?}"))
    })
}

/// A task handed its own handle and awaiting it would wait for itself forever; instead it panics
/// there, saying why (asyncio raises `RuntimeError: Task cannot await on itself`).
/// Spec: TASK-2
#[test]
fn a_task_awaiting_its_own_handle_panics_instead_of_hanging() {
    let (panicked, message) = awaiting_own_handle(|me| me.into_future());
    assert!(panicked, "{message}");
}

/// The same through a combinator that polls the handle with a clone of the task's waker in a
/// `Context` of its own: the waker is still the task's, so it still panics instead of hanging.
/// Spec: TASK-2
#[test]
fn a_task_awaiting_its_own_handle_through_a_rewrapping_combinator_panics_too() {
    struct Rewrap<F>(F);
    impl<F: Future + Unpin> Future for Rewrap<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let own = cx.waker().clone();
            Pin::new(&mut self.0).poll(&mut Context::from_waker(&own))
        }
    }
    let (panicked, message) = awaiting_own_handle(|me| Rewrap(me.into_future()));
    assert!(panicked, "{message}");
}

/// A task's future is never moved from its first poll until it is dropped, and is dropped exactly
/// once, in place, however the task ends: it completes after a wake from another thread, it is
/// cancelled, it panics, or its loop is closed while it is pending.
/// Spec: TASK-10
#[test]
fn a_tasks_future_is_never_moved_from_its_first_poll_until_it_is_dropped() {
    let witnesses: Vec<Arc<Witness>> = (0..4).map(|_| Arc::default()).collect();
    let w = witnesses.clone();
    let lp = common::vloop();
    lp.run_until_complete(async move {
        let (gate1, gate2) = (
            evloop::LoopFuture::<()>::new(),
            evloop::LoopFuture::<()>::new(),
        );
        let (r1, r2) = (gate1.resolver(), gate2.resolver());
        let completes = evloop::create_task(StaysPut::new(
            async move {
                let _ = gate1.await;
            },
            false,
            &w[0],
        ));
        let cancelled = evloop::create_task(StaysPut::new(std::future::pending(), false, &w[1]));
        let panics = evloop::create_task(StaysPut::new(
            async move {
                let _ = gate2.await;
            },
            true,
            &w[2],
        ));
        drop(evloop::create_task(StaysPut::new(
            std::future::pending(),
            false,
            &w[3],
        )));
        yield_now().await;
        let helper = std::thread::spawn(move || {
            r1.resolve(()).unwrap();
            r2.resolve(()).unwrap();
        });
        assert!(cancelled.cancel());
        completes.await.unwrap();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        assert!(panics.await.unwrap_err().is_panic());
        helper.join().unwrap();
    });
    lp.close();
    drop(lp);
    for w in &witnesses {
        w.assert_in_place_and_dropped_once();
    }
}

/// Spec: TASK-11
#[test]
fn waiters_on_a_task_that_go_away_give_their_place_back() {
    use std::future::poll_fn;
    vrun(async {
        let gate = evloop::LoopFuture::<()>::new();
        let opener = gate.clone();
        let task = evloop::create_task(async move { gate.await.unwrap() });
        let r = task.task_ref();
        let slots = |r: &TaskRef| {
            let text = format!("{r:?}");
            let n = text
                .split("waiter_slots: ")
                .nth(1)
                .expect("Debug shows the slots");
            n.trim_end_matches(" }").parse::<usize>().unwrap()
        };
        // A select with a timeout, many times over: each `wait()` polled once and dropped.
        for _ in 0..1000 {
            let mut w = r.wait();
            poll_fn(|cx| {
                assert!(Pin::new(&mut w).poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        }
        assert!(slots(&r) <= 1, "wait() futures left {} slots", slots(&r));
        // A waiter still there keeps its place, and the typed handle's own place goes with it.
        let kept = evloop::create_task({
            let r = r.clone();
            async move { r.wait().await }
        });
        yield_now().await;
        let mut t = task.into_future();
        poll_fn(|cx| {
            assert!(Pin::new(&mut t).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        drop(t);
        assert!(slots(&r) <= 2, "{r:?}");
        opener.set_result(()).unwrap();
        kept.await.unwrap();
        assert!(r.done());
    });
}

/// A value whose destructor panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("boom in a dropped output");
    }
}

/// Spec: TASK-12
#[test]
fn a_panic_in_an_unretrieved_outputs_drop_is_reported_and_the_loop_keeps_running() {
    let (out, logs) = capture_logs(|| {
        vrun(async {
            // Nobody takes the output: it is dropped with the task, on the loop.
            drop(evloop::create_task(async { PanicsOnDrop }));
            yield_now().await;
            yield_now().await;
            "main finished"
        })
    });
    assert_eq!(out, "main finished");
    assert!(logs.contains("boom in a dropped output"), "{logs}");
}

/// Spec: TASK-12
#[test]
fn a_foreign_waker_that_panics_when_the_task_completes_is_reported_and_the_loop_keeps_running() {
    use std::task::{Wake, Waker};
    struct Explodes;
    impl Wake for Explodes {
        fn wake(self: Arc<Self>) {
            panic!("boom in a foreign waker");
        }
    }
    let (out, logs) = capture_logs(|| {
        vrun(async {
            let task = evloop::create_task(async { 5 });
            // Another executor's waker waits on the task (polled by hand here).
            let waker = Waker::from(Arc::new(Explodes));
            let mut join = (&task).into_future();
            assert!(Pin::new(&mut join)
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            task.task_ref().wait().await;
            yield_now().await;
            task.await.unwrap()
        })
    });
    assert_eq!(out, 5);
    assert!(logs.contains("boom in a foreign waker"), "{logs}");
}

/// Counts its clones, to see who cloned a task's output and who moved it.
#[derive(Debug)]
struct Counted(u32, Arc<AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.1.fetch_add(1, Ordering::SeqCst);
        Counted(self.0, self.1.clone())
    }
}

/// Spec: TASK-13
#[test]
fn a_task_is_awaited_by_any_number_of_tasks_and_only_the_last_reader_moves_the_output() {
    let clones = Arc::new(AtomicUsize::new(0));
    let c = clones.clone();
    vrun(async move {
        let t = evloop::create_task(async move {
            yield_now().await;
            Counted(7, c)
        });
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let mine = t.clone();
                evloop::create_task(async move { mine.await.unwrap().0 })
            })
            .collect();
        assert_eq!((&t).await.unwrap().0, 7); // by reference: this handle stays
        for r in readers {
            assert_eq!(r.await.unwrap(), 7);
        }
        assert_eq!(t.result().unwrap().unwrap().0, 7);
        assert_eq!(t.await.unwrap().0, 7); // the last handle: moved, not cloned
    });
    // Four readers cloned (three tasks and the awaiting by reference), `result()` cloned, the last
    // handle moved.
    assert_eq!(clones.load(Ordering::SeqCst), 5);

    // An output that is not `Clone` has one handle, which moves it out.
    struct Unique(&'static str);
    let got = vrun(async {
        evloop::create_task(async { Unique("mine") })
            .await
            .unwrap()
            .0
    });
    assert_eq!(got, "mine");
}

/// Spec: TASK-13
#[test]
fn every_awaiter_of_a_failed_task_sees_the_same_failure_and_exception_reads_it_again() {
    vrun(async {
        let t = evloop::create_task(async {
            yield_now().await;
            if true {
                panic!("shared boom");
            }
            1u8
        });
        assert_eq!(
            t.exception().unwrap_err(),
            evloop::InvalidStateError::NotDone
        );
        assert_eq!(t.result().unwrap_err(), evloop::InvalidStateError::NotDone);
        let other = t.clone();
        let watcher = evloop::create_task(async move { other.await.unwrap_err() });
        let mine = (&t).await.unwrap_err();
        let theirs = watcher.await.unwrap();
        for e in [&mine, &theirs] {
            assert!(matches!(e, TaskError::Panicked(p) if p.message() == "shared boom"));
        }
        for _ in 0..2 {
            let e = t.exception().unwrap().expect("it failed");
            assert!(e.is_panic());
            assert!(t.task_ref().exception().unwrap().unwrap().is_panic());
        }
        assert!(t.result().unwrap().unwrap_err().is_panic());

        let c = evloop::create_task(evloop::sleep(Duration::from_secs(1)));
        yield_now().await;
        c.cancel();
        c.task_ref().wait().await;
        assert!(c.exception().unwrap().unwrap().is_cancelled());
    });
}

/// Spec: TASK-13
#[test]
fn a_tasks_identity_is_observable_through_every_handle() {
    vrun(async {
        let t = evloop::create_task(async { 1 });
        let u = evloop::create_task(async { 1 });
        let same = t.clone();
        assert!(Task::ptr_eq(&t, &same) && t == same && t != u);
        assert_eq!(t.task_ref(), same.task_ref());
        assert_ne!(t.task_ref(), u.task_ref());
        let mut set = std::collections::HashSet::new();
        set.insert(t.task_ref());
        assert!(set.contains(&same.task_ref()));
        t.await.unwrap();
        same.await.unwrap();
        u.await.unwrap();
    });
}

/// Spec: TASK-14
#[test]
fn run_until_complete_and_ensure_future_use_a_task_or_future_as_itself() {
    let lp = evloop::Builder::new().virtual_time(true).build();
    let t = lp.create_task(async { "value" });
    let seen = lp.clone();
    let during = lp.create_task(async move { seen.pending_tasks().len() });
    // The task is the main future: no wrapper task around it.
    assert_eq!(lp.run_until_complete(t.clone()), "value");
    assert_eq!(
        lp.run_until_complete(during),
        1,
        "only the task that asks was pending"
    );
    assert_eq!(t.result().unwrap().unwrap(), "value");

    // A loop future, too: its value, or its failure as `RunError::Failed`.
    let fut = lp.create_future::<u8>();
    let setter = fut.clone();
    lp.call_soon(move || setter.set_result(9).unwrap());
    assert_eq!(lp.run_until_complete(fut), 9);
    let bad = lp.create_future::<u8>();
    bad.set_error("no").unwrap();
    assert!(matches!(
        lp.try_run_until_complete(bad),
        Err(evloop::RunError::Failed(_))
    ));

    lp.run_until_complete(async {
        let t = evloop::create_task(async { 3 });
        assert!(Task::ptr_eq(&evloop::ensure_future(t.clone()), &t));
        let f = evloop::LoopFuture::<u8>::new();
        assert!(evloop::LoopFuture::ptr_eq(
            &evloop::ensure_future(f.clone()),
            &f
        ));
        let fresh = evloop::ensure_future(async { 4 });
        assert_eq!(fresh.await.unwrap() + t.await.unwrap(), 7);
    });

    // A task of another loop is refused, not run on the wrong loop.
    let other = evloop::EventLoop::new();
    let foreign = other.create_task(async {});
    let err = lp.try_run_until_complete(foreign).unwrap_err();
    assert!(matches!(
        err,
        evloop::RunError::Loop(evloop::LoopError::OtherLoop)
    ));
    other.close();
    lp.close();
}

/// Spec: TASK-15
#[test]
fn current_task_names_the_task_whose_step_runs_and_all_tasks_lists_the_unfinished() {
    assert!(evloop::try_current_task().is_err(), "no loop runs here");
    assert!(std::panic::catch_unwind(evloop::all_tasks).is_err());
    vrun(async {
        let main = evloop::current_task().expect("main is a task");
        let child = evloop::create_task_named("child", async {
            let me = evloop::current_task().unwrap();
            yield_now().await;
            // Still itself after a suspension, on whichever worker resumes it.
            assert_eq!(evloop::current_task().unwrap(), me);
            me.name()
        });
        // A callback runs outside any task.
        let in_callback = evloop::LoopFuture::new();
        let f = in_callback.clone();
        evloop::get_running_loop()
            .unwrap()
            .call_soon(move || f.set_result(evloop::current_task().is_none()).unwrap());
        let names: Vec<String> = evloop::all_tasks().iter().map(TaskRef::name).collect();
        assert_eq!(names, [main.name(), "child".to_owned()]);
        assert_eq!(child.await.unwrap(), "child");
        assert!(in_callback.await.unwrap());
        assert_eq!(evloop::current_task().unwrap(), main);
        assert_eq!(evloop::all_tasks(), [main]);
    });
}
