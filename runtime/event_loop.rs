//! The event loop: asyncio's `AbstractEventLoop`, with Rust's types — the handle users hold,
//! over the engine's `Scheduler`.
//!
//! ```text
//!   new ──► idle ──run_until_complete──► running ──main task done──► idle ──close──► closed
//!            ▲                                                          │
//!            └──────────────────────────────────────────────────────────┘
//! ```
//!
//! A loop is created idle; `run_until_complete` runs it until the main future is done; it can be
//! run again; `close` drops every callback and unfinished task and stops the thread pool and the
//! loop's worker threads (`crew`). Dropping the last `EventLoop` handle closes it too.

use crate::crew::Crew;
use crate::engine::callback::{Callback, HandleCell};
use crate::engine::cell::TaskName;
use crate::engine::config::Config;
use crate::engine::ready::Runnable;
use crate::engine::scheduler::Scheduler;
use crate::error::{or_panic, LoopError};
use crate::future::LoopFuture;
use crate::handle::{Handle, TimerHandle};
use crate::task::{Task, TaskRef};
use crate::to_thread::ToThread;
use evloop_model::sync::Arc;
use std::fmt;
use std::future::IntoFuture;
use std::panic::Location;
use std::time::Duration;

/// An event loop (asyncio's `AbstractEventLoop`). Cheap to clone, `Send` and `Sync`: every clone is
/// a handle to the same loop.
///
/// ```
/// let lp = evloop::EventLoop::new();
/// assert_eq!(lp.run_until_complete(async { 1 + 2 }), 3);
/// lp.close();
/// assert!(lp.is_closed());
/// ```
#[derive(Clone)]
pub struct EventLoop {
    owner: Arc<LoopOwner>,
}

/// Dropped with the last user handle: closes the loop, which breaks the loop → task → loop cycle.
struct LoopOwner {
    inner: Arc<Scheduler>,
    /// With several workers: the threads of workers 1.., kept from the first run until close.
    crew: Arc<Crew<EventLoop>>,
}

impl LoopOwner {
    /// Closes the loop unless it is running (LOOP-6): the scheduler's tasks, callbacks, timers
    /// and pool, then the workers, which are all between runs by then.
    fn close(&self) -> Result<(), LoopError> {
        self.inner.close_now()?;
        self.crew.shutdown();
        Ok(())
    }
}

impl Drop for LoopOwner {
    fn drop(&mut self) {
        // Never running here: a run holds a handle to the loop until it returns.
        let _ = self.close();
    }
}

impl Default for EventLoop {
    fn default() -> Self {
        EventLoop::new()
    }
}

impl EventLoop {
    /// A new loop with the default configuration (asyncio's `new_event_loop()`).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// assert_eq!(lp.run_until_complete(async { 1 }), 1);
    /// assert_eq!(lp.run_until_complete(async { 2 }), 2); // a loop runs again
    /// lp.close();
    /// ```
    pub fn new() -> EventLoop {
        EventLoop::with_config(Config::default())
    }

    pub(crate) fn with_config(config: Config) -> EventLoop {
        EventLoop {
            owner: Arc::new(LoopOwner {
                inner: Scheduler::new(config),
                crew: Arc::new(Crew::new()),
            }),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Scheduler> {
        &self.owner.inner
    }

    pub(crate) fn crew(&self) -> &Arc<Crew<EventLoop>> {
        &self.owner.crew
    }

    /// True when both handles name the same loop.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// assert!(lp.same_loop(&lp.clone()));
    /// assert!(!lp.same_loop(&evloop::EventLoop::new()));
    /// ```
    pub fn same_loop(&self, other: &EventLoop) -> bool {
        Arc::ptr_eq(&self.owner, &other.owner)
    }

    /// Every task on this loop that has not finished, oldest first (asyncio's `all_tasks`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let lp = evloop::get_running_loop().unwrap();
    ///     let worker = evloop::create_task_named("worker", async {});
    ///     let names: Vec<_> = lp.pending_tasks().iter().map(|t| t.name()).collect();
    ///     assert_eq!(names, ["Task-1", "worker"]); // oldest first, the main task included
    ///     worker.await.unwrap();
    ///     assert_eq!(lp.pending_tasks().len(), 1);
    /// });
    /// ```
    pub fn pending_tasks(&self) -> Vec<TaskRef> {
        self.inner()
            .registry()
            .tasks()
            .into_iter()
            .map(TaskRef::from_cell)
            .collect()
    }

    /// Stops the loop (asyncio's `loop.stop()`): a running loop finishes the turn it is in and
    /// returns from `run_forever`, or from `run_until_complete` with `RunError::Stopped` if its
    /// future is not done yet; a loop that is not running makes one turn of its next run and
    /// stops. Callable from any thread (LOOP-12).
    ///
    /// ```
    /// let lp = evloop::Builder::new().virtual_time(true).build();
    /// let task = lp.create_task(evloop::sleep(std::time::Duration::from_secs(1)));
    /// lp.stop(); // before the run: it makes one turn
    /// let err = lp.try_run_until_complete(task.clone()).unwrap_err();
    /// assert!(matches!(err, evloop::RunError::Stopped));
    /// assert!(!task.done()); // still pending...
    /// lp.run_until_complete(task); // ...and it finishes in a later run
    /// lp.close();
    /// ```
    pub fn stop(&self) {
        self.inner().stop();
    }

    /// True while `run_until_complete` runs.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let inside = lp.clone();
    /// assert!(!lp.is_running());
    /// assert!(lp.run_until_complete(async move { inside.is_running() }));
    /// assert!(!lp.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.inner().is_running()
    }

    /// True once closed.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// assert!(!lp.is_closed());
    /// lp.close();
    /// assert!(lp.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner().is_closed()
    }

    /// Closes the loop: drops every pending callback and timer, ends every unfinished task
    /// (dropping its future), stops the thread pool and joins the loop's worker threads. Closing
    /// twice does nothing.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let mut task = lp.create_task(async { 1 }); // never gets to run
    /// lp.close();
    /// lp.close(); // closing twice does nothing
    /// assert!(task.cancelled());
    /// assert!(task.try_result().unwrap().unwrap_err().is_cancelled());
    /// ```
    ///
    /// # Panics
    /// When the loop is running ([`EventLoop::try_close`] returns the error instead).
    pub fn close(&self) {
        or_panic(self.try_close())
    }

    /// [`EventLoop::close`], returning [`LoopError::CloseWhileRunning`] instead of panicking.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let inside = lp.clone();
    /// let err = lp.run_until_complete(async move { inside.try_close().unwrap_err() });
    /// assert_eq!(err, evloop::LoopError::CloseWhileRunning);
    /// assert!(lp.try_close().is_ok()); // not running any more
    /// ```
    pub fn try_close(&self) -> Result<(), LoopError> {
        self.owner.close()
    }

    /// The loop's clock in seconds (asyncio's `loop.time()`): real monotonic time since the loop
    /// was created, or virtual time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::Builder::new().virtual_time(true).build();
    /// let slept = lp.run_until_complete(async {
    ///     let lp = evloop::get_running_loop().unwrap();
    ///     let t0 = lp.time();
    ///     evloop::sleep(Duration::from_millis(1500)).await;
    ///     lp.time() - t0
    /// });
    /// assert!(slept >= 1.5);
    /// ```
    pub fn time(&self) -> f64 {
        self.now().as_secs_f64()
    }

    /// The loop's clock as a `Duration` since the loop was created.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::Builder::new().virtual_time(true).build();
    /// let inside = lp.clone();
    /// lp.run_until_complete(async move {
    ///     evloop::sleep(Duration::from_secs(2)).await;
    ///     assert!(inside.now() >= Duration::from_secs(2));
    /// });
    /// assert_eq!(lp.now().as_secs_f64(), lp.time());
    /// ```
    pub fn now(&self) -> Duration {
        self.inner().now()
    }

    /// Schedules `f` to run on the loop, after everything already ready (asyncio's `call_soon`).
    /// Callable from any thread.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// // A one-worker loop runs callbacks on the thread that runs it: a thread-local log will do.
    /// thread_local!(static LOG: RefCell<Vec<u32>> = RefCell::new(Vec::new()));
    /// let lp = evloop::EventLoop::new();
    /// for i in 0..3 {
    ///     lp.call_soon(move || LOG.with(|log| log.borrow_mut().push(i)));
    /// }
    /// lp.run_until_complete(async {});
    /// assert_eq!(LOG.with(|log| log.take()), [0, 1, 2]); // FIFO
    /// ```
    ///
    /// # Panics
    /// When the loop is closed.
    #[track_caller]
    pub fn call_soon(&self, f: impl FnOnce() + Send + 'static) -> Handle {
        let cell = HandleCell::new(Callback::Call(Box::new(f)), None, Location::caller());
        self.assert_open();
        self.inner().schedule(Runnable::Handle(cell.clone()));
        Handle(cell)
    }

    /// asyncio's `call_soon_threadsafe`: the same as [`EventLoop::call_soon`], which is already
    /// safe to call from any thread; it wakes a parked loop (LOOP-5).
    ///
    /// ```
    /// evloop::run(async {
    ///     let lp = evloop::get_running_loop().unwrap();
    ///     let fut = lp.create_future::<&str>();
    ///     let setter = fut.clone();
    ///     // From another thread (here a pool thread): the callback runs on the loop.
    ///     let job = evloop::to_thread(move || {
    ///         lp.call_soon_threadsafe(move || setter.set_result("hello").unwrap());
    ///     });
    ///     assert_eq!(fut.await.unwrap(), "hello");
    ///     job.await.unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> Handle {
        self.call_soon(f)
    }

    /// Schedules `f` to run `delay` from now (asyncio's `call_later`). A `delay` the loop's clock
    /// cannot reach (past about 584 years, e.g. `Duration::MAX`) makes a timer that never fires,
    /// like asyncio's `call_later(float('inf'), f)`; it can still be cancelled.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::time::Duration;
    /// thread_local!(static LOG: RefCell<Vec<&'static str>> = RefCell::new(Vec::new()));
    /// let push = |s| move || LOG.with(|log| log.borrow_mut().push(s));
    /// let lp = evloop::Builder::new().virtual_time(true).build();
    /// lp.call_later(Duration::from_secs(2), push("later"));
    /// lp.call_later(Duration::from_secs(1), push("sooner"));
    /// lp.run_until_complete(evloop::sleep(Duration::from_secs(3)));
    /// assert_eq!(LOG.with(|log| log.take()), ["sooner", "later"]); // deadline order
    /// ```
    #[track_caller]
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + Send + 'static) -> TimerHandle {
        // Saturates: `call_later(Duration::MAX, f)` is a timer that never fires (TIME-5).
        let when = self.now().saturating_add(delay);
        self.call_at(when, f)
    }

    /// Schedules `f` to run when the loop's clock reaches `when` (asyncio's `call_at`). A `when`
    /// already past runs in the next turn; one past the clock's range (about 584 years) never.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::time::Duration;
    /// thread_local!(static LOG: RefCell<Vec<u32>> = RefCell::new(Vec::new()));
    /// let lp = evloop::Builder::new().virtual_time(true).build();
    /// let when = lp.now() + Duration::from_secs(1);
    /// for i in 0..3 {
    ///     lp.call_at(when, move || LOG.with(|log| log.borrow_mut().push(i)));
    /// }
    /// lp.run_until_complete(evloop::sleep(Duration::from_secs(2)));
    /// // Equal deadlines: the order they were set.
    /// assert_eq!(LOG.with(|log| log.take()), [0, 1, 2]);
    /// ```
    #[track_caller]
    pub fn call_at(&self, when: Duration, f: impl FnOnce() + Send + 'static) -> TimerHandle {
        self.assert_open();
        let cell = HandleCell::new(Callback::Call(Box::new(f)), Some(when), Location::caller());
        self.inner().add_timer(when, cell.clone());
        TimerHandle(cell)
    }

    /// Wraps `fut` in a task on this loop (asyncio's `loop.create_task`). Works before the loop
    /// runs; the task starts when it does.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let task = lp.create_task(async { 20 }); // the loop is not running yet
    /// assert!(!task.done());
    /// assert_eq!(lp.run_until_complete(async move { task.await.unwrap() + 1 }), 21);
    /// ```
    ///
    /// # Panics
    /// When the loop is closed.
    #[track_caller]
    pub fn create_task<F>(&self, fut: F) -> Task<F::Output>
    where
        F: IntoFuture,
        F::IntoFuture: Send + 'static,
        F::Output: Send + 'static,
    {
        or_panic(self.spawn(fut, None, Location::caller()))
    }

    /// [`EventLoop::create_task`] with a name for traces and warnings.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let task = lp.create_task_named("fetch", async {});
    /// assert_eq!(task.name(), "fetch");
    /// assert_eq!(lp.pending_tasks()[0].name(), "fetch");
    /// lp.run_until_complete(task); // the task runs as itself: its value (here `()`)
    /// ```
    #[track_caller]
    pub fn create_task_named<F>(&self, name: impl Into<String>, fut: F) -> Task<F::Output>
    where
        F: IntoFuture,
        F::IntoFuture: Send + 'static,
        F::Output: Send + 'static,
    {
        or_panic(self.spawn(fut, Some(name.into().into_boxed_str()), Location::caller()))
    }

    /// [`EventLoop::create_task`], returning [`LoopError::Closed`] instead of panicking.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// lp.close();
    /// let err = lp.try_create_task(async {}).unwrap_err();
    /// assert_eq!(err, evloop::LoopError::Closed);
    /// ```
    #[track_caller]
    pub fn try_create_task<F>(&self, fut: F) -> Result<Task<F::Output>, LoopError>
    where
        F: IntoFuture,
        F::IntoFuture: Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn(fut, None, Location::caller())
    }

    pub(crate) fn spawn<F>(
        &self,
        fut: F,
        name: Option<TaskName>,
        at: &'static Location<'static>,
    ) -> Result<Task<F::Output>, LoopError>
    where
        F: IntoFuture,
        F::IntoFuture: Send + 'static,
        F::Output: Send + 'static,
    {
        Scheduler::spawn_cell(self.inner(), fut.into_future(), name, at).map(Task::from_cell)
    }

    /// A new pending [`LoopFuture`] bound to this loop (asyncio's `loop.create_future()`).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let fut = lp.create_future::<u8>(); // no loop needs to be running
    /// let setter = fut.clone();
    /// lp.call_soon(move || setter.set_result(5).unwrap());
    /// assert_eq!(lp.run_until_complete(fut), 5); // the future itself: its value
    /// ```
    pub fn create_future<T: Clone + Send + 'static>(&self) -> LoopFuture<T> {
        LoopFuture::new_on(self.inner().clone())
    }

    /// Runs blocking `f` on the loop's thread pool (asyncio's `run_in_executor(None, f)`); the
    /// returned future resolves with its result, or `Err(Panicked)` if it panicked.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let job = lp.run_in_executor(|| "blocking work done");
    /// assert_eq!(lp.run_until_complete(job).unwrap(), "blocking work done");
    /// lp.close();
    /// // A closed loop's pool takes no more work: the job is cancelled, not lost.
    /// let late = lp.run_in_executor(|| ());
    /// assert!(evloop::run(late).unwrap_err().is_cancelled());
    /// ```
    pub fn run_in_executor<T, F>(&self, f: F) -> ToThread<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        ToThread::submit(self.inner().clone(), f)
    }

    #[track_caller]
    fn assert_open(&self) {
        if self.is_closed() {
            panic!("{}", LoopError::Closed);
        }
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .field("workers", &self.inner().config().workers)
            .field("virtual_time", &self.inner().is_virtual_time())
            .finish()
    }
}
