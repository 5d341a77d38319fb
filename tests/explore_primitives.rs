//! The explorer over one program per synchronization primitive, over cancellation and over
//! timeouts (specs/exploration.md): every order of the ready tasks within a bound of deviations
//! from asyncio's FIFO order, each program asserting its primitive's guarantees in every one. A
//! failure prints the replay token of the schedule that broke it.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use evloop::explore::{explore, note, Config, Report};
use evloop::{
    catch_cancel, timeout, wait_for, Barrier, Condition, Event, Lock, Semaphore, TaskError,
    TimeoutError,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

/// Any order of ready tasks, up to `k` deviations from FIFO, every schedule within the bound.
fn every_order(k: usize) -> Config {
    Config::robustness().dfs(k)
}

/// A shared log the program writes to; one per run.
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

fn explored(report: Report) {
    assert!(report.exhausted, "{report}");
    assert!(report.runs > 1, "the program offered no choice: {report}");
}

/// Three tasks take a lock around an await, a fourth is cancelled wherever it is (not yet in
/// line, waiting, or holding the lock): in every order at most one task is inside, the tasks
/// get the lock in the order they lined up, and the lock ends free with nobody left waiting.
/// Spec: SYNC-1, SYNC-2, SYNC-3, EXPLORE-2
#[test]
fn a_lock_is_exclusive_fair_and_survives_a_cancelled_waiter_in_every_order() {
    explored(explore(every_order(3), || async {
        let lock = Arc::new(Lock::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let (lined, got) = (Log::default(), Log::default());
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (lock, inside, lined, got) =
                    (lock.clone(), inside.clone(), lined.clone(), got.clone());
                evloop::create_task(async move {
                    lined.push(format!("{i}"));
                    let guard = lock.acquire().await;
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "SYNC-1");
                    got.push(format!("{i}"));
                    evloop::sleep(Duration::ZERO).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                })
            })
            .collect();
        evloop::sleep(Duration::ZERO).await;
        tasks[3].cancel();
        for t in &tasks {
            let _ = t.task_ref().wait().await;
        }
        let (lined, got) = (lined.take(), got.take());
        let fair: Vec<&String> = lined.iter().filter(|i| got.contains(i)).collect();
        assert_eq!(
            got.iter().collect::<Vec<_>>(),
            fair,
            "SYNC-2: the lock goes in line order"
        );
        for (i, t) in tasks.iter().enumerate().take(3) {
            assert!(t.done() && !t.cancelled(), "task {i} never got the lock");
        }
        assert!(!lock.locked(), "SYNC-3: the lock ends free");
        drop(lock.acquire().await);
    }));
}

/// Three waiters, one of them cancelled, and a setter, in every order: every waiter present at
/// `set` returns, a waiter arriving after it returns at once, and the cancelled one leaves
/// nothing behind.
/// Spec: SYNC-4, SYNC-5, EXPLORE-2
#[test]
fn an_event_wakes_every_waiter_in_every_order() {
    explored(explore(every_order(3), || async {
        let event = Arc::new(Event::new());
        let woke = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (event, woke) = (event.clone(), woke.clone());
                evloop::create_task(async move {
                    event.wait().await;
                    woke.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        let setter = {
            let event = event.clone();
            evloop::create_task(async move { event.set() })
        };
        waiters[2].cancel();
        setter.await.unwrap();
        for w in &waiters {
            let _ = w.task_ref().wait().await;
        }
        let cancelled = usize::from(waiters[2].cancelled());
        assert_eq!(woke.load(Ordering::SeqCst), 3 - cancelled, "SYNC-4");
        event.wait().await; // set: returns at once
    }));
}

/// A semaphore of two permits, four tasks holding it across an await, one of them cancelled
/// wherever it is: never more than two holders, and both permits back at the end.
/// Spec: SYNC-6, SYNC-8, EXPLORE-2
#[test]
fn a_semaphore_never_admits_more_than_its_permits_in_every_order() {
    explored(explore(every_order(3), || async {
        let sem = Arc::new(Semaphore::new(2));
        let holders = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (sem, holders) = (sem.clone(), holders.clone());
                evloop::create_task(async move {
                    let permit = sem.acquire().await;
                    assert!(holders.fetch_add(1, Ordering::SeqCst) < 2, "SYNC-6");
                    evloop::sleep(Duration::ZERO).await;
                    holders.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                })
            })
            .collect();
        evloop::sleep(Duration::ZERO).await;
        tasks[1].cancel();
        for t in &tasks {
            let _ = t.task_ref().wait().await;
        }
        for (i, t) in tasks.iter().enumerate() {
            assert!(i == 1 || !t.cancelled(), "task {i} was cancelled");
        }
        let (a, b) = (sem.acquire().await, sem.acquire().await);
        assert!(sem.locked(), "SYNC-8: exactly two permits are back");
        drop((a, b));
    }));
}

/// Four consumers wait on a condition for an item, one of them cancelled wherever it is; a
/// producer puts three items, notifying one waiter for each: every item is taken once, and the
/// three consumers left each take one (a notification given to the cancelled one goes on).
/// Spec: SYNC-9, SYNC-11, EXPLORE-2
#[test]
fn a_condition_hands_every_notification_to_a_live_waiter_in_every_order() {
    explored(explore(every_order(3), || async {
        let cond = Arc::new(Condition::new());
        let items = Arc::new(Mutex::new(Vec::<u32>::new()));
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (cond, items) = (cond.clone(), items.clone());
                evloop::create_task(async move {
                    let guard = cond.acquire().await;
                    let guard = cond
                        .wait_for(guard, || !items.lock().unwrap().is_empty())
                        .await;
                    let item = items.lock().unwrap().pop().unwrap();
                    drop(guard);
                    item
                })
            })
            .collect();
        evloop::sleep(Duration::ZERO).await;
        consumers[0].cancel();
        for item in 0..3 {
            let guard = cond.acquire().await;
            items.lock().unwrap().push(item);
            cond.notify(&guard, 1);
            drop(guard);
            evloop::sleep(Duration::ZERO).await;
        }
        let mut taken = Vec::new();
        for c in consumers {
            match c.await {
                Ok(item) => taken.push(item),
                Err(e) => assert!(e.is_cancelled(), "{e}"),
            }
        }
        taken.sort();
        assert_eq!(taken, [0, 1, 2], "SYNC-11: every item taken once");
    }));
}

/// Three parties pass a barrier twice in every order: each round hands out the indexes 0, 1
/// and 2 once each.
/// Spec: SYNC-12, EXPLORE-2
#[test]
fn a_barrier_hands_out_each_index_once_per_round_in_every_order() {
    explored(explore(every_order(3), || async {
        let barrier = Arc::new(Barrier::new(3));
        let parties: Vec<_> = (0..3)
            .map(|_| {
                let barrier = barrier.clone();
                evloop::create_task(async move {
                    let first = barrier.wait().await.unwrap();
                    let second = barrier.wait().await.unwrap();
                    (first, second)
                })
            })
            .collect();
        let mut rounds = [Vec::new(), Vec::new()];
        for p in parties {
            let (a, b) = p.await.unwrap();
            rounds[0].push(a);
            rounds[1].push(b);
        }
        for mut r in rounds {
            r.sort();
            assert_eq!(r, [0, 1, 2], "SYNC-12");
        }
    }));
}

/// A awaits B awaits C, each with a catch scope that cleans up with an await; A is cancelled
/// after zero to two turns, whatever ran by then: in every order the levels that started unwind
/// innermost first, and each ends cancelled.
/// Spec: CANCEL-5, CANCEL-6, EXPLORE-2
#[test]
fn a_cancelled_chain_unwinds_innermost_first_in_every_order() {
    for turns in 0..3 {
        explored(explore(every_order(3), move || async move {
            let log = Log::default();
            let level = |name: &'static str, inner: evloop::Task<()>, log: Log| async move {
                log.push(format!("{name} starts"));
                if let Err(c) = catch_cancel(inner).await {
                    evloop::sleep(Duration::ZERO).await; // cleanup that awaits
                    log.push(format!("{name} cleaned up"));
                    c.raise::<()>().await;
                }
            };
            let c = {
                let log = log.clone();
                evloop::create_task(async move {
                    log.push("c starts");
                    if let Err(cancel) = catch_cancel(evloop::sleep(HOUR)).await {
                        evloop::sleep(Duration::ZERO).await;
                        log.push("c cleaned up");
                        cancel.raise::<()>().await;
                    }
                })
            };
            let c_ref = c.task_ref();
            let b = evloop::create_task(level(
                "b",
                evloop::create_task(async move {
                    let _ = c.await;
                }),
                log.clone(),
            ));
            let a = evloop::create_task(level("a", b, log.clone()));
            for _ in 0..turns {
                evloop::sleep(Duration::ZERO).await;
            }
            a.cancel();
            let _ = a.task_ref().wait().await;
            let _ = c_ref.wait().await;
            let log = log.take();
            let at = |e: &str| log.iter().position(|x| x == e);
            for (inner, outer) in [("c", "b"), ("b", "a")] {
                if let (Some(i), Some(o)) = (
                    at(&format!("{inner} cleaned up")),
                    at(&format!("{outer} cleaned up")),
                ) {
                    assert!(
                        i < o,
                        "CANCEL-6: {outer} cleaned up before {inner}: {log:?}"
                    );
                }
            }
            assert!(a.cancelled(), "CANCEL-5: a re-raised: {log:?}");
        }));
    }
}

/// The work and `wait_for`'s deadline end in the same instant, with other tasks ready around
/// them: in every order `wait_for` gives the work's value when the work returned one, and
/// `TimeoutError` when the deadline's cancellation won.
/// Spec: TIMEOUT-3, EXPLORE-2
#[test]
fn wait_for_never_loses_a_result_that_arrives_with_its_deadline_in_every_order() {
    explored(explore(every_order(3), || async {
        let noise = evloop::create_task(async {
            for _ in 0..2 {
                evloop::sleep(SEC).await;
            }
        });
        let work = evloop::create_task(async {
            evloop::sleep(SEC).await;
            7
        });
        let w = work.task_ref();
        let r = wait_for(work, Some(SEC)).await;
        if w.cancelled() {
            assert_eq!(r, Err(TimeoutError));
        } else {
            assert_eq!(
                r,
                Ok(7),
                "TIMEOUT-3: the work returned and wait_for lost it"
            );
        }
        noise.await.unwrap();
    }));
}

/// A task inside a `timeout` is cancelled from outside in the same instant as the deadline: in
/// every order the outside cancellation reaches the task (it ends cancelled), and is never
/// turned into a `TimeoutError`.
/// Spec: TIMEOUT-2, EXPLORE-2
#[test]
fn an_outside_cancellation_with_the_deadline_is_never_swallowed_in_every_order() {
    explored(explore(every_order(3), || async {
        let t = evloop::create_task(async {
            let r = timeout(Some(SEC)).run(evloop::sleep(HOUR)).await;
            // Only the deadline may end the block this way; the outside cancel must go on.
            evloop::sleep(Duration::ZERO).await;
            r
        });
        let canceller = {
            let t = t.task_ref();
            evloop::create_task(async move {
                evloop::sleep(SEC).await;
                t.cancel();
            })
        };
        canceller.await.unwrap();
        match t.await {
            Err(TaskError::Cancelled(_)) => {}
            other => panic!("TIMEOUT-2: the outside cancellation was swallowed: {other:?}"),
        }
    }));
}
