//! [`Queue`]: asyncio's `Queue` (`Lib/asyncio/queues.py`) — a FIFO channel between tasks, with
//! an optional bound, waiting getters and putters served in order of arrival, and the
//! unfinished-tasks counter behind `task_done` / `join`.
//!
//! ## Waiters (QUEUE-3, QUEUE-4)
//!
//! Getters, putters and joiners each wait in a [`Waiters`] list: a slab of slots (one per waiting
//! future, reused) and a FIFO of slot keys. A slot is
//!
//! ```text
//!   FREE ──register──► WAITING ──wake_next (put/get made room)──► WOKEN ──poll: item taken──► FREE
//!                         │                                         │
//!                         └── future dropped ──► FREE               ├── poll: item gone ──► WAITING (at the back)
//!                                                                   └── future dropped ──► FREE, and the
//!                                                                        wake-up passes to the next waiter
//! ```
//!
//! as asyncio's waiter futures are: `_wakeup_next` pops the first waiter that is not cancelled
//! and sets it; the woken task takes an item when it runs, or, if another task took it first,
//! waits again at the back; a woken waiter that is cancelled before it runs hands its wake-up on
//! (QUEUE-4), so no item sits in the queue while a getter waits.
//!
//! ## What a hand-off costs
//!
//! A slot keeps its waker when its future completes, and the next future to take the slot keeps
//! that waker if `Waker::will_wake` says it is the same: a task that gets from the same queue in
//! a loop clones its waker once, not once per item. The price: a free slot keeps its last task's
//! cell allocated (not its future, which is dropped when the task ends) until the slot is reused
//! or the queue is dropped; there are never more slots than waiters at once. Waking clones the
//! waker under the lock and wakes it after the lock is released (a waker may run arbitrary code,
//! which must not find the queue locked). Per hand-off to a waiting getter: three lock pairs (the
//! getter's poll that finds the queue empty, the put, the getter's poll that takes the item) and
//! the waker clone that the wake hands to the ready queue; no allocation once the slab and the
//! deques have grown.
//!
//! ## Threads
//!
//! Everything is behind one lock and a waker is `Send`, so a `Queue` may be shared with other
//! threads and other loops: a `put_nowait` from a plain thread wakes the getter on its loop
//! (QUEUE-6). Unlike asyncio's, the queue is bound to no loop. A loop with a virtual clock does
//! not know about a plain thread that may still put: keep the clock from jumping (or a deadlock
//! being reported) by putting from `to_thread` or while a [`Resolver`](crate::Resolver) is held.

use crate::error::{QueueEmpty, QueueFull, TaskDoneError};
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
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
            w.wake();
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
            w.wake();
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
        woken.into_iter().for_each(Waker::wake);
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
        let (was, old) = st.waiters(kind).release(key, false);
        // A waiter woken and dropped before it ran passes its wake-up on, so the item or the room
        // it was woken for does not sit unused while others wait (QUEUE-4; asyncio: the `except`
        // branch of `get` / `put`). Joiners are all woken at once: nothing to pass on.
        let next = if was != SlotState::Woken || bug::enabled(Bug::QueueDroppedWakeup) {
            None
        } else {
            match kind {
                Kind::Get if !st.items.is_empty() => st.getters.wake_next(),
                Kind::Put if !st.full(self.shared.maxsize) => st.putters.wake_next(),
                _ => None,
            }
        };
        drop(st);
        drop(old);
        if let Some(w) = next {
            w.wake();
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
            st.getters.live,
            st.putters.live,
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
        let this = self.get_mut();
        let mut st = this.queue.shared.state.lock();
        if let Some((item, woken)) = st.pop() {
            if let Some(key) = this.slot.take() {
                // Done with the slot; its waker stays for the next get of this task.
                st.getters.release(key, true);
            }
            drop(st);
            if let Some(w) = woken {
                w.wake();
            }
            return Poll::Ready(item);
        }
        let old = st.getters.register(&mut this.slot, cx.waker());
        drop(st);
        drop(old);
        Poll::Pending
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
        let this = self.get_mut();
        let shared = &this.queue.shared;
        let mut st = shared.state.lock();
        if !st.full(shared.maxsize) {
            let item = this.item.take().expect("Put polled after it completed");
            if let Some(key) = this.slot.take() {
                st.putters.release(key, true);
            }
            let woken = st.push(item);
            drop(st);
            if let Some(w) = woken {
                w.wake();
            }
            return Poll::Ready(());
        }
        let old = st.putters.register(&mut this.slot, cx.waker());
        drop(st);
        drop(old);
        Poll::Pending
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
        let this = self.get_mut();
        let mut st = this.queue.shared.state.lock();
        // Woken by the count reaching zero: done, even if items were put since (asyncio's
        // `join` waits on an `Event` that was set).
        let woken = match this.slot {
            Some(key) => st.joiners.state(key) == SlotState::Woken,
            None => st.unfinished == 0,
        };
        if woken {
            if let Some(key) = this.slot.take() {
                st.joiners.release(key, true);
            }
            return Poll::Ready(());
        }
        let old = st.joiners.register(&mut this.slot, cx.waker());
        drop(st);
        drop(old);
        Poll::Pending
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Waiting,
    Woken,
}

struct Slot {
    state: SlotState,
    /// Bumped when the slot is freed, so a FIFO entry left by a waiter that went away is told
    /// apart from the slot's next waiter.
    generation: u32,
    /// Kept when the slot is freed by a completed future, for `will_wake` to save the next
    /// waiter's clone.
    waker: Option<Waker>,
}

/// One kind of waiter, in order of arrival (asyncio's `_getters` / `_putters` deques).
#[derive(Default)]
struct Waiters {
    slots: Vec<Slot>,
    /// Freed slots; the most recently freed is reused first (its waker most likely matches).
    free: Vec<u32>,
    /// `(slot, generation)` in order of arrival; entries whose slot is no longer WAITING with
    /// that generation are skipped (left by waiters that went away or re-registered).
    fifo: VecDeque<(u32, u32)>,
    /// WAITING slots.
    live: usize,
}

impl Waiters {
    fn state(&self, key: u32) -> SlotState {
        self.slots[key as usize].state
    }

    /// Puts the future holding `key` at the back in WAITING with `waker` (re-polled while still
    /// WAITING: keeps its place and only updates the waker). Returns the waker it replaced, to
    /// be dropped once the lock is released.
    #[inline]
    fn register(&mut self, key: &mut Option<u32>, waker: &Waker) -> Option<Waker> {
        let k = match *key {
            Some(k) => k,
            None => {
                let k = match self.free.pop() {
                    Some(k) => k,
                    None => {
                        self.slots.push(Slot {
                            state: SlotState::Free,
                            generation: 0,
                            waker: None,
                        });
                        (self.slots.len() - 1) as u32
                    }
                };
                *key = Some(k);
                k
            }
        };
        let slot = &mut self.slots[k as usize];
        if slot.state != SlotState::Waiting {
            // New, or woken and found nothing (another task took the item first): at the back,
            // as asyncio's `get` appends a new getter in its `while self.empty()` loop.
            slot.state = SlotState::Waiting;
            self.fifo.push_back((k, slot.generation));
            self.live += 1;
        }
        match &slot.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => slot.waker.replace(waker.clone()),
        }
    }

    /// asyncio's `_wakeup_next`: the first WAITING slot becomes WOKEN; its waker (a clone) is
    /// returned to be woken once the lock is released.
    #[inline]
    fn wake_next(&mut self) -> Option<Waker> {
        while let Some((k, generation)) = self.fifo.pop_front() {
            let slot = &mut self.slots[k as usize];
            if slot.generation == generation && slot.state == SlotState::Waiting {
                slot.state = SlotState::Woken;
                self.live -= 1;
                return slot.waker.clone();
            }
        }
        None
    }

    /// Every WAITING slot becomes WOKEN, in order.
    fn wake_all(&mut self) -> Vec<Waker> {
        let mut out = Vec::with_capacity(self.live);
        while let Some(w) = self.wake_next() {
            out.push(w);
        }
        out
    }

    /// Frees `key`; returns the state it was in and, unless `keep_waker`, its waker (to be
    /// dropped once the lock is released).
    #[inline]
    fn release(&mut self, key: u32, keep_waker: bool) -> (SlotState, Option<Waker>) {
        let slot = &mut self.slots[key as usize];
        let was = slot.state;
        slot.state = SlotState::Free;
        slot.generation = slot.generation.wrapping_add(1);
        let old = if keep_waker { None } else { slot.waker.take() };
        self.free.push(key);
        if was == SlotState::Waiting {
            self.live -= 1;
            // Waiters that go away before being woken (a get under a timeout, say) leave their
            // FIFO entries behind; drop them once they outnumber the live ones.
            if self.fifo.len() > 2 * self.live + 8 {
                let slots = &self.slots;
                self.fifo.retain(|&(k, g)| {
                    let s = &slots[k as usize];
                    s.generation == g && s.state == SlotState::Waiting
                });
            }
        }
        (was, old)
    }
}
