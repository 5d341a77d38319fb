//! Creating tasks on the running loop (asyncio's `asyncio.create_task` and `ensure_future`).

use crate::engine::cell::TaskName;
use crate::engine::current;
use crate::engine::scheduler::Scheduler;
use crate::error::{or_panic, LoopError};
use crate::task::Task;
use std::future::Future;
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
    F: Future + Send + 'static,
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
    F: Future + Send + 'static,
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
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_here(fut, None, Location::caller())
}

/// asyncio's `ensure_future`: in Rust every future passed here is wrapped in a new task, so this
/// is [`create_task`] under asyncio's other name.
///
/// ```
/// evloop::run(async {
///     let t = evloop::ensure_future(async { 5 });
///     assert_eq!(t.await.unwrap(), 5);
/// });
/// ```
#[track_caller]
pub fn ensure_future<F>(fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    or_panic(spawn_here(fut, None, Location::caller()))
}

fn spawn_here<F>(
    fut: F,
    name: Option<TaskName>,
    at: &'static Location<'static>,
) -> Result<Task<F::Output>, LoopError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match current::scheduler() {
        Some(lp) => Scheduler::spawn_cell(&lp, fut, name, at).map(Task::from_cell),
        None => Err(LoopError::NoRunningLoop),
    }
}
