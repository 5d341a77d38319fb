//! [`Semaphore`] and [`BoundedSemaphore`]: asyncio's — a counter of free permits, decremented by
//! each acquire and incremented by each release, with tasks waiting while none is free served in
//! the order they started waiting (SYNC-6, SYNC-7, SYNC-8).
//!
//! ## The count (asyncio 3.12's `Semaphore`)
//!
//! `value` is asyncio's `_value`: the permits nobody holds and nobody has been handed. A release
//! adds one and hands it to the first waiter in line, taking it back out of `value` at once
//! (asyncio's `_wake_up_next`), so the woken waiter owns its permit before it runs. While anyone
//! is in the list — in line or woken and not yet run — a newcomer waits even if `value > 0`
//! (asyncio's `locked()`: "FIFO rules, must allow others to run first"). When a waiter leaves the
//! list, by taking its permit or by its future being dropped, it hands out whatever `value` holds
//! to the waiters in line (asyncio's `finally` loop in `acquire`), and a woken waiter dropped
//! before it ran first gives its permit back (SYNC-8).
//!
//! Who touches what: `value` changes under the semaphore's lock only, by the acquire fast path,
//! `release`, and the list's entries leaving; an entry's `woken` is set by whoever handed it a
//! permit and read by the waiter's own future.

use super::line::Line;
use super::{drop_waker, wake};
use crate::error::SemaphoreReleaseError;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

struct Shared {
    /// `Some(initial value)` for a bounded semaphore.
    bound: Option<usize>,
    state: Mutex<State>,
}

struct State {
    value: usize,
    waiters: Line,
}

impl State {
    /// asyncio's `locked()`: no permit free, or somebody waiting (woken or in line) who comes
    /// first.
    fn locked(&self) -> bool {
        self.value == 0 || !self.waiters.is_empty()
    }

    /// asyncio's `_wake_up_next`: the first waiter in line is handed a permit.
    fn wake_up_next(&mut self) -> Option<Waker> {
        let w = self.waiters.wake_next()?;
        self.value -= 1;
        Some(w)
    }

    /// asyncio's `finally` loop in `acquire`: while permits are free, hand them to the waiters in
    /// line. Usually hands none (the vector then never allocates).
    fn hand_out(&mut self) -> Vec<Waker> {
        let mut woken = Vec::new();
        while self.value > 0 {
            match self.wake_up_next() {
                Some(w) => woken.push(w),
                None => break,
            }
        }
        woken
    }
}

impl Shared {
    fn new(value: usize, bound: Option<usize>) -> Arc<Shared> {
        Arc::new(Shared {
            bound,
            state: Mutex::new(State {
                value,
                waiters: Line::default(),
            }),
        })
    }

    fn locked(&self) -> bool {
        self.state.lock().locked()
    }

    /// asyncio's `release` (and `BoundedSemaphore.release`'s check first).
    fn release(&self) -> Result<(), SemaphoreReleaseError> {
        let mut st = self.state.lock();
        if let Some(bound) = self.bound {
            if st.value >= bound {
                return Err(SemaphoreReleaseError { bound });
            }
        }
        st.value += 1;
        let next = st.wake_up_next();
        drop(st);
        wake(next);
        Ok(())
    }

    /// The drop of an acquire still in the list: the rare path, out of line.
    #[cold]
    #[inline(never)]
    fn leave(&self, key: u32) {
        let mut st = self.state.lock();
        let gone = st.waiters.release(key);
        if gone.woken {
            // Handed a permit and dropped before it ran: the permit goes back (SYNC-8; asyncio:
            // `if fut.done() and not fut.cancelled(): self._value += 1`).
            st.value += if bug::enabled(Bug::SemaphoreOverRelease) {
                2
            } else {
                1
            };
        }
        let woken = st.hand_out();
        drop(st);
        drop_waker(gone.waker);
        woken.into_iter().for_each(crate::engine::contain::wake);
    }

    fn fmt(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        let locked = if st.locked() { "locked" } else { "unlocked" };
        write!(f, "{name}({locked}, value={}", st.value)?;
        if let Some(bound) = self.bound {
            write!(f, ", bound={bound}")?;
        }
        write!(f, ", waiters={})", st.waiters.len())
    }
}

/// A semaphore for tasks (asyncio's `Semaphore`): `value` permits, each taken by an
/// [`acquire`](Semaphore::acquire) and given back when its [`SemaphorePermit`] drops (or by
/// [`release`](Semaphore::release)). Cloning gives another handle to the same semaphore.
///
/// asyncio's `async with sem: ...` is a block that holds the permit:
///
/// ```
/// use std::time::Duration;
///
/// evloop::run(async {
///     let sem = evloop::Semaphore::new(2);
///     let log = evloop::Queue::new();
///     let tasks: Vec<_> = (0..5)
///         .map(|_| {
///             let (sem, log) = (sem.clone(), log.clone());
///             evloop::create_task(async move {
///                 let _permit = sem.acquire().await; // async with sem:
///                 log.put_nowait(1).unwrap();
///                 evloop::sleep(Duration::from_millis(1)).await;
///                 log.put_nowait(-1).unwrap();
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     let (mut now, mut most) = (0, 0);
///     while let Ok(step) = log.get_nowait() {
///         now += step;
///         most = most.max(now);
///     }
///     assert_eq!(most, 2); // never more than two at once
/// });
/// ```
#[derive(Clone)]
pub struct Semaphore {
    shared: Arc<Shared>,
}

impl Semaphore {
    /// A semaphore with `value` free permits (asyncio's `Semaphore(value)`; a negative value,
    /// asyncio's `ValueError`, cannot be written). It needs no running loop.
    ///
    /// ```
    /// let sem = evloop::Semaphore::new(0);
    /// assert!(sem.locked()); // no permit free
    /// ```
    pub fn new(value: usize) -> Semaphore {
        Semaphore {
            shared: Shared::new(value, None),
        }
    }

    /// Takes a permit, waiting while none is free or others wait first (asyncio's `await
    /// sem.acquire()`). Waiting tasks are served in the order they started waiting (SYNC-6).
    /// Dropping the future before it completes gives up its place, and a permit already handed
    /// to it goes back (SYNC-8).
    ///
    /// ```
    /// evloop::run(async {
    ///     let sem = evloop::Semaphore::new(1);
    ///     let permit: evloop::SemaphorePermit = sem.acquire().await;
    ///     assert!(sem.locked());
    ///     drop(permit); // sem.release()
    ///     assert!(!sem.locked());
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            shared: &self.shared,
            slot: None,
        }
    }

    /// Adds a permit and hands it to the first task waiting, if any (asyncio's `release`). A
    /// plain semaphore has no bound: every release adds one. Pairs with
    /// [`SemaphorePermit::forget`].
    ///
    /// ```
    /// let sem = evloop::Semaphore::new(0);
    /// sem.release();
    /// assert!(!sem.locked());
    /// ```
    pub fn release(&self) {
        self.shared
            .release()
            .expect("a semaphore without a bound always takes a release");
    }

    /// True when an acquire would wait: no permit is free, or tasks wait first (asyncio's
    /// `locked()`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let sem = evloop::Semaphore::new(1);
    ///     assert!(!sem.locked());
    ///     let _p = sem.acquire().await;
    ///     assert!(sem.locked());
    /// });
    /// ```
    pub fn locked(&self) -> bool {
        self.shared.locked()
    }
}

impl Default for Semaphore {
    /// One permit, as asyncio's `Semaphore()`.
    ///
    /// ```
    /// assert_eq!(format!("{:?}", evloop::Semaphore::default()), "Semaphore(unlocked, value=1, waiters=0)");
    /// ```
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl fmt::Debug for Semaphore {
    /// asyncio's repr: `[unlocked, value:1]` / `[locked, waiters:2]`, as
    /// `Semaphore(unlocked, value=1, waiters=0)`.
    ///
    /// ```
    /// let sem = evloop::Semaphore::new(3);
    /// assert_eq!(format!("{sem:?}"), "Semaphore(unlocked, value=3, waiters=0)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt("Semaphore", f)
    }
}

/// A semaphore that refuses a release past its initial value (asyncio's `BoundedSemaphore`).
/// Cloning gives another handle to the same semaphore.
///
/// ```
/// evloop::run(async {
///     let sem = evloop::BoundedSemaphore::new(1);
///     let permit = sem.acquire().await;
///     drop(permit); // back to 1
///     let err = sem.release().unwrap_err(); // a second release would make it 2
///     assert_eq!(err.bound(), 1);
/// });
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    shared: Arc<Shared>,
}

impl BoundedSemaphore {
    /// A semaphore with `value` permits that never holds more (asyncio's
    /// `BoundedSemaphore(value)`).
    ///
    /// ```
    /// let sem = evloop::BoundedSemaphore::new(2);
    /// assert!(!sem.locked());
    /// ```
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            shared: Shared::new(value, Some(value)),
        }
    }

    /// As [`Semaphore::acquire`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let sem = evloop::BoundedSemaphore::new(1);
    ///     let _permit = sem.acquire().await;
    ///     assert!(sem.locked());
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            shared: &self.shared,
            slot: None,
        }
    }

    /// Adds a permit, as [`Semaphore::release`], unless the free permits already number the
    /// initial value: then [`SemaphoreReleaseError`] and nothing changes (asyncio's
    /// `ValueError('BoundedSemaphore released too many times')`) (SYNC-7).
    ///
    /// ```
    /// evloop::run(async {
    ///     let sem = evloop::BoundedSemaphore::new(1);
    ///     sem.acquire().await.forget(); // asyncio: await sem.acquire()
    ///     assert!(sem.release().is_ok()); // asyncio: sem.release()
    ///     assert!(sem.release().is_err()); // one too many
    /// });
    /// ```
    pub fn release(&self) -> Result<(), SemaphoreReleaseError> {
        self.shared.release()
    }

    /// As [`Semaphore::locked`].
    ///
    /// ```
    /// let sem = evloop::BoundedSemaphore::new(0);
    /// assert!(sem.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.shared.locked()
    }
}

impl fmt::Debug for BoundedSemaphore {
    /// `BoundedSemaphore(unlocked, value=1, bound=1, waiters=0)`.
    ///
    /// ```
    /// let sem = evloop::BoundedSemaphore::new(1);
    /// assert_eq!(format!("{sem:?}"), "BoundedSemaphore(unlocked, value=1, bound=1, waiters=0)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt("BoundedSemaphore", f)
    }
}

/// The future of [`Semaphore::acquire`] and [`BoundedSemaphore::acquire`]: a permit, once one is
/// this task's.
///
/// ```
/// evloop::run(async {
///     let sem = evloop::Semaphore::new(1);
///     let acquire: evloop::SemaphoreAcquire<'_> = sem.acquire();
///     let _permit = acquire.await;
/// });
/// ```
#[must_use = "an acquire does nothing unless awaited"]
pub struct SemaphoreAcquire<'a> {
    shared: &'a Arc<Shared>,
    /// This future's entry among the waiters, while it waits or has been woken.
    slot: Option<u32>,
}

impl Future for SemaphoreAcquire<'_> {
    type Output = SemaphorePermit;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        // Cloned with the lock let go (LOCK-1); the state is looked at again after.
        let mut waker = None;
        loop {
            let mut st = this.shared.state.lock();
            match this.slot {
                None if !st.locked() => {
                    st.value -= 1;
                    drop(st);
                    drop_waker(waker);
                    return Poll::Ready(this.permit());
                }
                // Woken: handed a permit, already taken out of `value`.
                Some(k) if st.waiters.is_woken(k) => {
                    let gone = st.waiters.release(k);
                    this.slot = None;
                    let woken = st.hand_out();
                    drop(st);
                    drop_waker(gone.waker);
                    drop_waker(waker);
                    woken.into_iter().for_each(crate::engine::contain::wake);
                    return Poll::Ready(this.permit());
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

impl SemaphoreAcquire<'_> {
    fn permit(&self) -> SemaphorePermit {
        SemaphorePermit {
            shared: Some(self.shared.clone()),
        }
    }
}

impl Drop for SemaphoreAcquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            self.shared.leave(key);
        }
    }
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.slot.is_some() {
            "SemaphoreAcquire(waiting)"
        } else {
            "SemaphoreAcquire"
        })
    }
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`], given back when dropped (asyncio's
/// `sem.release()`, or the end of an `async with sem:` block). It may be moved to another task or
/// thread.
///
/// ```
/// evloop::run(async {
///     let sem = evloop::Semaphore::new(1);
///     let permit = sem.acquire().await;
///     assert!(sem.locked());
///     drop(permit);
///     assert!(!sem.locked());
/// });
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit {
    /// `None` once forgotten.
    shared: Option<Arc<Shared>>,
}

impl SemaphorePermit {
    /// Keeps the permit taken without a guard: asyncio's `await sem.acquire()` with no `async
    /// with`, to be matched by a [`Semaphore::release`] (or [`BoundedSemaphore::release`]) later,
    /// perhaps by another task.
    ///
    /// ```
    /// evloop::run(async {
    ///     let sem = evloop::Semaphore::new(1);
    ///     sem.acquire().await.forget();
    ///     assert!(sem.locked()); // still taken
    ///     sem.release();
    ///     assert!(!sem.locked());
    /// });
    /// ```
    pub fn forget(mut self) {
        self.shared = None;
    }
}

impl Drop for SemaphorePermit {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            if let Err(e) = shared.release() {
                // Only a bounded semaphore refuses, and only when a `release()` by hand already
                // gave this permit's place back: asyncio raises in `__aexit__` there too.
                if !evloop_model::thread::panicking() {
                    panic!(
                        "{e}: a permit was dropped after `release()` had already given its place \
                         back; call `forget()` on a permit whose place you give back by hand"
                    );
                }
            }
        }
    }
}

impl fmt::Debug for SemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}
