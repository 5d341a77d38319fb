//! asyncio's synchronization primitives (`Lib/asyncio/locks.py`, CPython 3.12): [`Lock`],
//! [`Event`], [`Condition`], [`Semaphore`], [`BoundedSemaphore`], [`Barrier`]. `specs/sync.md`
//! states their guarantees (SYNC-*).
//!
//! | file           | what it holds                                                        |
//! |----------------|----------------------------------------------------------------------|
//! | `line.rs`      | the line of waiters woken one at a time, each marked once woken      |
//! | `lock.rs`      | `Lock`, its acquire future and its guard                             |
//! | `event.rs`     | `Event` and its wait future                                          |
//! | `semaphore.rs` | `Semaphore`, `BoundedSemaphore`, their acquire future and permit     |
//! | `condition.rs` | `Condition` and its `wait` / `wait_for` futures                      |
//! | `barrier.rs`   | `Barrier` and its wait future                                        |
//!
//! What they share:
//! - **One waiter list.** Every waiter list is the runtime's `waiters::WaitList`: as a `line::Line`
//!   for the primitives that wake one waiter at a time and mark it (lock, semaphore, condition),
//!   and as a plain list taken out whole, with a generation count, for those that wake everyone
//!   (event, barrier).
//! - **No user code under a lock (LOCK-1).** A waiter clones its task's waker with the
//!   primitive's lock let go and looks at the state again before it registers; whatever a list
//!   gives up is woken or dropped once the lock is let go, through `contain` (a foreign waker's
//!   panic is contained and reported).
//! - **Cancelling is dropping.** A cancelled task's future is dropped at its suspension point,
//!   so a cancelled waiter is a dropped acquire or wait future. Its `Drop` removes its entry and,
//!   if it had already been handed something — the lock, a permit, a notification — passes that
//!   on, as asyncio's `except CancelledError` branches do (SYNC-3, SYNC-8, SYNC-11, SYNC-14).
//! - **Guards instead of `release()`.** asyncio's `async with lock:` is a block holding the
//!   [`LockGuard`] that `acquire().await` returns; the guard releases when it drops, on every way
//!   out of the block. A semaphore's [`SemaphorePermit`] does the same, and can be forgotten to
//!   pair an acquire with a `release()` by hand, as asyncio's semaphore allows.
//! - **Bound to no loop.** Like [`Queue`](crate::Queue), each is `Send + Sync` behind one lock
//!   of its own, and its waiters carry their own wakers, so it may be shared between tasks on
//!   several workers, loops and threads (asyncio binds each to the first loop that waits on it).

mod barrier;
mod condition;
mod event;
mod line;
mod lock;
mod semaphore;

pub use barrier::{Barrier, BarrierWait};
pub use condition::{Condition, ConditionWait, ConditionWaitFor};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreAcquire, SemaphorePermit};

use std::task::Waker;

/// Wakes `waker`, if any, through `contain` (a foreign waker's panic is contained).
#[inline]
fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        crate::engine::contain::wake(w);
    }
}

/// Drops `waker`, if any, through `contain`.
#[inline]
fn drop_waker(waker: Option<Waker>) {
    if let Some(w) = waker {
        crate::engine::contain::drop_value(w);
    }
}
