//! [`Awaitable`]: what asyncio's `gather`, `run_until_complete` and `ensure_future` take — a
//! coroutine (any future: it is started as a task), a task, or a loop future — and how each is
//! awaited as itself (TASK-14). A task or future passed in is attached to, never wrapped in a new
//! task: no extra loop turn, the same identity for `cancel()`, and its outcome still readable
//! through the user's own handles afterwards.
//!
//! `Task<T>` and `LoopFuture<T>` are awaited through `IntoFuture` rather than being futures
//! themselves precisely so that this trait can tell them apart from coroutines: the blanket
//! implementation for every `Future` cannot overlap theirs.

use crate::engine::cell::{DoneEntry, TaskCell, TaskRc};
use crate::engine::ready::SinkRc;
use crate::engine::scheduler::Scheduler;
use crate::error::{LoopError, Message, TaskError};
use crate::future::LoopFuture;
use crate::task::{Task, TaskRef};
use evloop_model::sync::Arc;
use std::future::Future;
use std::panic::Location;

mod sealed {
    pub trait Sealed {}
}

/// Something asyncio lets you `await`, `gather` or run: a coroutine (any `Future`, started as a
/// task when it is used), a [`Task`], or a [`LoopFuture`]. Implemented by evloop only.
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let t = evloop::create_task(async { 2 });
///     let fut = evloop::LoopFuture::new();
///     fut.set_result(3).unwrap();
///     // A coroutine, the task itself, the future itself: all awaited as themselves.
///     let (a, b, c) = evloop::gather!(async { 1 }, t.clone(), fut.clone()).await.unwrap();
///     assert_eq!((a, b, c), (1, 2, 3));
///     assert_eq!(t.await.unwrap(), 2); // the user's task is still theirs to read
/// });
/// ```
pub trait Awaitable: Send + 'static + sealed::Sealed {
    /// What awaiting it gives when it does not fail (for a task, its output; for a loop future,
    /// its value).
    type Output: Send + 'static;
    /// What [`ensure_future`](crate::ensure_future) returns for it: the task or future itself, or
    /// the task a coroutine becomes.
    type Ensured;

    #[doc(hidden)]
    fn into_child(self, on: Attach<'_>) -> Result<Child<Self::Output>, LoopError>;

    #[doc(hidden)]
    fn ensure(self, on: Attach<'_>) -> Result<Self::Ensured, LoopError>;
}

/// The loop an awaitable is attached to, and where the attaching call was made (not a public
/// API).
#[doc(hidden)]
pub struct Attach<'a> {
    lp: &'a Arc<Scheduler>,
    at: &'static Location<'static>,
}

impl<'a> Attach<'a> {
    pub(crate) fn new(lp: &'a Arc<Scheduler>, at: &'static Location<'static>) -> Attach<'a> {
        Attach { lp, at }
    }

    /// Refuses a task of another loop (asyncio's gather raises `ValueError` for futures of
    /// different loops): its completion would be delivered on that loop.
    fn check(&self, cell: &TaskRc) -> Result<(), LoopError> {
        if std::ptr::eq(&*cell.lp, &**self.lp) {
            Ok(())
        } else {
            Err(LoopError::OtherLoop)
        }
    }
}

/// One awaitable as gather and `run_until_complete` hold it (not a public API).
#[doc(hidden)]
pub struct Child<T>(pub(crate) Kind<T>);

pub(crate) enum Kind<T> {
    /// A coroutine started as a task by the one holding this: nobody else has a typed handle,
    /// so the outcome is moved out without the handles' bookkeeping.
    Started(TaskRc),
    /// The user's task, read through a handle of its own (TASK-13).
    Task(Task<T>),
    /// Anything else: a loop future, or a child of another type (`gather!`'s tuple).
    Other(Box<dyn Source<T>>),
}

/// Cancels a child, with the message to pass on (CANCEL-4), without borrowing it: true if the
/// child took the cancellation.
pub(crate) type Canceller = Box<dyn Fn(Option<Message>) -> bool + Send + Sync>;

/// What a child that is not a task can do for its holder.
pub(crate) trait Source<T>: Send + Sync {
    /// Runs `f` (through `call_soon`) once done; at once (still through `call_soon`) if it is.
    fn on_done(&self, f: Box<dyn FnOnce() + Send>);
    /// The outcome, once done (`None` before).
    fn read(self: Box<Self>) -> Option<Result<T, TaskError>>;
    /// A task to show for it, when it is one.
    fn task(&self) -> Option<TaskRef>;
    /// A way to cancel it (with a message) that does not borrow it.
    fn canceller(&self) -> Canceller;
}

impl<T: Send + 'static> Child<T> {
    /// The task behind this child, for `children()` and cancelling.
    pub(crate) fn task(&self) -> Option<TaskRef> {
        match &self.0 {
            Kind::Started(cell) => Some(TaskRef::from_cell(cell.clone())),
            Kind::Task(t) => Some(t.task_ref()),
            Kind::Other(s) => s.task(),
        }
    }

    /// A way to cancel the child (with a message) that does not borrow it.
    pub(crate) fn canceller(&self) -> Canceller {
        match &self.0 {
            Kind::Other(s) => s.canceller(),
            _ => {
                let t = self.task().expect("a task child has a task");
                Box::new(move |message| t.cancel_message(message))
            }
        }
    }

    /// Tells `sink` when the child is done, as child `index` (through `call_soon`, as asyncio's
    /// done callbacks are).
    pub(crate) fn deliver_to(&self, sink: &SinkRc, index: u32) {
        match &self.0 {
            Kind::Started(cell) => {
                TaskCell::add_done_entry(cell, DoneEntry::Gather(sink.clone(), index))
            }
            Kind::Task(t) => {
                TaskCell::add_done_entry(t.cell(), DoneEntry::Gather(sink.clone(), index))
            }
            Kind::Other(s) => {
                let sink = sink.clone();
                s.on_done(Box::new(move || sink.deliver(index)));
            }
        }
    }

    /// Runs `f` (through `call_soon`) once the child is done.
    pub(crate) fn on_done(&self, f: Box<dyn FnOnce() + Send>) {
        match &self.0 {
            Kind::Started(cell) => TaskCell::add_done_entry(cell, DoneEntry::Call(f)),
            Kind::Task(t) => TaskCell::add_done_entry(t.cell(), DoneEntry::Call(f)),
            Kind::Other(s) => s.on_done(f),
        }
    }

    /// The outcome, once the child is done (`None` before).
    pub(crate) fn read(self) -> Option<Result<T, TaskError>> {
        match self.0 {
            Kind::Started(cell) => crate::task::take_output::<T>(&cell),
            Kind::Task(mut t) => t.try_result(),
            Kind::Other(s) => s.read(),
        }
    }
}

impl<F> sealed::Sealed for F
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
}

/// A coroutine: started as a task on the loop, in the order it is given (GATHER-2).
impl<F> Awaitable for F
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;
    type Ensured = Task<F::Output>;

    fn into_child(self, on: Attach<'_>) -> Result<Child<F::Output>, LoopError> {
        let task = Scheduler::spawn_cell(on.lp, self, None, on.at)?;
        Ok(Child(Kind::Started(task)))
    }

    fn ensure(self, on: Attach<'_>) -> Result<Task<F::Output>, LoopError> {
        Scheduler::spawn_cell(on.lp, self, None, on.at).map(Task::from_cell)
    }
}

impl<T: Send + 'static> sealed::Sealed for Task<T> {}

/// A task: attached to, as itself (TASK-14).
impl<T: Send + 'static> Awaitable for Task<T> {
    type Output = T;
    type Ensured = Task<T>;

    fn into_child(self, on: Attach<'_>) -> Result<Child<T>, LoopError> {
        on.check(self.cell())?;
        Ok(Child(Kind::Task(self)))
    }

    fn ensure(self, on: Attach<'_>) -> Result<Task<T>, LoopError> {
        on.check(self.cell())?;
        Ok(self)
    }
}

impl<T: Clone + Send + 'static> sealed::Sealed for LoopFuture<T> {}

/// A loop future: attached to, as itself; a failed one fails as `TaskError::Failed` (TASK-14).
impl<T: Clone + Send + 'static> Awaitable for LoopFuture<T> {
    type Output = T;
    type Ensured = LoopFuture<T>;

    fn into_child(self, _: Attach<'_>) -> Result<Child<T>, LoopError> {
        Ok(Child(Kind::Other(Box::new(self))))
    }

    fn ensure(self, _: Attach<'_>) -> Result<LoopFuture<T>, LoopError> {
        Ok(self)
    }
}

impl<T: Clone + Send + 'static> Source<T> for LoopFuture<T> {
    fn on_done(&self, f: Box<dyn FnOnce() + Send>) {
        self.add_done_callback(move |_| f());
    }

    fn read(self: Box<Self>) -> Option<Result<T, TaskError>> {
        self.result().ok().map(|out| out.map_err(TaskError::from))
    }

    fn task(&self) -> Option<TaskRef> {
        None
    }

    fn canceller(&self) -> Canceller {
        let f = self.clone();
        Box::new(move |message| f.cancel_message(message))
    }
}

/// A child of one type seen as a child of another, through `map` (`gather!`'s mixed tuples).
pub(crate) struct Mapped<T, U> {
    child: Child<T>,
    map: fn(T) -> U,
}

impl<T: Send + 'static, U: Send + 'static> Mapped<T, U> {
    pub(crate) fn child(child: Child<T>, map: fn(T) -> U) -> Child<U> {
        Child(Kind::Other(Box::new(Mapped { child, map })))
    }
}

impl<T: Send + 'static, U: Send + 'static> Source<U> for Mapped<T, U> {
    fn on_done(&self, f: Box<dyn FnOnce() + Send>) {
        self.child.on_done(f);
    }

    fn read(self: Box<Self>) -> Option<Result<U, TaskError>> {
        let Mapped { child, map } = *self;
        child.read().map(|out| out.map(map))
    }

    fn task(&self) -> Option<TaskRef> {
        self.child.task()
    }

    fn canceller(&self) -> Canceller {
        self.child.canceller()
    }
}
