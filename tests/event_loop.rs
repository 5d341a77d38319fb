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
