//! Every error a user can cause, as a type, with a message that says what to do.
//!
//! asyncio raises `RuntimeError` with a sentence for each misuse and `CancelledError` when a task
//! was cancelled; evloop returns these as values from the `try_` functions and panics with the same
//! sentence from the plain ones.
//!
//! Long for its many small public types, each with its message and a runnable example; there is
//! no logic here beyond formatting.

use evloop_model::sync::{Arc, Mutex};
use std::any::Any;
use std::error::Error;
use std::fmt;

/// The value, or a panic with the error's message: what each plain function does where its
/// `try_` twin returns the error. `#[track_caller]`, so the panic names the user's call site.
#[track_caller]
pub(crate) fn or_panic<T, E: fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Misuse of an event loop (asyncio's `RuntimeError` cases).
///
/// ```
/// use evloop::LoopError;
/// // asyncio: `get_running_loop()` outside a loop raises RuntimeError.
/// let err = evloop::get_running_loop().unwrap_err();
/// assert_eq!(err, LoopError::NoRunningLoop);
/// // The message says what to do instead.
/// assert!(err.to_string().contains("evloop::run(...)"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoopError {
    /// `get_running_loop`, `create_task`, `sleep`, ... called where no loop is running.
    NoRunningLoop,
    /// `run_until_complete` on a loop that is already running.
    AlreadyRunning,
    /// `run_until_complete` / `run` while another loop is running on this thread.
    AnotherLoopRunning,
    /// The loop was closed.
    Closed,
    /// `close` on a running loop.
    CloseWhileRunning,
    /// A task of another loop was given to this loop's `gather` or `run_until_complete`.
    OtherLoop,
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoopError::NoRunningLoop => {
                "no event loop is running on this thread: call this inside `evloop::run(...)` or \
                 `EventLoop::run_until_complete(...)`, or use the loop's own method \
                 (`event_loop.create_task(...)`)"
            }
            LoopError::AlreadyRunning => {
                "this event loop is already running: `await` the future inside the running loop \
                 instead of calling `run_until_complete` again"
            }
            LoopError::AnotherLoopRunning => {
                "another event loop is already running on this thread: `await` the future in that \
                 loop, or start the new loop from another thread"
            }
            LoopError::Closed => {
                "the event loop is closed: create a new one with `EventLoop::new()` or \
                 `evloop::new_event_loop()`"
            }
            LoopError::CloseWhileRunning => {
                "cannot close a running event loop: close it after `run_until_complete` returns"
            }
            LoopError::OtherLoop => {
                "the task belongs to another event loop: gather or run it on its own loop (asyncio: \
                 ValueError, futures are tied to different event loops)"
            }
        })
    }
}

impl Error for LoopError {}

/// Why a task produced no value. Cheap to clone, and shared: every awaiter of a task, and every
/// reader of its `exception()`, gets the same error (TASK-13).
///
/// ```
/// use evloop::TaskError;
/// evloop::run(async {
///     let t = evloop::create_task(async { panic!("boom") });
///     match t.await {
///         Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "boom"),
///         other => panic!("expected a panic, got {other:?}"),
///     }
/// });
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TaskError {
    /// The task was cancelled (asyncio's `CancelledError`), with the message `cancel_with` gave.
    Cancelled(Cancelled),
    /// The task panicked (asyncio: the coroutine raised); the payload is kept.
    Panicked(Panic),
    /// A [`LoopFuture`](crate::LoopFuture) awaited through `gather` or `run_until_complete` was
    /// completed with an error (asyncio: the future's exception is raised there).
    Failed(SharedError),
}

impl TaskError {
    /// True for [`TaskError::Cancelled`] (asyncio's `CancelledError`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { 1 });
    ///     t.cancel(); // before its first step: it never runs
    ///     assert!(t.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled(_))
    }

    /// True for [`TaskError::Panicked`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { panic!("boom") });
    ///     let err = t.await.unwrap_err();
    ///     assert!(err.is_panic() && !err.is_cancelled());
    /// });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled(c) => match c.message() {
                Some(m) => write!(f, "the task was cancelled: {m}"),
                None => f.write_str("the task was cancelled"),
            },
            TaskError::Panicked(p) => write!(f, "the task panicked: {}", p.message()),
            TaskError::Failed(e) => write!(f, "the future failed: {e}"),
        }
    }
}

impl From<crate::FutureError> for TaskError {
    fn from(e: crate::FutureError) -> TaskError {
        match e {
            crate::FutureError::Cancelled(c) => TaskError::Cancelled(c),
            crate::FutureError::Failed(e) => TaskError::Failed(e),
        }
    }
}

impl Error for TaskError {}

impl From<Cancelled> for TaskError {
    /// A caught cancellation, as the error a task (or a gather) ends with. Through `?` in a task
    /// body returning `Result<_, TaskError>`, it ends the task cancelled (CANCEL-8).
    fn from(c: Cancelled) -> TaskError {
        TaskError::Cancelled(c)
    }
}

/// A cancellation, as a value (asyncio's `CancelledError`): what a [`catch_cancel`] scope hands
/// the code around it, and what [`TaskError::Cancelled`] carries.
///
/// It remembers the task it was handed to. A task that returns while a `Cancelled` handed to it
/// is still alive — returned inside its output (`Err(c)?` in a body returning
/// `Result<_, TaskError>`), or kept anywhere else — ends cancelled, not with that output: the
/// cancellation escaped, as a `CancelledError` that propagates out of a coroutine ends its
/// task cancelled (CANCEL-8). Dropping it (or turning it into a value of your own) is catching
/// it.
///
/// [`catch_cancel`]: crate::catch_cancel
///
/// ```
/// use evloop::{catch_cancel, Cancelled, TaskError};
/// use std::time::Duration;
/// evloop::run(async {
///     let t = evloop::create_task(async {
///         match catch_cancel(evloop::sleep(Duration::from_secs(60))).await {
///             Ok(()) => Ok("slept"),
///             // Cleanup could await here; `?` lets the cancellation escape.
///             Err(c) => Err::<&str, TaskError>(c.into()),
///         }
///     });
///     evloop::sleep(Duration::ZERO).await;
///     t.cancel_with("shutting down");
///     let err = t.await.unwrap_err();
///     assert!(err.is_cancelled());
///     assert_eq!(err.to_string(), "the task was cancelled: shutting down");
/// });
/// ```
pub struct Cancelled {
    message: Option<Message>,
    /// The task it was handed to, while it counts there (see [`Holder`]).
    owner: Option<Arc<Box<dyn Holder>>>,
}

/// The deadline of a [`timeout`](crate::timeout) or [`wait_for`](crate::wait_for) passed
/// (asyncio's `TimeoutError`).
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let r = evloop::wait_for(evloop::sleep(Duration::from_secs(9)), Some(Duration::from_secs(1))).await;
///     assert_eq!(r.unwrap_err().to_string(), "the timeout expired");
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError;

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the timeout expired")
    }
}

impl Error for TimeoutError {}

/// A cancellation's message, shared by every copy of it (the model's `Arc` is sized-only).
pub(crate) type Message = Arc<String>;

/// The task a [`Cancelled`] counts against: told when a copy is made and when one goes, so that
/// the task's completion can tell whether its cancellation escaped (CANCEL-8). Implemented by the
/// engine, which this leaf module does not name.
pub(crate) trait Holder: Send + Sync {
    fn hold(&self);
    fn release(&self);
}

impl Cancelled {
    /// A cancellation that counts against no task.
    pub(crate) fn new(message: Option<Message>) -> Cancelled {
        Cancelled {
            message,
            owner: None,
        }
    }

    /// A cancellation that counts against the task `owner` stands for (already counted once).
    pub(crate) fn owned(message: Option<Message>, owner: Box<dyn Holder>) -> Cancelled {
        Cancelled {
            message,
            owner: Some(Arc::new(owner)),
        }
    }

    pub(crate) fn message_arc(&self) -> Option<Message> {
        self.message.clone()
    }

    /// The message given to `cancel_with` (asyncio's `CancelledError(msg)`), if any.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { 1 });
    ///     t.cancel_with("no longer needed");
    ///     match t.await {
    ///         Err(evloop::TaskError::Cancelled(c)) => assert_eq!(c.message(), Some("no longer needed")),
    ///         other => panic!("{other:?}"),
    ///     }
    /// });
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref().map(String::as_str)
    }
}

impl Default for Cancelled {
    /// A cancellation without a message (asyncio's bare `CancelledError()`), counting against no
    /// task.
    fn default() -> Cancelled {
        Cancelled::new(None)
    }
}

impl Clone for Cancelled {
    fn clone(&self) -> Cancelled {
        if let Some(owner) = &self.owner {
            owner.hold();
        }
        Cancelled {
            message: self.message.clone(),
            owner: self.owner.clone(),
        }
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let Some(owner) = &self.owner {
            owner.release();
        }
    }
}

impl PartialEq for Cancelled {
    /// Equal when the messages are: cancellations carry nothing else.
    fn eq(&self, other: &Cancelled) -> bool {
        self.message() == other.message()
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cancelled").field(&self.message()).finish()
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => write!(f, "cancelled: {m}"),
            None => f.write_str("cancelled"),
        }
    }
}

impl Error for Cancelled {}

/// A caught panic: its message for display, and its payload to re-raise.
///
/// Cheap to clone: every awaiter of a panicked task gets the same panic (TASK-13). The payload
/// sits behind a lock only so that `Panic` (and with it `TaskError`, `RunError` and
/// `GatherError`) is `Sync` and fits `Box<dyn Error + Send + Sync>` / `anyhow`; the first
/// `into_payload` takes it, later ones get the message. Message and lock share one shared
/// allocation: a model checker's mutex is a few hundred bytes, and a `Panic` one pointer wide
/// keeps every `Result` carrying a `TaskError` small — among them the outcome slot in every task
/// cell, which then needs no tag of its own beside the running future.
///
/// ```
/// use evloop::TaskError;
/// let err = evloop::run(async {
///     evloop::create_task(async { panic!("bad input: {}", 7) }).await.unwrap_err()
/// });
/// let TaskError::Panicked(p) = err else { unreachable!() };
/// assert_eq!(p.message(), "bad input: 7");
/// ```
#[derive(Clone)]
pub struct Panic(Arc<PanicInner>);

struct PanicInner {
    message: String,
    payload: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Panic {
    pub(crate) fn new(payload: Box<dyn Any + Send>) -> Panic {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "<non-string panic payload>".to_owned()
        };
        Panic(Arc::new(PanicInner {
            message,
            payload: Mutex::new(Some(payload)),
        }))
    }

    /// The panic message (or a placeholder when the payload is not a string).
    ///
    /// ```
    /// use evloop::TaskError;
    /// let err = evloop::run(async {
    ///     evloop::create_task(async { std::panic::panic_any(42u8) }).await.unwrap_err()
    /// });
    /// let TaskError::Panicked(p) = err else { unreachable!() };
    /// assert_eq!(p.message(), "<non-string panic payload>");
    /// ```
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The payload, for `std::panic::resume_unwind`: the original one for the first caller among
    /// the panic's clones, the message (a `String`) for the others.
    ///
    /// ```
    /// use evloop::TaskError;
    /// let err = evloop::run(async {
    ///     evloop::create_task(async { std::panic::panic_any(42u8) }).await.unwrap_err()
    /// });
    /// let TaskError::Panicked(p) = err else { unreachable!() };
    /// assert_eq!(p.into_payload().downcast_ref::<u8>(), Some(&42));
    /// ```
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        let taken = self.0.payload.lock().take();
        taken.unwrap_or_else(|| Box::new(self.0.message.clone()))
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Panic").field(&self.0.message).finish()
    }
}

/// The error half of a [`LoopFuture`](crate::LoopFuture)'s outcome: the future was cancelled, or
/// it was completed with an error (asyncio's `set_exception`). Cheap to clone: every waiter gets it.
///
/// ```
/// use evloop::FutureError;
/// evloop::run(async {
///     let fut = evloop::LoopFuture::<i32>::new();
///     fut.set_error("disk full").unwrap();
///     match fut.await {
///         Err(FutureError::Failed(e)) => assert_eq!(e.to_string(), "disk full"),
///         other => panic!("expected a failure, got {other:?}"),
///     }
/// });
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum FutureError {
    /// The future was cancelled, with the message `cancel_with` gave.
    Cancelled(Cancelled),
    /// The future was completed with an error.
    Failed(SharedError),
}

impl FutureError {
    /// True for [`FutureError::Cancelled`].
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<i32>::new();
    ///     assert!(fut.cancel());
    ///     assert!(fut.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, FutureError::Cancelled(_))
    }
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Cancelled(c) => match c.message() {
                Some(m) => write!(f, "the future was cancelled: {m}"),
                None => f.write_str("the future was cancelled"),
            },
            FutureError::Failed(e) => write!(f, "the future failed: {e}"),
        }
    }
}

impl Error for FutureError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FutureError::Cancelled(_) => None,
            FutureError::Failed(e) => Some(e.get()),
        }
    }
}

/// An error shared by every waiter of a failed [`LoopFuture`](crate::LoopFuture).
///
/// ```
/// use evloop::FutureError;
/// evloop::run(async {
///     let fut = evloop::LoopFuture::<()>::new();
///     let (a, b) = (fut.clone(), fut.clone());
///     fut.set_error("refused").unwrap();
///     // Both waiters see the same error.
///     for waiter in [a, b] {
///         let Err(FutureError::Failed(e)) = waiter.await else { unreachable!() };
///         assert_eq!(e.to_string(), "refused");
///     }
/// });
/// ```
#[derive(Clone)]
pub struct SharedError(Arc<Box<dyn Error + Send + Sync>>);

impl SharedError {
    /// Wraps an error so that every waiter can see it.
    ///
    /// ```
    /// let e = evloop::SharedError::new("timed out");
    /// let copy = e.clone(); // cheap: both share one error
    /// assert_eq!(copy.to_string(), "timed out");
    /// ```
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> SharedError {
        SharedError(Arc::new(error.into()))
    }

    /// The error itself, e.g. to downcast it.
    ///
    /// ```
    /// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
    /// let e = evloop::SharedError::new(io);
    /// let inner = e.get().downcast_ref::<std::io::Error>().unwrap();
    /// assert_eq!(inner.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn get(&self) -> &(dyn Error + Send + Sync + 'static) {
        &**self.0
    }
}

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.get(), f)
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.get(), f)
    }
}

/// asyncio's `InvalidStateError`: asking a future for a result it does not have yet, or setting a
/// result on a future that is already done.
///
/// ```
/// use evloop::InvalidStateError;
/// evloop::run(async {
///     let fut = evloop::LoopFuture::<i32>::new();
///     assert_eq!(fut.result().unwrap_err(), InvalidStateError::NotDone);
///     fut.set_result(1).unwrap();
///     assert_eq!(fut.set_result(2), Err(InvalidStateError::AlreadyDone));
///     assert_eq!(fut.result().unwrap().unwrap(), 1); // the first result stays
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidStateError {
    /// The future is not done yet: await it, or check `done()` first.
    NotDone,
    /// The future is already done: a future is completed once.
    AlreadyDone,
    /// The task's output was moved out already, by the last handle to read it (a task's output
    /// is cloned for every reader but the last, TASK-13).
    Taken,
}

impl fmt::Display for InvalidStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidStateError::NotDone => {
                "the future is not done yet: await it, or check `done()` before asking for its result"
            }
            InvalidStateError::AlreadyDone => {
                "the future is already done: a future is completed (or cancelled) exactly once"
            }
            InvalidStateError::Taken => {
                "the task's output was moved out by its last reader: clone the handle before that \
                 read to read it again"
            }
        })
    }
}

impl Error for InvalidStateError {}

/// `Queue::put_nowait` on a full queue (asyncio's `QueueFull`); the item is given back.
///
/// ```
/// let q = evloop::Queue::with_maxsize(1);
/// q.put_nowait(String::from("first")).unwrap();
/// let err: evloop::QueueFull<String> = q.put_nowait("second".into()).unwrap_err();
/// assert!(err.to_string().starts_with("the queue is full"));
/// assert_eq!(err.into_inner(), "second"); // nothing is lost
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct QueueFull<T>(pub T);

impl<T> QueueFull<T> {
    /// The item that did not fit.
    ///
    /// ```
    /// let q = evloop::Queue::with_maxsize(1);
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.put_nowait(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The item need not be `Debug` for the error to be one.
        f.write_str("QueueFull(..)")
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is full: wait for room with `put(item).await`, or make it bigger")
    }
}

impl<T> Error for QueueFull<T> {}

/// `Queue::get_nowait` on an empty queue (asyncio's `QueueEmpty`).
///
/// ```
/// let q = evloop::Queue::<u8>::new();
/// let err = q.get_nowait().unwrap_err();
/// assert_eq!(err, evloop::QueueEmpty);
/// assert!(err.to_string().contains("`get().await`"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEmpty;

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is empty: wait for an item with `get().await`")
    }
}

impl Error for QueueEmpty {}

/// `Queue::task_done` called more times than items were put (asyncio raises
/// `ValueError('task_done() called too many times')`).
///
/// ```
/// let q = evloop::Queue::<u8>::new();
/// let err = q.task_done().unwrap_err();
/// assert_eq!(err, evloop::TaskDoneError);
/// assert!(err.to_string().contains("once per item"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "task_done() called more times than items were put: call it once per item taken \
             from the queue",
        )
    }
}

impl Error for TaskDoneError {}

/// [`BoundedSemaphore::release`](crate::BoundedSemaphore::release) past the semaphore's initial
/// value (asyncio's `ValueError('BoundedSemaphore released too many times')`). Nothing changed.
///
/// ```
/// let sem = evloop::BoundedSemaphore::new(2);
/// let err: evloop::SemaphoreReleaseError = sem.release().unwrap_err();
/// assert_eq!(err.bound(), 2);
/// assert!(err.to_string().starts_with("BoundedSemaphore released too many times"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemaphoreReleaseError {
    pub(crate) bound: usize,
}

impl SemaphoreReleaseError {
    /// The semaphore's bound (its initial value), which the free permits already number.
    ///
    /// ```
    /// let sem = evloop::BoundedSemaphore::new(1);
    /// assert_eq!(sem.release().unwrap_err().bound(), 1);
    /// ```
    pub fn bound(&self) -> usize {
        self.bound
    }
}

impl fmt::Display for SemaphoreReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BoundedSemaphore released too many times: its {} permits are all free already; \
             release only a permit that was acquired (or let the permit's guard release it)",
            self.bound
        )
    }
}

impl Error for SemaphoreReleaseError {}

/// Why a [`Barrier::wait`](crate::Barrier::wait) failed (asyncio's `BrokenBarrierError`).
///
/// ```
/// evloop::run(async {
///     let b = evloop::Barrier::new(2);
///     b.abort();
///     let err = b.wait().await.unwrap_err();
///     assert_eq!(err, evloop::BrokenBarrierError::Aborted);
///     assert!(err.to_string().contains("reset()"));
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenBarrierError {
    /// The barrier was aborted ([`Barrier::abort`](crate::Barrier::abort)) before or while this
    /// task waited; it stays broken until reset (asyncio: "Barrier aborted").
    Aborted,
    /// The barrier was reset ([`Barrier::reset`](crate::Barrier::reset)) while this task waited
    /// inside it (asyncio: "Abort or reset of barrier").
    Reset,
}

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokenBarrierError::Aborted => {
                "the barrier is broken (aborted): call `reset()` on it before waiting again"
            }
            BrokenBarrierError::Reset => {
                "the barrier was reset while this task waited in it: wait again to join its \
                 next round"
            }
        })
    }
}

impl Error for BrokenBarrierError {}

/// Why `try_gather` failed: the first child failure, with the child's argument position.
///
/// ```
/// use evloop::GatherError;
/// let r = evloop::run(async {
///     evloop::try_gather([0, 1, 2].map(|i| async move {
///         if i == 1 { panic!("child 1 broke") }
///         Ok::<_, String>(i)
///     }))
///     .await
/// });
/// match r {
///     Err(GatherError::Task { index, error }) => assert!(index == 1 && error.is_panic()),
///     other => panic!("expected child 1's panic, got {other:?}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum GatherError<E> {
    /// Child `index` returned `Err(error)`.
    Failed {
        /// The child's position in the argument list.
        index: usize,
        /// What it returned.
        error: E,
    },
    /// Child `index` panicked or was cancelled.
    Task {
        /// The child's position in the argument list.
        index: usize,
        /// How it ended.
        error: TaskError,
    },
}

impl<E: fmt::Display> fmt::Display for GatherError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatherError::Failed { index, error } => {
                write!(f, "gather child {index} failed: {error}")
            }
            GatherError::Task { index, error } => write!(f, "gather child {index}: {error}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> Error for GatherError<E> {}

/// Why `try_run_until_complete` (or `Builder::try_run`) returned no value. A panic in the main
/// future is not one of these: it is re-raised, as asyncio re-raises the coroutine's exception.
///
/// ```
/// use evloop::RunError;
/// // In virtual time a main future that nothing can wake is reported, not hung.
/// let r = evloop::Builder::new().virtual_time(true).try_run(std::future::pending::<()>());
/// assert!(matches!(r, Err(RunError::Deadlock(_))));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The loop could not run (closed, already running, another loop running here).
    Loop(LoopError),
    /// The main task was cancelled (asyncio raises `CancelledError` from `run_until_complete`).
    Cancelled(Cancelled),
    /// Virtual time only: the main future is pending, nothing is ready, no timer can fire and no
    /// cross-thread work is in flight, so nothing can ever wake it.
    Deadlock(Deadlock),
    /// The main future was a [`LoopFuture`](crate::LoopFuture) completed with an error (asyncio
    /// raises the future's exception from `run_until_complete`).
    Failed(SharedError),
    /// `EventLoop::stop()` stopped the loop before the main future was done; it stays pending and
    /// may finish in a later run.
    Stopped,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Loop(e) => fmt::Display::fmt(e, f),
            RunError::Cancelled(c) => {
                f.write_str(
                    "the main task was cancelled before it finished (asyncio raises CancelledError \
                     here): use `try_run_until_complete` to handle this as a value",
                )?;
                match c.message() {
                    Some(m) => write!(f, " (message: {m})"),
                    None => Ok(()),
                }
            }
            RunError::Deadlock(d) => fmt::Display::fmt(d, f),
            RunError::Failed(e) => write!(f, "the main future failed: {e}"),
            RunError::Stopped => f.write_str(
                "the event loop stopped before the future completed (asyncio: RuntimeError): it \
                 is still pending and may finish in a later run",
            ),
        }
    }
}

impl Error for RunError {}

impl From<LoopError> for RunError {
    fn from(e: LoopError) -> Self {
        RunError::Loop(e)
    }
}

/// A task that was still pending when a deadlock was found.
///
/// ```
/// let r = evloop::Builder::new().virtual_time(true).try_run(async {
///     evloop::create_task_named("stuck", std::future::pending::<()>()).await.unwrap()
/// });
/// let Err(evloop::RunError::Deadlock(d)) = r else { unreachable!() };
/// let stuck = d.pending.iter().find(|t| t.name == "stuck").unwrap();
/// assert!(stuck.created_at.file().ends_with(".rs"));
/// ```
#[derive(Debug, Clone)]
pub struct PendingTask {
    /// The task's id.
    pub id: u64,
    /// The task's name.
    pub name: String,
    /// Where it was created.
    pub created_at: &'static std::panic::Location<'static>,
}

/// The report of a deadlock found in virtual time.
///
/// ```
/// let r = evloop::Builder::new().virtual_time(true).try_run(async {
///     evloop::create_task_named("stuck", std::future::pending::<()>()).await.unwrap()
/// });
/// let Err(evloop::RunError::Deadlock(d)) = r else { unreachable!() };
/// // Oldest first: the main task, then the task it awaits.
/// let names: Vec<_> = d.pending.iter().map(|t| t.name.as_str()).collect();
/// assert_eq!(names, ["Task-1", "stuck"]);
/// assert!(d.to_string().contains("stuck (id 2)"));
/// ```
#[derive(Debug, Clone)]
pub struct Deadlock {
    /// Every task still pending, oldest first.
    pub pending: Vec<PendingTask>,
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "deadlock: the main future is pending, but nothing is ready, no timer can fire and no \
             cross-thread work is in flight, so nothing can wake it. Pending tasks:"
        )?;
        for t in &self.pending {
            write!(
                f,
                "\n  - {} (id {}), created at {}",
                t.name, t.id, t.created_at
            )?;
        }
        Ok(())
    }
}
