//! [`Line`]: the waiters of a primitive that wakes them one at a time — a [`Lock`](crate::Lock)'s
//! acquirers, a [`Semaphore`](crate::Semaphore)'s, a [`Condition`](crate::Condition)'s waiters —
//! in order of arrival, each marked when it has been woken (asyncio: a deque of futures, where a
//! woken waiter's future is done).
//!
//! A waiting future's entry goes
//!
//! ```text
//!   (none) ──register──► IN LINE ──wake_next──► WOKEN ──the future runs and takes what it was
//!                          │                      │       woken for: release──► (none)
//!                          │                      └──the future is dropped: release; the
//!                          │                         primitive passes what it was given on
//!                          └──the future is dropped: release──► (none)
//! ```
//!
//! The line never wakes, clones or drops a waker itself: [`Line::wake_next`] and
//! [`Line::release`] hand the waker back to the caller, who lets the primitive's lock go first
//! (LOCK-1).

use crate::waiters::WaitList;
use std::task::Waker;

/// A waiting future's entry.
pub(crate) struct Waiter {
    /// Woken by `wake_next` and not yet run: no longer in line.
    pub(crate) woken: bool,
    /// Taken out to be woken.
    pub(crate) waker: Option<Waker>,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Line(WaitList<Waiter>);

impl Line {
    /// True when the entry named by `key` has been woken.
    pub(crate) fn is_woken(&self, key: u32) -> bool {
        self.0.get(key).woken
    }

    /// True when the future holding `key` already waits in line with a waker for the same task:
    /// polled again, it has nothing to change and no waker to clone.
    pub(crate) fn waits_with(&self, key: u32, waker: &Waker) -> bool {
        let w = self.0.get(key);
        !w.woken && w.waker.as_ref().is_some_and(|old| old.will_wake(waker))
    }

    /// Puts the future holding `key` in line with `waker` (cloned by the caller before it took
    /// the primitive's lock): at the back when it is new, in its place when it still waits.
    /// Returns the waker it replaced, to be dropped once the lock is let go.
    #[must_use = "the old waker is the caller's to drop outside its lock"]
    pub(crate) fn register(&mut self, key: &mut Option<u32>, waker: Waker) -> Option<Waker> {
        match *key {
            None => {
                *key = Some(self.0.push(Waiter {
                    woken: false,
                    waker: Some(waker),
                }));
                None
            }
            Some(k) => {
                let w = self.0.get_mut(k);
                let was_woken = std::mem::replace(&mut w.woken, false);
                let old = w.waker.replace(waker);
                if was_woken {
                    // Woken and waiting again: a new arrival, at the back.
                    self.0.move_to_back(k);
                }
                old
            }
        }
    }

    /// The first waiter in line is marked woken and leaves the line; its waker is returned, to
    /// be woken once the lock is let go. `None` when nobody waits in line.
    #[must_use = "the waker is the caller's to wake outside its lock"]
    pub(crate) fn wake_next(&mut self) -> Option<Waker> {
        let k = self.0.pop_front_where(|w| !w.woken)?;
        let w = self.0.get_mut(k);
        w.woken = true;
        // A waiter is only ever in line with a waker.
        w.waker.take()
    }

    /// Takes `key` out of the list and frees its slot; returns the entry, whose waker the caller
    /// drops once the lock is let go.
    #[must_use = "the entry's waker is dropped by the caller, outside the lock"]
    pub(crate) fn release(&mut self, key: u32) -> Waiter {
        self.0.remove(key)
    }

    /// Entries, woken or in line (asyncio's `len(self._waiters)`).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the list has no entry at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}
