//! asyncio's synchronization primitives: `Lock`, `Event`, `Semaphore` / `BoundedSemaphore`,
//! `Condition`, `Barrier` (specs/sync.md), in plain runs and under the explorer.

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{vrun, yield_now, Trace};
use evloop::explore::{explore, Config};
use evloop::{
    Barrier, BoundedSemaphore, BrokenBarrierError, Condition, Event, Lock, Semaphore,
    SemaphoreReleaseError,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lets every task that is ready run before going on (virtual time moves only when nothing is).
async fn settle() {
    evloop::sleep(Duration::from_millis(1)).await;
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// How many tasks are inside a section at once, and the most there ever were.
#[derive(Clone, Default)]
struct Occupancy(Arc<(AtomicUsize, AtomicUsize)>);

impl Occupancy {
    /// Enters; leaves when the returned value drops (also when the task is cancelled inside).
    fn enter(&self) -> Inside {
        let now = self.0 .0.fetch_add(1, Ordering::SeqCst) + 1;
        self.0 .1.fetch_max(now, Ordering::SeqCst);
        Inside(self.clone())
    }
    fn most(&self) -> usize {
        self.0 .1.load(Ordering::SeqCst)
    }
}

struct Inside(Occupancy);

impl Drop for Inside {
    fn drop(&mut self) {
        self.0 .0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn quiet(c: Config) -> Config {
    c.use_env(false).write_record(false)
}

// ---------------------------------------------------------------------------------------- Lock

/// Spec: SYNC-1
#[test]
fn a_lock_is_held_by_one_task_at_a_time_and_a_free_lock_is_taken_without_waiting() {
    let trace = Trace::new();
    let t = trace.clone();
    let most = vrun(async move {
        let lock = Lock::new();
        assert!(!lock.locked());
        // A free lock nobody waits for is taken in the same step: a task queued earlier does not
        // run first.
        let other = {
            let t = t.clone();
            evloop::create_task(async move { t.push("other task runs") })
        };
        let guard = lock.acquire().await;
        t.push("acquired");
        assert!(lock.locked());
        assert_eq!(format!("{lock:?}"), "Lock(locked, waiters=0)");
        drop(guard);
        assert!(!lock.locked());
        other.await.unwrap();

        let inside = Occupancy::default();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                evloop::create_task(async move {
                    let _guard = lock.acquire().await;
                    let _in = inside.enter();
                    evloop::sleep(Duration::from_millis(1)).await;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(format!("{lock:?}"), "Lock(unlocked, waiters=0)");
        inside.most()
    });
    assert_eq!(most, 1);
    assert_eq!(trace.get(), ["acquired", "other task runs"]);
}

/// asyncio 3.12: `release` wakes the first waiter but leaves `locked()` false until it runs; a
/// newcomer in between does not take the lock, because a waiter is still in the list.
/// Spec: SYNC-1, SYNC-2
#[test]
fn a_released_lock_is_kept_for_the_woken_waiter_and_a_newcomer_waits_behind_it() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lock = Lock::new();
        let guard = lock.acquire().await;
        let waiter = {
            let (lock, t) = (lock.clone(), t.clone());
            evloop::create_task(async move {
                let _g = lock.acquire().await;
                t.push("waiter acquired");
                yield_now().await; // holds the lock across a step
                t.push("waiter releases");
            })
        };
        yield_now().await;
        drop(guard); // wakes the waiter, which has not run yet
        assert!(!lock.locked());
        assert_eq!(format!("{lock:?}"), "Lock(unlocked, waiters=1)");
        let again = lock.acquire().await;
        t.push("newcomer acquired");
        drop(again);
        waiter.await.unwrap();
    });
    assert_eq!(
        trace.get(),
        ["waiter acquired", "waiter releases", "newcomer acquired"]
    );
}

/// Spec: SYNC-2
#[test]
fn waiting_tasks_acquire_the_lock_in_the_order_they_started_waiting() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lock = Lock::new();
        let guard = lock.acquire().await;
        let mut tasks = Vec::new();
        for i in [2, 0, 1] {
            let (lock, t) = (lock.clone(), t.clone());
            tasks.push(evloop::create_task(async move {
                let _g = lock.acquire().await;
                t.push(format!("task {i}"));
                yield_now().await;
            }));
            yield_now().await;
        }
        assert_eq!(format!("{lock:?}"), "Lock(locked, waiters=3)");
        drop(guard);
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(trace.get(), ["task 2", "task 0", "task 1"]);
}

/// Spec: SYNC-3
#[test]
fn a_waiter_woken_then_cancelled_passes_the_lock_to_the_next_waiter() {
    vrun(async {
        let lock = Lock::new();
        let guard = lock.acquire().await;
        let spawn = |lock: &Lock| {
            let lock = lock.clone();
            evloop::create_task(async move {
                let _g = lock.acquire().await;
            })
        };
        let (first, second) = (spawn(&lock), spawn(&lock));
        yield_now().await;
        drop(guard); // wakes `first` only
        assert!(first.cancel()); // before it runs
        assert!(first.await.unwrap_err().is_cancelled());
        second.await.unwrap();
        assert_eq!(format!("{lock:?}"), "Lock(unlocked, waiters=0)");
    });
}

/// Spec: SYNC-3
#[test]
fn a_waiter_cancelled_while_waiting_never_holds_the_lock_and_leaves_no_waiter() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lock = Lock::new();
        let guard = lock.acquire().await;
        let waiter = {
            let (lock, t) = (lock.clone(), t.clone());
            evloop::create_task(async move {
                let _g = lock.acquire().await;
                t.push("the cancelled waiter acquired");
            })
        };
        yield_now().await;
        assert_eq!(format!("{lock:?}"), "Lock(locked, waiters=1)");
        waiter.cancel();
        assert!(waiter.await.unwrap_err().is_cancelled());
        assert_eq!(format!("{lock:?}"), "Lock(locked, waiters=0)");
        drop(guard);
        assert!(!lock.locked());
        drop(lock.acquire().await); // free, nobody in line: at once

        // A task cancelled while it holds the guard releases the lock (`async with` exits).
        let holder = {
            let lock = lock.clone();
            evloop::create_task(async move {
                let _g = lock.acquire().await;
                evloop::sleep(Duration::from_secs(60)).await;
            })
        };
        yield_now().await;
        assert!(lock.locked());
        holder.cancel();
        assert!(holder.await.unwrap_err().is_cancelled());
        assert!(!lock.locked());
    });
    assert!(trace.get().is_empty(), "{:?}", trace.get());
}

// --------------------------------------------------------------------------------------- Event

/// Spec: SYNC-4
#[test]
fn set_wakes_every_task_waiting_in_order_even_if_cleared_before_they_run() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let e = Event::new();
        let mut waiters = Vec::new();
        for i in [2, 0, 1] {
            let (e, t) = (e.clone(), t.clone());
            waiters.push(evloop::create_task(async move {
                e.wait().await;
                t.push(format!("waiter {i} woke"));
            }));
            yield_now().await;
        }
        assert_eq!(format!("{e:?}"), "Event(unset, waiters=3)");
        e.set();
        assert_eq!(format!("{e:?}"), "Event(set, waiters=0)");
        e.clear(); // the three were woken by the set: they return anyway
        for w in waiters {
            w.await.unwrap();
        }
        assert!(!e.is_set());
    });
    assert_eq!(
        trace.get(),
        ["waiter 2 woke", "waiter 0 woke", "waiter 1 woke"]
    );
}

/// Spec: SYNC-4
#[test]
fn wait_on_a_set_event_returns_at_once_without_yielding() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let e = Event::new();
        e.set();
        let other = {
            let t = t.clone();
            evloop::create_task(async move { t.push("other task runs") })
        };
        e.wait().await;
        t.push("wait returned");
        other.await.unwrap();
    });
    assert_eq!(trace.get(), ["wait returned", "other task runs"]);
}

/// Spec: SYNC-5
#[test]
fn clear_makes_later_waits_wait_for_the_next_set() {
    vrun(async {
        let e = Event::new();
        assert!(!e.is_set());
        e.set();
        e.set(); // no change
        assert!(e.is_set());
        e.clear();
        assert!(!e.is_set());
        let waiter = {
            let e = e.clone();
            evloop::create_task(async move { e.wait().await })
        };
        evloop::sleep(Duration::from_secs(5)).await;
        assert!(!waiter.done(), "a cleared event keeps its waiters waiting");
        e.set();
        waiter.await.unwrap();
    });
}

/// Spec: SYNC-5
#[test]
fn a_cancelled_event_waiter_leaves_no_waiter_behind() {
    vrun(async {
        let e = Event::new();
        let spawn = |e: &Event| {
            let e = e.clone();
            evloop::create_task(async move { e.wait().await })
        };
        let (gone, stays) = (spawn(&e), spawn(&e));
        yield_now().await;
        assert_eq!(format!("{e:?}"), "Event(unset, waiters=2)");
        gone.cancel();
        assert!(gone.await.unwrap_err().is_cancelled());
        assert_eq!(format!("{e:?}"), "Event(unset, waiters=1)");
        e.set();
        stays.await.unwrap();
        // Dropped after the set took its entry: nothing left to remove.
        e.clear();
        let late = spawn(&e);
        yield_now().await;
        e.set();
        late.cancel();
        assert!(late.await.unwrap_err().is_cancelled());
        assert_eq!(format!("{e:?}"), "Event(set, waiters=0)");
    });
}

// ----------------------------------------------------------------------------------- Semaphore

/// Spec: SYNC-6
#[test]
fn a_semaphore_lets_at_most_value_tasks_in_at_once() {
    let most = vrun(async {
        let sem = Semaphore::new(2);
        assert!(!sem.locked());
        let inside = Occupancy::default();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                evloop::create_task(async move {
                    let _permit = sem.acquire().await;
                    let _in = inside.enter();
                    evloop::sleep(Duration::from_millis(1)).await;
                })
            })
            .collect();
        yield_now().await;
        assert_eq!(format!("{sem:?}"), "Semaphore(locked, value=0, waiters=4)");
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            format!("{sem:?}"),
            "Semaphore(unlocked, value=2, waiters=0)"
        );
        // A plain semaphore has no bound.
        sem.release();
        assert_eq!(
            format!("{sem:?}"),
            "Semaphore(unlocked, value=3, waiters=0)"
        );
        inside.most()
    });
    assert_eq!(most, 2);
}

/// asyncio 3.12: a woken waiter owns its permit before it runs, and while it is still in the
/// list a newcomer waits even with a permit free; the woken waiter hands that one on when it
/// runs (not when a permit is next given back).
/// Spec: SYNC-6
#[test]
fn semaphore_waiters_are_served_in_order_and_a_newcomer_waits_behind_a_woken_waiter() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let sem = Semaphore::new(0);
        let spawn = |name: String| {
            let (sem, t) = (sem.clone(), t.clone());
            evloop::create_task(async move {
                let _p = sem.acquire().await;
                t.push(format!("{name} acquired"));
                evloop::sleep(Duration::from_secs(10)).await;
                t.push(format!("{name} releases"));
            })
        };
        let mut tasks = Vec::new();
        for i in [1, 0] {
            tasks.push(spawn(format!("waiter {i}")));
            yield_now().await;
        }
        sem.release(); // handed to waiter 1
        sem.release(); // handed to waiter 0
        sem.release(); // free, nobody in line
        assert_eq!(format!("{sem:?}"), "Semaphore(locked, value=1, waiters=2)");
        // A newcomer now waits, though a permit is free: two woken waiters come first.
        let permit = sem.acquire().await;
        t.push("newcomer acquired".to_string());
        evloop::sleep(Duration::from_secs(10)).await;
        t.push("newcomer releases".to_string());
        drop(permit);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            format!("{sem:?}"),
            "Semaphore(unlocked, value=3, waiters=0)"
        );
    });
    assert_eq!(
        trace.get(),
        [
            "waiter 1 acquired",
            "waiter 0 acquired",
            "newcomer acquired",
            "waiter 1 releases",
            "waiter 0 releases",
            "newcomer releases"
        ]
    );
}

/// Spec: SYNC-7
#[test]
fn a_bounded_semaphore_refuses_a_release_past_its_bound() {
    let sem = BoundedSemaphore::new(2);
    let err: SemaphoreReleaseError = sem.release().unwrap_err();
    assert_eq!(err.bound(), 2);
    assert!(err.to_string().contains("released too many times"), "{err}");
    assert_eq!(
        format!("{sem:?}"),
        "BoundedSemaphore(unlocked, value=2, bound=2, waiters=0)",
        "a refused release changes nothing"
    );
    let message = vrun(async move {
        let permit = sem.acquire().await;
        assert_eq!(
            format!("{sem:?}"),
            "BoundedSemaphore(unlocked, value=1, bound=2, waiters=0)"
        );
        drop(permit);
        // asyncio's acquire / release pair.
        sem.acquire().await.forget();
        assert!(sem.release().is_ok());
        assert!(sem.release().is_err());
        // A permit whose place was already given back by hand: asyncio raises in `__aexit__`.
        let permit = sem.acquire().await;
        sem.release().unwrap();
        let payload = catch_unwind(AssertUnwindSafe(|| drop(permit))).unwrap_err();
        assert_eq!(
            format!("{sem:?}"),
            "BoundedSemaphore(unlocked, value=2, bound=2, waiters=0)"
        );
        panic_message(payload)
    });
    assert!(message.contains("released too many times"), "{message}");
    assert!(message.contains("forget()"), "{message}");
}

/// Spec: SYNC-8
#[test]
fn a_semaphore_waiter_woken_then_cancelled_gives_its_permit_to_the_next_waiter() {
    vrun(async {
        let sem = Semaphore::new(1);
        let permit = sem.acquire().await;
        let spawn = |sem: &Semaphore| {
            let sem = sem.clone();
            evloop::create_task(async move {
                let _p = sem.acquire().await;
            })
        };
        let (first, second, third) = (spawn(&sem), spawn(&sem), spawn(&sem));
        yield_now().await;
        drop(permit); // handed to `first`
        assert_eq!(format!("{sem:?}"), "Semaphore(locked, value=0, waiters=3)");
        first.cancel();
        assert!(first.await.unwrap_err().is_cancelled());
        // Still waiting: takes no permit when cancelled.
        third.cancel();
        assert!(third.await.unwrap_err().is_cancelled());
        second.await.unwrap();
        assert_eq!(
            format!("{sem:?}"),
            "Semaphore(unlocked, value=1, waiters=0)"
        );
    });
}

// ----------------------------------------------------------------------------------- Condition

/// Spec: SYNC-9
#[test]
fn wait_lets_the_lock_go_while_waiting_and_returns_holding_it() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let cond = Condition::new();
        let waiter = {
            let (cond, t) = (cond.clone(), t.clone());
            evloop::create_task(async move {
                let g = cond.acquire().await;
                t.push("waiter waits");
                let g = cond.wait(g).await;
                t.push(format!("waiter woke holding the lock: {}", cond.locked()));
                drop(g);
            })
        };
        yield_now().await;
        assert!(!cond.locked(), "the waiter let the lock go");
        assert_eq!(format!("{cond:?}"), "Condition(unlocked, waiters=1)");
        let g = cond.acquire().await;
        cond.notify(&g, 1);
        t.push("notified");
        settle().await; // the waiter is woken, but cannot return without the lock
        assert!(!waiter.done());
        t.push("notifier releases");
        drop(g);
        waiter.await.unwrap();
        assert_eq!(format!("{cond:?}"), "Condition(unlocked, waiters=0)");
    });
    assert_eq!(
        trace.get(),
        [
            "waiter waits",
            "notified",
            "notifier releases",
            "waiter woke holding the lock: true"
        ]
    );
}

/// Spec: SYNC-9
#[test]
fn notify_wakes_the_first_n_waiters_in_order_and_notify_all_wakes_the_rest() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let cond = Condition::new();
        let mut waiters = Vec::new();
        for i in [3, 1, 0, 2] {
            let (cond, t) = (cond.clone(), t.clone());
            waiters.push(evloop::create_task(async move {
                let g = cond.acquire().await;
                let g = cond.wait(g).await;
                t.push(format!("waiter {i}"));
                drop(g);
            }));
            yield_now().await;
        }
        let g = cond.acquire().await;
        cond.notify(&g, 2);
        drop(g);
        settle().await;
        t.push("notify_all");
        let g = cond.acquire().await;
        cond.notify_all(&g);
        cond.notify(&g, 5); // nobody left waiting: nothing happens
        drop(g);
        for w in waiters {
            w.await.unwrap();
        }
    });
    assert_eq!(
        trace.get(),
        ["waiter 3", "waiter 1", "notify_all", "waiter 0", "waiter 2"]
    );
}

/// Spec: SYNC-9
#[test]
fn wait_for_checks_the_predicate_holding_the_lock_until_it_holds() {
    vrun(async {
        let cond = Condition::new();
        let n = Arc::new(AtomicUsize::new(0));
        let checks = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (cond, n, checks) = (cond.clone(), n.clone(), checks.clone());
            evloop::create_task(async move {
                let g = cond.acquire().await;
                let c = cond.clone();
                let g = cond
                    .wait_for(g, || {
                        checks.fetch_add(1, Ordering::SeqCst);
                        assert!(c.locked(), "the predicate runs with the lock held");
                        n.load(Ordering::SeqCst) >= 3
                    })
                    .await;
                assert!(cond.locked());
                drop(g);
            })
        };
        for _ in 0..3 {
            settle().await;
            let g = cond.acquire().await;
            n.fetch_add(1, Ordering::SeqCst);
            cond.notify_all(&g);
        }
        waiter.await.unwrap();
        assert_eq!(
            checks.load(Ordering::SeqCst),
            4,
            "once, then once per notify"
        );
        // True at once: no wait, the guard comes straight back.
        let g = cond.acquire().await;
        let g = cond.wait_for(g, || true).await;
        drop(g);
    });
}

/// Spec: SYNC-10
#[test]
fn waiting_or_notifying_with_another_locks_guard_panics_saying_which_guard_to_pass() {
    vrun(async {
        let cond = Condition::new();
        let other = Lock::new();
        let g = other.acquire().await;
        let payload = catch_unwind(AssertUnwindSafe(|| cond.notify(&g, 1))).unwrap_err();
        let message = panic_message(payload);
        assert!(
            message.contains("not of this condition's lock"),
            "{message}"
        );
        assert!(message.contains("cond.acquire().await"), "{message}");
        let payload = catch_unwind(AssertUnwindSafe(|| drop(cond.wait(g)))).unwrap_err();
        assert!(panic_message(payload).contains("Condition::wait"));
        assert!(!other.locked(), "the guard passed in was dropped");

        // The guard of the lock given to `with_lock` is the condition's.
        let lock = Lock::new();
        let cond = Condition::with_lock(lock.clone());
        let g = lock.acquire().await;
        assert!(cond.locked());
        cond.notify_all(&g);
        let g = cond.wait_for(g, || true).await;
        drop(g);
        assert!(!cond.lock().locked());
    });
}

/// Spec: SYNC-11
#[test]
fn a_condition_waiter_notified_then_cancelled_passes_the_notification_on() {
    vrun(async {
        let cond = Condition::new();
        let spawn = |cond: &Condition| {
            let cond = cond.clone();
            evloop::create_task(async move {
                let g = cond.acquire().await;
                drop(cond.wait(g).await);
            })
        };
        let (first, second) = (spawn(&cond), spawn(&cond));
        yield_now().await;
        let g = cond.acquire().await;
        cond.notify(&g, 1); // `first` only
        first.cancel(); // before it runs
        drop(g);
        assert!(first.await.unwrap_err().is_cancelled());
        second.await.unwrap();
        assert_eq!(format!("{cond:?}"), "Condition(unlocked, waiters=0)");
    });
}

/// Spec: SYNC-11
#[test]
fn a_condition_waiter_cancelled_while_taking_the_lock_again_passes_the_notification_and_the_lock_on(
) {
    vrun(async {
        let cond = Condition::new();
        let spawn = |cond: &Condition| {
            let cond = cond.clone();
            evloop::create_task(async move {
                let g = cond.acquire().await;
                drop(cond.wait(g).await);
            })
        };
        let (first, second) = (spawn(&cond), spawn(&cond));
        yield_now().await;
        let g = cond.acquire().await;
        cond.notify(&g, 1);
        settle().await; // `first` runs, and waits for the lock in the lock's line
        assert_eq!(format!("{:?}", cond.lock()), "Lock(locked, waiters=1)");
        drop(g); // the lock is kept for `first`
        first.cancel(); // before it runs
        assert!(first.await.unwrap_err().is_cancelled());
        second.await.unwrap();
        assert_eq!(format!("{cond:?}"), "Condition(unlocked, waiters=0)");
        assert_eq!(format!("{:?}", cond.lock()), "Lock(unlocked, waiters=0)");
    });
}

/// Spec: SYNC-11
#[test]
fn a_condition_waiter_cancelled_while_waiting_takes_nothing_and_leaves_no_waiter() {
    vrun(async {
        let cond = Condition::new();
        let waiter = {
            let cond = cond.clone();
            evloop::create_task(async move {
                let g = cond.acquire().await;
                drop(cond.wait(g).await);
            })
        };
        yield_now().await;
        waiter.cancel();
        assert!(waiter.await.unwrap_err().is_cancelled());
        assert_eq!(format!("{cond:?}"), "Condition(unlocked, waiters=0)");
        // A wait dropped before its first poll lets the guard, and so the lock, go.
        let g = cond.acquire().await;
        drop(cond.wait(g));
        assert!(!cond.locked());
    });
}

// ------------------------------------------------------------------------------------- Barrier

/// Spec: SYNC-12
#[test]
fn barrier_wait_returns_arrival_indices_and_the_last_arrival_lets_everyone_go() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let b = Barrier::new(3);
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (bb, t) = (b.clone(), t.clone());
            tasks.push(evloop::create_task(async move {
                let index = bb.wait().await.unwrap();
                t.push(format!("task {i} got index {index}"));
            }));
            yield_now().await;
            if i < 2 {
                assert_eq!(b.n_waiting(), i + 1);
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(format!("{b:?}"), "Barrier(filling, waiters=0/3)");
        assert_eq!(b.parties(), 3);
    });
    // The last arrival returns at once, in its own step; the others when they run.
    assert_eq!(
        trace.get(),
        [
            "task 2 got index 2",
            "task 0 got index 0",
            "task 1 got index 1"
        ]
    );
}

/// Spec: SYNC-12
#[test]
fn tasks_arriving_while_the_barrier_drains_wait_for_the_next_round() {
    vrun(async {
        let b = Barrier::new(2);
        let first = {
            let b = b.clone();
            evloop::create_task(async move { b.wait().await })
        };
        yield_now().await;
        assert_eq!(b.wait().await, Ok(1)); // the last arrival: at once
        assert_eq!(format!("{b:?}"), "Barrier(draining, waiters=0/2)");
        let late = {
            let b = b.clone();
            evloop::create_task(async move { b.wait().await })
        };
        // Arrives while `first` has yet to leave: waits for the next round, as does `late`.
        let again = b.wait().await;
        assert_eq!(first.await.unwrap(), Ok(0));
        // `late` ran first once the barrier filled again.
        assert_eq!((late.await.unwrap(), again), (Ok(0), Ok(1)));
        assert_eq!(format!("{b:?}"), "Barrier(filling, waiters=0/2)");
    });
}

/// Spec: SYNC-13
#[test]
fn abort_breaks_the_barrier_for_its_waiters_and_later_arrivals_until_reset() {
    vrun(async {
        let b = Barrier::new(3);
        let inside = {
            let b = b.clone();
            evloop::create_task(async move { b.wait().await })
        };
        yield_now().await;
        b.abort();
        assert!(b.broken());
        assert_eq!(b.n_waiting(), 0);
        assert_eq!(format!("{b:?}"), "Barrier(broken)");
        assert_eq!(inside.await.unwrap(), Err(BrokenBarrierError::Aborted));
        let err = b.wait().await.unwrap_err();
        assert_eq!(err, BrokenBarrierError::Aborted);
        assert!(err.to_string().contains("reset()"), "{err}");
        b.reset();
        assert!(!b.broken());
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                evloop::create_task(async move { b.wait().await.unwrap() })
            })
            .collect();
        let mut indices = Vec::new();
        for t in tasks {
            indices.push(t.await.unwrap());
        }
        assert_eq!(indices, [0, 1, 2]);
    });
}

/// Spec: SYNC-13
#[test]
fn reset_fails_the_tasks_inside_and_the_barrier_fills_again_from_index_zero() {
    vrun(async {
        let b = Barrier::new(3);
        let spawn = |b: &Barrier| {
            let b = b.clone();
            evloop::create_task(async move { b.wait().await })
        };
        let (x, y) = (spawn(&b), spawn(&b));
        yield_now().await;
        assert_eq!(b.n_waiting(), 2);
        b.reset();
        assert_eq!(format!("{b:?}"), "Barrier(resetting, waiters=0/3)");
        let newcomer = spawn(&b); // waits outside until the two are out
        let err = x.await.unwrap().unwrap_err();
        assert_eq!(err, BrokenBarrierError::Reset);
        assert!(err.to_string().contains("reset"), "{err}");
        assert_eq!(y.await.unwrap(), Err(BrokenBarrierError::Reset));
        yield_now().await;
        assert_eq!(format!("{b:?}"), "Barrier(filling, waiters=1/3)");
        let (p, q) = (spawn(&b), spawn(&b));
        assert_eq!(newcomer.await.unwrap(), Ok(0));
        assert_eq!((p.await.unwrap(), q.await.unwrap()), (Ok(1), Ok(2)));
        // Reset of an empty barrier: just filling.
        b.reset();
        assert_eq!(format!("{b:?}"), "Barrier(filling, waiters=0/3)");
    });
}

/// Spec: SYNC-14
#[test]
fn a_task_cancelled_inside_the_barrier_counts_itself_out() {
    vrun(async {
        let b = Barrier::new(2);
        let spawn = |b: &Barrier| {
            let b = b.clone();
            evloop::create_task(async move { b.wait().await })
        };
        // Cancelled while the barrier fills: the next two make a round.
        let gone = spawn(&b);
        yield_now().await;
        assert_eq!(b.n_waiting(), 1);
        gone.cancel();
        assert!(gone.await.unwrap_err().is_cancelled());
        assert_eq!(b.n_waiting(), 0);
        let first = spawn(&b);
        yield_now().await;
        assert_eq!(b.wait().await, Ok(1));
        assert_eq!(first.await.unwrap(), Ok(0));

        // Cancelled while the barrier drains, before it ran: the barrier still opens.
        let gone = spawn(&b);
        yield_now().await;
        assert_eq!(b.wait().await, Ok(1));
        gone.cancel();
        assert!(gone.await.unwrap_err().is_cancelled());
        assert_eq!(format!("{b:?}"), "Barrier(filling, waiters=0/2)");
        let first = spawn(&b);
        yield_now().await;
        assert_eq!(b.wait().await, Ok(1));
        assert_eq!(first.await.unwrap(), Ok(0));
    });
}

// ------------------------------------------------------------------------------- All of them

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

/// Spec: SYNC-15
#[test]
fn the_primitives_are_send_and_sync_and_work_across_workers_threads_and_loops() {
    send_sync::<Lock>();
    send_sync::<evloop::LockGuard>();
    send_sync::<Event>();
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<evloop::SemaphorePermit>();
    send_sync::<Condition>();
    send_sync::<Barrier>();
    send::<evloop::LockAcquire<'static>>();
    send::<evloop::EventWait<'static>>();
    send::<evloop::SemaphoreAcquire<'static>>();
    send::<evloop::ConditionWait<'static>>();
    send::<evloop::ConditionWaitFor<'static, fn() -> bool>>();
    send::<evloop::BarrierWait<'static>>();

    // An event set by a plain thread wakes waiters on two loops, one of them with two workers.
    let e = Event::new();
    let loops: Vec<_> = (0..2)
        .map(|workers| {
            let e = e.clone();
            std::thread::spawn(move || {
                evloop::Builder::new()
                    .workers(workers + 1)
                    .run(async move { e.wait().await })
            })
        })
        .collect();
    while format!("{e:?}") != "Event(unset, waiters=2)" {
        std::thread::yield_now();
    }
    std::thread::spawn(move || e.set()).join().unwrap();
    for l in loops {
        l.join().unwrap();
    }

    // A lock guard and a semaphore permit dropped on a pool thread wake the waiters on the loop.
    evloop::Builder::new().workers(2).run(async {
        let lock = Lock::new();
        let sem = Semaphore::new(1);
        let (guard, permit) = (lock.acquire().await, sem.acquire().await);
        let waiter = {
            let (lock, sem) = (lock.clone(), sem.clone());
            evloop::create_task(async move {
                let _g = lock.acquire().await;
                let _p = sem.acquire().await;
            })
        };
        evloop::to_thread(move || drop((guard, permit)))
            .await
            .unwrap();
        waiter.await.unwrap();
    });
}

// ------------------------------------------------------------------------- Under the explorer

/// Three tasks take the lock, each holding it across a step; under every order of the ready
/// tasks within two deviations, no two hold it at once and they get it in the order they
/// started asking for it.
/// Spec: SYNC-1, SYNC-2
#[test]
fn explored_schedules_never_let_two_tasks_hold_the_lock_and_keep_arrival_order() {
    let report = explore(quiet(Config::robustness().dfs(2)), || async {
        let lock = Lock::new();
        let order = Arc::new(Mutex::new((Vec::new(), Vec::new())));
        let inside = Occupancy::default();
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (lock, order, inside) = (lock.clone(), order.clone(), inside.clone());
                evloop::create_task(async move {
                    yield_now().await;
                    order.lock().unwrap().0.push(i); // asks, in this same step
                    let _g = lock.acquire().await;
                    order.lock().unwrap().1.push(i);
                    let _in = inside.enter();
                    yield_now().await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let (asked, got) = order.lock().unwrap().clone();
        assert_eq!(got, asked, "SYNC-2: the lock went out of arrival order");
        assert_eq!(inside.most(), 1, "SYNC-1: two tasks held the lock");
    });
    assert!(report.runs > 1, "{report:?}");
}

/// Spec: SYNC-4
#[test]
fn explored_schedules_wake_every_event_waiter_present_at_set() {
    let report = explore(quiet(Config::robustness().dfs(2)), || async {
        let e = Event::new();
        let woke = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (e, woke) = (e.clone(), woke.clone());
                evloop::create_task(async move {
                    e.wait().await;
                    woke.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        let setter = {
            let e = e.clone();
            evloop::create_task(async move {
                yield_now().await;
                e.set();
                e.clear();
            })
        };
        setter.await.unwrap();
        // Waiters that had not started waiting by the set wait for the next one.
        e.set();
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(woke.load(Ordering::SeqCst), 3);
    });
    assert!(report.runs > 1, "{report:?}");
}

/// Spec: SYNC-6, SYNC-8
#[test]
fn explored_schedules_never_admit_more_tasks_than_permits() {
    let report = explore(quiet(Config::robustness().dfs(2)), || async {
        let sem = Semaphore::new(2);
        let inside = Occupancy::default();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                evloop::create_task(async move {
                    let _p = sem.acquire().await;
                    let _in = inside.enter();
                    yield_now().await;
                })
            })
            .collect();
        yield_now().await;
        tasks[3].cancel(); // waiting, woken, holding or done: depends on the schedule
        for t in tasks {
            let _ = t.await;
        }
        assert!(
            inside.most() <= 2,
            "SYNC-6: {} tasks held 2 permits",
            inside.most()
        );
        assert_eq!(
            format!("{sem:?}"),
            "Semaphore(unlocked, value=2, waiters=0)",
            "SYNC-8: a permit was lost or doubled"
        );
    });
    assert!(report.runs > 1, "{report:?}");
}

/// Spec: SYNC-9, SYNC-11
#[test]
fn explored_schedules_hand_every_item_to_a_condition_consumer() {
    let report = explore(quiet(Config::robustness().dfs(2)), || async {
        let cond = Condition::new();
        let items: Arc<Mutex<Vec<Option<u32>>>> = Arc::default();
        let taken = Arc::new(Mutex::new(Vec::new()));
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let (cond, items, taken) = (cond.clone(), items.clone(), taken.clone());
                evloop::create_task(async move {
                    loop {
                        let g = cond.acquire().await;
                        let g = cond.wait_for(g, || !items.lock().unwrap().is_empty()).await;
                        let item = items.lock().unwrap().remove(0);
                        drop(g);
                        match item {
                            Some(x) => taken.lock().unwrap().push(x),
                            None => break,
                        }
                    }
                })
            })
            .collect();
        for item in [Some(1), Some(2), None, None] {
            let g = cond.acquire().await;
            items.lock().unwrap().push(item);
            cond.notify(&g, 1);
            drop(g);
            yield_now().await;
        }
        for c in consumers {
            c.await.unwrap();
        }
        let mut taken = taken.lock().unwrap().clone();
        taken.sort_unstable();
        assert_eq!(taken, [1, 2]);
    });
    assert!(report.runs > 1, "{report:?}");
}

/// Spec: SYNC-12
#[test]
fn explored_schedules_give_each_barrier_round_every_index_once() {
    let report = explore(quiet(Config::robustness().dfs(2)), || async {
        let b = Barrier::new(3);
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                evloop::create_task(async move {
                    let mut got = Vec::new();
                    for _ in 0..2 {
                        got.push(b.wait().await.unwrap());
                    }
                    got
                })
            })
            .collect();
        let mut rounds = vec![Vec::new(); 2];
        for t in tasks {
            for (round, index) in t.await.unwrap().into_iter().enumerate() {
                rounds[round].push(index);
            }
        }
        for mut r in rounds {
            r.sort_unstable();
            assert_eq!(r, [0, 1, 2]);
        }
        assert_eq!(format!("{b:?}"), "Barrier(filling, waiters=0/3)");
    });
    assert!(report.runs > 1, "{report:?}");
}
