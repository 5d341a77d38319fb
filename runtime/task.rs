//! Tasks: a future scheduled on the loop, and the handles to it.
//!
//! asyncio's `Task` is both the running coroutine and the handle to it, a future any number of
//! coroutines may await. Here the loop owns the running future (R4 in `engine::cell`), and
//! [`Task<T>`] is the typed handle: awaited for the outcome, clonable when the output is `Clone`,
//! and then awaited by any number of tasks, each getting the outcome — a clone, except for the
//! last handle to read, which moves it out, so the usual single awaiter clones nothing (TASK-13).
//! [`TaskRef`] is an untyped, clonable handle for `cancel`, `done`, `exception` and done
//! callbacks.
//!
//! Over 500 lines, nearly half of them the runnable examples of the two handles' public methods.

use crate::engine::body::{clone_outcome, Read};
use crate::engine::cancel;
use crate::engine::cell::{DoneEntry, TaskCell, TaskRc};
use crate::error::{Cancelled, InvalidStateError, Message, TaskError};
use evloop_model::bug::{self, Bug};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A handle to a task: await it for `Ok(output)`, or `Err` if it was cancelled, panicked or
/// failed. When the output is `Clone`, so is the handle, and every clone may await the task
/// (asyncio: any number of coroutines `await task`); `&task` may be awaited too (TASK-13).
///
/// Dropping a handle does not stop the task (asyncio keeps only weak references and can lose a
/// task; evloop keeps it until it finishes, TASK-9). Handles compare equal when they name the same
/// task.
///
/// ```
/// let n = evloop::run(async {
///     let task = evloop::create_task(async { 6 * 7 });
///     let again = task.clone();
///     let watcher = evloop::create_task(async move { again.await.unwrap() + 1 });
///     assert_eq!((&task).await.unwrap(), 42); // awaited by reference...
///     assert_eq!(watcher.await.unwrap(), 43); // ...by another task...
///     task.await.unwrap() // ...and once more: every awaiter gets the outcome
/// });
/// assert_eq!(n, 42);
/// ```
#[must_use = "a task runs even if its handle is dropped, but its output and any panic are lost"]
pub struct Task<T> {
    cell: TaskRc,
    /// `try_result` handed this handle's outcome out: it has nothing more to give.
    consumed: bool,
    _output: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> Task<T> {
    /// The creator's handle of a new cell (a cell is born counting it, see `DoneList::handles`).
    pub(crate) fn from_cell(cell: TaskRc) -> Self {
        Task {
            cell,
            consumed: false,
            _output: PhantomData,
        }
    }

    /// Asks the task to stop (asyncio's `Task.cancel`). False when the task has already
    /// finished; true otherwise, every time, and each call counts ([`Task::cancelling`]).
    ///
    /// If the task is parked on another task, the cancellation is handed to that one first
    /// and this one waits for it to finish (CANCEL-6). Otherwise, at its next step the
    /// cancellation lands where the task is suspended: the innermost [`catch_cancel`] scope
    /// around that await takes it (CANCEL-5); without one, the future is dropped there, so its
    /// destructors run, and the task ends cancelled (TASK-7).
    ///
    /// [`catch_cancel`]: crate::catch_cancel
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::TaskError;
    /// evloop::Builder::new().virtual_time(true).run(async {
    ///     let t = evloop::create_task(async {
    ///         evloop::sleep(Duration::from_secs(10)).await;
    ///         "finished"
    ///     });
    ///     evloop::sleep(Duration::ZERO).await; // let it start and suspend in its sleep
    ///     assert!(t.cancel());
    ///     assert!(matches!(t.await, Err(TaskError::Cancelled(_)))); // asyncio's CancelledError
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        TaskCell::cancel(&self.cell, None)
    }

    /// [`Task::cancel`] with a message (asyncio's `cancel(msg)`): the [`Cancelled`] a scope
    /// catches carries it, and so does the task's [`TaskError::Cancelled`] if it ends cancelled.
    ///
    /// ```
    /// use evloop::{catch_cancel, TaskError};
    /// use std::time::Duration;
    /// evloop::run(async {
    ///     let t = evloop::create_task(async {
    ///         match catch_cancel(evloop::sleep(Duration::from_secs(60))).await {
    ///             Ok(()) => String::from("slept"),
    ///             Err(c) => format!("caught: {}", c.message().unwrap_or("")),
    ///         }
    ///     });
    ///     evloop::sleep(Duration::ZERO).await;
    ///     t.cancel_with("closing");
    ///     assert_eq!(t.await.unwrap(), "caught: closing");
    /// });
    /// ```
    pub fn cancel_with(&self, message: impl Into<String>) -> bool {
        TaskCell::cancel(&self.cell, Some(Message::new(message.into())))
    }

    /// How many cancellation requests the task has had and not taken back with
    /// [`Task::uncancel`] (asyncio 3.11's `cancelling()`, CANCEL-3).
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async {});
    ///     assert_eq!(t.cancelling(), 0);
    ///     t.cancel();
    ///     t.cancel();
    ///     assert_eq!(t.cancelling(), 2);
    ///     assert_eq!(t.uncancel(), 1);
    /// });
    /// ```
    pub fn cancelling(&self) -> u32 {
        self.cell.state.load().requests()
    }

    /// Takes one cancellation request back and returns how many are left (asyncio's
    /// `uncancel()`, CANCEL-3): what a timeout or a task group does once it has turned its own
    /// cancellation into something else, so that it can tell a cancellation from outside.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async {});
    ///     assert_eq!(t.uncancel(), 0); // never below zero
    /// });
    /// ```
    pub fn uncancel(&self) -> u32 {
        self.cell.uncancel()
    }

    /// True once the task has finished, however it finished.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { 1 });
    ///     assert!(!t.done());
    ///     evloop::sleep(std::time::Duration::ZERO).await; // one turn: the task runs to its end
    ///     assert!(t.done());
    /// });
    /// ```
    pub fn done(&self) -> bool {
        self.cell.state.load().is_complete()
    }

    /// True once the task has finished by being cancelled.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { 1 });
    ///     t.cancel();
    ///     evloop::sleep(std::time::Duration::ZERO).await; // the cancel lands at its first step
    ///     assert!(t.done() && t.cancelled());
    /// });
    /// ```
    pub fn cancelled(&self) -> bool {
        self.cell.state.load().is_cancelled()
    }

    /// The task's id, unique within its loop.
    ///
    /// ```
    /// evloop::run(async {
    ///     let (a, b) = (evloop::create_task(async {}), evloop::create_task(async {}));
    ///     assert!(a.id() < b.id()); // unique, in creation order
    ///     a.await.unwrap();
    ///     b.await.unwrap();
    /// });
    /// ```
    pub fn id(&self) -> u64 {
        self.cell.id
    }

    /// The task's name: the one given to `create_task_named`, or asyncio's `Task-<id>`.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task_named("download", async {});
    ///     assert_eq!(t.name(), "download");
    ///     t.await.unwrap();
    /// });
    /// ```
    pub fn name(&self) -> String {
        self.cell.display_name()
    }

    /// An untyped handle for cancelling the task and watching it finish.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { 3 });
    ///     let (r1, r2) = (t.task_ref(), t.task_ref());
    ///     assert_eq!(r1.id(), t.id());
    ///     assert_eq!(t.await.unwrap(), 3);
    ///     assert!(r1.done() && r2.done()); // every ref sees the same task
    /// });
    /// ```
    pub fn task_ref(&self) -> TaskRef {
        TaskRef(self.cell.clone())
    }

    /// Calls `f` with the task, via the loop's `call_soon`, once the task has finished; at once
    /// (still via `call_soon`) if it already has. Never inline (TASK-6).
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async {});
    ///     let first = evloop::LoopFuture::new(); // the first `set_result` wins
    ///     for i in 0..2 {
    ///         let f = first.clone();
    ///         t.add_done_callback(move |r| {
    ///             let _ = f.set_result((i, r.done()));
    ///         });
    ///     }
    ///     t.await.unwrap();
    ///     assert_eq!(first.await.unwrap(), (0, true)); // registration order, after the end
    /// });
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&TaskRef) + Send + 'static) {
        self.task_ref().add_done_callback(f)
    }

    /// The outcome, once the task has finished, for this handle to keep: moved out if this is
    /// the last handle, a clone otherwise (TASK-13). `None` while the task runs (asyncio's
    /// `InvalidStateError`) and after this handle has returned it once.
    ///
    /// ```
    /// evloop::run(async {
    ///     let mut t = evloop::create_task(async { 5 });
    ///     assert!(t.try_result().is_none()); // not done yet (asyncio: InvalidStateError)
    ///     t.task_ref().wait().await;
    ///     assert_eq!(t.try_result().unwrap().unwrap(), 5);
    ///     assert!(t.try_result().is_none()); // this handle has given its outcome
    /// });
    /// ```
    pub fn try_result(&mut self) -> Option<Result<T, TaskError>> {
        if !self.done() || self.consumed {
            return None;
        }
        let out = read_outcome::<T>(&self.cell);
        self.consumed = out.is_some();
        // CANCEL-8: a cancellation read here is the reader's own if it escapes.
        out.map(|o| o.map_err(cancel::adopt_error))
    }

    /// Why the task failed, once it has finished: `Ok(None)` if it returned a value,
    /// `Ok(Some(error))` if it was cancelled, panicked or failed, and
    /// `Err(InvalidStateError::NotDone)` while it runs (asyncio's `Task.exception()`, which
    /// raises `CancelledError` for a cancelled task). Any handle may ask, any number of times.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { panic!("boom") });
    ///     assert_eq!(t.exception().unwrap_err(), evloop::InvalidStateError::NotDone);
    ///     t.task_ref().wait().await;
    ///     assert!(t.exception().unwrap().unwrap().is_panic());
    ///     assert!(t.exception().unwrap().unwrap().is_panic()); // again: the error is shared
    /// });
    /// ```
    pub fn exception(&self) -> Result<Option<TaskError>, InvalidStateError> {
        exception_of(&self.cell)
    }

    /// True when both handles name the same task (asyncio compares tasks by identity).
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { 1 });
    ///     let same = t.clone();
    ///     let other = evloop::create_task(async { 1 });
    ///     assert!(evloop::Task::ptr_eq(&t, &same) && t == same);
    ///     assert!(!evloop::Task::ptr_eq(&t, &other));
    ///     assert_eq!(t.task_ref(), same.task_ref());
    /// });
    /// ```
    pub fn ptr_eq(a: &Task<T>, b: &Task<T>) -> bool {
        a.cell.id == b.cell.id && std::ptr::eq(&*a.cell.lp, &*b.cell.lp)
    }

    pub(crate) fn cell(&self) -> &TaskRc {
        &self.cell
    }

    /// Hands the outcome to `f` (via `call_soon`) once the task finishes, through a handle of
    /// its own. Internal consumers use this instead of awaiting, so that they see completion
    /// exactly when asyncio's done callbacks would.
    pub(crate) fn on_output(self, f: impl FnOnce(Result<T, TaskError>) + Send + 'static) {
        let cell = self.cell.clone();
        let callback = move || {
            let mut me = self;
            let out = me
                .try_result()
                .unwrap_or(Err(TaskError::Cancelled(Cancelled::new(None))));
            f(out)
        };
        TaskCell::add_done_entry(&cell, DoneEntry::Call(Box::new(callback)));
    }
}

impl<T: Clone + Send + 'static> Task<T> {
    /// The outcome of a finished task, cloned; `Err(InvalidStateError::NotDone)` while it runs
    /// (asyncio's `Task.result()`, which raises the task's exception or `CancelledError`, here the
    /// inner `Err`). Asking again gives the outcome again.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { String::from("done") });
    ///     assert!(t.result().is_err()); // not done yet
    ///     t.task_ref().wait().await;
    ///     assert_eq!(t.result().unwrap().unwrap(), "done");
    ///     assert_eq!(t.await.unwrap(), "done"); // awaiting still gives it
    /// });
    /// ```
    pub fn result(&self) -> Result<Result<T, TaskError>, InvalidStateError> {
        if !self.done() {
            return Err(InvalidStateError::NotDone);
        }
        self.cell.done.lock().retrieved = true;
        let mut slot: Option<Result<T, TaskError>> = None;
        // R2: complete, so nobody polls the body any more.
        self.cell
            .with_body(|body| body.read_output(Read::Clone(clone_outcome::<T>), &mut slot));
        slot.map(|o| o.map_err(cancel::adopt_error))
            .ok_or(InvalidStateError::Taken)
    }
}

/// Reads a finished task's outcome for one of its handles: the last handle moves it out, the
/// others get a clone (TASK-13). `None` when the value was moved out already (by an internal
/// consumer that holds no handle).
fn read_outcome<T: Send + 'static>(cell: &TaskRc) -> Option<Result<T, TaskError>> {
    let how = {
        let mut done = cell.done.lock();
        done.retrieved = true;
        match done.cloner {
            // Injected: every reader takes, as if it were the last.
            _ if bug::enabled(Bug::SharedOutcomeTakenEarly) => Read::Take,
            Some(cloner) if done.handles > 1 => Read::Clone(cloner),
            _ => Read::Take,
        }
    };
    let mut slot: Option<Result<T, TaskError>> = None;
    // R2: complete, so nobody polls the body any more.
    cell.with_body(|body| body.read_output(how, &mut slot));
    slot
}

/// `exception()` for any handle.
fn exception_of(cell: &TaskRc) -> Result<Option<TaskError>, InvalidStateError> {
    let state = cell.state.load();
    if !state.is_complete() {
        return Err(InvalidStateError::NotDone);
    }
    if !state.is_cancelled() {
        cell.done.lock().retrieved = true;
    }
    // R2: complete, so nobody polls the body any more. A cancellation, with its message
    // (CANCEL-4), is read as the reader's own (CANCEL-8).
    Ok(cell.with_body(|body| body.error()).map(cancel::adopt_error))
}

/// Moves a complete task's outcome out for an internal consumer that keeps the task's cell
/// without a typed handle (gather): no other handle can read it.
pub(crate) fn take_output<T: Send + 'static>(cell: &TaskRc) -> Option<Result<T, TaskError>> {
    let mut slot: Option<Result<T, TaskError>> = None;
    // R2 (cell): the task is complete, so nobody polls the body any more.
    cell.with_body(|body| body.read_output(Read::Take, &mut slot));
    slot
}

impl<T: Clone + Send + 'static> Clone for Task<T> {
    /// Another handle to the same task (asyncio: the same `Task` object, shared).
    fn clone(&self) -> Self {
        let mut done = self.cell.done.lock();
        done.handles += 1;
        done.cloner.get_or_insert(clone_outcome::<T>);
        drop(done);
        Task::from_cell(self.cell.clone())
    }
}

impl<T> PartialEq for Task<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cell.id == other.cell.id && std::ptr::eq(&*self.cell.lp, &*other.cell.lp)
    }
}

impl<T> Eq for Task<T> {}

impl<T> Hash for Task<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.cell.id.hash(state);
    }
}

impl<T: Send + 'static> IntoFuture for Task<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = TaskJoin<T>;

    /// Awaiting a task (asyncio's `await task`).
    fn into_future(self) -> TaskJoin<T> {
        TaskJoin {
            task: self,
            key: None,
            handed: false,
        }
    }
}

impl<T: Clone + Send + 'static> IntoFuture for &Task<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = TaskJoin<T>;

    /// Awaiting a task through a reference: the handle is kept, the outcome cloned.
    fn into_future(self) -> TaskJoin<T> {
        self.clone().into_future()
    }
}

/// The future that awaits a [`Task`] (what `task.await` runs): `Ok(output)` or the task's error.
///
/// ```
/// evloop::run(async {
///     let t = evloop::create_task(async { 2 });
///     let join: evloop::TaskJoin<i32> = std::future::IntoFuture::into_future(t);
///     assert_eq!(join.await.unwrap(), 2);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct TaskJoin<T> {
    task: Task<T>,
    /// This future's key in the task's done list, while it waits.
    key: Option<u32>,
    /// The awaiting task's cancellation was handed to the awaited one here (CANCEL-6).
    handed: bool,
}

impl<T: Send + 'static> TaskJoin<T> {
    /// The task being awaited.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { 2 });
    ///     let id = t.id();
    ///     let join = std::future::IntoFuture::into_future(t);
    ///     assert_eq!(join.task().id(), id);
    ///     join.await.unwrap();
    /// });
    /// ```
    pub fn task(&self) -> &Task<T> {
        &self.task
    }
}

impl<T: Send + 'static> Future for TaskJoin<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(
            !self.task.consumed,
            "a Task was awaited after its outcome was handed out"
        );
        let cell = self.task.cell.clone();
        if cell.is_polled_with(cx.waker()) {
            // The task's own waker: it awaits itself.
            panic!(
                "a task awaited its own handle and would wait for itself forever \
                 (asyncio: RuntimeError: Task cannot await on itself)"
            );
        }
        let flags = cancel::flags();
        let in_flight = cancel::is_in_flight(flags);
        if in_flight
            && cancel::delivering()
            && !bug::enabled(Bug::CancelNotHandedDown)
            && self.key.is_some()
            && !cell.state.load().is_complete()
            && TaskCell::cancel(&cell, cancel::message())
        {
            // CANCEL-6: the awaited task takes this task's cancellation first; this one waits
            // for it to finish, its waker still on the done list.
            cancel::handed_down();
            self.handed = true;
            return Poll::Pending;
        }
        if in_flight {
            // CANCEL-2: the cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        if !cell.state.load().is_complete() {
            // Cloned before the lock: a foreign waker's clone is user code (LOCK-1).
            let waker = cx.waker().clone();
            let mut done = cell.done.lock();
            if !done.closed {
                // R3: not closed yet, so completion will find this waker.
                let stale = match self.key {
                    Some(k) => Some(done.entries.replace(k, DoneEntry::Wake(waker))),
                    None => {
                        self.key = Some(done.entries.push(DoneEntry::Wake(waker)));
                        // Where a cancellation of this task goes first (CANCEL-6).
                        cancel::hint(cell.key());
                        None
                    }
                };
                drop(done);
                crate::engine::contain::drop_value(stale);
                return Poll::Pending;
            }
            drop(done);
            crate::engine::contain::drop_value(waker);
        }
        // Closed: the outcome is stored (TASK-5), and the entry this future left went with the
        // closed list.
        self.key = None;
        let out = read_outcome::<T>(&cell)
            .expect("a complete task's outcome is there until its last handle reads it");
        self.task.consumed = true;
        let passed = self.handed || cancel::was_passed(flags);
        if cancel::was_passed(flags) {
            cancel::use_passed();
        }
        match out {
            // CANCEL-6: this task's own cancellation, handed to the awaited task, comes back
            // here as this task's cancellation, raised at this await.
            Err(TaskError::Cancelled(c)) if passed => {
                cancel::raise(c.message_arc());
                Poll::Pending
            }
            // CANCEL-7: a task cancelled by someone else is a value this task may catch; it
            // counts against this task if it escapes (CANCEL-8).
            out => Poll::Ready(out.map_err(cancel::adopt_error)),
        }
    }
}

impl<T> Drop for TaskJoin<T> {
    fn drop(&mut self) {
        if let Some(k) = self.key {
            let mut done = self.task.cell.done.lock();
            // TASK-11: a waiter that goes away gives its place back; a closed list has given
            // every entry out already.
            let gone = (!done.closed).then(|| done.entries.remove(k));
            drop(done);
            crate::engine::contain::drop_value(gone);
        }
    }
}

impl<T> fmt::Debug for TaskJoin<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskJoin")
            .field("task", &self.task.cell.id)
            .finish()
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        let mut done = self.cell.done.lock();
        done.handles -= 1;
        // The last handle goes: a panic nobody read is reported, once the task has ended
        // (otherwise `complete` reports it, TASK-8).
        let unretrieved = done.handles == 0
            && done.closed
            && !done.retrieved
            && self.cell.state.load().is_panicked();
        drop(done);
        if unretrieved {
            self.cell.report_unretrieved_panic();
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.cell.id)
            .field("name", &self.cell.display_name())
            .field("state", &self.cell.state.load())
            .finish()
    }
}

/// An untyped, clonable handle to a task: cancel it, ask whether it is done, run a callback or
/// wait when it finishes. It cannot take the output; the typed [`Task`] does that.
///
/// ```
/// evloop::run(async {
///     let task = evloop::create_task(evloop::sleep(std::time::Duration::from_secs(10)));
///     let r = task.task_ref();
///     assert!(r.cancel());
///     r.wait().await;
///     assert!(r.cancelled());
/// });
/// ```
#[derive(Clone)]
pub struct TaskRef(TaskRc);

impl PartialEq for TaskRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id && std::ptr::eq(&*self.0.lp, &*other.0.lp)
    }
}

impl Eq for TaskRef {}

impl Hash for TaskRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl TaskRef {
    /// See [`Task::cancel`].
    ///
    /// ```
    /// use std::time::Duration;
    /// evloop::Builder::new().virtual_time(true).run(async {
    ///     // The typed handle is dropped at once; the task keeps running (TASK-9).
    ///     let r = evloop::create_task(evloop::sleep(Duration::from_secs(60))).task_ref();
    ///     assert!(r.cancel());
    ///     r.wait().await;
    ///     assert!(!r.cancel()); // false once done
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        TaskCell::cancel(&self.0, None)
    }

    /// See [`Task::cancel_with`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let r = evloop::create_task(async {}).task_ref();
    ///     assert!(r.cancel_with("stop"));
    ///     r.wait().await;
    ///     assert_eq!(r.exception().unwrap().unwrap().to_string(), "the task was cancelled: stop");
    /// });
    /// ```
    pub fn cancel_with(&self, message: impl Into<String>) -> bool {
        TaskCell::cancel(&self.0, Some(Message::new(message.into())))
    }

    /// See [`Task::cancelling`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let me = evloop::current_task().unwrap();
    ///     assert_eq!(me.cancelling(), 0);
    /// });
    /// ```
    pub fn cancelling(&self) -> u32 {
        self.0.state.load().requests()
    }

    /// See [`Task::uncancel`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let r = evloop::create_task(async {}).task_ref();
    ///     r.cancel();
    ///     assert_eq!(r.uncancel(), 0);
    /// });
    /// ```
    pub fn uncancel(&self) -> u32 {
        self.0.uncancel()
    }

    /// See [`Task::done`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let r = evloop::create_task(async {}).task_ref();
    ///     assert!(!r.done());
    ///     r.wait().await;
    ///     assert!(r.done());
    /// });
    /// ```
    pub fn done(&self) -> bool {
        self.0.state.load().is_complete()
    }

    /// See [`Task::cancelled`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let r = evloop::create_task(async {}).task_ref();
    ///     r.cancel();
    ///     r.wait().await;
    ///     assert!(r.cancelled() && !r.panicked());
    /// });
    /// ```
    pub fn cancelled(&self) -> bool {
        self.0.state.load().is_cancelled()
    }

    /// See [`Task::exception`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let r = evloop::create_task(async { 1 }).task_ref();
    ///     r.wait().await;
    ///     assert!(r.exception().unwrap().is_none()); // it returned a value
    /// });
    /// ```
    pub fn exception(&self) -> Result<Option<TaskError>, InvalidStateError> {
        exception_of(&self.0)
    }

    /// True once the task has finished by panicking.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { panic!("boom") });
    ///     let r = t.task_ref();
    ///     r.wait().await;
    ///     assert!(r.panicked() && !r.cancelled());
    ///     assert!(t.await.unwrap_err().is_panic());
    /// });
    /// ```
    pub fn panicked(&self) -> bool {
        self.0.state.load().is_panicked()
    }

    /// See [`Task::id`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async {});
    ///     assert_eq!(t.task_ref().id(), t.id());
    ///     t.await.unwrap();
    /// });
    /// ```
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// See [`Task::name`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let r = evloop::create_task(async {}).task_ref();
    ///     assert_eq!(r.name(), format!("Task-{}", r.id())); // asyncio's default name
    ///     r.wait().await;
    /// });
    /// ```
    pub fn name(&self) -> String {
        self.0.display_name()
    }

    /// Where the task was created.
    ///
    /// ```
    /// evloop::run(async {
    ///     let (r, line) = (evloop::create_task(async {}).task_ref(), line!());
    ///     assert_eq!(r.created_at().line(), line); // the caller's line, not evloop's
    ///     r.wait().await;
    /// });
    /// ```
    pub fn created_at(&self) -> &'static Location<'static> {
        self.0.created_at
    }

    /// See [`Task::add_done_callback`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let r = evloop::create_task(async {}).task_ref();
    ///     r.wait().await;
    ///     let ran = evloop::LoopFuture::new();
    ///     let flag = ran.clone();
    ///     r.add_done_callback(move |_| flag.set_result(()).unwrap()); // already done
    ///     assert!(!ran.done()); // still not inline: via call_soon
    ///     ran.await.unwrap();
    /// });
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&TaskRef) + Send + 'static) {
        let me = self.clone();
        TaskCell::add_done_entry(&self.0, DoneEntry::Call(Box::new(move || f(&me))));
    }

    /// Waits until the task has finished, without taking its output.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { "output" });
    ///     t.task_ref().wait().await; // waits without taking the output...
    ///     assert_eq!(t.await.unwrap(), "output"); // ...which the typed handle still gets
    /// });
    /// ```
    pub fn wait(&self) -> WaitDone {
        WaitDone {
            task: self.clone(),
            key: None,
        }
    }

    pub(crate) fn cell(&self) -> &TaskRc {
        &self.0
    }

    pub(crate) fn from_cell(cell: TaskRc) -> TaskRef {
        TaskRef(cell)
    }

    /// `cancel` or `cancel_with`, for a cancellation that is passed on with its message (a
    /// gather cancelling its children, CANCEL-4).
    pub(crate) fn cancel_message(&self, message: Option<Message>) -> bool {
        TaskCell::cancel(&self.0, message)
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("id", &self.0.id)
            .field("name", &self.0.display_name())
            .field("state", &self.0.state.load())
            // What its done list holds, live or free: waiters that went away leave nothing
            // behind (TASK-11).
            .field("waiter_slots", &self.0.done.lock().entries.slots())
            .finish()
    }
}

/// The future returned by [`TaskRef::wait`].
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let slow = evloop::create_task(evloop::sleep(Duration::from_secs(5))).task_ref();
///     let fast = evloop::create_task(evloop::sleep(Duration::from_secs(1))).task_ref();
///     fast.wait().await;
///     assert!(fast.done() && !slow.done());
///     slow.wait().await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct WaitDone {
    task: TaskRef,
    /// This future's key in the task's done list, while it waits.
    key: Option<u32>,
}

impl Future for WaitDone {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if cancel::in_flight() {
            // CANCEL-2. Like asyncio's `wait`, waiting does not cancel the task waited for.
            return Poll::Pending;
        }
        let cell = self.task.0.clone();
        if cell.state.load().is_complete() {
            self.key = None;
            return Poll::Ready(());
        }
        if cell.is_polled_with(cx.waker()) {
            panic!(
                "a task waited for its own end and would wait for itself forever \
                 (asyncio: RuntimeError: Task cannot await on itself)"
            );
        }
        // Cloned before the lock: a foreign waker's clone is user code (LOCK-1).
        let waker = DoneEntry::Wake(cx.waker().clone());
        let mut done = cell.done.lock();
        if done.closed {
            self.key = None;
            drop(done);
            drop(waker);
            return Poll::Ready(());
        }
        let stale = match self.key {
            Some(k) => Some(done.entries.replace(k, waker)),
            None => {
                self.key = Some(done.entries.push(waker));
                None
            }
        };
        drop(done);
        crate::engine::contain::drop_value(stale);
        Poll::Pending
    }
}

impl Drop for WaitDone {
    fn drop(&mut self) {
        if let Some(k) = self.key {
            let mut done = self.task.0.done.lock();
            // TASK-11: a waiter that goes away gives its place back. A closed list has given
            // every entry out already.
            let gone = (!done.closed).then(|| done.entries.remove(k));
            drop(done);
            crate::engine::contain::drop_value(gone);
        }
    }
}

/// The task whose step is running on this thread (asyncio's `asyncio.current_task()`): `None`
/// inside a callback (`call_soon`, a done callback), which runs outside any task.
///
/// ```
/// evloop::run(async {
///     let me = evloop::current_task().expect("main runs as a task");
///     assert_eq!(me.name(), "Task-1");
///     let child = evloop::create_task(async { evloop::current_task().unwrap().id() });
///     let id = child.id();
///     assert_eq!(child.await.unwrap(), id);
/// });
/// ```
///
/// # Panics
/// When no loop is running on this thread (asyncio: `RuntimeError: no running event loop`);
/// [`try_current_task`] returns that as an error.
#[track_caller]
pub fn current_task() -> Option<TaskRef> {
    crate::error::or_panic(try_current_task())
}

/// [`current_task`], returning [`LoopError::NoRunningLoop`](crate::LoopError::NoRunningLoop)
/// instead of panicking.
///
/// ```
/// assert!(evloop::try_current_task().is_err()); // no loop runs here
/// ```
pub fn try_current_task() -> Result<Option<TaskRef>, crate::LoopError> {
    let Some(lp) = crate::engine::current::scheduler() else {
        return Err(crate::LoopError::NoRunningLoop);
    };
    Ok(crate::engine::current::task()
        .and_then(|(key, id)| lp.registry().get(key, id))
        .map(TaskRef::from_cell))
}

/// Every unfinished task of the running loop, oldest first (asyncio's `asyncio.all_tasks()`; the
/// same as [`EventLoop::pending_tasks`](crate::EventLoop::pending_tasks) on the running loop).
///
/// ```
/// evloop::run(async {
///     let t = evloop::create_task_named("worker", async {});
///     let names: Vec<String> = evloop::all_tasks().iter().map(|t| t.name()).collect();
///     assert_eq!(names, ["Task-1", "worker"]);
///     t.await.unwrap();
/// });
/// ```
///
/// # Panics
/// When no loop is running on this thread (asyncio: `RuntimeError: no running event loop`).
#[track_caller]
pub fn all_tasks() -> Vec<TaskRef> {
    match crate::engine::current::scheduler() {
        Some(lp) => lp
            .registry()
            .tasks()
            .into_iter()
            .map(TaskRef::from_cell)
            .collect(),
        None => panic!("{}", crate::LoopError::NoRunningLoop),
    }
}
