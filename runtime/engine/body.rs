//! The task's future and, once it is finished, its outcome — the last field of the task cell,
//! pinned there (P in [`super::cell`]).
//!
//! The runner owns the poll (under the cell's `body` lock, TASK-3 keeps it uncontended); the
//! typed [`Task`](super::Task) handle is the only one that takes the outcome.

use crate::engine::state::Outcome;
use crate::error::{Cancelled, Message, Panic, TaskError};
use pin_project_lite::pin_project;
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The type-erased face of [`Stage`], so that one non-generic cell type can hold any task.
pub(crate) trait Body: Send {
    /// Polls the future with `cx` (the task's waker, lent by the cell's poll); on `Ready` (or a
    /// panic) stores the outcome and drops the future.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome>;
    /// Drops the future (or a value it already returned) and stores "cancelled", with the
    /// cancellation's message.
    fn cancel(self: Pin<&mut Self>, message: Option<Message>);
    /// Reads the outcome into `slot`, which must be `&mut Option<Result<T, TaskError>>`: the
    /// value moved out (`Read::Take`, the last reader) or cloned (`Read::Clone`). An error is
    /// always cloned and stays, so that `exception()` can still read it (TASK-13).
    fn read_output(self: Pin<&mut Self>, how: Read, slot: &mut dyn Any);
    /// The error the task ended with, if it ended with one (and has ended).
    fn error(self: Pin<&mut Self>) -> Option<TaskError>;
    /// Injected `move_pinned_future` only: what `cancel` does, but by moving the stage (future
    /// included) out into a local and dropping it there — the move `Pin` forbids, done with safe
    /// code through an unpinned reference. Compiled only into the model checkers' builds (the
    /// `evloop_model_backend` cfg, set by build.rs), so no shipped task's table has it.
    #[cfg(evloop_model_backend)]
    fn drop_moved(&mut self);
}

pin_project! {
    #[project = StageProj]
    pub(crate) enum Stage<F> where F: Future {
        // No waker here: the cell's poll lends the future one made from the task pointer it
        // holds (W in `super::cell`).
        Running { #[pin] fut: F },
        Finished { out: Kept<F::Output> },
    }
}

impl<F> Stage<F>
where
    F: Future,
{
    pub(crate) fn new(fut: F) -> Self {
        Stage::Running { fut }
    }

    /// Replaces the stage, dropping the future; a panic in the future's destructor is caught and
    /// reported instead of unwinding through the loop.
    fn finish(mut self: Pin<&mut Self>, out: Result<F::Output, TaskError>) {
        let mut out = Some(out);
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            self.as_mut().set(Stage::Finished {
                out: Kept(out.take()),
            });
        }));
        if let Err(payload) = dropped {
            super::incident::report(
                super::incident::Incident::new("a task's future panicked while being dropped")
                    .panic(Some(Panic::new(payload))),
            );
            if let Some(out) = out {
                self.set(Stage::Finished {
                    out: Kept(Some(out)),
                });
            }
        }
    }
}

impl<F> Body for Stage<F>
where
    F: Future + Send,
    F::Output: Send + 'static,
{
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let polled = match self.as_mut().project() {
            StageProj::Running { fut } => catch_unwind(AssertUnwindSafe(|| fut.poll(cx))),
            StageProj::Finished { .. } => unreachable!("a finished task was polled again"),
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                self.finish(Ok(value));
                Poll::Ready(Outcome::Returned)
            }
            Err(payload) => {
                self.finish(Err(TaskError::Panicked(Panic::new(payload))));
                Poll::Ready(Outcome::Panicked)
            }
        }
    }

    fn cancel(self: Pin<&mut Self>, message: Option<Message>) {
        self.finish(Err(TaskError::Cancelled(Cancelled::new(message))));
    }

    fn read_output(self: Pin<&mut Self>, how: Read, slot: &mut dyn Any) {
        let StageProj::Finished { out } = self.project() else {
            return;
        };
        match (&out.0, how) {
            (Some(Err(e)), _) => {
                let slot = slot
                    .downcast_mut::<Option<Result<F::Output, TaskError>>>()
                    .expect("a task's output was asked for with the wrong type");
                *slot = Some(Err(e.clone()));
            }
            (_, Read::Take) => {
                let slot = slot
                    .downcast_mut::<Option<Result<F::Output, TaskError>>>()
                    .expect("a task's output was asked for with the wrong type");
                *slot = out.0.take();
            }
            // The output's own `clone` (user code) runs under the body's lock: the task is done,
            // so nothing else takes this lock but another reader (LOCK-1 names this exception).
            (_, Read::Clone(cloner)) => cloner(&out.0, slot),
        }
    }

    fn error(self: Pin<&mut Self>) -> Option<TaskError> {
        match self.project() {
            StageProj::Finished { out } => match &out.0 {
                Some(Err(e)) => Some(e.clone()),
                _ => None,
            },
            StageProj::Running { .. } => None,
        }
    }

    #[cfg(evloop_model_backend)]
    fn drop_moved(&mut self) {
        let moved = std::mem::replace(
            self,
            Stage::Finished {
                out: Kept(Some(Err(TaskError::Cancelled(Cancelled::new(None))))),
            },
        );
        drop(moved);
    }
}

/// A finished task's outcome until a handle takes it. Nobody may be there to take it (every
/// handle dropped), and then it is dropped with the task's allocation, wherever the last
/// reference goes — on a worker, inside the runtime — so a panic in its `Drop` is contained and
/// reported instead of unwinding out of the runtime (TASK-12).
pub(crate) struct Kept<T>(Option<Result<T, TaskError>>);

impl<T> Drop for Kept<T> {
    fn drop(&mut self) {
        if let Some(out) = self.0.take() {
            crate::engine::contain::drop_value(out);
        }
    }
}

/// How a reader gets a finished task's value (see [`Body::read_output`]).
pub(crate) enum Read {
    /// Move it out: the last handle reads.
    Take,
    /// Clone it: other handles will read too.
    Clone(super::cell::Cloner),
}

/// The [`super::cell::Cloner`] of an output of type `T`.
pub(crate) fn clone_outcome<T: Clone + 'static>(src: &dyn Any, dst: &mut dyn Any) {
    let src = src
        .downcast_ref::<Option<Result<T, TaskError>>>()
        .expect("a cloner is used with its own output type");
    let dst = dst
        .downcast_mut::<Option<Result<T, TaskError>>>()
        .expect("a cloner is used with its own output type");
    *dst = src.clone();
}
