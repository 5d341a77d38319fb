//! Creating tasks on the running loop (asyncio's `asyncio.create_task` and `ensure_future`).

use crate::awaitable::{Attach, Awaitable};
use crate::engine::cell::TaskName;
use crate::engine::current;
use crate::engine::scheduler::Scheduler;
use crate::error::{or_panic, LoopError};
use crate::task::Task;
use std::future::IntoFuture;
use std::panic::Location;

/// Wraps `fut` in a task on the running loop and schedules its first step (asyncio's
/// `asyncio.create_task`). The task does not start before the caller yields (TASK-1).
///
/// ```
/// evloop::run(async {
///     let t = evloop::create_task(async { "done" });
///     assert!(!t.done()); // not started: we have not yielded yet
///     assert_eq!(t.await.unwrap(), "done");
/// });
/// ```
///
/// # Panics
/// When no loop is running on this thread (see [`try_create_task`]), or the loop is closed.
#[track_caller]
pub fn create_task<F>(fut: F) -> Task<F::Output>
where
    F: IntoFuture,
    F::IntoFuture: Send + 'static,
    F::Output: Send + 'static,
{
    or_panic(spawn_here(fut, None, Location::caller()))
}

/// [`create_task`] with a name, shown in traces, warnings and deadlock reports.
///
/// ```
/// evloop::run(async {
///     let named = evloop::create_task_named("fetch", async { 1 });
///     let unnamed = evloop::create_task(async { 2 });
///     assert_eq!(named.name(), "fetch");
///     assert_eq!(unnamed.name(), format!("Task-{}", unnamed.id())); // asyncio's default
///     assert_eq!(named.await.unwrap() + unnamed.await.unwrap(), 3);
/// });
/// ```
#[track_caller]
pub fn create_task_named<F>(name: impl Into<String>, fut: F) -> Task<F::Output>
where
    F: IntoFuture,
    F::IntoFuture: Send + 'static,
    F::Output: Send + 'static,
{
    or_panic(spawn_here(
        fut,
        Some(name.into().into_boxed_str()),
        Location::caller(),
    ))
}

/// [`create_task`], returning [`LoopError::NoRunningLoop`] instead of panicking.
///
/// ```
/// let err = evloop::try_create_task(async {}).unwrap_err();
/// assert_eq!(err, evloop::LoopError::NoRunningLoop);
/// ```
#[track_caller]
pub fn try_create_task<F>(fut: F) -> Result<Task<F::Output>, LoopError>
where
    F: IntoFuture,
    F::IntoFuture: Send + 'static,
    F::Output: Send + 'static,
{
    spawn_here(fut, None, Location::caller())
}

/// asyncio's `ensure_future`: a coroutine (any future) becomes a new task; a [`Task`] or a
/// [`LoopFuture`](crate::LoopFuture) is returned as itself (TASK-14).
///
/// ```
/// evloop::run(async {
///     let t = evloop::ensure_future(async { 5 }); // a coroutine: a new task
///     let same = evloop::ensure_future(t.clone()); // a task: that very task
///     assert!(evloop::Task::ptr_eq(&t, &same));
///     assert_eq!(t.await.unwrap(), 5);
/// });
/// ```
///
/// # Panics
/// When no loop is running on this thread, or the task belongs to another loop.
#[track_caller]
pub fn ensure_future<A: Awaitable>(a: A) -> A::Ensured {
    let at = Location::caller();
    match current::scheduler() {
        Some(lp) => or_panic(a.ensure(Attach::new(&lp, at))),
        None => panic!("{}", LoopError::NoRunningLoop),
    }
}

fn spawn_here<F>(
    fut: F,
    name: Option<TaskName>,
    at: &'static Location<'static>,
) -> Result<Task<F::Output>, LoopError>
where
    F: IntoFuture,
    F::IntoFuture: Send + 'static,
    F::Output: Send + 'static,
{
    match current::scheduler() {
        Some(lp) => Scheduler::spawn_cell(&lp, fut.into_future(), name, at).map(Task::from_cell),
        None => Err(LoopError::NoRunningLoop),
    }
}
