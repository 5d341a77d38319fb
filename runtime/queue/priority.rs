//! [`PriorityQueue`]: asyncio's `PriorityQueue`, smallest first.

use super::futures::{Get, Join, Put};
use super::order::{Heap, Priority};
use super::sender::QueueSender;
use super::shared::Shared;
use crate::error::{QueueEmpty, QueueFull, TaskDoneError};
use evloop_model::sync::Arc;
use std::fmt;

/// A priority queue between tasks (asyncio's `PriorityQueue`): `get` takes the smallest item by
/// `Ord`, and among equal items the one put first (QUEUE-8; asyncio's `heapq` leaves their order
/// unspecified). Everything but the order is [`Queue`](crate::Queue)'s — the bound, getters and
/// putters waiting in order of arrival, `task_done` / `join`. Cloning gives another handle to the
/// same queue.
///
/// As in asyncio, an item is often a `(priority, payload)` pair; a payload that has no `Ord`, or
/// should not decide the order, goes in a wrapper whose `Ord` looks at the priority alone, and
/// items of equal priority then come out in the order they were put.
///
/// The items' `Ord` runs under the queue's lock as they are put and taken: it must not use the
/// same queue (in debug builds that panics, LOCK-2).
///
/// ```
/// evloop::run(async {
///     let jobs = evloop::PriorityQueue::new();
///     jobs.put((2, "write the report")).await;
///     jobs.put((1, "fix the outage")).await;
///     jobs.put((3, "tidy the desk")).await;
///     assert_eq!(jobs.get().await, (1, "fix the outage"));
///     assert_eq!(jobs.get().await, (2, "write the report"));
///     assert_eq!(jobs.get().await, (3, "tidy the desk"));
/// });
/// ```
pub struct PriorityQueue<T> {
    shared: Arc<Shared<Heap<T>>>,
}

impl<T: Ord> PriorityQueue<T> {
    /// An unbounded priority queue (asyncio's `PriorityQueue()`). It needs no running loop.
    ///
    /// ```
    /// let q = evloop::PriorityQueue::new();
    /// q.put_nowait(2).unwrap();
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(1));
    /// ```
    pub fn new() -> Self {
        PriorityQueue::with_maxsize(0)
    }

    /// A priority queue that holds at most `maxsize` items; 0 means unbounded (asyncio's
    /// `PriorityQueue(maxsize)`).
    ///
    /// ```
    /// let q = evloop::PriorityQueue::with_maxsize(1);
    /// q.put_nowait('a').unwrap();
    /// assert!(q.full());
    /// assert_eq!(q.put_nowait('b').unwrap_err().into_inner(), 'b');
    /// ```
    pub fn with_maxsize(maxsize: usize) -> Self {
        PriorityQueue {
            shared: Shared::new(maxsize),
        }
    }

    /// The bound given at construction; 0 for an unbounded queue.
    ///
    /// ```
    /// assert_eq!(evloop::PriorityQueue::<u8>::with_maxsize(3).maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.shared.maxsize
    }

    /// The number of items in the queue.
    ///
    /// ```
    /// let q = evloop::PriorityQueue::new();
    /// q.put_nowait(7).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.shared.qsize()
    }

    /// True when the queue holds no item.
    ///
    /// ```
    /// let q = evloop::PriorityQueue::new();
    /// assert!(q.empty());
    /// q.put_nowait(0).unwrap();
    /// assert!(!q.empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.shared.empty()
    }

    /// True when the queue holds `maxsize` items; never for an unbounded queue.
    ///
    /// ```
    /// let q = evloop::PriorityQueue::with_maxsize(1);
    /// assert!(!q.full());
    /// q.put_nowait(0).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        self.shared.full()
    }

    /// Puts `item` in its place by `Ord`, waiting while the queue is full (asyncio's
    /// `await q.put(item)`). Putters waiting on a full queue are served in the order they started
    /// waiting (QUEUE-3).
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::PriorityQueue::with_maxsize(1);
    ///     q.put(1).await;
    ///     let getter = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move { (q.get().await, q.get().await) })
    ///     };
    ///     q.put(2).await; // waits until the getter has taken 1
    ///     assert_eq!(getter.await.unwrap(), (1, 2));
    /// });
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T, Priority> {
        Put {
            shared: &self.shared,
            item: Some(item),
            slot: None,
        }
    }

    /// Takes the smallest item (of equal ones, the one put first), waiting while the queue is
    /// empty (asyncio's `await q.get()`). Getters waiting on an empty queue are served in the
    /// order they started waiting (QUEUE-3).
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::PriorityQueue::new();
    ///     let getter = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move { q.get().await })
    ///     };
    ///     evloop::sleep(std::time::Duration::ZERO).await; // the getter waits
    ///     q.put_nowait("hello").unwrap();
    ///     assert_eq!(getter.await.unwrap(), "hello");
    /// });
    /// ```
    pub fn get(&self) -> Get<'_, T, Priority> {
        Get {
            shared: &self.shared,
            slot: None,
        }
    }

    /// Puts `item` at once, or gives it back in [`QueueFull`] when the queue is full (asyncio's
    /// `put_nowait`). Wakes the first waiting getter.
    ///
    /// ```
    /// let q = evloop::PriorityQueue::with_maxsize(1);
    /// assert!(q.put_nowait("a").is_ok());
    /// assert_eq!(q.put_nowait("b").unwrap_err().into_inner(), "b");
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        self.shared.put_nowait(item)
    }

    /// Takes the smallest item at once, or [`QueueEmpty`] (asyncio's `get_nowait`). Wakes the
    /// first waiting putter.
    ///
    /// ```
    /// let q = evloop::PriorityQueue::new();
    /// assert_eq!(q.get_nowait(), Err(evloop::QueueEmpty));
    /// q.put_nowait(2).unwrap();
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(1));
    /// ```
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        self.shared.get_nowait()
    }

    /// Marks one item taken from the queue as processed (asyncio's `task_done`); see
    /// [`Queue::task_done`](crate::Queue::task_done).
    ///
    /// ```
    /// let q = evloop::PriorityQueue::new();
    /// q.put_nowait(1).unwrap();
    /// q.get_nowait().unwrap();
    /// assert!(q.task_done().is_ok());
    /// assert_eq!(q.task_done(), Err(evloop::TaskDoneError));
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.shared.task_done()
    }

    /// A [`QueueSender`] for a thread the loop does not know of to put into this queue; see
    /// [`Queue::sender`](crate::Queue::sender) (QUEUE-9).
    ///
    /// ```
    /// evloop::Builder::new().virtual_time(true).run(async {
    ///     let q = evloop::PriorityQueue::new();
    ///     let tx = q.sender();
    ///     let job = evloop::to_thread(move || {
    ///         tx.put_nowait(2).unwrap();
    ///         tx.put_nowait(1).unwrap();
    ///     });
    ///     job.await.unwrap();
    ///     assert_eq!(q.get().await, 1);
    /// });
    /// ```
    ///
    /// # Panics
    /// When no loop is running on this thread.
    #[track_caller]
    pub fn sender(&self) -> QueueSender<T, Priority> {
        QueueSender::new(&self.shared)
    }

    /// Waits until every item put has been marked done with
    /// [`task_done`](PriorityQueue::task_done) (asyncio's `await q.join()`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::PriorityQueue::new();
    ///     q.put_nowait("job").unwrap();
    ///     let worker = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move {
    ///             q.get().await;
    ///             q.task_done().unwrap();
    ///         })
    ///     };
    ///     q.join().await;
    ///     assert!(worker.done());
    /// });
    /// ```
    pub fn join(&self) -> Join<'_, T, Priority> {
        Join {
            shared: &self.shared,
            slot: None,
        }
    }
}

impl<T> Clone for PriorityQueue<T> {
    fn clone(&self) -> Self {
        PriorityQueue {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Ord> Default for PriorityQueue<T> {
    fn default() -> Self {
        PriorityQueue::new()
    }
}

impl<T: Ord> fmt::Debug for PriorityQueue<T> {
    /// asyncio's repr, without the items.
    ///
    /// ```
    /// let q = evloop::PriorityQueue::with_maxsize(4);
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(format!("{q:?}"), "PriorityQueue(maxsize=4, qsize=1, getters=0, putters=0, unfinished=1)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}
