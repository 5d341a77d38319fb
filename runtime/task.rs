//! Tasks: a future scheduled on the loop, and the handles to it.
//!
//! asyncio's `Task` is both the running coroutine and the handle to it. Here they are split the
//! Rust way: the loop owns the running future (R4 in [`cell`]); [`Task<T>`] is the typed handle you
//! await for the output (not `Clone`: the output moves out once); [`TaskRef`] is an untyped,
//! clonable handle for `cancel`, `done` and done callbacks.
//!
//! Over 500 lines, nearly half of them the runnable examples of the two handles' public methods.

use crate::engine::cell::{DoneEntry, TaskCell, TaskRc};
use crate::error::TaskError;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A handle to a task: await it for `Ok(output)`, or `Err` if it was cancelled or panicked.
///
/// Dropping the handle does not stop the task (asyncio keeps only weak references and can lose a
/// task; evloop keeps it until it finishes, TASK-9).
///
/// ```
/// let n = evloop::run(async {
///     let task = evloop::create_task(async { 6 * 7 });
///     task.await.unwrap()
/// });
/// assert_eq!(n, 42);
/// ```
#[must_use = "a task runs even if its handle is dropped, but its output and any panic are lost"]
pub struct Task<T> {
    cell: TaskRc,
    /// The output moved out, or the handle was given to an internal consumer: nothing left to do
    /// on drop.
    consumed: bool,
    _output: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> Task<T> {
    pub(crate) fn from_cell(cell: TaskRc) -> Self {
        Task {
            cell,
            consumed: false,
            _output: PhantomData,
        }
    }

    /// Asks the task to stop at its next suspension point; its future is dropped there, so its
    /// destructors run. False when the task has already finished (asyncio's `Task.cancel`).
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
    ///     assert!(matches!(t.await, Err(TaskError::Cancelled))); // asyncio's CancelledError
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        TaskCell::cancel(&self.cell)
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

    /// The outcome, if the task has finished and it has not been taken yet (asyncio's
    /// `Task.result()`, which raises `InvalidStateError` before the task is done).
    ///
    /// ```
    /// evloop::run(async {
    ///     let mut t = evloop::create_task(async { 5 });
    ///     assert!(t.try_result().is_none()); // not done yet (asyncio: InvalidStateError)
    ///     t.task_ref().wait().await;
    ///     assert_eq!(t.try_result().unwrap().unwrap(), 5);
    ///     assert!(t.try_result().is_none()); // the output moves out once
    /// });
    /// ```
    pub fn try_result(&mut self) -> Option<Result<T, TaskError>> {
        if !self.done() || self.consumed {
            return None;
        }
        let out = self.take_output();
        self.consumed = out.is_some();
        out
    }

    fn take_output(&self) -> Option<Result<T, TaskError>> {
        let slot = self.take_from_body();
        if slot.is_some() {
            self.cell.done.lock().taken = true;
        }
        slot
    }

    /// Moves the outcome out of the body without marking it taken (the caller does).
    fn take_from_body(&self) -> Option<Result<T, TaskError>> {
        let mut slot: Option<Result<T, TaskError>> = None;
        // R2 (cell): the task is complete, so nobody polls the body any more.
        self.cell.with_body(|body| body.take_output(&mut slot));
        slot
    }

    /// Hands the outcome to `f` (via `call_soon`) once the task finishes. Internal consumers such
    /// as gather use this instead of awaiting, so that they see completion exactly when asyncio's
    /// done callbacks would.
    pub(crate) fn on_output(mut self, f: impl FnOnce(Result<T, TaskError>) + Send + 'static) {
        self.consumed = true;
        let cell = self.cell.clone();
        let me = Task::<T>::from_cell(self.cell.clone());
        let callback = move || {
            let mut me = me;
            me.consumed = true;
            let out = me.take_output().unwrap_or(Err(TaskError::Cancelled));
            f(out)
        };
        TaskCell::add_done_entry(&cell, DoneEntry::Call(Box::new(callback)));
    }
}

/// Moves a complete task's outcome out for an internal consumer that keeps the task's cell
/// without a typed handle (gather). With no `Task` there, nothing reads `taken` for it (only
/// `Task`'s own drop and poll do) and the done list is not locked to set it.
pub(crate) fn take_output<T: Send + 'static>(cell: &TaskRc) -> Option<Result<T, TaskError>> {
    let mut slot: Option<Result<T, TaskError>> = None;
    // R2 (cell): the task is complete, so nobody polls the body any more.
    cell.with_body(|body| body.take_output(&mut slot));
    slot
}

impl<T: Send + 'static> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(
            !self.consumed,
            "a Task was polled after it returned its output"
        );
        if self.cell.is_polled_with(cx.waker()) {
            // The task's own waker: it awaits itself.
            panic!(
                "a task awaited its own handle and would wait for itself forever \
                 (asyncio: RuntimeError: Task cannot await on itself)"
            );
        }
        let mut stale = None;
        if !self.cell.state.load().is_complete() {
            // Cloned before the lock: a foreign waker's clone is user code (LOCK-1).
            let waker = cx.waker().clone();
            let mut done = self.cell.done.lock();
            if !done.closed {
                // R3: not closed yet, so completion will find this waker.
                match done.join_index() {
                    Some(i) => stale = Some(done.entries.replace(i, DoneEntry::Wake(waker))),
                    None => {
                        let i = done.entries.push(DoneEntry::Wake(waker));
                        done.set_join_index(i);
                    }
                }
                drop(done);
                crate::contain::drop_value(stale);
                return Poll::Pending;
            }
            drop(done);
            crate::contain::drop_value(waker);
        }
        {
            let mut done = self.cell.done.lock();
            // Closed: the outcome is stored (TASK-5) and only this handle takes it, so it can be
            // marked taken under this lock instead of a second one after the take. The entry
            // this handle left went with the closed list.
            done.taken = true;
            done.take_join_index();
        }
        let out = self
            .take_from_body()
            .expect("a complete task always has an outcome until its handle takes it");
        self.consumed = true;
        Poll::Ready(out)
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if self.consumed {
            return;
        }
        let mut done = self.cell.done.lock();
        if done.closed {
            let unretrieved = self.cell.state.load().is_panicked() && !done.taken;
            drop(done);
            if unretrieved {
                self.cell.report_unretrieved_panic();
            }
        } else {
            done.detached = true;
            // TASK-11: the handle's place in the done list goes with it.
            let gone = done.take_join_index().map(|i| done.entries.remove(i));
            drop(done);
            crate::contain::drop_value(gone);
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
        TaskCell::cancel(&self.0)
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
        crate::contain::drop_value(stale);
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
            crate::contain::drop_value(gone);
        }
    }
}
