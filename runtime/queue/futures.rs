//! The futures of a queue's waiting calls, [`Get`], [`Put`] and [`Join`], the same for every
//! order: each holds the queue's shared state and, while it waits, its slot in one of the
//! queue's waiter lists (the life of that slot is drawn in the module documentation).

use super::order::{Fifo, Order};
use super::shared::{Kind, Shared, State};
use evloop_model::sync::MutexGuard;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future of [`Queue::get`](crate::Queue::get), and of
/// [`LifoQueue::get`](crate::LifoQueue::get) and [`PriorityQueue::get`](crate::PriorityQueue::get):
/// the next item in the queue's order, once there is one.
///
/// ```
/// evloop::run(async {
///     let q = evloop::Queue::new();
///     q.put_nowait(1).unwrap();
///     let get: evloop::Get<'_, i32> = q.get();
///     assert_eq!(get.await, 1);
/// });
/// ```
#[must_use = "a get does nothing unless awaited"]
pub struct Get<'a, T, O: Order<T> = Fifo> {
    pub(super) shared: &'a Shared<O::Items>,
    /// This future's slot among the getters, while it waits or has been woken.
    pub(super) slot: Option<u32>,
}

impl<T, O: Order<T>> Future for Get<'_, T, O> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        let shared = this.shared;
        let st = shared.state.lock();
        if !st.is_empty() {
            return Poll::Ready(this.take(st));
        }
        if this
            .slot
            .is_some_and(|k| st.getters.waits_with(k, cx.waker()))
        {
            return Poll::Pending;
        }
        drop(st);
        // Cloned outside the lock: a foreign waker's clone is user code (LOCK-1). The queue may
        // have changed meanwhile, so it is looked at again.
        let waker = cx.waker().clone();
        let mut st = shared.state.lock();
        if !st.is_empty() {
            let item = this.take(st);
            crate::engine::contain::drop_value(waker);
            return Poll::Ready(item);
        }
        let old = st.getters.register(&mut this.slot, waker);
        drop(st);
        crate::engine::contain::drop_value(old);
        Poll::Pending
    }
}

impl<T, O: Order<T>> Get<'_, T, O> {
    /// Takes the front item (there is one), leaves the line, and lets the lock go before it wakes
    /// the putter that now has room or drops its own entry's waker.
    fn take(&mut self, mut st: MutexGuard<'_, State<O::Items>>) -> T {
        let (item, woken) = st.pop().expect("the caller saw an item");
        let gone = self.slot.take().map(|k| st.getters.release(k));
        drop(st);
        crate::engine::contain::drop_value(gone.map(|g| g.waker));
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
        item
    }
}

impl<T, O: Order<T>> Drop for Get<'_, T, O> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            self.shared.release(Kind::Get, key);
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for Get<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.slot.is_some() {
            "Get(waiting)"
        } else {
            "Get"
        })
    }
}

/// The future of [`Queue::put`](crate::Queue::put), and of
/// [`LifoQueue::put`](crate::LifoQueue::put) and [`PriorityQueue::put`](crate::PriorityQueue::put):
/// done once the item is in the queue.
///
/// ```
/// evloop::run(async {
///     let q = evloop::Queue::new();
///     let put: evloop::Put<'_, &str> = q.put("x");
///     put.await;
///     assert_eq!(q.get_nowait(), Ok("x"));
/// });
/// ```
#[must_use = "a put does nothing unless awaited"]
pub struct Put<'a, T, O: Order<T> = Fifo> {
    pub(super) shared: &'a Shared<O::Items>,
    pub(super) item: Option<T>,
    pub(super) slot: Option<u32>,
}

// The item is only ever moved out whole, never pinned.
impl<T, O: Order<T>> Unpin for Put<'_, T, O> {}

impl<T, O: Order<T>> Future for Put<'_, T, O> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        let shared = this.shared;
        let st = shared.state.lock();
        if !st.full(shared.maxsize) {
            this.give(st);
            return Poll::Ready(());
        }
        if this
            .slot
            .is_some_and(|k| st.putters.waits_with(k, cx.waker()))
        {
            return Poll::Pending;
        }
        drop(st);
        // Cloned outside the lock (LOCK-1); the queue is looked at again after.
        let waker = cx.waker().clone();
        let mut st = shared.state.lock();
        if !st.full(shared.maxsize) {
            this.give(st);
            crate::engine::contain::drop_value(waker);
            return Poll::Ready(());
        }
        let old = st.putters.register(&mut this.slot, waker);
        drop(st);
        crate::engine::contain::drop_value(old);
        Poll::Pending
    }
}

impl<T, O: Order<T>> Put<'_, T, O> {
    /// Puts the item (there is room), leaves the line, and lets the lock go before it wakes the
    /// getter it serves or drops its own entry's waker.
    fn give(&mut self, mut st: MutexGuard<'_, State<O::Items>>) {
        let item = self.item.take().expect("Put polled after it completed");
        let gone = self.slot.take().map(|k| st.putters.release(k));
        let woken = st.push(item);
        drop(st);
        crate::engine::contain::drop_value(gone.map(|g| g.waker));
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
    }
}

impl<T, O: Order<T>> Drop for Put<'_, T, O> {
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            self.shared.release(Kind::Put, key);
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for Put<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.slot.is_some() {
            "Put(waiting)"
        } else {
            "Put"
        })
    }
}

/// The future of [`Queue::join`](crate::Queue::join), and of
/// [`LifoQueue::join`](crate::LifoQueue::join) and
/// [`PriorityQueue::join`](crate::PriorityQueue::join): done once every item put has been marked
/// done.
///
/// ```
/// evloop::run(async {
///     let q = evloop::Queue::<u8>::new();
///     let join: evloop::Join<'_, u8> = q.join();
///     join.await; // nothing was put
/// });
/// ```
#[must_use = "a join does nothing unless awaited"]
pub struct Join<'a, T, O: Order<T> = Fifo> {
    pub(super) shared: &'a Shared<O::Items>,
    pub(super) slot: Option<u32>,
}

impl<T, O: Order<T>> Future for Join<'_, T, O> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        let shared = this.shared;
        let mut st = shared.state.lock();
        if this.done(&mut st) {
            return Poll::Ready(());
        }
        if this
            .slot
            .is_some_and(|k| st.joiners.waits_with(k, cx.waker()))
        {
            return Poll::Pending;
        }
        drop(st);
        // Cloned outside the lock (LOCK-1); the count is looked at again after.
        let waker = cx.waker().clone();
        let mut st = shared.state.lock();
        if this.done(&mut st) {
            drop(st);
            crate::engine::contain::drop_value(waker);
            return Poll::Ready(());
        }
        let old = st.joiners.register(&mut this.slot, waker);
        drop(st);
        crate::engine::contain::drop_value(old);
        Poll::Pending
    }
}

impl<T, O: Order<T>> Join<'_, T, O> {
    /// True once this join is done; it then leaves the list (its entry holds no waker: a woken
    /// joiner's was taken to wake it).
    fn done(&mut self, st: &mut State<O::Items>) -> bool {
        // Woken by the count reaching zero: done, even if items were put since (asyncio's
        // `join` waits on an `Event` that was set).
        let woken = match self.slot {
            Some(key) => st.joiners.is_woken(key),
            None => st.unfinished == 0,
        };
        if woken {
            if let Some(key) = self.slot.take() {
                let gone = st.joiners.release(key);
                debug_assert!(gone.waker.is_none(), "a woken joiner's waker was taken");
            }
        }
        woken
    }
}

impl<T, O: Order<T>> Drop for Join<'_, T, O> {
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            self.shared.release(Kind::Join, key);
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for Join<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.slot.is_some() {
            "Join(waiting)"
        } else {
            "Join"
        })
    }
}
