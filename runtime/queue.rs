//! [`Queue`]: asyncio's `Queue` (`Lib/asyncio/queues.py`) — a FIFO channel between tasks, with
//! an optional bound, waiting getters and putters served in order of arrival, and the
//! unfinished-tasks counter behind `task_done` / `join`.
//!
//! ## Waiters (QUEUE-3, QUEUE-4)
//!
//! Getters, putters and joiners each wait in a list of their own (the runtime's one waiter list,
//! `waiters::WaitList`), in order of arrival. A waiting future's entry is
//!
//! ```text
//!   (none) ──poll, must wait──► IN LINE ──wake_next (put/get made room)──► WOKEN ──poll: item taken──► (none)
//!                                  │                                        │
//!                                  └── future dropped ──► (none)            ├── poll: item gone ──► IN LINE (at the back)
//!                                                                           └── future dropped ──► (none), and the
//!                                                                                wake-up passes to the next waiter
//! ```
//!
//! as asyncio's waiter futures are: `_wakeup_next` pops the first waiter that is not cancelled
//! and sets it; the woken task takes an item when it runs, or, if another task took it first,
//! waits again at the back; a woken waiter that is cancelled before it runs hands its wake-up on
//! (QUEUE-4), so no item sits in the queue while a getter waits. A future that leaves the list
//! gives its slot back, so the lists hold as many slots as there are waiters at once.
//!
//! ## What a hand-off costs
//!
//! No waker is cloned, woken or dropped under the queue's lock (LOCK-1): a future that must wait
//! lets the lock go, clones its task's waker, and looks again; `wake_next` moves the waker out of
//! the entry and it is woken once the lock is released. A future polled again while it still
//! waits, by the same task, changes nothing and clones nothing. Per hand-off to a waiting getter:
//! four lock pairs (the getter's two looks at the empty queue, the put, the getter's poll that
//! takes the item) and one waker clone, which the wake hands to the ready queue.
//!
//! ## Threads
//!
//! Everything is behind one lock and a waker is `Send`, so a `Queue` may be shared with other
//! threads and other loops: a `put_nowait` from a plain thread wakes the getter on its loop
//! (QUEUE-6). Unlike asyncio's, the queue is bound to no loop. A loop with a virtual clock does
//! not know about a plain thread that may still put: keep the clock from jumping (or a deadlock
//! being reported) by putting from `to_thread` or while a [`Resolver`](crate::Resolver) is held.
//!
//! Over 500 lines: asyncio's whole `Queue` API (put / get / nowait forms / `task_done` / `join`),
//! each public item with a runnable example; the waiter bookkeeping is `waiters::WaitList`'s.

use crate::error::{QueueEmpty, QueueFull, TaskDoneError};
use crate::waiters::WaitList;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

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
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    /// 0: unbounded.
    maxsize: usize,
    state: Mutex<State<T>>,
}

struct State<T> {
    items: VecDeque<T>,
    getters: Waiters,
    putters: Waiters,
    joiners: Waiters,
    /// asyncio's `_unfinished_tasks`: items put and not yet marked done.
    unfinished: usize,
}

/// Which waiters a future is among.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Put,
    Join,
}

impl<T> State<T> {
    fn waiters(&mut self, kind: Kind) -> &mut Waiters {
        match kind {
            Kind::Get => &mut self.getters,
            Kind::Put => &mut self.putters,
            Kind::Join => &mut self.joiners,
        }
    }

    fn full(&self, maxsize: usize) -> bool {
        maxsize > 0 && self.items.len() >= maxsize
    }

    /// asyncio's `put_nowait` after its `full()` check: the item goes in, the first waiting
    /// getter is woken. The waker is returned to be woken once the lock is released.
    fn push(&mut self, item: T) -> Option<Waker> {
        self.items.push_back(item);
        self.unfinished += 1;
        self.getters.wake_next()
    }

    /// asyncio's `get_nowait` after its `empty()` check: an item comes out, the first waiting
    /// putter is woken.
    fn pop(&mut self) -> Option<(T, Option<Waker>)> {
        let item = self.items.pop_front()?;
        Some((item, self.putters.wake_next()))
    }
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
            shared: Arc::new(Shared {
                maxsize,
                state: Mutex::new(State {
                    items: VecDeque::new(),
                    getters: Waiters::default(),
                    putters: Waiters::default(),
                    joiners: Waiters::default(),
                    unfinished: 0,
                }),
            }),
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
        self.shared.state.lock().items.len()
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
        self.shared.state.lock().items.is_empty()
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
        self.shared.state.lock().full(self.shared.maxsize)
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
            queue: self,
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
            queue: self,
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
        let mut st = self.shared.state.lock();
        if st.full(self.shared.maxsize) {
            return Err(QueueFull(item));
        }
        let woken = st.push(item);
        drop(st);
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
        Ok(())
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
        let mut st = self.shared.state.lock();
        let (item, woken) = st.pop().ok_or(QueueEmpty)?;
        drop(st);
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
        Ok(item)
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
        let mut st = self.shared.state.lock();
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
            queue: self,
            slot: None,
        }
    }

    /// The drop of a future still holding a slot: the rare path, kept out of line so the drops
    /// of the futures that completed (no slot) inline to one test.
    #[cold]
    #[inline(never)]
    fn release(&self, kind: Kind, key: u32) {
        let mut st = self.shared.state.lock();
        let gone = st.waiters(kind).release(key);
        // A waiter woken and dropped before it ran passes its wake-up on, so the item or the room
        // it was woken for does not sit unused while others wait (QUEUE-4; asyncio: the `except`
        // branch of `get` / `put`). Joiners are all woken at once: nothing to pass on.
        let next = if !gone.woken || bug::enabled(Bug::QueueDroppedWakeup) {
            None
        } else {
            match kind {
                Kind::Get if !st.items.is_empty() => st.getters.wake_next(),
                Kind::Put if !st.full(self.shared.maxsize) => st.putters.wake_next(),
                _ => None,
            }
        };
        drop(st);
        crate::engine::contain::drop_value(gone.waker);
        if let Some(w) = next {
            crate::engine::contain::wake(w);
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
        let st = self.shared.state.lock();
        write!(
            f,
            "Queue(maxsize={}, qsize={}, getters={}, putters={}, unfinished={})",
            self.shared.maxsize,
            st.items.len(),
            st.getters.waiting(),
            st.putters.waiting(),
            st.unfinished
        )
    }
}

/// The future of [`Queue::get`]: the item at the front, once there is one.
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
pub struct Get<'a, T> {
    queue: &'a Queue<T>,
    /// This future's slot among the getters, while it waits or has been woken.
    slot: Option<u32>,
}

impl<T> Future for Get<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        let shared = &this.queue.shared;
        let st = shared.state.lock();
        if !st.items.is_empty() {
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
        if !st.items.is_empty() {
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

impl<T> Get<'_, T> {
    /// Takes the front item (there is one), leaves the line, and lets the lock go before it wakes
    /// the putter that now has room or drops its own entry's waker.
    fn take(&mut self, mut st: MutexGuard<'_, State<T>>) -> T {
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

impl<T> Drop for Get<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            self.queue.release(Kind::Get, key);
        }
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.slot.is_some() {
            "Get(waiting)"
        } else {
            "Get"
        })
    }
}

/// The future of [`Queue::put`]: done once the item is in the queue.
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
pub struct Put<'a, T> {
    queue: &'a Queue<T>,
    item: Option<T>,
    slot: Option<u32>,
}

// The item is only ever moved out whole, never pinned.
impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        let shared = &this.queue.shared;
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

impl<T> Put<'_, T> {
    /// Puts the item (there is room), leaves the line, and lets the lock go before it wakes the
    /// getter it serves or drops its own entry's waker.
    fn give(&mut self, mut st: MutexGuard<'_, State<T>>) {
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

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            self.queue.release(Kind::Put, key);
        }
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.slot.is_some() {
            "Put(waiting)"
        } else {
            "Put"
        })
    }
}

/// The future of [`Queue::join`]: done once every item put has been marked done.
///
/// ```
/// evloop::run(async {
///     let q = evloop::Queue::<u8>::new();
///     let join: evloop::Join<'_, u8> = q.join();
///     join.await; // nothing was put
/// });
/// ```
#[must_use = "a join does nothing unless awaited"]
pub struct Join<'a, T> {
    queue: &'a Queue<T>,
    slot: Option<u32>,
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        let shared = &this.queue.shared;
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

impl<T> Join<'_, T> {
    /// True once this join is done; it then leaves the list (its entry holds no waker: a woken
    /// joiner's was taken to wake it).
    fn done(&mut self, st: &mut State<T>) -> bool {
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

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            self.queue.release(Kind::Join, key);
        }
    }
}

impl<T> fmt::Debug for Join<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.slot.is_some() {
            "Join(waiting)"
        } else {
            "Join"
        })
    }
}

/// A waiting future's entry in one of the queue's lists.
struct Waiter {
    /// Woken by `wake_next` (an item or room came) and not yet run: no longer in the line.
    woken: bool,
    /// Taken out to be woken; a woken waiter that waits again brings a new one.
    waker: Option<Waker>,
}

/// One kind of waiter, in order of arrival (asyncio's `_getters` / `_putters` deques).
#[derive(Default)]
struct Waiters(WaitList<Waiter>);

impl Waiters {
    fn is_woken(&self, key: u32) -> bool {
        self.0.get(key).woken
    }

    /// True when the future holding `key` already waits in line with a waker for the same task:
    /// polled again, it has nothing to change (and no waker to clone).
    fn waits_with(&self, key: u32, waker: &Waker) -> bool {
        let w = self.0.get(key);
        !w.woken && w.waker.as_ref().is_some_and(|old| old.will_wake(waker))
    }

    /// Puts the future holding `key` in line with `waker` (cloned by the caller before it took
    /// the lock): at the back if it is new or was woken and found nothing (another task took the
    /// item first), as asyncio's `get` appends a new getter in its `while self.empty()` loop; in
    /// its place if it still waits. Returns the waker it replaced, to be dropped once the lock is
    /// released.
    #[inline]
    fn register(&mut self, key: &mut Option<u32>, waker: Waker) -> Option<Waker> {
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
    fn release(&mut self, key: u32) -> Waiter {
        self.0.remove(key)
    }

    /// Waiters in line (not woken).
    fn waiting(&self) -> usize {
        let mut n = 0;
        self.0.for_each(|w| n += usize::from(!w.woken));
        n
    }
}
