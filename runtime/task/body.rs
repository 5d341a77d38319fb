//! The task's future and, once it is finished, its outcome — the last field of the task cell,
//! pinned there (P in [`super::cell`]).
//!
//! The runner owns the poll (under the cell's `body` lock, TASK-3 keeps it uncontended); the
//! typed [`Task`](super::Task) handle is the only one that takes the outcome.

use crate::error::{Panic, TaskError};
use crate::task::state::Outcome;
use pin_project_lite::pin_project;
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The type-erased face of [`Stage`], so that one non-generic cell type can hold any task.
pub(crate) trait Body: Send {
    /// Polls the future with the task's waker; on `Ready` (or a panic) stores the outcome and
    /// drops the future and the waker.
    fn poll(self: Pin<&mut Self>) -> Poll<Outcome>;
    /// Drops the future (or a value it already returned) and stores "cancelled".
    fn cancel(self: Pin<&mut Self>);
    /// Moves the outcome into `slot`, which must be `&mut Option<Result<T, TaskError>>`.
    fn take_output(self: Pin<&mut Self>, slot: &mut dyn Any);
    /// A clone of the task's waker while the future is alive.
    fn waker(self: Pin<&mut Self>) -> Option<Waker>;
    /// Injected `move_pinned_future` only: what `cancel` does, but by moving the stage (future
    /// included) out into a local and dropping it there — the move `Pin` forbids, done with safe
    /// code through an unpinned reference.
    fn drop_moved(&mut self);
}

pin_project! {
    #[project = StageProj]
    pub(crate) enum Stage<F> where F: Future {
        // The waker lives as long as the future: one waker for the task's whole life instead of
        // one per poll (a reference count increment and decrement each), and a future that keeps
        // its waker can skip its own clone when `Waker::will_wake` says the stored one is still
        // right. Dropped with the future, so the waker's reference to the task cell never keeps
        // the cell alive (the model checker reports such a leak). Not an `Option`: until the
        // cell installs the task's own waker (before it is shared or polled) it is a no-op
        // waker, and the waker's non-null vtable pointer is then free to carry the stage's
        // tag, which would otherwise take a word of every task cell.
        Running { #[pin] fut: F, waker: Waker },
        Finished { out: Option<Result<F::Output, TaskError>> },
    }
}

impl<F> Stage<F>
where
    F: Future,
{
    pub(crate) fn new(fut: F) -> Self {
        Stage::Running {
            fut,
            waker: Waker::noop().clone(),
        }
    }

    /// Keeps the task's own waker, made with the cell, before the first poll: the stage is not
    /// pinned yet, so a plain `&mut` will do.
    pub(crate) fn set_waker(&mut self, new: Waker) {
        if let Stage::Running { waker, .. } = self {
            *waker = new;
        }
    }

    /// Replaces the stage, dropping the future; a panic in the future's destructor is caught and
    /// reported instead of unwinding through the loop.
    fn finish(mut self: Pin<&mut Self>, out: Result<F::Output, TaskError>) {
        let mut out = Some(out);
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            self.as_mut().set(Stage::Finished { out: out.take() });
        }));
        if let Err(payload) = dropped {
            tracing::error!(
                panic = Panic::new(payload).message(),
                "a task's future panicked while being dropped"
            );
            if let Some(out) = out {
                self.set(Stage::Finished { out: Some(out) });
            }
        }
    }
}

impl<F> Body for Stage<F>
where
    F: Future + Send,
    F::Output: Send + 'static,
{
    fn poll(mut self: Pin<&mut Self>) -> Poll<Outcome> {
        let polled = match self.as_mut().project() {
            StageProj::Running { fut, waker } => catch_unwind(AssertUnwindSafe(|| {
                fut.poll(&mut Context::from_waker(waker))
            })),
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

    fn cancel(self: Pin<&mut Self>) {
        self.finish(Err(TaskError::Cancelled));
    }

    fn take_output(self: Pin<&mut Self>, slot: &mut dyn Any) {
        let slot = slot
            .downcast_mut::<Option<Result<F::Output, TaskError>>>()
            .expect("a task's output was asked for with the wrong type");
        match self.project() {
            StageProj::Finished { out } => *slot = out.take(),
            StageProj::Running { .. } => {}
        }
    }

    fn waker(self: Pin<&mut Self>) -> Option<Waker> {
        match self.project() {
            StageProj::Running { waker, .. } => Some(waker.clone()),
            StageProj::Finished { .. } => None,
        }
    }

    fn drop_moved(&mut self) {
        let moved = std::mem::replace(
            self,
            Stage::Finished {
                out: Some(Err(TaskError::Cancelled)),
            },
        );
        drop(moved);
    }
}
