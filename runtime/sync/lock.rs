//! [`Lock`]: asyncio's `Lock` — a mutual-exclusion lock for tasks, acquired in the order the
//! tasks started waiting (SYNC-1, SYNC-2).
//!
//! ## States (asyncio 3.12's `Lock`)
//!
//! ```text
//!                acquire, free and nobody in line (SYNC-1)
//!   UNLOCKED ────────────────────────────────────────────► LOCKED
//!      ▲  ▲                                                 │  │
//!      │  └──────── guard dropped, nobody in line ──────────┘  │ guard dropped, a waiter in line:
//!      │                                                       │ the first one is woken (SYNC-2)
//!      │  the woken waiter's future is dropped before it ran:  ▼
//!      └─ the next one in line is woken instead (SYNC-3) ── UNLOCKED, first waiter WOKEN
//!                                                              │ the woken waiter runs
//!                                                              ▼
//!                                                            LOCKED (by it)
//! ```
//!
//! `locked` is the flag the woken waiter sets when it runs, as asyncio's is: between a release
//! and that waiter's step, `locked()` is false, yet a newcomer does not take the lock, because a
//! waiter (the woken one) is still in the list — asyncio's "jumping the queue if all are
//! cancelled" fast path, where evloop's list holds no cancelled waiter (a dropped future removes
//! its entry at once).
//!
//! Who touches what: `locked` is set by an acquire that succeeds (the fast path or the woken
//! waiter's step) and cleared by the guard's drop; an entry's `woken` is set by the guard's drop
//! (or by a dropped woken waiter passing it on) and read by the waiter's own future.

use super::line::Line;
use super::{drop_waker, wake};
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A lock for tasks (asyncio's `Lock`): at most one [`LockGuard`] of it exists at a time, and
/// tasks waiting for it get it in the order they started waiting. Cloning gives another handle to
/// the same lock.
///
/// asyncio's `async with lock: ...` is a block that holds the guard:
///
/// ```
/// use std::time::Duration;
///
/// evloop::run(async {
///     let lock = evloop::Lock::new();
///     let log = evloop::Queue::new();
///     let tasks: Vec<_> = (0..3)
///         .map(|i| {
///             let (lock, log) = (lock.clone(), log.clone());
///             evloop::create_task(async move {
///                 let _guard = lock.acquire().await; // async with lock:
///                 log.put_nowait(format!("{i} in")).unwrap();
///                 evloop::sleep(Duration::from_millis(1)).await; // the others wait
///                 log.put_nowait(format!("{i} out")).unwrap();
///             }) // the guard drops here: lock.release()
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     let log: Vec<String> = std::iter::from_fn(|| log.get_nowait().ok()).collect();
///     // One at a time, in the order they asked.
///     assert_eq!(log, ["0 in", "0 out", "1 in", "1 out", "2 in", "2 out"]);
/// });
/// ```
///
/// There is no `release()`: the guard releases when it is dropped, however the block ends
/// (returns, panics, or its task is cancelled), as `async with` releases on every exit. A guard
/// may be moved to another task or thread and dropped there (asyncio's lock is not owned by the
/// task that acquired it either).
#[derive(Clone)]
pub struct Lock {
    shared: Arc<Mutex<State>>,
}

struct State {
    locked: bool,
    waiters: Line,
}

impl State {
    /// asyncio 3.12's test at the top of `acquire`: the lock is free and nobody waits for it, not
    /// even a woken waiter that has yet to run (SYNC-1).
    fn free_for_newcomer(&self) -> bool {
        !self.locked && (self.waiters.is_empty() || bug::enabled(Bug::LockUnfair))
    }
}

impl Lock {
    /// An unlocked lock (asyncio's `Lock()`). It needs no running loop.
    ///
    /// ```
    /// let lock = evloop::Lock::new();
    /// assert!(!lock.locked());
    /// ```
    pub fn new() -> Lock {
        Lock {
            shared: Arc::new(Mutex::new(State {
                locked: false,
                waiters: Line::default(),
            })),
        }
    }

    /// Waits until the lock is free and takes it (asyncio's `await lock.acquire()`); the guard
    /// releases it when dropped. A free lock is taken without waiting unless tasks are waiting
    /// for it; waiting tasks get it in the order they started waiting (SYNC-2). Dropping the
    /// future before it completes (cancelling its task) gives up the place in line, and a
    /// lock already handed to it passes to the next waiter (SYNC-3).
    ///
    /// ```
    /// evloop::run(async {
    ///     let lock = evloop::Lock::new();
    ///     let guard: evloop::LockGuard = lock.acquire().await;
    ///     assert!(lock.locked());
    ///     drop(guard); // lock.release()
    ///     assert!(!lock.locked());
    /// });
    /// ```
    pub fn acquire(&self) -> LockAcquire<'_> {
        LockAcquire {
            lock: self,
            slot: None,
        }
    }

    /// True while a guard of the lock exists (asyncio's `locked()`). False from the moment a
    /// guard is dropped, even while the waiter it woke has not yet run; that waiter still gets
    /// the lock before any newcomer.
    ///
    /// ```
    /// evloop::run(async {
    ///     let lock = evloop::Lock::new();
    ///     let g = lock.acquire().await;
    ///     assert!(lock.locked());
    ///     drop(g);
    ///     assert!(!lock.locked());
    /// });
    /// ```
    pub fn locked(&self) -> bool {
        self.shared.lock().locked
    }

    /// True when `self` and `other` are handles of the same lock.
    pub(crate) fn same(&self, other: &Lock) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The guard's drop: asyncio's `release`, which wakes the first waiter (SYNC-2).
    fn release(&self) {
        let mut st = self.shared.lock();
        debug_assert!(st.locked, "a lock guard outlived its lock's locked state");
        st.locked = false;
        let next = st.waiters.wake_next();
        drop(st);
        wake(next);
    }

    /// The drop of an acquire still in the list: the rare path, out of line.
    #[cold]
    #[inline(never)]
    fn leave(&self, key: u32) {
        let mut st = self.shared.lock();
        let gone = st.waiters.release(key);
        // A waiter woken by a release and dropped before it ran passes the wake-up on, so the
        // free lock does not sit unused while others wait (SYNC-3; asyncio: the `except
        // CancelledError` branch of `acquire`, `if not self._locked: self._wake_up_first()`).
        let next =
            if gone.woken && !st.locked && !bug::enabled(Bug::LockCancelledWaiterSwallowsWake) {
                st.waiters.wake_next()
            } else {
                None
            };
        drop(st);
        drop_waker(gone.waker);
        wake(next);
    }
}

impl Default for Lock {
    /// [`Lock::new`].
    ///
    /// ```
    /// assert!(!evloop::Lock::default().locked());
    /// ```
    fn default() -> Self {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    /// asyncio's repr: `<asyncio.locks.Lock object at 0x… [locked, waiters:1]>`, as
    /// `Lock(locked, waiters=1)`. Waiters counts the woken ones that have not run yet.
    ///
    /// ```
    /// let lock = evloop::Lock::new();
    /// assert_eq!(format!("{lock:?}"), "Lock(unlocked, waiters=0)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        let locked = if st.locked { "locked" } else { "unlocked" };
        write!(f, "Lock({locked}, waiters={})", st.waiters.len())
    }
}

/// The future of [`Lock::acquire`]: the lock's guard, once the lock is this task's.
///
/// ```
/// evloop::run(async {
///     let lock = evloop::Lock::new();
///     let acquire: evloop::LockAcquire<'_> = lock.acquire();
///     let _guard = acquire.await;
///     assert!(lock.locked());
/// });
/// ```
#[must_use = "an acquire does nothing unless awaited"]
pub struct LockAcquire<'a> {
    lock: &'a Lock,
    /// This future's entry among the waiters, while it waits or has been woken.
    slot: Option<u32>,
}

impl Future for LockAcquire<'_> {
    type Output = LockGuard;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        // The waker is cloned with the lock let go (a foreign waker's clone is user code,
        // LOCK-1), and the state is looked at again after.
        let mut waker = None;
        loop {
            let mut st = this.lock.shared.lock();
            match this.slot {
                None if st.free_for_newcomer() => {
                    st.locked = true;
                    drop(st);
                    drop_waker(waker);
                    return Poll::Ready(this.guard());
                }
                // Woken by a release: the lock was kept for this waiter (only `lock_unfair`
                // lets a newcomer take it meanwhile; the waiter then waits again, at the back).
                Some(k) if st.waiters.is_woken(k) && !st.locked => {
                    st.locked = true;
                    let gone = st.waiters.release(k);
                    this.slot = None;
                    drop(st);
                    drop_waker(gone.waker);
                    drop_waker(waker);
                    return Poll::Ready(this.guard());
                }
                Some(k) if waker.is_none() && st.waiters.waits_with(k, cx.waker()) => {
                    return Poll::Pending;
                }
                _ => {}
            }
            match waker.take() {
                None => {
                    drop(st);
                    waker = Some(cx.waker().clone());
                }
                Some(w) => {
                    let old = st.waiters.register(&mut this.slot, w);
                    drop(st);
                    drop_waker(old);
                    return Poll::Pending;
                }
            }
        }
    }
}

impl LockAcquire<'_> {
    fn guard(&self) -> LockGuard {
        LockGuard {
            lock: self.lock.clone(),
        }
    }
}

impl Drop for LockAcquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            self.lock.leave(key);
        }
    }
}

impl fmt::Debug for LockAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.slot.is_some() {
            "LockAcquire(waiting)"
        } else {
            "LockAcquire"
        })
    }
}

/// A held [`Lock`]: the lock is released when the guard is dropped (asyncio's `lock.release()`,
/// or the end of an `async with lock:` block). It may be moved to another task or thread.
///
/// ```
/// evloop::run(async {
///     let lock = evloop::Lock::new();
///     let guard = lock.acquire().await;
///     // Released by another task: asyncio's lock is not owned by a task either.
///     let releaser = evloop::create_task(async move { drop(guard) });
///     releaser.await.unwrap();
///     assert!(!lock.locked());
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    lock: Lock,
}

impl LockGuard {
    /// The lock this guard holds.
    ///
    /// ```
    /// evloop::run(async {
    ///     let lock = evloop::Lock::new();
    ///     let guard = lock.acquire().await;
    ///     assert!(guard.lock().locked());
    /// });
    /// ```
    pub fn lock(&self) -> &Lock {
        &self.lock
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.lock.release();
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
