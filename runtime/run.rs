//! `run`: asyncio's `asyncio.run(main)` — a fresh loop per call, cancel what is left, close.

use crate::context;
use crate::error::{or_panic, LoopError, RunError};
use crate::event_loop::Builder;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};

/// Runs `main` on a new event loop and returns its output (asyncio's `asyncio.run`).
///
/// At the end every task still pending is cancelled and given the chance to finish cancelling,
/// the thread pool is stopped and the loop is closed (RUN-2). Use [`Builder::run`] for options
/// such as `debug` or `virtual_time`.
///
/// ```
/// let greeting = evloop::run(async { "hello" });
/// assert_eq!(greeting, "hello");
/// ```
///
/// # Panics
/// Re-raises a panic from `main`; panics with a message saying what to do when called inside a
/// running loop, when `main` is cancelled, or on a virtual-time deadlock.
#[track_caller]
pub fn run<F>(main: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    or_panic(run_with(&Builder::new(), main, Location::caller()))
}

/// [`run`], returning misuse, cancellation and deadlock as values.
///
/// ```
/// evloop::run(async {
///     let err = evloop::try_run(async {}).unwrap_err();
///     assert!(matches!(err, evloop::RunError::Loop(evloop::LoopError::AnotherLoopRunning)));
/// });
/// ```
#[track_caller]
pub fn try_run<F>(main: F) -> Result<F::Output, RunError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    run_with(&Builder::new(), main, Location::caller())
}

pub(crate) fn run_with<F>(
    builder: &Builder,
    main: F,
    at: &'static Location<'static>,
) -> Result<F::Output, RunError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if context::running_loop().is_some() {
        // asyncio: "asyncio.run() cannot be called from a running event loop".
        return Err(LoopError::AnotherLoopRunning.into());
    }
    let lp = builder.build();
    let previous = context::current_loop();
    context::set_event_loop(Some(lp.clone()));
    let outcome = catch_unwind(AssertUnwindSafe(|| lp.run_inner(main, at)));
    let deadlocked = matches!(outcome, Ok(Err(RunError::Deadlock(_))));
    if !deadlocked {
        cancel_all_tasks(&lp);
    }
    lp.close();
    context::set_event_loop(previous);
    match outcome {
        Ok(r) => r,
        Err(payload) => resume_unwind(payload),
    }
}

/// asyncio's `_cancel_all_tasks`: cancel every pending task, run the loop until each has
/// finished cancelling, and report the ones that panicked instead.
fn cancel_all_tasks(lp: &crate::EventLoop) {
    let pending = lp.pending_tasks();
    if pending.is_empty() {
        return;
    }
    for t in &pending {
        t.cancel();
    }
    let waiting = pending.clone();
    let finished = catch_unwind(AssertUnwindSafe(|| {
        lp.try_run_until_complete(async move {
            for t in &waiting {
                t.wait().await;
            }
        })
    }));
    if !matches!(finished, Ok(Ok(()))) {
        tracing::error!("tasks did not finish cancelling while `run` shut the loop down");
    }
    for t in pending {
        if t.panicked() {
            tracing::error!(
                task = %t.name(),
                created_at = %t.created_at(),
                "unhandled panic during asyncio.run() shutdown: a task panicked while cancelling"
            );
        }
    }
}
