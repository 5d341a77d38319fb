//! [`Condition`]: asyncio's `Condition` — tasks holding a [`Lock`] wait to be notified, letting
//! the lock go while they wait and holding it again when the wait returns (SYNC-9 to SYNC-11).
//!
//! ## One wait's life
//!
//! ```text
//!   HOLDING (the guard passed in) ──first poll: in line, then the guard dropped──► IN LINE
//!   IN LINE ──notify / notify_all (first n in line)──► NOTIFIED
//!   NOTIFIED ──the task runs: out of the list──► RE-ACQUIRING (the lock's own acquire, in its line)
//!   RE-ACQUIRING ──the lock is this task's──► returns the guard
//! ```
//!
//! The waiter joins the line before it lets the lock go, and `notify` needs the lock's guard, so
//! no notification can fall between the two. A wait future dropped (its task cancelled):
//! - while IN LINE: it leaves the line; nothing was given to it;
//! - once NOTIFIED, or while RE-ACQUIRING: the notification it consumed passes to the next
//!   waiter in line (asyncio 3.12: `wait`'s `except BaseException: self._notify(1)`), and a lock
//!   already handed to its acquire passes on by the lock's own rule (SYNC-3) (SYNC-11).
//!
//! Who touches what: the condition's list is changed under its own lock by `wait` (joining,
//! leaving) and `notify` (marking woken); the lock's state is the [`Lock`]'s. The two locks are
//! never held together.

use super::line::Line;
use super::lock::{Lock, LockAcquire, LockGuard};
use super::{drop_waker, wake};
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A condition variable for tasks (asyncio's `Condition`), over a [`Lock`]. Cloning gives another
/// handle to the same condition.
///
/// asyncio's `async with cond: await cond.wait_for(pred)` and `async with cond:
/// cond.notify()`:
///
/// ```
/// evloop::run(async {
///     let cond = evloop::Condition::new();
///     let items = evloop::Queue::new(); // the state the condition's lock guards
///     let consumer = {
///         let (cond, items) = (cond.clone(), items.clone());
///         evloop::create_task(async move {
///             let guard = cond.acquire().await; // async with cond:
///             let guard = cond.wait_for(guard, || !items.empty()).await;
///             let item = items.get_nowait().unwrap();
///             drop(guard);
///             item
///         })
///     };
///     evloop::sleep(std::time::Duration::ZERO).await; // the consumer waits
///     let guard = cond.acquire().await;
///     items.put_nowait("hello").unwrap();
///     cond.notify(&guard, 1);
///     drop(guard);
///     assert_eq!(consumer.await.unwrap(), "hello");
/// });
/// ```
///
/// `wait` and `wait_for` take the guard and give it back: the lock is let go while the task waits
/// and held again when the wait returns. `notify` and `notify_all` take the guard by reference,
/// which is asyncio's rule that only the lock's holder may notify, checked by the type.
#[derive(Clone)]
pub struct Condition {
    shared: Arc<Shared>,
}

struct Shared {
    lock: Lock,
    waiters: Mutex<Line>,
}

impl Condition {
    /// A condition over a new lock of its own (asyncio's `Condition()`). It needs no running loop.
    ///
    /// ```
    /// let cond = evloop::Condition::new();
    /// assert!(!cond.locked());
    /// ```
    pub fn new() -> Condition {
        Condition::with_lock(Lock::new())
    }

    /// A condition over `lock`, which other code may acquire too (asyncio's `Condition(lock)`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let lock = evloop::Lock::new();
    ///     let cond = evloop::Condition::with_lock(lock.clone());
    ///     let guard = lock.acquire().await;
    ///     assert!(cond.locked());
    ///     cond.notify_all(&guard); // the lock's own guard is the condition's
    /// });
    /// ```
    pub fn with_lock(lock: Lock) -> Condition {
        Condition {
            shared: Arc::new(Shared {
                lock,
                waiters: Mutex::new(Line::default()),
            }),
        }
    }

    /// Acquires the condition's lock (asyncio's `await cond.acquire()`, or entering `async with
    /// cond:`): [`Lock::acquire`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let cond = evloop::Condition::new();
    ///     let guard = cond.acquire().await;
    ///     assert!(cond.locked());
    ///     drop(guard);
    /// });
    /// ```
    pub fn acquire(&self) -> LockAcquire<'_> {
        self.shared.lock.acquire()
    }

    /// True while the condition's lock is held (asyncio's `cond.locked()`).
    ///
    /// ```
    /// let cond = evloop::Condition::new();
    /// assert!(!cond.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.shared.lock.locked()
    }

    /// The condition's lock.
    ///
    /// ```
    /// let cond = evloop::Condition::new();
    /// assert!(!cond.lock().locked());
    /// ```
    pub fn lock(&self) -> &Lock {
        &self.shared.lock
    }

    /// Lets the lock go, waits until notified, and takes the lock again; returns its new guard
    /// (asyncio's `await cond.wait()`). Waiters are notified in the order they started waiting
    /// (SYNC-9), and take the lock again in its own order. A wait whose future is dropped after
    /// it was notified passes the notification on to the next waiter (SYNC-11).
    ///
    /// # Panics
    ///
    /// When `guard` is not a guard of this condition's lock (asyncio raises `RuntimeError` when
    /// the lock is not held).
    ///
    /// ```
    /// evloop::run(async {
    ///     let cond = evloop::Condition::new();
    ///     let waiter = {
    ///         let cond = cond.clone();
    ///         evloop::create_task(async move {
    ///             let guard = cond.acquire().await;
    ///             let guard = cond.wait(guard).await; // the lock is free while it waits
    ///             assert!(guard.lock().locked());
    ///         })
    ///     };
    ///     evloop::sleep(std::time::Duration::ZERO).await;
    ///     let guard = cond.acquire().await; // free: the waiter let it go
    ///     cond.notify(&guard, 1);
    ///     drop(guard);
    ///     waiter.await.unwrap();
    /// });
    /// ```
    pub fn wait(&self, guard: LockGuard) -> ConditionWait<'_> {
        self.check(&guard, "wait");
        ConditionWait {
            cond: self,
            stage: Stage::Holding(guard),
        }
    }

    /// Waits until `predicate` returns true (asyncio's `await cond.wait_for(predicate)`):
    /// checks it with the lock held, and [`wait`](Condition::wait)s again each time it is false.
    /// Returns the guard, with `predicate` true. The predicate runs with the lock held and no
    /// runtime lock held: it may use any evloop call.
    ///
    /// # Panics
    ///
    /// When `guard` is not a guard of this condition's lock.
    ///
    /// ```
    /// evloop::run(async {
    ///     let cond = evloop::Condition::new();
    ///     let rounds = evloop::Queue::new();
    ///     let waiter = {
    ///         let (cond, rounds) = (cond.clone(), rounds.clone());
    ///         evloop::create_task(async move {
    ///             let g = cond.acquire().await;
    ///             drop(cond.wait_for(g, || rounds.qsize() >= 2).await);
    ///         })
    ///     };
    ///     for _ in 0..2 {
    ///         evloop::sleep(std::time::Duration::ZERO).await;
    ///         let g = cond.acquire().await;
    ///         rounds.put_nowait(()).unwrap();
    ///         cond.notify_all(&g);
    ///     }
    ///     waiter.await.unwrap();
    /// });
    /// ```
    pub fn wait_for<P: FnMut() -> bool>(
        &self,
        guard: LockGuard,
        predicate: P,
    ) -> ConditionWaitFor<'_, P> {
        self.check(&guard, "wait_for");
        ConditionWaitFor {
            cond: self,
            predicate,
            stage: WaitForStage::Check(guard),
        }
    }

    /// Wakes the first `n` tasks waiting, in the order they started waiting (asyncio's
    /// `cond.notify(n)`). A woken task returns from its wait once it has taken the lock again,
    /// after the caller lets it go.
    ///
    /// # Panics
    ///
    /// When `guard` is not a guard of this condition's lock (asyncio raises `RuntimeError` when
    /// the lock is not held).
    ///
    /// ```
    /// evloop::run(async {
    ///     let cond = evloop::Condition::new();
    ///     let guard = cond.acquire().await;
    ///     cond.notify(&guard, 1); // nobody waits: nothing happens
    /// });
    /// ```
    pub fn notify(&self, guard: &LockGuard, n: usize) {
        self.check(guard, "notify");
        let mut line = self.shared.waiters.lock();
        let mut woken = Vec::new();
        while woken.len() < n {
            match line.wake_next() {
                Some(w) => woken.push(w),
                None => break,
            }
        }
        drop(line);
        woken.into_iter().for_each(crate::engine::contain::wake);
    }

    /// Wakes every task waiting (asyncio's `cond.notify_all()`).
    ///
    /// # Panics
    ///
    /// When `guard` is not a guard of this condition's lock.
    ///
    /// ```
    /// evloop::run(async {
    ///     let cond = evloop::Condition::new();
    ///     let guard = cond.acquire().await;
    ///     cond.notify_all(&guard);
    /// });
    /// ```
    pub fn notify_all(&self, guard: &LockGuard) {
        self.notify(guard, usize::MAX);
    }

    fn check(&self, guard: &LockGuard, what: &str) {
        assert!(
            guard.lock().same(&self.shared.lock),
            "Condition::{what}: the guard is not of this condition's lock; pass the guard from \
             `cond.acquire().await` (or from the lock given to `Condition::with_lock`)"
        );
    }

    /// The drop of a wait that was notified (and so is out of line): asyncio's `_notify(1)` in
    /// `wait`'s `except` branch.
    #[cold]
    #[inline(never)]
    fn pass_on(&self) {
        if bug::enabled(Bug::ConditionLostNotify) {
            return;
        }
        let mut line = self.shared.waiters.lock();
        let next = line.wake_next();
        drop(line);
        wake(next);
    }

    /// The drop of a wait still in the list.
    #[cold]
    #[inline(never)]
    fn leave(&self, key: u32) {
        let mut line = self.shared.waiters.lock();
        let gone = line.release(key);
        drop(line);
        drop_waker(gone.waker);
        if gone.woken {
            self.pass_on();
        }
    }
}

impl Default for Condition {
    /// [`Condition::new`].
    ///
    /// ```
    /// assert!(!evloop::Condition::default().locked());
    /// ```
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    /// asyncio's repr: `[locked, waiters:1]`, as `Condition(locked, waiters=1)`.
    ///
    /// ```
    /// let cond = evloop::Condition::new();
    /// assert_eq!(format!("{cond:?}"), "Condition(unlocked, waiters=0)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let locked = if self.locked() { "locked" } else { "unlocked" };
        let n = self.shared.waiters.lock().len();
        write!(f, "Condition({locked}, waiters={n})")
    }
}

enum Stage<'a> {
    Holding(LockGuard),
    Waiting(u32),
    Reacquiring(LockAcquire<'a>),
    Done,
}

/// The future of [`Condition::wait`]: the lock's guard again, once notified and re-acquired.
///
/// ```
/// evloop::run(async {
///     let cond = evloop::Condition::new();
///     let waiter = {
///         let cond = cond.clone();
///         evloop::create_task(async move {
///             let guard = cond.acquire().await;
///             let wait: evloop::ConditionWait<'_> = cond.wait(guard);
///             drop(wait.await);
///         })
///     };
///     evloop::sleep(std::time::Duration::ZERO).await;
///     let guard = cond.acquire().await;
///     cond.notify_all(&guard);
///     drop(guard);
///     waiter.await.unwrap();
/// });
/// ```
#[must_use = "a wait does nothing unless awaited; dropping it releases the lock"]
pub struct ConditionWait<'a> {
    cond: &'a Condition,
    stage: Stage<'a>,
}

impl<'a> Future for ConditionWait<'a> {
    type Output = LockGuard;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        let cond: &'a Condition = this.cond;
        let shared: &'a Shared = &cond.shared;
        loop {
            match &mut this.stage {
                Stage::Holding(_) => {
                    // In line first, then the lock let go: a notify needs the lock, so none
                    // can come between. The waker is cloned before the list is locked (LOCK-1).
                    let waker = cx.waker().clone();
                    let mut slot = None;
                    let mut line = shared.waiters.lock();
                    let old = line.register(&mut slot, waker);
                    drop(line);
                    debug_assert!(old.is_none());
                    let Stage::Holding(guard) = std::mem::replace(
                        &mut this.stage,
                        Stage::Waiting(slot.expect("registered")),
                    ) else {
                        unreachable!("matched above")
                    };
                    drop(guard);
                    return Poll::Pending;
                }
                Stage::Waiting(k) => {
                    let k = *k;
                    let mut waker: Option<Waker> = None;
                    loop {
                        let mut line = shared.waiters.lock();
                        if line.is_woken(k) {
                            let gone = line.release(k);
                            drop(line);
                            drop_waker(gone.waker);
                            drop_waker(waker);
                            this.stage = Stage::Reacquiring(shared.lock.acquire());
                            break;
                        }
                        if waker.is_none() && line.waits_with(k, cx.waker()) {
                            return Poll::Pending;
                        }
                        match waker.take() {
                            None => {
                                drop(line);
                                waker = Some(cx.waker().clone());
                            }
                            Some(w) => {
                                let old = line.register(&mut Some(k), w);
                                drop(line);
                                drop_waker(old);
                                return Poll::Pending;
                            }
                        }
                    }
                }
                Stage::Reacquiring(acquire) => {
                    return match Pin::new(acquire).poll(cx) {
                        Poll::Ready(guard) => {
                            this.stage = Stage::Done;
                            Poll::Ready(guard)
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
                Stage::Done => panic!("ConditionWait polled after it returned the guard"),
            }
        }
    }
}

impl Drop for ConditionWait<'_> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            // Never polled: the guard drops, which lets the lock go.
            Stage::Holding(_) | Stage::Done => {}
            Stage::Waiting(k) => self.cond.leave(k),
            Stage::Reacquiring(acquire) => {
                // Notified, and the notification consumed: it passes on (SYNC-11); the
                // acquire's own drop passes on a lock already handed to it (SYNC-3).
                self.cond.pass_on();
                drop(acquire);
            }
        }
    }
}

impl fmt::Debug for ConditionWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.stage {
            Stage::Holding(_) => "ConditionWait(holding)",
            Stage::Waiting(_) => "ConditionWait(waiting)",
            Stage::Reacquiring(_) => "ConditionWait(re-acquiring)",
            Stage::Done => "ConditionWait(done)",
        })
    }
}

enum WaitForStage<'a> {
    Check(LockGuard),
    Wait(ConditionWait<'a>),
    Done,
}

/// The future of [`Condition::wait_for`]: the lock's guard, once the predicate holds.
///
/// ```
/// evloop::run(async {
///     let cond = evloop::Condition::new();
///     let guard = cond.acquire().await;
///     let wait_for: evloop::ConditionWaitFor<'_, _> = cond.wait_for(guard, || true);
///     drop(wait_for.await); // true at once: no wait
/// });
/// ```
#[must_use = "a wait does nothing unless awaited; dropping it releases the lock"]
pub struct ConditionWaitFor<'a, P> {
    cond: &'a Condition,
    predicate: P,
    stage: WaitForStage<'a>,
}

// The predicate is only ever called through `&mut`, never pinned.
impl<P> Unpin for ConditionWaitFor<'_, P> {}

impl<P: FnMut() -> bool> Future for ConditionWaitFor<'_, P> {
    type Output = LockGuard;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.stage, WaitForStage::Done) {
                // asyncio: `result = predicate(); while not result: await self.wait(); ...`
                WaitForStage::Check(guard) => {
                    if (this.predicate)() {
                        return Poll::Ready(guard);
                    }
                    this.stage = WaitForStage::Wait(this.cond.wait(guard));
                }
                WaitForStage::Wait(mut wait) => match Pin::new(&mut wait).poll(cx) {
                    Poll::Ready(guard) => this.stage = WaitForStage::Check(guard),
                    Poll::Pending => {
                        this.stage = WaitForStage::Wait(wait);
                        return Poll::Pending;
                    }
                },
                WaitForStage::Done => panic!("ConditionWaitFor polled after it returned the guard"),
            }
        }
    }
}

impl<P> fmt::Debug for ConditionWaitFor<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.stage {
            WaitForStage::Check(_) => f.write_str("ConditionWaitFor(checking)"),
            WaitForStage::Wait(w) => write!(f, "ConditionWaitFor({w:?})"),
            WaitForStage::Done => f.write_str("ConditionWaitFor(done)"),
        }
    }
}
