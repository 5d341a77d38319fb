//! [`LifoQueue`]: asyncio's `LifoQueue`, last in, first out.

use super::futures::{Get, Join, Put};
use super::order::Lifo;
use super::sender::QueueSender;
use super::shared::Shared;
use crate::error::{QueueEmpty, QueueFull, TaskDoneError};
use evloop_model::sync::Arc;
use std::fmt;

/// A LIFO queue between tasks (asyncio's `LifoQueue`): `get` takes the item put last. Everything
/// but the order is [`Queue`](crate::Queue)'s — the bound, getters and putters waiting in order
/// of arrival, `task_done` / `join`. Cloning gives another handle to the same queue.
///
/// ```
/// evloop::run(async {
///     let stack = evloop::LifoQueue::new();
///     for page in ["home", "search", "result"] {
///         stack.put(page).await;
///     }
///     // Back, back, back: the newest first.
///     assert_eq!(stack.get().await, "result");
///     assert_eq!(stack.get().await, "search");
///     assert_eq!(stack.get().await, "home");
/// });
/// ```
pub struct LifoQueue<T> {
    shared: Arc<Shared<Vec<T>>>,
}

impl<T> LifoQueue<T> {
    /// An unbounded LIFO queue (asyncio's `LifoQueue()`). It needs no running loop.
    ///
    /// ```
    /// let q = evloop::LifoQueue::new();
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(2));
    /// ```
    pub fn new() -> Self {
        LifoQueue::with_maxsize(0)
    }

    /// A LIFO queue that holds at most `maxsize` items; 0 means unbounded (asyncio's
    /// `LifoQueue(maxsize)`).
    ///
    /// ```
    /// let q = evloop::LifoQueue::with_maxsize(1);
    /// q.put_nowait('a').unwrap();
    /// assert!(q.full());
    /// assert_eq!(q.put_nowait('b').unwrap_err().into_inner(), 'b');
    /// ```
    pub fn with_maxsize(maxsize: usize) -> Self {
        LifoQueue {
            shared: Shared::new(maxsize),
        }
    }

    /// The bound given at construction; 0 for an unbounded queue.
    ///
    /// ```
    /// assert_eq!(evloop::LifoQueue::<u8>::with_maxsize(3).maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.shared.maxsize
    }

    /// The number of items in the queue.
    ///
    /// ```
    /// let q = evloop::LifoQueue::new();
    /// q.put_nowait(()).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.shared.qsize()
    }

    /// True when the queue holds no item.
    ///
    /// ```
    /// let q = evloop::LifoQueue::new();
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
    /// let q = evloop::LifoQueue::with_maxsize(1);
    /// assert!(!q.full());
    /// q.put_nowait(0).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        self.shared.full()
    }

    /// Puts `item` on top, waiting while the queue is full (asyncio's `await q.put(item)`).
    /// Putters waiting on a full queue are served in the order they started waiting (QUEUE-3).
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::LifoQueue::with_maxsize(1);
    ///     q.put(1).await;
    ///     let getter = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move { (q.get().await, q.get().await) })
    ///     };
    ///     q.put(2).await; // waits until the getter has taken 1
    ///     assert_eq!(getter.await.unwrap(), (1, 2));
    /// });
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T, Lifo> {
        Put {
            shared: &self.shared,
            item: Some(item),
            slot: None,
        }
    }

    /// Takes the item on top (the one put last), waiting while the queue is empty (asyncio's
    /// `await q.get()`). Getters waiting on an empty queue are served in the order they started
    /// waiting (QUEUE-3).
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::LifoQueue::new();
    ///     let getter = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move { q.get().await })
    ///     };
    ///     evloop::sleep(std::time::Duration::ZERO).await; // the getter waits
    ///     q.put_nowait("hello").unwrap();
    ///     assert_eq!(getter.await.unwrap(), "hello");
    /// });
    /// ```
    pub fn get(&self) -> Get<'_, T, Lifo> {
        Get {
            shared: &self.shared,
            slot: None,
        }
    }

    /// Puts `item` at once, or gives it back in [`QueueFull`] when the queue is full (asyncio's
    /// `put_nowait`). Wakes the first waiting getter.
    ///
    /// ```
    /// let q = evloop::LifoQueue::with_maxsize(1);
    /// assert!(q.put_nowait("a").is_ok());
    /// assert_eq!(q.put_nowait("b").unwrap_err().into_inner(), "b");
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        self.shared.put_nowait(item)
    }

    /// Takes the item on top at once, or [`QueueEmpty`] (asyncio's `get_nowait`). Wakes the
    /// first waiting putter.
    ///
    /// ```
    /// let q = evloop::LifoQueue::new();
    /// assert_eq!(q.get_nowait(), Err(evloop::QueueEmpty));
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(2));
    /// ```
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        self.shared.get_nowait()
    }

    /// Marks one item taken from the queue as processed (asyncio's `task_done`); see
    /// [`Queue::task_done`](crate::Queue::task_done).
    ///
    /// ```
    /// let q = evloop::LifoQueue::new();
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
    ///     let q = evloop::LifoQueue::new();
    ///     let tx = q.sender();
    ///     let job = evloop::to_thread(move || {
    ///         tx.put_nowait(1).unwrap();
    ///         tx.put_nowait(2).unwrap();
    ///     });
    ///     job.await.unwrap();
    ///     assert_eq!(q.get().await, 2);
    /// });
    /// ```
    ///
    /// # Panics
    /// When no loop is running on this thread.
    #[track_caller]
    pub fn sender(&self) -> QueueSender<T, Lifo> {
        QueueSender::new(&self.shared)
    }

    /// Waits until every item put has been marked done with
    /// [`task_done`](LifoQueue::task_done) (asyncio's `await q.join()`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::LifoQueue::new();
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
    pub fn join(&self) -> Join<'_, T, Lifo> {
        Join {
            shared: &self.shared,
            slot: None,
        }
    }
}

impl<T> Clone for LifoQueue<T> {
    fn clone(&self) -> Self {
        LifoQueue {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Default for LifoQueue<T> {
    fn default() -> Self {
        LifoQueue::new()
    }
}

impl<T> fmt::Debug for LifoQueue<T> {
    /// asyncio's repr, without the items.
    ///
    /// ```
    /// let q = evloop::LifoQueue::with_maxsize(4);
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(format!("{q:?}"), "LifoQueue(maxsize=4, qsize=1, getters=0, putters=0, unfinished=1)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}
