//! asyncio's queues (`Lib/asyncio/queues.py`): [`Queue`] (first in, first out),
//! [`LifoQueue`] (last in, first out) and
//! [`PriorityQueue`] (smallest first) — channels between tasks with an
//! optional bound, waiting getters and putters served in order of arrival, and the
//! unfinished-tasks counter behind `task_done` / `join`. `specs/queue.md` states their
//! guarantees (QUEUE-*).
//!
//! | file          | what it holds                                                          |
//! |---------------|------------------------------------------------------------------------|
//! | `order.rs`    | [`Order`]: [`Fifo`], [`Lifo`], [`Priority`], and the store of each     |
//! | `shared.rs`   | the state behind the queue's lock, its waiter lists, the nowait calls  |
//! | `futures.rs`  | the futures of `get`, `put` and `join`, the same for every order       |
//! | `fifo.rs`, `lifo.rs`, `priority.rs` | the three public queues, thin layers over `shared` |
//! | `sender.rs`   | [`QueueSender`]: putting from a thread the loop does not know of |
//!
//! As in asyncio, where `LifoQueue` and `PriorityQueue` override only `_init`, `_put` and `_get`,
//! the three queues differ only in their store: everything that waits is one piece of code,
//! generic over the order.
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
//! One piece of user code does run under the lock: a [`PriorityQueue`]'s
//! heap compares its items with their `Ord` as they are put and taken (LOCK-1 names it). An
//! `Ord` that panics propagates to the caller, with the queue left as asyncio's is when `__lt__`
//! raises inside `heapq`: usable, the order of the items in it unspecified, and the item being
//! taken lost.
//!
//! ## Threads
//!
//! Everything is behind one lock and a waker is `Send`, so a queue may be shared with other
//! threads and other loops: a `put_nowait` from a plain thread wakes the getter on its loop
//! (QUEUE-6). Unlike asyncio's, the queue is bound to no loop. A loop with a virtual clock does
//! not know about a plain thread that may still put: a
//! [`QueueSender`] made on the loop tells it, as a
//! [`Resolver`](crate::Resolver) does (QUEUE-9).

mod fifo;
mod futures;
mod lifo;
mod order;
mod priority;
mod sender;
mod shared;

pub use fifo::Queue;
pub use futures::{Get, Join, Put};
pub use lifo::LifoQueue;
pub use order::{Fifo, Lifo, Order, Priority};
pub use priority::PriorityQueue;
pub use sender::QueueSender;
