//! loom: the hand-offs of asyncio's synchronization primitives (specs/sync.md) against a release,
//! a set, a notify or a cancel from another thread.
#![cfg(feature = "loom")]

use evloop::{Barrier, Builder, Condition, Event, Lock, Semaphore};
use evloop_check::check;
use std::time::Duration;

/// A task holds the lock while two others wait; a pool thread drops the guard while the loop
/// cancels the first waiter. Whichever lands first, the second waiter gets the lock: release
/// first, the first waiter is woken and its cancellation passes the lock on (SYNC-3); cancel
/// first, the release wakes the second waiter from the other thread. A wake that is not passed
/// on leaves the second waiter asleep beside a free lock, which the virtual clock reports as a
/// deadlock.
/// Spec: SYNC-2, SYNC-3, SYNC-15
#[test]
fn a_release_on_another_thread_racing_the_first_waiters_cancellation_reaches_the_next_waiter() {
    check(|| {
        Builder::new().virtual_time(true).run(async {
            let lock = Lock::new();
            let guard = lock.acquire().await;
            let spawn = |lock: &Lock| {
                let lock = lock.clone();
                evloop::create_task(async move { drop(lock.acquire().await) })
            };
            let (first, second) = (spawn(&lock), spawn(&lock));
            evloop::sleep(Duration::ZERO).await; // both wait, `first` in front
            let releaser = evloop::to_thread(move || drop(guard));
            first.cancel();
            assert!(first.await.unwrap_err().is_cancelled());
            second.await.unwrap();
            releaser.await.unwrap();
            assert_eq!(format!("{lock:?}"), "Lock(unlocked, waiters=0)");
        });
    });
}

/// A task waits on an event while a pool thread sets it: the set lands before the waiter's
/// first look, between its first look and its registration (while it clones its waker with the
/// lock let go), or after it registered. In every order the waiter returns. A waiter that does
/// not look again after cloning its waker registers after the set and sleeps for good (a
/// virtual-time deadlock).
/// Spec: SYNC-4, SYNC-15
#[test]
fn a_set_on_another_thread_racing_a_waiter_registering_always_wakes_it() {
    check(|| {
        Builder::new().virtual_time(true).run(async {
            let e = Event::new();
            let setter = {
                let e = e.clone();
                evloop::to_thread(move || e.set())
            };
            e.wait().await;
            setter.await.unwrap();
            assert_eq!(format!("{e:?}"), "Event(set, waiters=0)");
        });
    });
}

/// As for the lock: a permit given back on a pool thread races the cancellation of the first
/// waiter. The second waiter gets the permit, and the semaphore ends with exactly its one permit
/// free: a permit handed to the cancelled waiter is given back once, never lost (a deadlock)
/// and never doubled (two free at the end).
/// Spec: SYNC-6, SYNC-8, SYNC-15
#[test]
fn a_permit_given_back_on_another_thread_racing_the_first_waiters_cancellation_is_handed_on_once() {
    check(|| {
        Builder::new().virtual_time(true).run(async {
            let sem = Semaphore::new(1);
            let permit = sem.acquire().await;
            let spawn = |sem: &Semaphore| {
                let sem = sem.clone();
                evloop::create_task(async move { drop(sem.acquire().await) })
            };
            let (first, second) = (spawn(&sem), spawn(&sem));
            evloop::sleep(Duration::ZERO).await;
            let releaser = evloop::to_thread(move || drop(permit));
            first.cancel();
            assert!(first.await.unwrap_err().is_cancelled());
            second.await.unwrap();
            releaser.await.unwrap();
            assert_eq!(
                format!("{sem:?}"),
                "Semaphore(unlocked, value=1, waiters=0)",
                "SYNC-8: the permit was lost or doubled"
            );
        });
    });
}

/// Two tasks wait on a condition; a pool thread, holding the lock, notifies one while the loop
/// cancels the first waiter. Whichever lands first, the second waiter is notified and returns:
/// notify first, the cancelled waiter passes its notification on (SYNC-11); cancel first, the
/// notify reaches the second waiter. A notification swallowed by the cancelled waiter leaves the
/// second waiting for good (a virtual-time deadlock).
/// Spec: SYNC-9, SYNC-11, SYNC-15
#[test]
fn a_notify_on_another_thread_racing_the_first_waiters_cancellation_reaches_the_next_waiter() {
    check(|| {
        Builder::new().virtual_time(true).run(async {
            let cond = Condition::new();
            let spawn = |cond: &Condition| {
                let cond = cond.clone();
                evloop::create_task(async move {
                    let g = cond.acquire().await;
                    drop(cond.wait(g).await);
                })
            };
            let (first, second) = (spawn(&cond), spawn(&cond));
            evloop::sleep(Duration::ZERO).await; // both wait, the lock free
            let guard = cond.acquire().await;
            let notifier = {
                let cond = cond.clone();
                evloop::to_thread(move || {
                    cond.notify(&guard, 1);
                    drop(guard);
                })
            };
            first.cancel();
            assert!(first.await.unwrap_err().is_cancelled());
            second.await.unwrap();
            notifier.await.unwrap();
            assert_eq!(format!("{cond:?}"), "Condition(unlocked, waiters=0)");
        });
    });
}

/// A task waits in a barrier of two; a pool thread cancels it while a second task arrives. The
/// cancel lands while the barrier fills (the waiter counts itself out and the second task waits
/// for a partner, which the main task then is) or while it drains (the waiter counts itself
/// out and the barrier opens again), or after the waiter returned. Either way a second round of
/// two completes with indices 0 and 1. A cancelled waiter still counted leaves the barrier
/// draining for good, or trips the next round short: a deadlock or a wrong index.
/// Spec: SYNC-12, SYNC-14, SYNC-15
#[test]
fn a_cancel_on_another_thread_racing_the_barriers_last_arrival_counts_the_waiter_out() {
    check(|| {
        Builder::new().virtual_time(true).run(async {
            let b = Barrier::new(2);
            let spawn = |b: &Barrier| {
                let b = b.clone();
                evloop::create_task(async move { b.wait().await })
            };
            let first = spawn(&b);
            evloop::sleep(Duration::ZERO).await; // `first` waits inside
            let canceller = {
                let first = first.task_ref();
                evloop::to_thread(move || first.cancel())
            };
            let second = spawn(&b);
            canceller.await.unwrap();
            let _ = first.await; // cancelled, or it returned index 0 first
            if b.n_waiting() == 1 {
                // `first` left before `second` arrived: `second` waits for a partner.
                assert_eq!(b.wait().await, Ok(1));
            }
            assert!(second.await.unwrap().is_ok());
            let (x, y) = (spawn(&b), spawn(&b));
            let mut round = [x.await.unwrap().unwrap(), y.await.unwrap().unwrap()];
            round.sort_unstable();
            assert_eq!(round, [0, 1], "SYNC-12: the round's indices");
            assert_eq!(format!("{b:?}"), "Barrier(filling, waiters=0/2)");
        });
    });
}
