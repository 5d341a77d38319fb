// The examples below and on every item are plain programs: they run loops on real threads,
// outside any model, so a model checker's build collects none of them (build.rs sets the cfg).
#![cfg(not(all(doctest, evloop_model_backend)))]
//! # evloop
//!
//! The core of Python's asyncio — event loop, tasks, futures, `gather`, `sleep`, `run` — in Rust,
//! with its ordering and completion guarantees written down in `specs/` and checked by model
//! checkers and property tests (see `specs/checking.md`).
//!
//! ## A tour
//!
//! ```
//! use std::time::Duration;
//!
//! async fn compute(x: i32, y: i32) -> i32 {
//!     evloop::sleep(Duration::from_millis(10)).await;
//!     x + y
//! }
//!
//! let results = evloop::run(async {
//!     // Children start in argument order; results come back in argument order.
//!     evloop::gather([compute(1, 2), compute(3, 4)]).await.unwrap()
//! });
//! assert_eq!(results, vec![3, 7]);
//! ```
//!
//! | asyncio                                  | evloop                                               |
//! |------------------------------------------|------------------------------------------------------|
//! | `asyncio.run(main())`                    | [`run`]`(main())`, [`Builder::run`] for options       |
//! | `loop.run_until_complete(f)`             | [`EventLoop::run_until_complete`]                    |
//! | `asyncio.get_running_loop()`             | [`get_running_loop`] → `Result<EventLoop, LoopError>` |
//! | `asyncio.get_event_loop()` / `new_event_loop()` / `set_event_loop()` | [`get_event_loop`], [`new_event_loop`], [`set_event_loop`] |
//! | `asyncio.create_task(c)` / `ensure_future(c)` | [`create_task`], [`ensure_future`] → [`Task<T>`]  |
//! | `task.cancel()`, `done()`, `cancelled()`  | [`Task::cancel`], [`Task::done`], [`Task::cancelled`] |
//! | `await task` → value or raises           | `task.await` → `Result<T, TaskError>`                 |
//! | `asyncio.gather(*aws)`                   | [`gather()`], [`try_gather`], [`gather!`]            |
//! | `gather(..., return_exceptions=True)`    | [`gather_settled`]                                   |
//! | `asyncio.sleep(d)` / `sleep(0)`          | [`sleep`]`(d)` / `sleep(Duration::ZERO)`             |
//! | `loop.call_soon/call_later/call_at`      | [`EventLoop::call_soon`], [`EventLoop::call_later`], [`EventLoop::call_at`] |
//! | `loop.call_soon_threadsafe`              | [`EventLoop::call_soon_threadsafe`]                  |
//! | `loop.create_future()`                   | [`EventLoop::create_future`], [`LoopFuture::new`]    |
//! | `asyncio.Queue(maxsize)`, `await q.get()` / `q.put(x)`, `task_done`, `join` | [`Queue::with_maxsize`], [`Queue::get`] / [`Queue::put`], [`Queue::task_done`], [`Queue::join`] |
//! | `asyncio.QueueEmpty` / `QueueFull` | [`QueueEmpty`] / [`QueueFull`] (the refused item inside) |
//! | `asyncio.LifoQueue(n)` / `PriorityQueue(n)` | [`LifoQueue::with_maxsize`] / [`PriorityQueue::with_maxsize`], the same methods as [`Queue`] |
//! | `loop.call_soon_threadsafe(q.put_nowait, x)` | [`Queue::sender`] → [`QueueSender::put_nowait`] (keeps a virtual clock waiting for the thread) |
//! | `asyncio.Lock()`, `async with lock:`      | [`Lock::new`], `let _guard = lock.`[`acquire`](Lock::acquire)`().await` ([`LockGuard`] releases on drop) |
//! | `asyncio.Event()`: `set` / `clear` / `wait` | [`Event::set`], [`Event::clear`], [`Event::wait`], [`Event::is_set`] |
//! | `asyncio.Semaphore(n)` / `BoundedSemaphore(n)` | [`Semaphore::new`] / [`BoundedSemaphore::new`], [`Semaphore::acquire`] → [`SemaphorePermit`], [`Semaphore::release`] |
//! | `asyncio.Condition()`: `wait` / `wait_for` / `notify` | [`Condition::wait`], [`Condition::wait_for`], [`Condition::notify`], [`Condition::notify_all`] (each takes the lock's guard) |
//! | `asyncio.Barrier(n)`, `BrokenBarrierError` | [`Barrier::wait`] → `Result<usize, `[`BrokenBarrierError`]`>`, [`Barrier::reset`], [`Barrier::abort`] |
//! | `asyncio.to_thread(f)` / `run_in_executor` | [`to_thread`], [`EventLoop::run_in_executor`]      |
//! | `asyncio.run_coroutine_threadsafe(c, l)` | [`run_coroutine_threadsafe`]                          |
//! | `asyncio.all_tasks()`                    | [`EventLoop::pending_tasks`]                          |
//! | `RuntimeError`, `CancelledError`, `InvalidStateError` | [`LoopError`], [`TaskError::Cancelled`], [`InvalidStateError`] |
//!
//! ## How it is put together
//! Layers whose imports point one way (`specs/repo.md` draws them and follows one task through
//! the files):
//! - `engine` — what runs a loop: the task cell and its state word, the ready queue, timers, the
//!   scheduler, the turn (asyncio's `_run_once`) and the choices it asks, the thread pool;
//! - `task`, `future`, `gather`, `sleep`, [`queue`] ([`Queue`], [`LifoQueue`],
//!   [`PriorityQueue`]), `sync` ([`Lock`], [`Event`],
//!   [`Semaphore`], [`BoundedSemaphore`], [`Condition`], [`Barrier`]), `to_thread` — what users
//!   await, over the engine's small interface; `waiters` is the one waiter list they all keep;
//! - `event_loop`, `builder`, `run`, `spawn`, `context`, `crew`, `handle`, `threadsafe` — the
//!   public handles and `run`;
//! - [`explore`] — runs an async test under many schedules of the loop's own choice points, on
//!   one thread in virtual time, answering the production turn's choices, and replays a failure
//!   from one token;
//! - every atomic, lock, thread and clock comes from `evloop_model`, so the same code runs on
//!   real threads and under each model checker;
//! - one `unsafe` block in the crate, `TaskRc::with_body` in `engine::cell`: a task's future is
//!   stored in the task's one allocation and pinned there with `Pin::new_unchecked`. Its
//!   invariant (the future never moves from its first poll until it is dropped in place) is
//!   written next to it and checked by TASK-10 in `specs/tasks.md`. The one-word pointer to that
//!   allocation (`TaskRc`) is built on `evloop_model::task::ThinArc`, whose `unsafe` code lives
//!   in the model crate (each block with its argument); the reference counting it relies on is
//!   checked by the model checker's leak report (MODEL-3, the `thin_rc_leak` bug).

// One `unsafe` block, in `engine::cell` (`TaskRc::with_body`): it pins a task's future where it
// lies inside the task's one allocation. Its invariant is written there and checked by TASK-10.
// The task pointer's own `unsafe` code is in the model crate (`evloop_model::task::ThinArc`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

// Layers, bottom up; a module imports only from its own layer's leaves and the layers below
// (specs/repo.md draws them, `../shared/tools/import-cycles runtime` checks them):
//   leaves      error, waiters
//   engine      the task cell and its state word, the ready queue, timers, the scheduler, the turn
//               and the choices it asks, the thread pool
//   awaitables  task (handles), future, gather, wait, as_completed, group (TaskGroup), sleep,
//               queue, sync, to_thread
//   API         event_loop, builder, context, crew, run, spawn, handle, threadsafe; explore, which
//               answers the turn's choices
mod engine;
mod error;
mod waiters;

mod as_completed;
mod awaitable;
mod catch;
mod future;
mod gather;
mod group;
pub mod queue;
mod sleep;
mod sync;
mod task;
mod to_thread;
mod wait;

mod builder;
mod context;
mod crew;
mod event_loop;
mod exception;
pub mod explore;
mod handle;
mod run;
mod spawn;
mod threadsafe;
mod timeouts;

pub use as_completed::{as_completed, AsCompleted, Next};
pub use awaitable::Awaitable;
pub use builder::Builder;
pub use catch::{catch_cancel, CatchCancel, Raise};
pub use context::{get_event_loop, get_running_loop, new_event_loop, set_event_loop};
pub use error::{
    BrokenBarrierError, Cancelled, Deadlock, FutureError, GatherError, InvalidStateError,
    LoopError, Panic, PendingTask, QueueEmpty, QueueFull, RunError, SemaphoreReleaseError,
    SharedError, TaskDoneError, TaskError, TimeoutError,
};
pub use event_loop::EventLoop;
pub use exception::ExceptionContext;
pub use future::{FutureWait, LoopFuture, Resolver};
pub use gather::{gather, gather_settled, try_gather, Gather, GatherSettled, TryGather};
pub use group::{task_group, GroupClosed, GroupError, GroupFailure, TaskGroup, TaskGroupScope};
pub use handle::{Handle, TimerHandle};
pub use queue::{Get, Join, LifoQueue, PriorityQueue, Put, Queue, QueueSender};
pub use run::{run, try_run};
pub use sleep::{sleep, Sleep};
pub use spawn::{create_task, create_task_named, ensure_future, try_create_task};
pub use sync::{
    Barrier, BarrierWait, BoundedSemaphore, Condition, ConditionWait, ConditionWaitFor, Event,
    EventWait, Lock, LockAcquire, LockGuard, Semaphore, SemaphoreAcquire, SemaphorePermit,
};
pub use task::{all_tasks, current_task, try_current_task, Task, TaskJoin, TaskRef, WaitDone};
pub use threadsafe::{run_coroutine_threadsafe, ConcurrentFuture};
pub use timeouts::{shield, timeout, timeout_at, wait_for, Shield, Timeout, TimeoutScope, WaitFor};
pub use to_thread::{to_thread, ToThread};
pub use wait::{wait, ReturnWhen, Wait, Waitable};

/// Support for macros and tests; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::gather::GatherTuple;

    /// How many named tasks' names `lp` keeps: one per named task whose cell is still alive
    /// (tests check that the entry goes with the last reference).
    pub fn named_tasks(lp: &crate::EventLoop) -> usize {
        lp.inner().registry().named_tasks()
    }

    /// How many timers that can never fire `lp` holds, cancelled ones not yet swept included
    /// (tests check that cancelled ones do not pile up).
    pub fn never_timers(lp: &crate::EventLoop) -> usize {
        lp.inner().never_timers()
    }
}
