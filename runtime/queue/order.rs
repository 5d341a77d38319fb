//! The order items come out in: [`Fifo`] ([`Queue`](crate::Queue)), [`Lifo`]
//! ([`LifoQueue`](crate::LifoQueue)) and [`Priority`] ([`PriorityQueue`](crate::PriorityQueue)),
//! each over a store of its own — asyncio's `_init` / `_put` / `_get` overrides, which are all
//! that `LifoQueue` and `PriorityQueue` change in `Lib/asyncio/queues.py`. Everything else (the
//! waiters, the bound, `task_done` / `join`) is the same code for the three (`shared.rs`).

use evloop_model::bug::{self, Bug};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// The order a queue's items come out in: [`Fifo`], [`Lifo`] or [`Priority`]. It names a
/// queue's futures and sender, e.g. [`Get<'_, T, Lifo>`](crate::Get) for a
/// [`LifoQueue<T>`](crate::LifoQueue)'s `get`. Sealed: these three are all there are.
///
/// ```
/// use evloop::queue::{Lifo, Order};
/// // Code that awaits a get from a queue of any order.
/// async fn next_of<T, O: Order<T>>(get: evloop::Get<'_, T, O>) -> T {
///     get.await
/// }
/// evloop::run(async {
///     let q = evloop::LifoQueue::new();
///     q.put_nowait(1).unwrap();
///     q.put_nowait(2).unwrap();
///     let get: evloop::Get<'_, i32, Lifo> = q.get();
///     assert_eq!(next_of(get).await, 2);
/// });
/// ```
pub trait Order<T>: store::Sealed {
    /// Where the items are kept.
    #[doc(hidden)]
    type Items: store::Items<Item = T>;
}

/// First in, first out: asyncio's `Queue` (a `collections.deque`).
///
/// ```
/// let q = evloop::Queue::<u8>::new();
/// let _get: evloop::Get<'_, u8, evloop::queue::Fifo> = q.get();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fifo;

/// Last in, first out: asyncio's `LifoQueue` (a list used as a stack).
///
/// ```
/// let q = evloop::LifoQueue::<u8>::new();
/// let _get: evloop::Get<'_, u8, evloop::queue::Lifo> = q.get();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifo;

/// Smallest first by `Ord`, and among equal items first in, first out: asyncio's
/// `PriorityQueue` (a `heapq` list, which leaves the order of equal items unspecified; evloop
/// fixes it, QUEUE-8).
///
/// ```
/// let q = evloop::PriorityQueue::<u8>::new();
/// let _get: evloop::Get<'_, u8, evloop::queue::Priority> = q.get();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Priority;

impl<T> Order<T> for Fifo {
    type Items = VecDeque<T>;
}

impl<T> Order<T> for Lifo {
    type Items = Vec<T>;
}

impl<T: Ord> Order<T> for Priority {
    type Items = Heap<T>;
}

/// The stores. Public in a private module: nameable in `Order`'s bounds, by no user.
pub(crate) mod store {
    /// Only this module's orders implement `Order`.
    pub trait Sealed {}
    impl Sealed for super::Fifo {}
    impl Sealed for super::Lifo {}
    impl Sealed for super::Priority {}

    /// asyncio's `_init` / `_put` / `_get` / `qsize`, and the queue's name for `Debug`.
    pub trait Items: Default {
        /// What the queue holds.
        type Item;
        /// The class name asyncio's repr shows.
        const NAME: &'static str;
        /// asyncio's `_put`.
        fn put(&mut self, item: Self::Item);
        /// asyncio's `_get`: `None` when empty.
        fn take(&mut self) -> Option<Self::Item>;
        /// asyncio's `qsize()`.
        fn len(&self) -> usize;
    }
}

impl<T> store::Items for VecDeque<T> {
    type Item = T;
    const NAME: &'static str = "Queue";

    #[inline]
    fn put(&mut self, item: T) {
        self.push_back(item);
    }

    #[inline]
    fn take(&mut self) -> Option<T> {
        self.pop_front()
    }

    #[inline]
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
}

impl<T> store::Items for Vec<T> {
    type Item = T;
    const NAME: &'static str = "LifoQueue";

    fn put(&mut self, item: T) {
        self.push(item);
    }

    fn take(&mut self) -> Option<T> {
        self.pop()
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// A binary heap whose top is the smallest item and, among equal ones, the one put first: each
/// item carries the number of puts before it, which breaks ties (QUEUE-8).
pub struct Heap<T> {
    heap: BinaryHeap<Entry<T>>,
    puts: u64,
}

impl<T: Ord> Default for Heap<T> {
    fn default() -> Self {
        Heap {
            heap: BinaryHeap::new(),
            puts: 0,
        }
    }
}

impl<T: Ord> store::Items for Heap<T> {
    type Item = T;
    const NAME: &'static str = "PriorityQueue";

    fn put(&mut self, item: T) {
        let seq = self.puts;
        self.puts += 1;
        self.heap.push(Entry { item, seq });
    }

    fn take(&mut self) -> Option<T> {
        self.heap.pop().map(|e| e.item)
    }

    fn len(&self) -> usize {
        self.heap.len()
    }
}

struct Entry<T> {
    item: T,
    seq: u64,
}

impl<T: Ord> Ord for Entry<T> {
    /// `BinaryHeap` pops its greatest entry: the greatest here is the smallest item, and among
    /// equal items the earliest put.
    fn cmp(&self, other: &Self) -> Ordering {
        let by_item = other.item.cmp(&self.item);
        if bug::enabled(Bug::PriorityTiesUnordered) {
            return by_item;
        }
        by_item.then(other.seq.cmp(&self.seq))
    }
}

impl<T: Ord> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Ord> Eq for Entry<T> {}
