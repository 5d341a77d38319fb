//! What every queue shares whatever its order: the state behind the queue's one lock (the items,
//! the three waiter lists, the unfinished count) and the operations on it that do not wait. The
//! public queues and the futures are thin layers over [`Shared`].

use super::order::store::Items;
use crate::error::{QueueEmpty, QueueFull, TaskDoneError};
use crate::waiters::WaitList;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use std::fmt;
use std::task::Waker;

pub(crate) struct Shared<S> {
    /// 0: unbounded.
    pub(super) maxsize: usize,
    pub(super) state: Mutex<State<S>>,
}

pub(crate) struct State<S> {
    items: S,
    pub(super) getters: Waiters,
    pub(super) putters: Waiters,
    pub(super) joiners: Waiters,
    /// asyncio's `_unfinished_tasks`: items put and not yet marked done.
    pub(super) unfinished: usize,
}

/// Which waiters a future is among.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Get,
    Put,
    Join,
}

impl<S: Items> State<S> {
    fn waiters(&mut self, kind: Kind) -> &mut Waiters {
        match kind {
            Kind::Get => &mut self.getters,
            Kind::Put => &mut self.putters,
            Kind::Join => &mut self.joiners,
        }
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    #[inline]
    pub(super) fn full(&self, maxsize: usize) -> bool {
        maxsize > 0 && self.items.len() >= maxsize
    }

    /// asyncio's `put_nowait` after its `full()` check: the item goes in, the first waiting
    /// getter is woken. The waker is returned to be woken once the lock is released.
    #[inline]
    pub(super) fn push(&mut self, item: S::Item) -> Option<Waker> {
        self.items.put(item);
        self.unfinished += 1;
        self.getters.wake_next()
    }

    /// asyncio's `get_nowait` after its `empty()` check: an item comes out, the first waiting
    /// putter is woken.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<(S::Item, Option<Waker>)> {
        let item = self.items.take()?;
        Some((item, self.putters.wake_next()))
    }
}

impl<S: Items> Shared<S> {
    pub(super) fn new(maxsize: usize) -> Arc<Self> {
        Arc::new(Shared {
            maxsize,
            state: Mutex::new(State {
                items: S::default(),
                getters: Waiters::default(),
                putters: Waiters::default(),
                joiners: Waiters::default(),
                unfinished: 0,
            }),
        })
    }

    pub(super) fn qsize(&self) -> usize {
        self.state.lock().items.len()
    }

    pub(super) fn empty(&self) -> bool {
        self.state.lock().is_empty()
    }

    pub(super) fn full(&self) -> bool {
        self.state.lock().full(self.maxsize)
    }

    #[inline]
    pub(super) fn put_nowait(&self, item: S::Item) -> Result<(), QueueFull<S::Item>> {
        let mut st = self.state.lock();
        if st.full(self.maxsize) {
            return Err(QueueFull(item));
        }
        let woken = st.push(item);
        drop(st);
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
        Ok(())
    }

    #[inline]
    pub(super) fn get_nowait(&self) -> Result<S::Item, QueueEmpty> {
        let mut st = self.state.lock();
        let (item, woken) = st.pop().ok_or(QueueEmpty)?;
        drop(st);
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
        Ok(item)
    }

    pub(super) fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut st = self.state.lock();
        if st.unfinished == 0 {
            return Err(TaskDoneError);
        }
        st.unfinished -= 1;
        if st.unfinished > 0 {
            return Ok(());
        }
        let woken = st.joiners.wake_all();
        drop(st);
        woken.into_iter().for_each(crate::engine::contain::wake);
        Ok(())
    }

    /// The drop of a future still holding a slot: the rare path, kept out of line so the drops
    /// of the futures that completed (no slot) inline to one test.
    #[cold]
    #[inline(never)]
    pub(super) fn release(&self, kind: Kind, key: u32) {
        let mut st = self.state.lock();
        let gone = st.waiters(kind).release(key);
        // A waiter woken and dropped before it ran passes its wake-up on, so the item or the room
        // it was woken for does not sit unused while others wait (QUEUE-4; asyncio: the `except`
        // branch of `get` / `put`). Joiners are all woken at once: nothing to pass on.
        let next = if !gone.woken || bug::enabled(Bug::QueueDroppedWakeup) {
            None
        } else {
            match kind {
                Kind::Get if !st.is_empty() => st.getters.wake_next(),
                Kind::Put if !st.full(self.maxsize) => st.putters.wake_next(),
                _ => None,
            }
        };
        drop(st);
        crate::engine::contain::drop_value(gone.waker);
        if let Some(w) = next {
            crate::engine::contain::wake(w);
        }
    }

    /// asyncio's repr, without the items: `Queue(maxsize=4, qsize=1, ...)`, under the name of
    /// the queue's class.
    pub(super) fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        write!(
            f,
            "{}(maxsize={}, qsize={}, getters={}, putters={}, unfinished={})",
            S::NAME,
            self.maxsize,
            st.items.len(),
            st.getters.waiting(),
            st.putters.waiting(),
            st.unfinished
        )
    }
}

/// A waiting future's entry in one of the queue's lists.
pub(super) struct Waiter {
    /// Woken by `wake_next` (an item or room came) and not yet run: no longer in the line.
    pub(super) woken: bool,
    /// Taken out to be woken; a woken waiter that waits again brings a new one.
    pub(super) waker: Option<Waker>,
}

/// One kind of waiter, in order of arrival (asyncio's `_getters` / `_putters` deques).
#[derive(Default)]
pub(super) struct Waiters(WaitList<Waiter>);

impl Waiters {
    pub(super) fn is_woken(&self, key: u32) -> bool {
        self.0.get(key).woken
    }

    /// True when the future holding `key` already waits in line with a waker for the same task:
    /// polled again, it has nothing to change (and no waker to clone).
    pub(super) fn waits_with(&self, key: u32, waker: &Waker) -> bool {
        let w = self.0.get(key);
        !w.woken && w.waker.as_ref().is_some_and(|old| old.will_wake(waker))
    }

    /// Puts the future holding `key` in line with `waker` (cloned by the caller before it took
    /// the lock): at the back if it is new or was woken and found nothing (another task took the
    /// item first), as asyncio's `get` appends a new getter in its `while self.empty()` loop; in
    /// its place if it still waits. Returns the waker it replaced, to be dropped once the lock is
    /// released.
    #[inline]
    pub(super) fn register(&mut self, key: &mut Option<u32>, waker: Waker) -> Option<Waker> {
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
                    self.0.move_to_back(k);
                }
                old
            }
        }
    }

    /// asyncio's `_wakeup_next`: the first waiter in line is marked woken and leaves the line;
    /// its waker is returned to be woken once the lock is released.
    #[inline]
    fn wake_next(&mut self) -> Option<Waker> {
        let k = self.0.pop_front_where(|w| !w.woken)?;
        let w = self.0.get_mut(k);
        w.woken = true;
        w.waker.take()
    }

    /// Every waiter in line is woken, in order.
    fn wake_all(&mut self) -> Vec<Waker> {
        let mut out = Vec::with_capacity(self.0.len());
        while let Some(w) = self.wake_next() {
            out.push(w);
        }
        out
    }

    /// Takes `key` out of the list (its future completed or went away) and frees its slot;
    /// returns the entry, whose waker the caller drops once the lock is released.
    #[inline]
    #[must_use = "the entry's waker is dropped by the caller, outside the lock"]
    pub(super) fn release(&mut self, key: u32) -> Waiter {
        self.0.remove(key)
    }

    /// Waiters in line (not woken).
    fn waiting(&self) -> usize {
        let mut n = 0;
        self.0.for_each(|w| n += usize::from(!w.woken));
        n
    }
}
