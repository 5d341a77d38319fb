//! Time: sleeps and timers on the loop's clock, and the virtual clock (specs/time.md).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{vrun, yield_now, Trace};
use std::sync::mpsc;
use std::time::Duration;

/// Spec: TIME-1
#[test]
fn sleep_and_timers_never_wake_early() {
    vrun(async {
        let lp = evloop::get_running_loop().unwrap();
        for ms in [0u64, 1, 7, 250, 1000, 3_600_000] {
            let start = lp.now();
            evloop::sleep(Duration::from_millis(ms)).await;
            assert!(
                lp.now() - start >= Duration::from_millis(ms),
                "woke early for {ms} ms"
            );
        }
        let fired = lp.create_future::<Duration>();
        let (f, l) = (fired.clone(), lp.clone());
        let due = lp.now() + Duration::from_millis(1500);
        lp.call_at(due, move || f.set_result(l.now()).unwrap());
        assert!(fired.await.unwrap() >= due);
    });
    // On the real clock too (a zero-length sleep needs no real waiting).
    evloop::run(async {
        let lp = evloop::get_running_loop().unwrap();
        let start = lp.now();
        evloop::sleep(Duration::from_nanos(1)).await;
        assert!(lp.now() - start >= Duration::from_nanos(1));
    });
}

/// Spec: TIME-2
#[test]
fn timers_fire_in_deadline_order_and_equal_deadlines_in_fifo_order() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        for (name, secs) in [
            ("a@3", 3),
            ("b@1", 1),
            ("c@2", 2),
            ("d@1", 1),
            ("e@1", 1),
            ("f@0", 0),
        ] {
            lp.call_later(Duration::from_secs(secs), t.pusher(name));
        }
        let t2 = t.clone();
        let sleeper = evloop::create_task(async move {
            evloop::sleep(Duration::from_secs(2)).await;
            t2.push("sleeper@2");
        });
        evloop::sleep(Duration::from_secs(4)).await;
        sleeper.await.unwrap();
    });
    // The sleeper's timer was set at its first poll, after c@2, so it fires after c@2.
    assert_eq!(
        trace.get(),
        ["f@0", "b@1", "d@1", "e@1", "c@2", "sleeper@2", "a@3"]
    );
}

/// Spec: TIME-3
#[test]
fn sleep_zero_yields_exactly_one_loop_turn() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        let (ta, l) = (t.clone(), lp.clone());
        lp.call_soon(move || {
            ta.push("A (turn 1)");
            l.call_soon(ta.pusher("A2 (turn 2)"));
        });
        t.push("main yields");
        yield_now().await;
        t.push("main resumed (turn 1)");
        yield_now().await;
        t.push("main resumed (turn 2)");
    });
    assert_eq!(
        trace.get(),
        [
            "main yields",
            "A (turn 1)",
            "main resumed (turn 1)",
            "A2 (turn 2)",
            "main resumed (turn 2)"
        ]
    );

    // Two tasks taking turns with bare yields interleave step by step.
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let tasks: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let t = t.clone();
                evloop::create_task(async move {
                    for i in 0..3 {
                        t.push(format!("{name}{i}"));
                        yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(trace.get(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

/// Spec: TIME-4
#[test]
fn the_virtual_clock_stands_still_while_anything_is_ready() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        let l = lp.clone();
        lp.call_later(Duration::from_secs(1), move || {
            let t = l.time();
            assert_eq!(t, 1.0, "the clock jumps exactly to the deadline");
        });
        let t2 = t.clone();
        let busy = evloop::create_task(async move {
            for _ in 0..100 {
                yield_now().await;
            }
            t2.push(format!(
                "100 turns later the clock reads {}",
                evloop::get_running_loop().unwrap().time()
            ));
        });
        busy.await.unwrap();
        evloop::sleep(Duration::from_secs(2)).await;
        t.push(format!("after sleeping 2 s: {}", lp.time()));
    });
    assert_eq!(
        trace.get(),
        ["100 turns later the clock reads 0", "after sleeping 2 s: 2"]
    );
}

/// Spec: TIME-4, FUT-4
#[test]
fn the_virtual_clock_waits_for_a_live_resolver() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        let t2 = t.clone();
        let timer = evloop::create_task(async move {
            evloop::sleep(Duration::from_secs(10)).await;
            t2.push("timer fired");
        });
        let fut = lp.create_future::<u32>();
        let resolver = fut.resolver();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let helper = std::thread::spawn(move || {
            // Resolve only once the loop has had every chance to jump the clock.
            go_rx.recv().unwrap();
            resolver.resolve(9).unwrap();
        });
        // Let the timer task start and the loop run out of ready work before we block it.
        yield_now().await;
        go_tx.send(()).unwrap();
        assert_eq!(fut.await.unwrap(), 9);
        t.push(format!("resolved at {}", lp.time()));
        timer.await.unwrap();
        t.push(format!("main done at {}", lp.time()));
        helper.join().unwrap();
    });
    assert_eq!(
        trace.get(),
        ["resolved at 0", "timer fired", "main done at 10"]
    );
}

/// Deadlines for the order check below: dense ones (many equal, many in the same millisecond),
/// sparse ones up to 20 s (past the timer window of about 4 s), a few sub-millisecond ones.
fn scattered_deadline(rng: &mut u64, base: Duration) -> Duration {
    *rng = rng
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let r = *rng >> 33;
    let ms = match r % 4 {
        0 | 1 => r % 50,
        2 => r % 20_000,
        _ => 0,
    };
    let sub = if r % 3 == 0 { (r >> 8) % 1_000_000 } else { 0 };
    base + Duration::from_millis(ms) + Duration::from_nanos(sub)
}

/// Spec: TIME-1, TIME-2
#[test]
fn thousands_of_timers_fire_in_exact_deadline_then_scheduling_order() {
    use std::sync::{Arc, Mutex};
    const FIRST: usize = 2000;
    const SECOND: usize = 1000;
    // Timer `id`s are their scheduling order; the one with id `TRIGGER` schedules the second
    // batch (some deadlines already past, some far) and cancels every 7th timer of the first.
    const TRIGGER: usize = 5;
    let mut rng = 7;
    let first: Vec<Duration> = (0..FIRST)
        .map(|_| scattered_deadline(&mut rng, Duration::ZERO))
        .collect();
    let trigger_at = first[TRIGGER];
    let second: Vec<Duration> = (0..SECOND)
        .map(|_| {
            scattered_deadline(
                &mut rng,
                trigger_at.saturating_sub(Duration::from_millis(30)),
            )
        })
        .collect();
    let cancelled = |id: usize| id < FIRST && id % 7 == 0 && id != TRIGGER;

    // Reference: each turn takes every pending timer that is due, in (deadline, id) order; a
    // virtual clock jumps to the earliest deadline when none is due.
    let mut expected = Vec::new();
    let mut pending: Vec<(Duration, usize)> = first.iter().copied().zip(0..).collect();
    let mut now = Duration::ZERO;
    while !pending.is_empty() {
        let mut due: Vec<_> = pending.iter().copied().filter(|&(d, _)| d <= now).collect();
        if due.is_empty() {
            now = pending.iter().map(|&(d, _)| d).min().unwrap();
            continue;
        }
        due.sort();
        pending.retain(|&(d, _)| d > now);
        for (_, id) in due {
            // A cancelled handle that was already moved to the ready queue does not run either.
            if cancelled(id) && expected.contains(&TRIGGER) {
                continue;
            }
            expected.push(id);
            if id == TRIGGER {
                pending.retain(|&(_, i)| !cancelled(i));
                pending.extend(second.iter().copied().zip(FIRST..));
            }
        }
    }

    let fired = Arc::new(Mutex::new(Vec::new()));
    let f = fired.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        let handles = Arc::new(Mutex::new(Vec::new()));
        let fire = |id: usize, deadline: Duration| {
            let f = f.clone();
            let handles = handles.clone();
            let second = second.clone();
            let f2 = f.clone();
            move || {
                let lp = evloop::get_running_loop().unwrap();
                assert!(lp.now() >= deadline, "timer {id} fired early");
                f.lock().unwrap().push(id);
                if id == TRIGGER {
                    for (j, h) in handles.lock().unwrap().iter().enumerate() {
                        if cancelled(j) {
                            evloop::TimerHandle::cancel(h);
                        }
                    }
                    for (k, &d) in second.iter().enumerate() {
                        let f3 = f2.clone();
                        let id = FIRST + k;
                        lp.call_at(d, move || {
                            let lp = evloop::get_running_loop().unwrap();
                            assert!(lp.now() >= d, "timer {id} fired early");
                            f3.lock().unwrap().push(id);
                        });
                    }
                }
            }
        };
        for (id, &d) in first.iter().enumerate() {
            let h = lp.call_at(d, fire(id, d));
            handles.lock().unwrap().push(h);
        }
        evloop::sleep(Duration::from_secs(60)).await;
    });
    let fired = fired.lock().unwrap().clone();
    assert_eq!(fired.len(), expected.len());
    assert!(
        fired == expected,
        "timers fired out of (deadline, scheduling) order"
    );
}

/// Spec: TIME-5
#[test]
fn sleep_max_stays_pending_until_cancelled_and_run_returns_mains_value() {
    for virtual_time in [true, false] {
        let out = evloop::Builder::new()
            .virtual_time(virtual_time)
            .run(async {
                // From any clock reading but zero, `now + Duration::MAX` used to overflow.
                evloop::sleep(Duration::from_millis(1)).await;
                let forever = evloop::create_task(evloop::sleep(Duration::MAX));
                // Left pending: `run` cancels it on the way out.
                let left = evloop::create_task(evloop::sleep(Duration::MAX));
                evloop::sleep(Duration::from_millis(5)).await;
                assert!(!forever.done(), "a sleep of Duration::MAX ended");
                assert!(forever.cancel());
                let r = forever.await;
                assert!(r.unwrap_err().is_cancelled());
                assert!(!left.done());
                "main's value"
            });
        assert_eq!(out, "main's value", "virtual_time({virtual_time})");
    }
}

/// Spec: TIME-5, LOOP-8
#[test]
fn main_awaiting_only_sleep_max_in_virtual_time_is_a_deadlock_and_the_clock_stays() {
    for before in [Duration::ZERO, Duration::from_secs(1)] {
        let lp = common::vloop();
        let r = lp.try_run_until_complete(async move {
            evloop::sleep(before).await;
            evloop::sleep(Duration::MAX).await;
        });
        assert!(
            matches!(r, Err(evloop::RunError::Deadlock(_))),
            "after {before:?}: {r:?}"
        );
        assert_eq!(
            lp.now(),
            before,
            "the clock jumped towards a deadline never reached"
        );
        lp.close();
    }
}

/// Spec: TIME-5, TIME-2
#[test]
fn never_timers_beside_normal_ones_leave_those_firing_in_order() {
    for virtual_time in [true, false] {
        let trace = Trace::new();
        let t = trace.clone();
        evloop::Builder::new()
            .virtual_time(virtual_time)
            .run(async move {
                let lp = evloop::get_running_loop().unwrap();
                evloop::sleep(Duration::from_millis(1)).await;
                let ms = Duration::from_millis;
                lp.call_later(Duration::MAX, t.pusher("never (call_later)"));
                lp.call_later(ms(20), t.pusher("b@20"));
                let t2 = t.clone();
                let sleeper = evloop::create_task(async move {
                    evloop::sleep(Duration::MAX).await;
                    t2.push("never (sleep)");
                });
                lp.call_at(Duration::MAX, t.pusher("never (call_at)"));
                lp.call_later(ms(10), t.pusher("a@10"));
                lp.call_later(ms(u64::MAX), t.pusher("never (u64::MAX ms)"));
                evloop::sleep(ms(30)).await;
                t.push("main@30");
                sleeper.cancel();
            });
        assert_eq!(
            trace.get(),
            ["a@10", "b@20", "main@30"],
            "virtual_time({virtual_time})"
        );
    }
}

/// Spec: TIME-5
#[test]
fn cancelled_never_timers_give_their_place_back() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;
    vrun(async {
        let lp = evloop::get_running_loop().unwrap();
        let live = lp.call_later(Duration::MAX, || {});
        for _ in 0..10_000 {
            lp.call_later(Duration::MAX, || {}).cancel();
            // Armed by its first poll, cancelled by its drop.
            let mut nap = evloop::sleep(Duration::MAX);
            std::future::poll_fn(|cx| {
                assert!(Pin::new(&mut nap).poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        }
        let held = evloop::__private::never_timers(&lp);
        assert!(
            held <= 128,
            "{held} never-firing timers held, 1 of them live"
        );
        live.cancel();
    });
}
