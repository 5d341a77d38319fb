//! shuttle: bigger gather scenarios (3 workers, helper threads, nested gathers) under random and
//! PCT schedules, and the end-to-end test of the replay line.
#![cfg(feature = "shuttle")]

use evloop::{Builder, GatherError, LoopFuture, TaskError};
use evloop_check::check;
use evloop_model::sync::atomic::{AtomicUsize, Ordering};
use evloop_model::sync::Arc;
use evloop_model::thread;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Eight children on three workers, each waiting for a value that one of two helper threads
/// delivers in its own order: the gather's results follow argument order in every schedule.
/// Spec: GATHER-1, GATHER-2, THREAD-1, FUT-4
#[test]
fn gather_of_many_children_woken_from_helper_threads_keeps_argument_order() {
    check(|| {
        const N: usize = 8;
        let out = Builder::new().virtual_time(true).workers(3).run(async {
            let futs: Vec<LoopFuture<usize>> = (0..N).map(|_| LoopFuture::new()).collect();
            let mut evens = Vec::new();
            let mut odds = Vec::new();
            for (i, f) in futs.iter().enumerate() {
                let r = (i, f.resolver());
                if i % 2 == 0 {
                    evens.push(r)
                } else {
                    odds.push(r)
                }
            }
            let a = thread::spawn("helper-evens".into(), move || {
                for (i, r) in evens.into_iter().rev() {
                    r.resolve(i).unwrap();
                }
            });
            let b = thread::spawn("helper-odds".into(), move || {
                for (i, r) in odds {
                    r.resolve(i).unwrap();
                }
            });
            let children = futs.into_iter().map(|f| async move { f.await.unwrap() });
            let out = evloop::gather(children).await.unwrap();
            a.join().unwrap();
            b.join().unwrap();
            out
        });
        assert_eq!(out, (0..N).collect::<Vec<_>>(), "GATHER-1: argument order");
    });
}

/// A task awaiting nested gathers is cancelled from another thread: every descendant that has
/// not finished is cancelled and its future dropped; nothing sleeps on.
/// Spec: GATHER-5, TASK-7, THREAD-2
#[test]
fn cancelling_a_task_awaiting_nested_gathers_cancels_every_descendant() {
    check(|| {
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let (cancelled, now) = Builder::new()
            .virtual_time(true)
            .workers(3)
            .run(async move {
                let leaf = |secs: u64, d: Arc<AtomicUsize>| -> BoxFut<u64> {
                    // Outside the async block: a child cancelled before its first poll still
                    // drops it.
                    let g = Guard(d);
                    Box::pin(async move {
                        let _g = g;
                        evloop::sleep(Duration::from_secs(secs)).await;
                        secs
                    })
                };
                let inner1 = evloop::gather([leaf(3600, d.clone()), leaf(3600, d.clone())]);
                let inner2 = evloop::gather([leaf(3600, d.clone()), leaf(0, d.clone())]);
                let outer = evloop::create_task(async move {
                    let inners: Vec<BoxFut<Result<Vec<u64>, TaskError>>> =
                        vec![Box::pin(inner1), Box::pin(inner2)];
                    evloop::gather(inners).await
                });
                // The canceller is cross-thread work the virtual clock must wait for.
                let keep_clock = LoopFuture::<()>::new();
                let in_flight = keep_clock.resolver();
                let target = outer.task_ref();
                let canceller = thread::spawn("canceller".into(), move || {
                    target.cancel();
                    drop(in_flight);
                });
                // Only whether it ended cancelled: returning the `Cancelled` itself would end
                // this task cancelled too (CANCEL-8).
                let cancelled = matches!(outer.await, Err(TaskError::Cancelled(_)));
                canceller.join().unwrap();
                // Let every cancelled descendant report in.
                for _ in 0..4 {
                    evloop::sleep(Duration::ZERO).await;
                }
                (cancelled, evloop::get_running_loop().unwrap().now())
            });
        assert!(cancelled, "the outer task ends cancelled");
        assert!(now < Duration::from_secs(3600), "nothing slept on: {now:?}");
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            4,
            "every leaf future dropped once"
        );
    });
}

/// One child fails while its siblings are still sleeping: the gather resolves at once with that
/// child's error and index, and the siblings keep running to the end (they are not cancelled).
/// Spec: GATHER-4, THREAD-1
#[test]
fn the_first_failure_propagates_at_once_while_siblings_keep_running() {
    check(|| {
        let finished = Arc::new(AtomicUsize::new(0));
        let f = finished.clone();
        let (err_index, at) = Builder::new()
            .virtual_time(true)
            .workers(3)
            .run(async move {
                let lp = evloop::get_running_loop().unwrap();
                let children: Vec<BoxFut<Result<u8, String>>> = (0..4u8)
                    .map(|i| {
                        let f = f.clone();
                        Box::pin(async move {
                            if i == 2 {
                                evloop::sleep(Duration::from_millis(1)).await;
                                return Err(format!("child {i} failed"));
                            }
                            evloop::sleep(Duration::from_millis(5)).await;
                            f.fetch_add(1, Ordering::SeqCst);
                            Ok(i)
                        }) as BoxFut<Result<u8, String>>
                    })
                    .collect();
                let r = evloop::try_gather(children).await;
                let at = lp.now();
                let index = match r {
                    Err(GatherError::Failed { index, .. }) => index,
                    other => panic!("expected the child's failure, got {other:?}"),
                };
                evloop::sleep(Duration::from_millis(10)).await;
                (index, at)
            });
        assert_eq!(err_index, 2);
        assert!(
            at < Duration::from_millis(5),
            "resolved at {at:?}, not at once"
        );
        assert_eq!(
            finished.load(Ordering::SeqCst),
            3,
            "the siblings ran to the end"
        );
        // A sibling finishing after the gather resolved must be absorbed quietly, not panic in
        // the gather's done callback.
        let panics: Vec<String> = evloop_model::trace::events()
            .into_iter()
            .filter(|e| e.what.contains("panicked"))
            .map(|e| e.what)
            .collect();
        assert!(
            panics.is_empty(),
            "GATHER-4: late siblings panicked: {panics:?}"
        );
    });
}

struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The timeline block a failure prints.
fn timeline(out: &str) -> String {
    let start = out.find("timeline of that schedule").expect("a timeline");
    let end = out[start..].find("record written").expect("a record") + start;
    out[start..end].to_owned()
}

/// End to end: with `lost_wakeup` injected, the gather check fails, prints ONE replay line, and
/// running that line's token again fails at once (first schedule), every time, with the same
/// timeline of runtime events as the original failure.
/// Spec: MODEL-1, MODEL-2
#[test]
fn a_failure_replays_exactly_from_its_printed_line() {
    let check = "gather_of_many_children_woken_from_helper_threads_keeps_argument_order";
    let (passed, first) =
        evloop_check::report::run_child_test(check, &[("EVLOOP_BUG", "lost_wakeup")]);
    assert!(!passed, "the check must fail with the bug on:\n{first}");
    let lines: Vec<&str> = first
        .lines()
        .filter(|l| l.starts_with("EVLOOP_REPLAY='"))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one replay line:\n{first}");
    assert!(lines[0].contains("EVLOOP_BUG=lost_wakeup"), "{}", lines[0]);
    assert!(lines[0].contains(&format!("--test shuttle_gather -- {check} --exact")));
    let token = lines[0]["EVLOOP_REPLAY='".len()..]
        .split('\'')
        .next()
        .unwrap();
    let original = timeline(&first);
    for _ in 0..2 {
        let (passed, again) = evloop_check::report::run_child_test(
            check,
            &[("EVLOOP_BUG", "lost_wakeup"), ("EVLOOP_REPLAY", token)],
        );
        assert!(!passed, "the replay must fail again:\n{again}");
        assert!(
            again.contains("FAILED under shuttle after 1 schedule(s)"),
            "{again}"
        );
        assert_eq!(
            timeline(&again),
            original,
            "the replay follows the same schedule"
        );
    }
}
