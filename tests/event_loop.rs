//! The event loop: its turns, its one ready queue, stopping, parking, closing, callbacks, the
//! current-loop context and debug mode (specs/loop.md).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{capture_logs, vloop, vrun, yield_now, DropGuard, Trace};
use evloop::{EventLoop, RunError};
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

/// Spec: LOOP-1
#[test]
fn run_until_complete_returns_the_output_and_the_loop_can_run_again() {
    let lp = vloop();
    assert!(!lp.is_running() && !lp.is_closed());
    let l2 = lp.clone();
    let inside = lp.run_until_complete(async move {
        let running = evloop::get_running_loop().unwrap();
        assert!(running.same_loop(&l2));
        running.is_running()
    });
    assert!(inside);
    assert!(!lp.is_running());
    let t0 = lp.time();
    let later = lp.run_until_complete(async {
        evloop::sleep(Duration::from_secs(5)).await;
        evloop::get_running_loop().unwrap().time()
    });
    assert!(later >= t0 + 5.0);
    assert!(lp.time() >= later, "the clock never goes back");
    lp.close();
    assert!(lp.is_closed());
}

/// Spec: LOOP-2
#[test]
fn callbacks_and_task_steps_share_one_fifo_queue() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        lp.call_soon(t.pusher("callback 1"));
        let t2 = t.clone();
        let task = evloop::create_task(async move { t2.push("task step") });
        lp.call_soon(t.pusher("callback 2"));
        let t3 = t.clone();
        let task2 = evloop::create_task(async move { t3.push("task 2 step") });
        yield_now().await;
        t.push("main resumed");
        task.await.unwrap();
        task2.await.unwrap();
    });
    assert_eq!(
        trace.get(),
        [
            "callback 1",
            "task step",
            "callback 2",
            "task 2 step",
            "main resumed"
        ]
    );
}

/// Spec: LOOP-2
#[test]
fn fifo_order_holds_across_bursts_while_the_queue_gives_memory_back() {
    // Bursts far past what the queue keeps for the loop's life, each followed by turns of one
    // entry: the turn after a burst gives its buffer back, and the next burst regrows it.
    const BURST: u32 = 20_000;
    let ran = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = ran.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        for round in 0..3 {
            for i in 0..BURST {
                let r = r.clone();
                lp.call_soon(move || r.lock().unwrap().push((round, i)));
            }
            yield_now().await;
            for i in BURST..BURST + 3 {
                let r = r.clone();
                lp.call_soon(move || r.lock().unwrap().push((round, i)));
                yield_now().await;
            }
        }
    });
    let expected: Vec<(u32, u32)> = (0..3)
        .flat_map(|round| (0..BURST + 3).map(move |i| (round, i)))
        .collect();
    assert!(
        *ran.lock().unwrap() == expected,
        "an entry ran out of order"
    );
}

/// Spec: LOOP-3
#[test]
fn a_turn_runs_only_what_was_ready_when_it_began() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        let (ta, l) = (t.clone(), lp.clone());
        lp.call_soon(move || {
            ta.push("A");
            // Due at once, but timers are only moved to the queue when a turn begins.
            l.call_later(Duration::ZERO, ta.pusher("timer"));
            let (tb, l2) = (ta.clone(), l.clone());
            l.call_soon(move || {
                tb.push("A2");
                l2.call_soon(tb.pusher("A3"));
            });
        });
        for _ in 0..5 {
            yield_now().await;
        }
    });
    // Had a turn run until the queue was empty, the timer would come after A3.
    assert_eq!(trace.get(), ["A", "A2", "timer", "A3"]);
}

/// Spec: LOOP-4
#[test]
fn run_until_complete_stops_after_the_turn_of_the_main_done_callback() {
    let trace = Trace::new();
    let lp = vloop();
    let t = trace.clone();
    lp.run_until_complete(async move {
        let lp = evloop::get_running_loop().unwrap();
        let (ta, l) = (t.clone(), lp.clone());
        // Ready in the same turn as the main task's done callback: runs.
        lp.call_soon(move || {
            ta.push("A (ran before the stop)");
            // Scheduled during the stopping turn: left for the next run.
            l.call_soon(ta.pusher("B (ran in the next run)"));
        });
    });
    trace.push("first run returned");
    lp.run_until_complete(async {});
    assert_eq!(
        trace.get(),
        [
            "A (ran before the stop)",
            "first run returned",
            "B (ran in the next run)"
        ]
    );
    lp.close();
}

/// Spec: LOOP-5
#[test]
fn a_wake_from_another_thread_reaches_a_parked_loop() {
    // Real time and no timers: the loop has nothing to do but park; only the other thread's
    // wake can end the run. A lost unpark would hang here.
    let lp = EventLoop::new();
    let remote = lp.clone();
    let (tx, rx) = mpsc::channel::<std::task::Waker>();
    let helper = std::thread::spawn(move || {
        let w = rx.recv().unwrap();
        w.wake();
        // The second time, the loop's last other handle goes away with the wake.
        let w = rx.recv().unwrap();
        drop(remote);
        w.wake();
    });
    lp.run_until_complete(async move {
        for _ in 0..2 {
            let mut sent = false;
            let tx = tx.clone();
            std::future::poll_fn(move |cx| {
                if sent {
                    Poll::Ready(())
                } else {
                    sent = true;
                    tx.send(cx.waker().clone()).unwrap();
                    Poll::Pending
                }
            })
            .await;
        }
    });
    helper.join().unwrap();

    let fut = lp.create_future::<&str>();
    let (f2, remote) = (fut.clone(), lp.clone());
    let helper = std::thread::spawn(move || {
        remote.call_soon_threadsafe(move || f2.set_result("set on the loop").unwrap());
    });
    assert_eq!(lp.run_until_complete(fut), "set on the loop");
    helper.join().unwrap();
    lp.close();
}

/// Spec: LOOP-6
#[test]
fn close_drops_callbacks_and_unfinished_tasks_and_is_idempotent() {
    let trace = Trace::new();
    let lp = vloop();
    let t = trace.clone();
    let l2 = lp.clone();
    let task = lp.run_until_complete(async move {
        let t2 = t.clone();
        let task = evloop::create_task(async move {
            let _g = DropGuard(t2.clone(), "task future dropped");
            evloop::sleep(Duration::from_secs(3600)).await;
            t2.push("task resumed (must not happen)");
        });
        yield_now().await;
        let g = DropGuard(t.clone(), "callback dropped");
        l2.call_later(Duration::from_secs(10), move || {
            let _g = g;
            unreachable!("a timer never fires after close");
        });
        task.task_ref()
    });
    let g = DropGuard(trace.clone(), "ready callback dropped");
    lp.call_soon(move || {
        let _g = g;
        unreachable!("a ready callback never runs after close");
    });
    let jobs = lp.run_in_executor(|| 1);
    trace.push("closing");
    lp.close();
    let mut after = trace.get();
    after.sort();
    assert_eq!(
        after,
        [
            "callback dropped",
            "closing",
            "ready callback dropped",
            "task future dropped"
        ]
    );
    assert!(task.done() && task.cancelled());
    assert!(lp.is_closed());
    lp.close();
    lp.close();
    assert!(lp.is_closed());
    // The pool finished what it had been given before it stopped.
    let other = vloop();
    assert_eq!(other.run_until_complete(jobs).unwrap(), 1);
    other.close();
    // A job submitted after close is refused at once instead of waiting forever.
    let late = lp.run_in_executor(|| 2);
    let other = vloop();
    assert!(other.run_until_complete(late).unwrap_err().is_cancelled());
    other.close();
}

/// Spec: LOOP-7
#[test]
fn a_panicking_callback_is_reported_and_the_loop_continues() {
    let trace = Trace::new();
    let t = trace.clone();
    let ((), logs) = capture_logs(|| {
        vrun(async move {
            let lp = evloop::get_running_loop().unwrap();
            lp.call_soon(|| panic!("callback exploded"));
            lp.call_soon(t.pusher("next callback"));
            yield_now().await;
            t.push("main resumed");
        })
    });
    assert_eq!(trace.get(), ["next callback", "main resumed"]);
    assert!(logs.contains("Exception in callback"), "{logs}");
    assert!(logs.contains("callback exploded"), "{logs}");
}

/// Spec: LOOP-8
#[test]
fn a_virtual_time_deadlock_is_reported_not_hung() {
    let lp = vloop();
    let err = lp
        .try_run_until_complete(async {
            let never = evloop::get_running_loop().unwrap().create_future::<()>();
            let waiter = evloop::create_task_named("stuck-child", never.clone());
            let _ = waiter.await;
        })
        .unwrap_err();
    let RunError::Deadlock(report) = err else {
        panic!("expected a deadlock report, got {err:?}");
    };
    let names: Vec<&str> = report.pending.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"stuck-child"));
    let text = report.to_string();
    assert!(
        text.contains("deadlock") && text.contains("stuck-child"),
        "{text}"
    );
    assert!(text.contains("tests/event_loop.rs"), "{text}");
    lp.close();

    // `run` turns the same finding into a panic that says what happened.
    let r = std::panic::catch_unwind(|| {
        vrun(async {
            evloop::get_running_loop()
                .unwrap()
                .create_future::<()>()
                .await
                .ok();
        })
    });
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("deadlock"), "{msg}");
}

/// Spec: LOOP-9
#[test]
fn cancelled_handles_never_run_and_timers_report_when_they_are_due() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        let h = lp.call_soon(t.pusher("cancelled soon (must not run)"));
        lp.call_soon(t.pusher("soon"));
        h.cancel();
        assert!(h.cancelled());
        let start = lp.now();
        let th = lp.call_later(Duration::from_secs(2), t.pusher("later (must not run)"));
        assert_eq!(th.when(), start + Duration::from_secs(2));
        th.cancel();
        assert!(th.cancelled());
        lp.call_at(start + Duration::from_secs(1), t.pusher("at 1s"));
        evloop::sleep(Duration::from_secs(3)).await;
        t.push("main at 3s");
    });
    assert_eq!(trace.get(), ["soon", "at 1s", "main at 3s"]);
}

/// Spec: LOOP-10
#[test]
fn get_event_loop_returns_the_running_loop_else_the_current_one_creating_it() {
    // Each test runs on its own thread, so this thread starts with no current loop.
    let a = evloop::get_event_loop();
    let b = evloop::get_event_loop();
    assert!(a.same_loop(&b), "the created loop is made current");
    let fresh = evloop::new_event_loop();
    assert!(!fresh.same_loop(&a), "new_event_loop makes a new loop ...");
    assert!(
        evloop::get_event_loop().same_loop(&a),
        "... and does not make it current"
    );
    evloop::set_event_loop(Some(fresh.clone()));
    assert!(evloop::get_event_loop().same_loop(&fresh));
    let f2 = fresh.clone();
    a.run_until_complete(async move {
        let here = evloop::get_event_loop();
        assert!(
            !here.same_loop(&f2),
            "inside a running loop it is that loop"
        );
    });
    fresh.close();
    let replaced = evloop::get_event_loop();
    assert!(
        !replaced.same_loop(&fresh),
        "a closed current loop is replaced"
    );
    evloop::set_event_loop(None);
    a.close();
    replaced.close();
}

/// Spec: LOOP-11
#[test]
fn debug_mode_warns_about_slow_steps_naming_the_task_and_where_it_was_created() {
    let ((), logs) = capture_logs(|| {
        evloop::Builder::new()
            .virtual_time(true)
            .debug(true)
            // Every step counts as slow, so no test has to be slow.
            .slow_callback_duration(Duration::ZERO)
            .run(async {
                evloop::create_task_named("slowpoke", async {})
                    .await
                    .unwrap();
            })
    });
    assert!(logs.contains("Executing step of slowpoke"), "{logs}");
    assert!(logs.contains("tests/event_loop.rs"), "{logs}");

    let ((), quiet) = capture_logs(|| {
        evloop::Builder::new()
            .virtual_time(true)
            .slow_callback_duration(Duration::ZERO)
            .run(async {
                evloop::create_task_named("slowpoke", async {})
                    .await
                    .unwrap();
            })
    });
    assert!(
        !quiet.contains("Executing"),
        "debug is off by default: {quiet}"
    );
}

/// A main task left pending by a deadlocked run finishes during a later run: only the later run's
/// own main task may stop that run (asyncio removes `_run_until_complete_cb` when
/// `run_until_complete` returns).
/// Spec: LOOP-4
#[test]
fn a_main_task_left_by_an_earlier_run_does_not_stop_a_later_run() {
    let lp = vloop();
    let gate = lp.create_future::<()>();
    let waiter = gate.clone();
    let first = lp.try_run_until_complete(async move {
        let _ = waiter.await;
    });
    assert!(matches!(first, Err(RunError::Deadlock(_))));
    let second = lp.try_run_until_complete(async move {
        gate.set_result(()).unwrap();
        // The first run's main task finishes now; this task is still sleeping.
        evloop::sleep(Duration::from_secs(1)).await;
        7
    });
    assert_eq!(second.unwrap(), 7);
    lp.close();
}

/// Spec: TIME-5, LOOP-9
#[test]
fn call_later_max_never_runs_and_can_be_cancelled_also_after_the_clock_moved() {
    for virtual_time in [true, false] {
        let trace = Trace::new();
        let lp = evloop::Builder::new().virtual_time(virtual_time).build();
        let guarded = |event: &'static str| {
            let guard = DropGuard(trace.clone(), "a cancelled callback was dropped");
            let t = trace.clone();
            move || {
                let _keep = &guard;
                t.push(event);
            }
        };
        // A virtual clock reads zero here; on the real clock it has already moved.
        let first = lp.call_later(Duration::MAX, guarded("ran (made at the start)"));
        lp.run_until_complete(evloop::sleep(Duration::from_millis(2)));
        assert!(lp.now() > Duration::ZERO);
        let second = lp.call_later(Duration::MAX, guarded("ran (made after the clock moved)"));
        assert_eq!(second.when(), Duration::MAX, "the deadline saturates");
        lp.run_until_complete(evloop::sleep(Duration::from_millis(2)));
        assert!(trace.get().is_empty(), "{:?}", trace.get());
        second.cancel();
        assert!(second.cancelled());
        assert_eq!(trace.get(), ["a cancelled callback was dropped"]);
        lp.run_until_complete(evloop::sleep(Duration::from_millis(2)));
        assert!(!first.cancelled());
        first.cancel();
        lp.close();
        assert_eq!(
            trace.get(),
            [
                "a cancelled callback was dropped",
                "a cancelled callback was dropped"
            ],
            "virtual_time({virtual_time})"
        );
    }
}

/// Spec: TIME-5, LOOP-9
#[test]
fn call_at_far_future_never_runs_and_a_past_instant_runs_next_turn() {
    let lp = vloop();
    let trace = Trace::new();
    let t = trace.clone();
    let r = lp.try_run_until_complete(async move {
        let lp = evloop::get_running_loop().unwrap();
        evloop::sleep(Duration::from_secs(5)).await;
        let far = lp.call_at(Duration::MAX, t.pusher("at Duration::MAX"));
        assert_eq!(far.when(), Duration::MAX);
        // Past the clock's range (u64 nanoseconds, about 584 years), though not Duration::MAX.
        lp.call_at(Duration::from_secs(1 << 40), t.pusher("at 2^40 s"));
        lp.call_at(Duration::from_secs(1), t.pusher("at 1 s (past)"));
        lp.call_soon(t.pusher("soon"));
        yield_now().await;
        t.push("main after one turn");
        yield_now().await;
        t.push("main after two turns");
        // Only the never timers are left: a deadlock, not a jump to the end of time.
        std::future::pending::<()>().await;
    });
    assert!(matches!(r, Err(RunError::Deadlock(_))), "{r:?}");
    assert_eq!(
        trace.get(),
        [
            "soon",
            "main after one turn",
            "at 1 s (past)",
            "main after two turns"
        ]
    );
    assert_eq!(lp.now(), Duration::from_secs(5));
    lp.close();
}

/// Spec: LOOP-12
#[test]
fn stop_ends_run_forever_after_the_current_turn_and_run_until_complete_with_stopped() {
    let trace = Trace::new();
    let lp = vloop();
    // A stop from a callback: the rest of that turn runs, what it queues does not.
    let (t, stopper) = (trace.clone(), lp.clone());
    lp.call_soon(move || {
        t.push("first");
        stopper.stop();
        let t2 = t.clone();
        stopper.call_soon(move || t2.push("next turn"));
    });
    lp.call_soon(trace.pusher("same turn"));
    lp.run_forever();
    assert_eq!(trace.get(), ["first", "same turn"]);
    // The callback queued then runs in the next run.
    lp.call_soon({
        let s = lp.clone();
        move || s.stop()
    });
    lp.run_forever();
    assert_eq!(trace.get(), ["first", "same turn", "next turn"]);

    // Stopped before the main future is done: asyncio's RuntimeError, and the future stays
    // pending for a later run.
    let task = lp.create_task(async {
        evloop::sleep(Duration::from_secs(1)).await;
        "done"
    });
    let s = lp.clone();
    lp.call_later(Duration::from_millis(10), move || s.stop());
    let err = lp.try_run_until_complete(task.clone()).unwrap_err();
    assert!(matches!(err, evloop::RunError::Stopped), "{err}");
    assert!(!task.done());
    assert_eq!(lp.run_until_complete(task), "done");

    // stop() while not running: the next run makes exactly one turn.
    let t = trace.clone();
    lp.stop();
    lp.call_soon(move || t.push("the one turn"));
    lp.run_forever();
    assert_eq!(trace.get().last().unwrap(), "the one turn");
    lp.close();
}

/// Spec: LOOP-13
#[test]
fn the_exception_handler_gets_what_no_task_can_be_told_of() {
    use evloop::ExceptionContext;
    use std::sync::{Arc, Mutex};
    type Seen = Vec<(String, Option<String>, Option<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let lp = vloop();
    let s = seen.clone();
    lp.set_exception_handler(Some(move |ctx: &ExceptionContext| {
        s.lock().unwrap().push((
            ctx.message().to_owned(),
            ctx.task().map(|t| t.name()),
            ctx.panic().map(|p| p.message().to_owned()),
        ));
    }));
    lp.run_until_complete(async {
        // A panicking callback.
        evloop::get_running_loop()
            .unwrap()
            .call_soon(|| panic!("callback exploded"));
        // A task's panic nobody reads.
        drop(evloop::create_task_named("lonely", async {
            panic!("nobody read me")
        }));
        yield_now().await;
        yield_now().await;
    });
    // A task destroyed pending when the loop closes.
    let _pending = lp.create_task_named("stuck", std::future::pending::<()>());
    // The user's own report.
    lp.call_exception_handler(ExceptionContext::new("from the user"));
    lp.close();
    let seen = seen.lock().unwrap();
    let find = |m: &str| seen.iter().find(|(msg, ..)| msg.contains(m)).cloned();
    let cb = find("a callback panicked").expect("the callback's panic");
    assert_eq!(cb.2.as_deref(), Some("callback exploded"));
    let lonely = find("never retrieved").expect("the unread panic");
    assert_eq!(lonely.1.as_deref(), Some("lonely"));
    assert_eq!(lonely.2.as_deref(), Some("nobody read me"));
    let stuck = find("destroyed but it is pending").expect("the pending task");
    assert_eq!(stuck.1.as_deref(), Some("stuck"));
    assert!(find("from the user").is_some());
}

/// Spec: LOOP-13
#[test]
fn the_default_handler_logs_and_a_panicking_handler_is_reported_by_it() {
    let ((), logs) = capture_logs(|| {
        let lp = evloop::EventLoop::new();
        lp.set_exception_handler(Some(|_: &evloop::ExceptionContext| {
            panic!("the handler itself broke")
        }));
        lp.call_soon(|| panic!("callback exploded"));
        lp.run_until_complete(evloop::sleep(Duration::ZERO));
        // Back to the default handler.
        lp.set_exception_handler(None::<fn(&evloop::ExceptionContext)>);
        lp.default_exception_handler(&evloop::ExceptionContext::new("said by default"));
        lp.close();
    });
    assert!(
        logs.contains("Unhandled error in exception handler"),
        "{logs}"
    );
    assert!(logs.contains("the handler itself broke"), "{logs}");
    assert!(logs.contains("callback exploded"), "{logs}");
    assert!(logs.contains("said by default"), "{logs}");
}

/// Spec: RUN-3
#[test]
fn run_reports_leftovers_that_panic_while_cancelled_to_the_exception_handler() {
    use std::sync::{Arc, Mutex};
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("cleanup failed");
        }
    }
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    evloop::Builder::new().virtual_time(true).run(async move {
        let lp = evloop::get_running_loop().unwrap();
        lp.set_exception_handler(Some(move |ctx: &evloop::ExceptionContext| {
            s.lock().unwrap().push(ctx.to_string());
        }));
        // A leftover whose future panics as it is dropped by the shutdown's cancellation.
        drop(evloop::create_task_named("leftover", async {
            let _guard = PanicsOnDrop;
            std::future::pending::<()>().await;
        }));
        yield_now().await;
    });
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|m| m.contains("cleanup failed")),
        "{seen:?}"
    );
}
