//! shuttle: asyncio's synchronization primitives (specs/sync.md) with many tasks on two or three
//! workers, some of them cancelled at points that vary with the schedule.
#![cfg(feature = "shuttle")]

use evloop::{Barrier, Builder, Condition, Event, Lock, Semaphore};
use evloop_check::check;
use evloop_model::sync::atomic::{AtomicUsize, Ordering};
use evloop_model::sync::{Arc, Mutex};
use std::time::Duration;

async fn yield_now() {
    evloop::sleep(Duration::ZERO).await;
}

/// Waits until `ready()`, looking again only when nothing else is ready (a virtual-time sleep):
/// a `yield_now` spin could starve the other worker under PCT.
async fn until(ready: impl Fn() -> bool) {
    while !ready() {
        evloop::sleep(Duration::from_millis(1)).await;
    }
}

/// How many tasks are inside a section at once, and the most there ever were; a task leaves when
/// its `Inside` drops (also when it is cancelled inside).
#[derive(Clone, Default)]
struct Occupancy(Arc<(AtomicUsize, AtomicUsize)>);

struct Inside(Occupancy);

impl Occupancy {
    fn enter(&self) -> Inside {
        let now = self.0 .0.fetch_add(1, Ordering::SeqCst) + 1;
        self.0 .1.fetch_max(now, Ordering::SeqCst);
        Inside(self.clone())
    }
    fn most(&self) -> usize {
        self.0 .1.load(Ordering::SeqCst)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0 .0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The main task holds the lock while four tasks line up for it, one after the other (it waits
/// until each is in line); then it releases, cancels the second in line a couple of turns later
/// — still waiting, woken and not yet run, or holding, depending on the schedule — and asks for
/// the lock again. In every schedule no two tasks hold the lock at once, the tasks get it in
/// the order they lined up, and the main task, a newcomer, gets it last. A newcomer that takes
/// a lock kept for a woken waiter (barging) jumps the line; a cancelled waiter that swallows its
/// wake-up leaves the others asleep beside a free lock (a virtual-time deadlock).
/// Spec: SYNC-1, SYNC-2, SYNC-3, SYNC-15
#[test]
fn tasks_on_two_workers_take_the_lock_one_at_a_time_in_the_order_they_lined_up() {
    check(|| {
        let log = Builder::new().virtual_time(true).workers(2).run(async {
            let lock = Lock::new();
            let log: Arc<Mutex<Vec<String>>> = Arc::default();
            let inside = Occupancy::default();
            let guard = lock.acquire().await;
            let mut waiters = Vec::new();
            for i in 0..4 {
                let (l, log, inside) = (lock.clone(), log.clone(), inside.clone());
                waiters.push(evloop::create_task(async move {
                    let _g = l.acquire().await;
                    let _in = inside.enter();
                    log.lock().push(i.to_string());
                    yield_now().await;
                }));
                let lined_up = format!("Lock(locked, waiters={})", i + 1);
                until(|| format!("{lock:?}") == lined_up).await;
            }
            drop(guard);
            yield_now().await;
            yield_now().await;
            waiters[1].cancel();
            let again = lock.acquire().await;
            log.lock().push("main".into());
            drop(again);
            for w in waiters {
                let _ = w.await; // the cancelled one may have finished first
            }
            assert_eq!(inside.most(), 1, "SYNC-1: two tasks held the lock");
            assert_eq!(format!("{lock:?}"), "Lock(unlocked, waiters=0)");
            let log = log.lock().clone();
            log
        });
        let without_victim: Vec<_> = log.iter().filter(|s| *s != "1").cloned().collect();
        assert_eq!(without_victim, ["0", "2", "3", "main"], "SYNC-2: {log:?}");
        if log.contains(&"1".to_string()) {
            assert_eq!(log[1], "1", "SYNC-2: {log:?}");
        }
    });
}

/// Six tasks take a permit of a semaphore of two, twice each, holding it across a step, on two
/// workers; a seventh asks once and is cancelled by the main task at a point that varies with
/// the schedule. No more than two ever hold a permit, everyone finishes, and the semaphore ends
/// with its two permits free and nobody waiting. A permit given back twice by the cancelled
/// task lets a third task in (or leaves three free).
/// Spec: SYNC-6, SYNC-8, SYNC-15
#[test]
fn tasks_on_two_workers_never_hold_more_permits_than_the_semaphore_has() {
    check(|| {
        Builder::new().virtual_time(true).workers(2).run(async {
            let sem = Semaphore::new(2);
            let inside = Occupancy::default();
            let spawn = |rounds: usize| {
                let (sem, inside) = (sem.clone(), inside.clone());
                evloop::create_task(async move {
                    for _ in 0..rounds {
                        let _p = sem.acquire().await;
                        let _in = inside.enter();
                        yield_now().await;
                    }
                })
            };
            let tasks: Vec<_> = (0..6).map(|_| spawn(2)).collect();
            let victim = spawn(1);
            yield_now().await;
            yield_now().await;
            victim.cancel();
            let _ = victim.await;
            for t in tasks {
                t.await.unwrap();
            }
            assert!(
                inside.most() <= 2,
                "SYNC-6: {} tasks held the semaphore's 2 permits",
                inside.most()
            );
            assert_eq!(
                format!("{sem:?}"),
                "Semaphore(unlocked, value=2, waiters=0)",
                "SYNC-8: a permit was lost or doubled"
            );
        });
    });
}

/// Four tasks on two workers wait on one event, which a pool thread sets, racing their first
/// looks and registrations; then they wait on a second event, which the main task sets as soon
/// as the pool thread is done. Every waiter returns from both waits.
/// Spec: SYNC-4, SYNC-5, SYNC-15
#[test]
fn an_event_set_from_a_thread_wakes_every_waiter_on_two_workers() {
    check(|| {
        Builder::new().virtual_time(true).workers(2).run(async {
            let (first, second) = (Event::new(), Event::new());
            let woke = Arc::new(AtomicUsize::new(0));
            let waiters: Vec<_> = (0..4)
                .map(|_| {
                    let (first, second, woke) = (first.clone(), second.clone(), woke.clone());
                    evloop::create_task(async move {
                        first.wait().await;
                        woke.fetch_add(1, Ordering::SeqCst);
                        second.wait().await;
                    })
                })
                .collect();
            let setter = {
                let first = first.clone();
                evloop::to_thread(move || first.set())
            };
            setter.await.unwrap();
            second.set();
            for w in waiters {
                w.await.unwrap();
            }
            assert_eq!(woke.load(Ordering::SeqCst), 4);
            assert!(first.is_set() && second.is_set());
        });
    });
}

/// Five tasks wait on a condition for a ticket each, the first of them a victim that the main
/// task cancels at a point that varies with the schedule (waiting, notified and not yet run, or
/// done with its ticket); two producers on two workers then hand out two tickets each, notifying
/// one waiter per ticket (and the main task one more if the victim took one). Every waiter but
/// the victim gets a ticket and no ticket is left. A notification swallowed by the cancelled
/// victim leaves a ticket with nobody woken to take it, and a waiter asleep for good (a
/// virtual-time deadlock): with one notification per ticket, nothing else wakes it.
/// Spec: SYNC-9, SYNC-11, SYNC-15
#[test]
fn producers_notifying_one_waiter_per_ticket_on_two_workers_serve_every_waiter() {
    check(|| {
        Builder::new().virtual_time(true).workers(2).run(async {
            let cond = Condition::new();
            let tickets = Arc::new(Mutex::new(0usize));
            // Whether the victim took a ticket, recorded in the step that takes it: on two
            // workers a cancel asked while that step runs still ends the task cancelled (TASK-7).
            let victim_took = Arc::new(AtomicUsize::new(0));
            let waiter = |took: Arc<AtomicUsize>| {
                let (cond, tickets) = (cond.clone(), tickets.clone());
                evloop::create_task(async move {
                    let g = cond.acquire().await;
                    let g = cond.wait_for(g, || *tickets.lock() > 0).await;
                    *tickets.lock() -= 1;
                    took.fetch_add(1, Ordering::SeqCst);
                    drop(g);
                })
            };
            let victim = waiter(victim_took.clone());
            until(|| format!("{cond:?}") == "Condition(unlocked, waiters=1)").await;
            let waiters: Vec<_> = (0..4).map(|_| waiter(Arc::default())).collect();
            until(|| format!("{cond:?}") == "Condition(unlocked, waiters=5)").await;
            let producers: Vec<_> = (0..2)
                .map(|_| {
                    let (cond, tickets) = (cond.clone(), tickets.clone());
                    evloop::create_task(async move {
                        for _ in 0..2 {
                            let g = cond.acquire().await;
                            *tickets.lock() += 1;
                            cond.notify(&g, 1);
                            drop(g);
                            yield_now().await;
                        }
                    })
                })
                .collect();
            yield_now().await;
            victim.cancel();
            let _ = victim.await;
            if victim_took.load(Ordering::SeqCst) == 1 {
                // It took a ticket before the cancel landed: one more for the others.
                let g = cond.acquire().await;
                *tickets.lock() += 1;
                cond.notify(&g, 1);
            }
            for p in producers {
                p.await.unwrap();
            }
            for w in waiters {
                w.await.unwrap();
            }
            assert_eq!(*tickets.lock(), 0, "every ticket taken");
            assert_eq!(format!("{cond:?}"), "Condition(unlocked, waiters=0)");
        });
    });
}

/// A task waits in a barrier of three and is cancelled; then three tasks on three workers go
/// through it three times. Each round hands out the indices 0, 1 and 2 once each: a task that
/// returns early from one round and arrives again while the others are still leaving waits for
/// the next round. A cancelled task still counted makes a round trip one short, leaving a task
/// waiting at the end (a virtual-time deadlock).
/// Spec: SYNC-12, SYNC-14, SYNC-15
#[test]
fn rounds_of_a_barrier_on_three_workers_hand_out_each_index_once() {
    check(|| {
        Builder::new().virtual_time(true).workers(3).run(async {
            let b = Barrier::new(3);
            let victim = {
                let b = b.clone();
                evloop::create_task(async move { b.wait().await })
            };
            until(|| b.n_waiting() == 1).await;
            victim.cancel();
            assert!(victim.await.unwrap_err().is_cancelled());
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let b = b.clone();
                    evloop::create_task(async move {
                        let mut got = Vec::new();
                        for _ in 0..3 {
                            got.push(b.wait().await.unwrap());
                        }
                        got
                    })
                })
                .collect();
            let mut rounds = vec![Vec::new(); 3];
            for t in tasks {
                for (round, index) in t.await.unwrap().into_iter().enumerate() {
                    rounds[round].push(index);
                }
            }
            for mut r in rounds {
                r.sort_unstable();
                assert_eq!(r, [0, 1, 2], "SYNC-12: a round's indices");
            }
            assert_eq!(format!("{b:?}"), "Barrier(filling, waiters=0/3)");
        });
    });
}
