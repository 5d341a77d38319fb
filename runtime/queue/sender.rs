//! [`QueueSender`]: a queue's putting end for a thread the loop does not know of, counted on
//! that loop as cross-thread work in flight for as long as it lives (QUEUE-9), as a
//! [`Resolver`](crate::Resolver) is.

use super::order::{Fifo, Order};
use super::shared::Shared;
use crate::engine::current;
use crate::engine::scheduler::Scheduler;
use crate::error::{LoopError, QueueFull};
use evloop_model::sync::Arc;
use std::fmt;

/// A `Send` handle that puts into a queue from another OS thread, made with
/// [`Queue::sender`](crate::Queue::sender) (or [`LifoQueue::sender`](crate::LifoQueue::sender),
/// [`PriorityQueue::sender`](crate::PriorityQueue::sender)) on the loop whose tasks get from
/// it. While it or a clone of it lives, that loop counts it as cross-thread work in flight: a
/// virtual clock neither jumps ahead nor reports a deadlock while the thread may still put
/// (QUEUE-9, TIME-4). Drop it once the thread has put its last item.
///
/// asyncio's queue is not thread-safe; its threads put with
/// `loop.call_soon_threadsafe(q.put_nowait, item)`.
///
/// ```
/// evloop::Builder::new().virtual_time(true).run(async {
///     let q = evloop::Queue::new();
///     let tx = q.sender();
///     // Any thread will do; a thread-pool job stands in for one here.
///     let producer = evloop::to_thread(move || {
///         for i in 0..3 {
///             tx.put_nowait(i).unwrap();
///         }
///         // `tx` drops here: the loop stops waiting for this thread.
///     });
///     let mut got = Vec::new();
///     for _ in 0..3 {
///         got.push(q.get().await);
///     }
///     assert_eq!(got, [0, 1, 2]);
///     producer.await.unwrap();
/// });
/// ```
pub struct QueueSender<T, O: Order<T> = Fifo> {
    shared: Arc<Shared<O::Items>>,
    /// The loop that counts this sender as in flight.
    lp: Arc<Scheduler>,
}

impl<T, O: Order<T>> QueueSender<T, O> {
    /// Counted from here, on the running loop's thread, so the loop has seen the count before
    /// any thread can hold the sender (the rule of `Scheduler::inflight_begin`).
    #[track_caller]
    pub(super) fn new(shared: &Arc<Shared<O::Items>>) -> Self {
        let Some(lp) = current::scheduler() else {
            panic!(
                "{}; a queue's sender is made on the loop whose tasks get from the queue, then \
                 moved to the thread that puts",
                LoopError::NoRunningLoop
            )
        };
        lp.inflight_begin();
        QueueSender {
            shared: shared.clone(),
            lp,
        }
    }

    /// Puts `item` at once, or gives it back in [`QueueFull`] when the queue is full; wakes the
    /// first waiting getter, on whichever loop it waits (the queue's
    /// [`put_nowait`](crate::Queue::put_nowait)). To wait for room from a thread, submit the
    /// awaiting `put` to the loop with
    /// [`run_coroutine_threadsafe`](crate::run_coroutine_threadsafe) and block on it, holding
    /// the sender meanwhile.
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::Queue::with_maxsize(1);
    ///     let tx = q.sender();
    ///     let refused = evloop::to_thread(move || {
    ///         tx.put_nowait("a").unwrap();
    ///         tx.put_nowait("b").unwrap_err().into_inner()
    ///     });
    ///     assert_eq!(refused.await.unwrap(), "b");
    ///     assert_eq!(q.get().await, "a");
    /// });
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        self.shared.put_nowait(item)
    }
}

impl<T, O: Order<T>> Clone for QueueSender<T, O> {
    /// Another sender for the same queue and loop, counted on its own: the loop waits until
    /// every clone has dropped.
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::Queue::new();
    ///     let tx = q.sender();
    ///     let jobs: Vec<_> = (0..2)
    ///         .map(|i| {
    ///             let tx = tx.clone();
    ///             evloop::to_thread(move || tx.put_nowait(i).unwrap())
    ///         })
    ///         .collect();
    ///     drop(tx);
    ///     let (a, b) = (q.get().await, q.get().await);
    ///     assert_eq!(a + b, 1);
    ///     for j in jobs {
    ///         j.await.unwrap();
    ///     }
    /// });
    /// ```
    fn clone(&self) -> Self {
        // The original is alive, so the count is not zero: a clone made on any thread cannot
        // let the loop see "nothing in flight" in between.
        self.lp.inflight_begin();
        QueueSender {
            shared: self.shared.clone(),
            lp: self.lp.clone(),
        }
    }
}

impl<T, O: Order<T>> Drop for QueueSender<T, O> {
    fn drop(&mut self) {
        // After every put's wake was queued (each put woke before it returned): the loop never
        // sees "nothing ready, nothing in flight" while a put's getter is yet to be queued.
        self.lp.inflight_end();
    }
}

impl<T, O: Order<T>> fmt::Debug for QueueSender<T, O> {
    /// The queue's own repr, under `QueueSender`.
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::LifoQueue::<u8>::new();
    ///     assert_eq!(
    ///         format!("{:?}", q.sender()),
    ///         "QueueSender(LifoQueue(maxsize=0, qsize=0, getters=0, putters=0, unfinished=0))"
    ///     );
    /// });
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueSender(")?;
        self.shared.fmt(f)?;
        f.write_str(")")
    }
}
