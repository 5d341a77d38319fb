//! [`Barrier`]: asyncio's `Barrier` (Python 3.11) — a fixed number of tasks wait for each other;
//! when the last one arrives they all go on (SYNC-12 to SYNC-14).
//!
//! ## States (asyncio's `_BarrierState`)
//!
//! ```text
//!   FILLING ──the parties-th arrival──► DRAINING ──the last waiter out──► FILLING
//!      │                                   │
//!      ├──reset, waiters inside──► RESETTING ──the last waiter out──► FILLING
//!      ├──reset, nobody inside ──► FILLING
//!      └──abort (from any state)──► BROKEN ──reset──► RESETTING or FILLING
//! ```
//!
//! `count` is asyncio's `_count`: the tasks inside the barrier (arrived and not yet out). An
//! arrival takes `count` as its index; while the barrier drains or resets, arrivals wait outside
//! (not counted) until it fills again. A waiter inside leaves by returning its index (DRAINING),
//! by failing with [`BrokenBarrierError`] (RESETTING, BROKEN), or by its future being dropped;
//! each way counts it out, and the last one out of a draining or resetting barrier opens it for
//! the next round (SYNC-14).
//!
//! ## Waiters
//!
//! asyncio's barrier waits on a `Condition` with `notify_all` on every change of state, each
//! woken task checking the state again when it runs. Here every change of state takes the whole
//! waiter list out of the lock and wakes every entry once it is let go (LOCK-1), starting a new
//! generation; a future registered in an older generation was woken and looks at the state
//! again, as asyncio's predicate does, in the order the tasks run.

use super::drop_waker;
use crate::error::BrokenBarrierError;
use crate::waiters::WaitList;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

struct Shared {
    parties: usize,
    state: Mutex<State>,
}

struct State {
    phase: Phase,
    count: usize,
    /// Bumped by every wake-all (see the module documentation).
    generation: u64,
    waiters: WaitList<Waker>,
}

impl State {
    /// asyncio's `self._cond.notify_all()`: the list, to wake once the lock is let go.
    #[must_use = "the wakers are the caller's to wake outside its lock"]
    fn notify_all(&mut self) -> WaitList<Waker> {
        self.generation = self.generation.wrapping_add(1);
        std::mem::take(&mut self.waiters)
    }

    /// A task inside the barrier leaves it: asyncio's `finally: self._count -= 1; self._exit()`.
    #[must_use = "the wakers are the caller's to wake outside its lock"]
    fn exit(&mut self) -> WaitList<Waker> {
        self.count -= 1;
        if self.count == 0 {
            if matches!(self.phase, Phase::Resetting | Phase::Draining) {
                self.phase = Phase::Filling;
            }
            return self.notify_all();
        }
        WaitList::default()
    }
}

fn wake_all(list: WaitList<Waker>) {
    list.drain_in_order(crate::engine::contain::wake);
}

/// A barrier for `parties` tasks (asyncio's `Barrier`): each [`wait`](Barrier::wait) waits until
/// `parties` tasks are waiting, then all of them return, each with its own index. The barrier
/// can then be used again. Cloning gives another handle to the same barrier.
///
/// ```
/// evloop::run(async {
///     let barrier = evloop::Barrier::new(3);
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let b = barrier.clone();
///             evloop::create_task(async move { b.wait().await.unwrap() })
///         })
///         .collect();
///     let mut indices = Vec::new();
///     for t in tasks {
///         indices.push(t.await.unwrap());
///     }
///     assert_eq!(indices, [0, 1, 2]); // in order of arrival
/// });
/// ```
#[derive(Clone)]
pub struct Barrier {
    shared: Arc<Shared>,
}

impl Barrier {
    /// A barrier for `parties` tasks (asyncio's `Barrier(parties)`). It needs no running loop.
    ///
    /// # Panics
    ///
    /// When `parties` is 0 (asyncio raises `ValueError('parties must be >= 1')`).
    ///
    /// ```
    /// let b = evloop::Barrier::new(2);
    /// assert_eq!((b.parties(), b.n_waiting(), b.broken()), (2, 0, false));
    /// ```
    pub fn new(parties: usize) -> Barrier {
        assert!(
            parties >= 1,
            "Barrier::new(0): a barrier needs at least one party; pass the number of tasks that \
             wait for each other"
        );
        Barrier {
            shared: Arc::new(Shared {
                parties,
                state: Mutex::new(State {
                    phase: Phase::Filling,
                    count: 0,
                    generation: 0,
                    waiters: WaitList::default(),
                }),
            }),
        }
    }

    /// Waits until `parties` tasks wait, then returns this task's index, from 0 for the first to
    /// arrive to `parties - 1` for the last, which returns at once (asyncio's `await
    /// barrier.wait()`, or `async with barrier as index:`). A task arriving while the barrier is
    /// still letting the previous round out waits for it to finish (SYNC-12).
    /// [`BrokenBarrierError`] when the barrier is aborted, or reset while this task waits
    /// (SYNC-13). Dropping the future counts the task out (SYNC-14).
    ///
    /// ```
    /// evloop::run(async {
    ///     let b = evloop::Barrier::new(1);
    ///     assert_eq!(b.wait().await, Ok(0)); // one party: never waits
    /// });
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            inside: None,
            slot: None,
            done: false,
        }
    }

    /// Puts the barrier back to empty (asyncio's `await barrier.reset()`): tasks waiting inside
    /// it fail with [`BrokenBarrierError::Reset`]; once they are all out, it fills again from
    /// index 0. Also mends an aborted barrier. asyncio's `reset` is a coroutine that never waits;
    /// this is a plain call.
    ///
    /// ```
    /// let b = evloop::Barrier::new(2);
    /// b.abort();
    /// b.reset();
    /// assert!(!b.broken());
    /// ```
    pub fn reset(&self) {
        let mut st = self.shared.state.lock();
        if st.count > 0 {
            st.phase = Phase::Resetting;
        } else {
            st.phase = Phase::Filling;
        }
        let woken = st.notify_all();
        drop(st);
        wake_all(woken);
    }

    /// Breaks the barrier (asyncio's `await barrier.abort()`): every task waiting in it, and
    /// every later `wait`, fails with [`BrokenBarrierError::Aborted`] until
    /// [`reset`](Barrier::reset). A plain call, as `reset`.
    ///
    /// ```
    /// evloop::run(async {
    ///     let b = evloop::Barrier::new(2);
    ///     b.abort();
    ///     assert_eq!(b.wait().await, Err(evloop::BrokenBarrierError::Aborted));
    /// });
    /// ```
    pub fn abort(&self) {
        let mut st = self.shared.state.lock();
        st.phase = Phase::Broken;
        let woken = st.notify_all();
        drop(st);
        wake_all(woken);
    }

    /// The number of tasks that must wait for the barrier to let them go (asyncio's `parties`).
    ///
    /// ```
    /// assert_eq!(evloop::Barrier::new(4).parties(), 4);
    /// ```
    pub fn parties(&self) -> usize {
        self.shared.parties
    }

    /// Tasks waiting inside the barrier while it fills; 0 while it drains, resets or is broken
    /// (asyncio's `n_waiting`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let b = evloop::Barrier::new(2);
    ///     let w = {
    ///         let b = b.clone();
    ///         evloop::create_task(async move { b.wait().await })
    ///     };
    ///     evloop::sleep(std::time::Duration::ZERO).await;
    ///     assert_eq!(b.n_waiting(), 1);
    ///     assert_eq!(b.wait().await, Ok(1));
    ///     assert_eq!(w.await.unwrap(), Ok(0));
    /// });
    /// ```
    pub fn n_waiting(&self) -> usize {
        let st = self.shared.state.lock();
        if st.phase == Phase::Filling {
            st.count
        } else {
            0
        }
    }

    /// True once aborted, until reset (asyncio's `broken`).
    ///
    /// ```
    /// let b = evloop::Barrier::new(3);
    /// b.abort();
    /// assert!(b.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.shared.state.lock().phase == Phase::Broken
    }
}

impl fmt::Debug for Barrier {
    /// asyncio's repr: `[filling, waiters:1/3]` / `[broken]`, as `Barrier(filling,
    /// waiters=1/3)` / `Barrier(broken)`.
    ///
    /// ```
    /// let b = evloop::Barrier::new(3);
    /// assert_eq!(format!("{b:?}"), "Barrier(filling, waiters=0/3)");
    /// b.abort();
    /// assert_eq!(format!("{b:?}"), "Barrier(broken)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        let phase = match st.phase {
            Phase::Filling => "filling",
            Phase::Draining => "draining",
            Phase::Resetting => "resetting",
            Phase::Broken => return f.write_str("Barrier(broken)"),
        };
        let n = if st.phase == Phase::Filling {
            st.count
        } else {
            0
        };
        write!(f, "Barrier({phase}, waiters={n}/{})", self.shared.parties)
    }
}

/// The future of [`Barrier::wait`]: this task's index once `parties` tasks wait, or
/// [`BrokenBarrierError`].
///
/// ```
/// evloop::run(async {
///     let b = evloop::Barrier::new(1);
///     let wait: evloop::BarrierWait<'_> = b.wait();
///     assert_eq!(wait.await, Ok(0));
/// });
/// ```
#[must_use = "a wait does nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    /// `Some(index)` once inside the barrier (counted).
    inside: Option<usize>,
    /// `(entry, generation)` while registered.
    slot: Option<(u32, u64)>,
    done: bool,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrierError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        assert!(!this.done, "BarrierWait polled after it returned");
        let parties = this.barrier.shared.parties;
        // Cloned with the lock let go (LOCK-1); the state is looked at again after.
        let mut waker: Option<Waker> = None;
        loop {
            let mut st = this.barrier.shared.state.lock();
            // A registration of an older generation was taken out by a wake-all: look again.
            let current = this.slot.filter(|&(_, g)| g == st.generation);
            if current.is_none() {
                this.slot = None;
            }
            let outcome = match (current, this.inside) {
                // Still in the list, and nothing changed since it registered.
                (Some((k, _)), _) => {
                    if waker.is_none() && st.waiters.get(k).will_wake(cx.waker()) {
                        return Poll::Pending;
                    }
                    None
                }
                // Outside: asyncio's `_block`, then the arrival.
                (None, None) => match st.phase {
                    Phase::Draining | Phase::Resetting => None,
                    Phase::Broken => Some((Err(BrokenBarrierError::Aborted), WaitList::default())),
                    Phase::Filling => {
                        let index = st.count;
                        st.count += 1;
                        if index + 1 == parties {
                            // The last arrival lets the others go and leaves at once (asyncio's
                            // `_release`, then the `finally`).
                            st.phase = Phase::Draining;
                            let woken = st.notify_all();
                            let more = st.exit();
                            drop(st);
                            this.done = true;
                            drop_waker(waker);
                            wake_all(woken);
                            wake_all(more);
                            return Poll::Ready(Ok(index));
                        }
                        this.inside = Some(index);
                        None
                    }
                },
                // Inside: asyncio's `_wait`.
                (None, Some(index)) => match st.phase {
                    Phase::Filling => None,
                    Phase::Draining => Some((Ok(index), st.exit())),
                    Phase::Resetting => Some((Err(BrokenBarrierError::Reset), st.exit())),
                    Phase::Broken => Some((Err(BrokenBarrierError::Aborted), st.exit())),
                },
            };
            if let Some((result, woken)) = outcome {
                drop(st);
                this.inside = None;
                this.done = true;
                drop_waker(waker);
                wake_all(woken);
                return Poll::Ready(result);
            }
            match waker.take() {
                None => {
                    drop(st);
                    waker = Some(cx.waker().clone());
                }
                Some(w) => {
                    let old = match this.slot {
                        Some((k, _)) => Some(st.waiters.replace(k, w)),
                        None => {
                            this.slot = Some((st.waiters.push(w), st.generation));
                            None
                        }
                    };
                    drop(st);
                    drop_waker(old);
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if self.slot.is_none() && self.inside.is_none() {
            return;
        }
        let mut st = self.barrier.shared.state.lock();
        let gone = match self.slot {
            Some((k, g)) if g == st.generation => Some(st.waiters.remove(k)),
            _ => None,
        };
        // A task inside counts itself out, so the barrier can drain or reset without it
        // (SYNC-14; asyncio: `wait`'s `finally`).
        let woken = if self.inside.is_some() && !bug::enabled(Bug::BarrierCancelledWaiterCounted) {
            st.exit()
        } else {
            WaitList::default()
        };
        drop(st);
        drop_waker(gone);
        wake_all(woken);
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inside {
            Some(i) => write!(f, "BarrierWait(inside, index={i})"),
            None => f.write_str("BarrierWait"),
        }
    }
}
