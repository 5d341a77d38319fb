//! [`Queue`]: asyncio's `Queue`, first in, first out.

use super::futures::{Get, Join, Put};
use super::sender::QueueSender;
use super::shared::Shared;
use crate::error::{QueueEmpty, QueueFull, TaskDoneError};
use evloop_model::sync::Arc;
use std::collections::VecDeque;
use std::fmt;

/// A FIFO queue between tasks (asyncio's `Queue`). Cloning gives another handle to the same queue.
///
/// ```
/// evloop::run(async {
///     let q = evloop::Queue::new();
///     let consumer = {
///         let q = q.clone();
///         evloop::create_task(async move {
///             let mut seen = Vec::new();
///             while let Some(x) = q.get().await {
///                 seen.push(x);
///                 q.task_done().unwrap();
///             }
///             q.task_done().unwrap(); // for the `None` that ended the loop
///             seen
///         })
///     };
///     for x in [1, 2, 3] {
///         q.put(Some(x)).await;
///     }
///     q.put(None).await;
///     q.join().await; // every item was marked done
///     assert_eq!(consumer.await.unwrap(), vec![1, 2, 3]);
/// });
/// ```
pub struct Queue<T> {
    shared: Arc<Shared<VecDeque<T>>>,
}

impl<T> Queue<T> {
    /// An unbounded queue (asyncio's `Queue()`). It needs no running loop.
    ///
    /// ```
    /// let q = evloop::Queue::new();
    /// q.put_nowait("a").unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// assert_eq!(q.maxsize(), 0); // 0: unbounded
    /// ```
    pub fn new() -> Self {
        Queue::with_maxsize(0)
    }

    /// A queue that holds at most `maxsize` items; 0 means unbounded (asyncio's
    /// `Queue(maxsize)`, where a size ≤ 0 means unbounded).
    ///
    /// ```
    /// let q = evloop::Queue::with_maxsize(1);
    /// q.put_nowait(1).unwrap();
    /// assert!(q.full());
    /// // The refused item comes back in the error.
    /// assert_eq!(q.put_nowait(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn with_maxsize(maxsize: usize) -> Self {
        Queue {
            shared: Shared::new(maxsize),
        }
    }

    /// The bound given at construction; 0 for an unbounded queue.
    ///
    /// ```
    /// assert_eq!(evloop::Queue::<u8>::with_maxsize(3).maxsize(), 3);
    /// assert_eq!(evloop::Queue::<u8>::new().maxsize(), 0);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.shared.maxsize
    }

    /// The number of items in the queue.
    ///
    /// ```
    /// let q = evloop::Queue::new();
    /// q.put_nowait('x').unwrap();
    /// q.put_nowait('y').unwrap();
    /// assert_eq!(q.qsize(), 2);
    /// ```
    pub fn qsize(&self) -> usize {
        self.shared.qsize()
    }

    /// True when the queue holds no item.
    ///
    /// ```
    /// let q = evloop::Queue::new();
    /// assert!(q.empty());
    /// q.put_nowait(()).unwrap();
    /// assert!(!q.empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.shared.empty()
    }

    /// True when the queue holds `maxsize` items; never for an unbounded queue.
    ///
    /// ```
    /// let q = evloop::Queue::with_maxsize(2);
    /// q.put_nowait(1).unwrap();
    /// assert!(!q.full());
    /// q.put_nowait(2).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        self.shared.full()
    }

    /// Puts `item` at the back, waiting while the queue is full (asyncio's `await q.put(item)`).
    /// Putters waiting on a full queue are served in the order they started waiting (QUEUE-3).
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::Queue::with_maxsize(1);
    ///     q.put(1).await;
    ///     let getter = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move { (q.get().await, q.get().await) })
    ///     };
    ///     q.put(2).await; // waits until the getter has taken 1
    ///     assert_eq!(getter.await.unwrap(), (1, 2));
    /// });
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put {
            shared: &self.shared,
            item: Some(item),
            slot: None,
        }
    }

    /// Takes the item at the front, waiting while the queue is empty (asyncio's `await q.get()`).
    /// Getters waiting on an empty queue are served in the order they started waiting (QUEUE-3).
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::Queue::new();
    ///     let getter = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move { q.get().await })
    ///     };
    ///     evloop::sleep(std::time::Duration::ZERO).await; // the getter waits
    ///     q.put_nowait("hello").unwrap();
    ///     assert_eq!(getter.await.unwrap(), "hello");
    /// });
    /// ```
    pub fn get(&self) -> Get<'_, T> {
        Get {
            shared: &self.shared,
            slot: None,
        }
    }

    /// Puts `item` at once, or gives it back in [`QueueFull`] when the queue is full (asyncio's
    /// `put_nowait`, which raises `QueueFull`). Wakes the first waiting getter.
    ///
    /// ```
    /// let q = evloop::Queue::with_maxsize(1);
    /// assert!(q.put_nowait("a").is_ok());
    /// let err = q.put_nowait("b").unwrap_err();
    /// assert_eq!(err.to_string(), "the queue is full: wait for room with `put(item).await`, or make it bigger");
    /// assert_eq!(err.into_inner(), "b");
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        self.shared.put_nowait(item)
    }

    /// Takes the item at the front at once, or [`QueueEmpty`] (asyncio's `get_nowait`). Wakes the
    /// first waiting putter.
    ///
    /// ```
    /// let q = evloop::Queue::new();
    /// assert_eq!(q.get_nowait(), Err(evloop::QueueEmpty));
    /// q.put_nowait(5).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(5));
    /// ```
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        self.shared.get_nowait()
    }

    /// Marks one item taken from the queue as processed (asyncio's `task_done`). When every item
    /// ever put has been marked, the tasks waiting in [`join`](Queue::join) are woken. Called
    /// more times than items were put: [`TaskDoneError`] (asyncio raises `ValueError`).
    ///
    /// ```
    /// let q = evloop::Queue::new();
    /// q.put_nowait(1).unwrap();
    /// q.get_nowait().unwrap();
    /// assert!(q.task_done().is_ok());
    /// assert_eq!(q.task_done(), Err(evloop::TaskDoneError));
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.shared.task_done()
    }

    /// A [`QueueSender`] for a thread the loop does not know of to put into this queue: the
    /// running loop counts it as cross-thread work in flight until it (and every clone) drops, so
    /// a virtual clock neither jumps ahead nor reports a deadlock while that thread may still put
    /// (QUEUE-9). A plain `put_nowait` from any thread works too; the sender is how the loop
    /// learns to wait for it.
    ///
    /// ```
    /// evloop::Builder::new().virtual_time(true).run(async {
    ///     let q = evloop::Queue::new();
    ///     let tx = q.sender();
    ///     let job = evloop::to_thread(move || tx.put_nowait("from a thread").unwrap());
    ///     assert_eq!(q.get().await, "from a thread");
    ///     job.await.unwrap();
    /// });
    /// ```
    ///
    /// # Panics
    /// When no loop is running on this thread: make the sender on the loop, then move it to the
    /// thread.
    #[track_caller]
    pub fn sender(&self) -> QueueSender<T> {
        QueueSender::new(&self.shared)
    }

    /// Waits until every item put has been marked done with [`task_done`](Queue::task_done)
    /// (asyncio's `await q.join()`); at once if none is unfinished.
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::Queue::new();
    ///     q.join().await; // nothing unfinished: returns at once
    ///     q.put_nowait("job").unwrap();
    ///     let worker = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move {
    ///             let job = q.get().await;
    ///             q.task_done().unwrap();
    ///             job
    ///         })
    ///     };
    ///     q.join().await;
    ///     assert!(worker.done());
    ///     assert_eq!(worker.await.unwrap(), "job");
    /// });
    /// ```
    pub fn join(&self) -> Join<'_, T> {
        Join {
            shared: &self.shared,
            slot: None,
        }
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T> fmt::Debug for Queue<T> {
    /// asyncio's repr: `<Queue maxsize=0 tasks=1>`, without the items.
    ///
    /// ```
    /// let q = evloop::Queue::with_maxsize(4);
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(format!("{q:?}"), "Queue(maxsize=4, qsize=1, getters=0, putters=0, unfinished=1)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}
