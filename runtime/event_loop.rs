//! The event loop: asyncio's `AbstractEventLoop`, with Rust's types.
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

use crate::context;
use crate::crew::Crew;
use crate::error::{or_panic, Deadlock, LoopError, PendingTask, RunError, TaskError};
use crate::future::LoopFuture;
use crate::handle::{Callback, Handle, HandleCell, TimerHandle};
use crate::pool::{Pool, ToThread};
use crate::queue::Runnable;
use crate::task::cell::{DoneEntry, TaskCell, TaskName, TaskRc, REGISTRY_KEYS};
use crate::task::{Task, TaskRef};
use crate::timer::SleepPoll;
use crate::turn::{Inbox, Sched};
use evloop_model::bug::{self, Bug};
use evloop_model::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use evloop_model::sync::{Arc, Condvar, Mutex};
use evloop_model::time::Clock;
use evloop_model::trace;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::{resume_unwind, Location};
use std::task::Waker;
use std::time::Duration;

/// How a loop is set up; see [`Builder`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) virtual_time: bool,
    pub(crate) debug: bool,
    pub(crate) slow_callback_duration: Duration,
    pub(crate) max_threads: usize,
    /// Set only by `explore`: the loop's choice points go to this hook instead of FIFO.
    pub(crate) explore: Option<Arc<crate::explore::hook::Hook>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 1,
            virtual_time: false,
            debug: false,
            // asyncio's `loop.slow_callback_duration`.
            slow_callback_duration: Duration::from_millis(100),
            // asyncio's default executor: min(32, cpu_count + 4).
            max_threads: 8,
            explore: None,
        }
    }
}

/// Sets up an [`EventLoop`] (or runs one, as [`run`](crate::run) does).
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::Builder::new().virtual_time(true).build();
/// let t = lp.run_until_complete(async {
///     evloop::sleep(Duration::from_secs(3600)).await; // takes no real time
///     evloop::get_running_loop().unwrap().time()
/// });
/// assert!(t >= 3600.0);
/// lp.close();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    config: Config,
}

impl Builder {
    /// The defaults: one worker (asyncio's single-threaded loop), real time, debug off.
    ///
    /// ```
    /// let lp = evloop::Builder::new().build();
    /// assert!(!lp.is_running() && !lp.is_closed()); // created idle
    /// assert_eq!(lp.run_until_complete(async { 1 }), 1);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Runs tasks on `n` worker threads (the calling thread is one of them). With `n > 1` tasks
    /// may run in parallel and FIFO holds per queue only (see `specs/threads.md`). Tasks are
    /// `Send` either way. The other `n - 1` threads are started by the loop's first run, wait
    /// between runs, and end when the loop closes.
    ///
    /// More workers pay when steps do real work. For many tiny steps the workers meet at the
    /// shared, locked ready queue and task registry: on the project's benchmarks (100 000
    /// trivial tasks) two workers take three to four times as long as one (tokio's and smol's
    /// multi-threaded executors two to three times their single-threaded ones), and tasks woken
    /// from another thread (`Resolver`) about twice as long (`bench/RESULTS.md`, the `_mt` rows).
    ///
    /// ```
    /// let squares = evloop::Builder::new().workers(2).run(async {
    ///     // Children may run in parallel; results still follow argument order.
    ///     evloop::gather((0..4).map(|i| async move { i * i })).await.unwrap()
    /// });
    /// assert_eq!(squares, [0, 1, 4, 9]);
    /// ```
    pub fn workers(mut self, n: usize) -> Builder {
        assert!(n >= 1, "a loop needs at least one worker");
        self.config.workers = n;
        self
    }

    /// Uses a virtual clock that jumps to the next timer deadline when nothing is ready and no
    /// cross-thread work is in flight. Always on under the model checkers.
    ///
    /// ```
    /// use std::time::Duration;
    /// let slept = evloop::Builder::new().virtual_time(true).run(async {
    ///     let lp = evloop::get_running_loop().unwrap();
    ///     let start = lp.now();
    ///     evloop::sleep(Duration::from_secs(60)).await; // returns at once in real time
    ///     lp.now() - start
    /// });
    /// assert!(slept >= Duration::from_secs(60));
    /// ```
    pub fn virtual_time(mut self, on: bool) -> Builder {
        self.config.virtual_time = on;
        self
    }

    /// asyncio's debug mode: warns (through `tracing`) about every callback or task step slower
    /// than [`Builder::slow_callback_duration`], naming the task and where it was created.
    ///
    /// ```
    /// use std::time::Duration;
    /// let path = std::env::temp_dir().join(format!("evloop-debug-{}.log", std::process::id()));
    /// let log = std::fs::File::create(&path).unwrap();
    /// let subscriber = tracing_subscriber::fmt().with_writer(log).with_ansi(false).finish();
    /// tracing::subscriber::with_default(subscriber, || {
    ///     evloop::Builder::new()
    ///         .debug(true)
    ///         .slow_callback_duration(Duration::ZERO) // every step counts as slow
    ///         .run(async { evloop::create_task_named("slowpoke", async {}).await.unwrap() })
    /// });
    /// let warnings = std::fs::read_to_string(&path).unwrap();
    /// assert!(warnings.contains("Executing step of slowpoke"));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn debug(mut self, on: bool) -> Builder {
        self.config.debug = on;
        self
    }

    /// The debug-mode threshold (asyncio's default, 100 ms, unless set).
    ///
    /// ```
    /// use std::time::Duration;
    /// // Report only steps that block the loop for more than a second.
    /// let builder = evloop::Builder::new()
    ///     .debug(true)
    ///     .slow_callback_duration(Duration::from_secs(1));
    /// assert_eq!(builder.run(async { 40 + 2 }), 42);
    /// ```
    pub fn slow_callback_duration(mut self, d: Duration) -> Builder {
        self.config.slow_callback_duration = d;
        self
    }

    /// The most threads `to_thread` / `run_in_executor` may use at once.
    ///
    /// ```
    /// let sums = evloop::Builder::new().max_threads(1).run(async {
    ///     // Two jobs, one pool thread: the second waits for the first, and both finish.
    ///     let a = evloop::to_thread(|| (1..=10).sum::<u32>());
    ///     let b = evloop::to_thread(|| (1..=100).sum::<u32>());
    ///     (a.await.unwrap(), b.await.unwrap())
    /// });
    /// assert_eq!(sums, (55, 5050));
    /// ```
    pub fn max_threads(mut self, n: usize) -> Builder {
        assert!(n >= 1, "the thread pool needs at least one thread");
        self.config.max_threads = n;
        self
    }

    /// A loop whose choice points are explored (one worker, virtual time): see `explore`.
    pub(crate) fn explore_hook(mut self, hook: Arc<crate::explore::hook::Hook>) -> Builder {
        self.config.workers = 1;
        self.config.virtual_time = true;
        self.config.explore = Some(hook);
        self
    }

    /// Creates the loop.
    ///
    /// ```
    /// let builder = evloop::Builder::new().virtual_time(true);
    /// let (a, b) = (builder.build(), builder.build());
    /// assert!(!a.same_loop(&b)); // each call makes a new loop
    /// assert_eq!(a.run_until_complete(async { 1 }) + b.run_until_complete(async { 2 }), 3);
    /// ```
    pub fn build(&self) -> EventLoop {
        EventLoop::with_config(self.config.clone())
    }

    /// asyncio's `run(main, debug=...)` with this configuration; see [`run`](crate::run).
    ///
    /// ```
    /// let lp = evloop::Builder::new().virtual_time(true).run(async {
    ///     evloop::get_running_loop().unwrap()
    /// });
    /// assert!(lp.is_closed()); // like asyncio.run, it runs a fresh loop and closes it
    /// ```
    #[track_caller]
    pub fn run<F>(&self, main: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        or_panic(self.try_run(main))
    }

    /// [`Builder::run`], returning misuse, cancellation and deadlock as values.
    ///
    /// ```
    /// use evloop::RunError;
    /// let r = evloop::Builder::new().try_run(async {
    ///     let lp = evloop::get_running_loop().unwrap();
    ///     lp.pending_tasks()[0].cancel(); // the main task itself
    ///     evloop::sleep(std::time::Duration::ZERO).await; // cancelled here
    /// });
    /// assert!(matches!(r, Err(RunError::Cancelled)));
    /// ```
    #[track_caller]
    pub fn try_run<F>(&self, main: F) -> Result<F::Output, RunError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::run::run_with(self, main, Location::caller())
    }
}

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
    inner: Arc<LoopInner>,
}

impl Drop for LoopOwner {
    fn drop(&mut self) {
        // Never running here: a run holds a handle to the loop until it returns.
        let _ = self.inner.close_now();
    }
}

pub(crate) struct LoopInner {
    pub(crate) sched: Mutex<Sched>,
    /// With several workers, where `schedule` pushes (the ready queue's tail, see `turn::Inbox`),
    /// so that producers and workers do not meet at `sched` for every item.
    pub(crate) inbox: Mutex<Inbox>,
    /// With several workers: parked workers with no wakeup on its way (`Sched::idle` minus
    /// `Sched::notified`), readable without `sched`. Stored only under `sched`, counted up before
    /// the parking worker's last look at the inbox (see `turn::park`); a producer takes `sched`
    /// to notify only while it is non-zero.
    pub(crate) parked: AtomicUsize,
    pub(crate) wakeup: Condvar,
    pub(crate) clock: Clock,
    pub(crate) config: Config,
    registry: Mutex<Registry>,
    running: AtomicBool,
    /// Counts `run_until_complete` calls, so that a main task's stop callback stops only its own
    /// run (LOOP-4).
    runs: AtomicU64,
    /// `Sched::stopping`, readable without the lock: a worker running a chunk of entries checks
    /// it after each one (LOOP-4 with several workers, `turn::run_shared_turn`).
    stop_asked: AtomicBool,
    /// Cross-thread work the loop knows of (thread-pool jobs, live resolvers): while non-zero a
    /// virtual clock must not jump, because a result may still arrive (TIME-4). An atomic rather
    /// than a `Sched` field so that beginning and ending such work does not take the `sched` lock
    /// the loop takes every turn (see `inflight_end` for why parking stays safe).
    pub(crate) inflight: AtomicUsize,
    pub(crate) pool: Pool,
    /// With several workers: the threads of workers 1.., kept from the first run until close.
    pub(crate) crew: Crew,
    /// Names of this loop's named tasks, by id, for as long as their cells live (the cell only
    /// has a bit saying it is named; see `task::cell`). A leaf lock: nothing is locked while it
    /// is held, and it may be taken under any other (a cell can be dropped anywhere).
    names: Mutex<BTreeMap<u64, TaskName>>,
}

/// The loop's strong references to unfinished tasks (R4 in `task::cell`), oldest first.
#[derive(Default)]
struct Registry {
    /// The next task id: allocated under the lock `spawn` takes anyway, so no atomic of its own.
    next_id: u64,
    slots: Vec<Option<TaskRc>>,
    /// Keys are `u32` so that the cell's done list (what a parked task costs) stays small.
    free: Vec<u32>,
    closed: bool,
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

    /// Starts a [`Builder`].
    ///
    /// ```
    /// let lp = evloop::EventLoop::builder().virtual_time(true).build();
    /// assert_eq!(lp.time(), 0.0); // a virtual clock starts at zero
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    fn with_config(config: Config) -> EventLoop {
        let inner = Arc::new(LoopInner {
            sched: Mutex::new(Sched::default()),
            inbox: Mutex::new(Inbox::default()),
            parked: AtomicUsize::new(0),
            wakeup: Condvar::new(),
            clock: Clock::new(config.virtual_time),
            registry: Mutex::new(Registry::default()),
            running: AtomicBool::new(false),
            runs: AtomicU64::new(0),
            stop_asked: AtomicBool::new(false),
            inflight: AtomicUsize::new(0),
            pool: Pool::new(config.max_threads, config.explore.clone()),
            crew: Crew::new(),
            config,
            names: Mutex::new(BTreeMap::new()),
        });
        EventLoop {
            owner: Arc::new(LoopOwner { inner }),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<LoopInner> {
        &self.owner.inner
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

    /// Runs the loop until `fut` is done and returns its output. The future is wrapped in a task;
    /// a panic inside it is re-raised here.
    ///
    /// ```
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    /// let lp = evloop::EventLoop::new();
    /// assert_eq!(lp.run_until_complete(async { "first" }), "first");
    /// // asyncio re-raises the coroutine's exception; here the panic resumes in the caller...
    /// let r = catch_unwind(AssertUnwindSafe(|| lp.run_until_complete(async { panic!("boom") })));
    /// assert!(r.is_err());
    /// // ...and the loop can run again.
    /// assert_eq!(lp.run_until_complete(async { "again" }), "again");
    /// ```
    ///
    /// # Panics
    /// With the message of the [`RunError`] when the loop is closed, already running, another
    /// loop runs on this thread, the main task was cancelled, or a deadlock was found in virtual
    /// time. [`EventLoop::try_run_until_complete`] returns these instead.
    #[track_caller]
    pub fn run_until_complete<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        or_panic(self.run_inner(fut, Location::caller()))
    }

    /// [`EventLoop::run_until_complete`], returning misuse, cancellation and deadlock as values.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// lp.close();
    /// let err = lp.try_run_until_complete(async {}).unwrap_err();
    /// assert!(matches!(err, evloop::RunError::Loop(evloop::LoopError::Closed)));
    /// ```
    #[track_caller]
    pub fn try_run_until_complete<F>(&self, fut: F) -> Result<F::Output, RunError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.run_inner(fut, Location::caller())
    }

    pub(crate) fn run_inner<F>(
        &self,
        fut: F,
        at: &'static Location<'static>,
    ) -> Result<F::Output, RunError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let inner = self.inner();
        if self.is_closed() {
            return Err(LoopError::Closed.into());
        }
        if let Some(running) = context::running_loop() {
            return Err(if running.same_loop(self) {
                LoopError::AlreadyRunning
            } else {
                LoopError::AnotherLoopRunning
            }
            .into());
        }
        {
            // Under the lock `close` holds while it checks `running` and closes, so a run either
            // starts on an open loop or finds it closed (LOOP-6).
            let s = inner.sched.lock();
            if s.closed {
                return Err(LoopError::Closed.into());
            }
            if inner
                .running
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return Err(LoopError::AlreadyRunning.into());
            }
        }
        let _not_running = ResetOnDrop(&inner.running);
        let mut main = self.spawn(fut, None, at)?;
        {
            let mut s = inner.sched.lock();
            s.stopping = false;
            inner.stop_asked.store(false, Ordering::Relaxed);
            s.deadlock = false;
        }
        // Runs never overlap (`running`), so the count cannot move while this one runs.
        let run = inner.runs.fetch_add(1, Ordering::Relaxed) + 1;
        {
            let lp = inner.clone();
            // asyncio: `future.add_done_callback(_run_until_complete_cb)`, which stops the loop
            // after the turn in which the callback runs (LOOP-4). asyncio removes the callback
            // when `run_until_complete` returns; here it stays on the done list, so it stops
            // only the run it was added for (a main task left pending by a deadlocked run may
            // finish during a later one).
            TaskCell::add_done_entry(
                &main.task_ref().cell().clone(),
                DoneEntry::Call(Box::new(move || lp.request_stop_of(run))),
            );
        }
        trace::record(|| "loop starts".into());
        crate::crew::run_workers(self);
        trace::record(|| "loop stops".into());
        let deadlock = inner.sched.lock().deadlock;
        match main.try_result() {
            Some(Ok(v)) => Ok(v),
            Some(Err(TaskError::Panicked(p))) => resume_unwind(p.into_payload()),
            Some(Err(TaskError::Cancelled)) => Err(RunError::Cancelled),
            None if deadlock => Err(RunError::Deadlock(self.deadlock_report())),
            None => unreachable!("the loop stopped before the main task finished"),
        }
    }

    fn deadlock_report(&self) -> Deadlock {
        Deadlock {
            pending: self
                .pending_tasks()
                .into_iter()
                .map(|t| PendingTask {
                    id: t.id(),
                    name: t.name(),
                    created_at: t.created_at(),
                })
                .collect(),
        }
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
        let reg = self.inner().registry.lock();
        let mut tasks: Vec<TaskRef> = reg
            .slots
            .iter()
            .flatten()
            .map(|t| TaskRef::from_cell(t.clone()))
            .collect();
        tasks.sort_by_key(|t| t.id());
        tasks
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
        self.inner().running.load(Ordering::Acquire)
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
        self.inner().sched.lock().closed
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
        self.inner().close_now()
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
        self.inner().clock.now()
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
        F: Future + Send + 'static,
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
    /// lp.run_until_complete(task).unwrap();
    /// ```
    #[track_caller]
    pub fn create_task_named<F>(&self, name: impl Into<String>, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
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
        F: Future + Send + 'static,
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
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        LoopInner::spawn(self.inner(), fut, name, at)
    }

    /// A new pending [`LoopFuture`] bound to this loop (asyncio's `loop.create_future()`).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let fut = lp.create_future::<u8>(); // no loop needs to be running
    /// let setter = fut.clone();
    /// lp.call_soon(move || setter.set_result(5).unwrap());
    /// assert_eq!(lp.run_until_complete(fut).unwrap(), 5);
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
            .field("workers", &self.inner().config.workers)
            .field("virtual_time", &self.inner().clock.is_virtual())
            .finish()
    }
}

impl LoopInner {
    /// Pushes an item on the ready queue and wakes a parked worker (LOOP-5). Safe from any
    /// thread. On a closed loop the item is dropped — outside the lock, since it may own user
    /// values whose destructors call back into the loop.
    pub(crate) fn schedule(&self, item: Runnable) {
        if self.config.workers > 1 {
            return self.schedule_shared(item);
        }
        let rejected = {
            let mut s = self.sched.lock();
            if s.closed {
                Some(item)
            } else {
                s.ready.push_back(item);
                let idle = s.idle;
                let notify = s.claim_wakeup();
                trace::record(|| {
                    format!(
                        "queued an item; {idle} worker(s) parked{}",
                        if notify {
                            ", notified one"
                        } else if idle > 0 {
                            ", one already notified"
                        } else {
                            ", nobody to notify"
                        }
                    )
                });
                if notify {
                    self.wakeup.notify_one();
                }
                None
            }
        };
        drop(rejected);
    }

    /// `schedule` with several workers: push to the inbox, and take `sched` only when a worker is
    /// parked (the protocol is in `turn::park`).
    #[inline(never)]
    fn schedule_shared(&self, item: Runnable) {
        // Injected: "is anyone parked?" asked before the push, so workers that look at the inbox
        // and park in between are counted neither by this read nor by their look.
        let early = bug::enabled(Bug::InboxParkedReadEarly).then(|| {
            let parked = self.parked.load(Ordering::SeqCst);
            evloop_model::thread::yield_now();
            parked
        });
        {
            let mut inbox = self.inbox.lock();
            if inbox.closed {
                drop(inbox);
                drop(item);
                return;
            }
            inbox.items.push_back(item);
        }
        let parked = early.unwrap_or_else(|| self.parked.load(Ordering::SeqCst));
        if parked == 0 {
            trace::record(|| "queued an item in the inbox; nobody parked".into());
            return;
        }
        let mut s = self.sched.lock();
        let notify = s.claim_wakeup();
        if notify {
            s.publish_parked(self);
        }
        trace::record(|| {
            format!(
                "queued an item in the inbox; {parked} worker(s) parked without a wakeup{}",
                if notify {
                    ", notified one"
                } else {
                    ", one already notified"
                }
            )
        });
        if notify {
            self.wakeup.notify_one();
        }
    }

    pub(crate) fn add_timer(&self, when: Duration, cell: Arc<HandleCell>) {
        let mut s = self.sched.lock();
        if s.closed {
            drop(s);
            cell.cancel();
            return;
        }
        s.timers.push(when, cell);
        if s.idle > 0 {
            // The new deadline may be earlier than the one a worker sleeps until.
            self.wakeup.notify_all();
        }
    }

    /// A `sleep`'s timer that wakes `waker` at `when`: the slot the `Sleep` asks about, or `None`
    /// on a closed loop (the sleep then never ends, like a timer cancelled by `close`).
    pub(crate) fn sleep_timer(
        &self,
        when: Duration,
        waker: Waker,
        at: &'static Location<'static>,
    ) -> Option<u32> {
        let mut s = self.sched.lock();
        if s.closed {
            drop(s);
            drop(waker);
            return None;
        }
        let slot = s.timers.push_sleep(when, waker, at);
        if s.idle > 0 {
            // The new deadline may be earlier than the one a worker sleeps until.
            self.wakeup.notify_all();
        }
        Some(slot)
    }

    /// A sleep's timer came due and its turn to run has come: the waker of the sleeping task,
    /// to wake outside the lock (none if the `Sleep` is gone).
    pub(crate) fn fire_sleep_timer(&self, slot: u32) -> Option<Waker> {
        let mut s = self.sched.lock();
        if s.closed {
            return None;
        }
        s.timers.fire_sleep(slot)
    }

    /// For `Sleep::poll`: true once its timer ran; otherwise leaves `waker` for it to wake. A new
    /// waker is cloned, and the one it replaces dropped, outside the lock (LOCK-1).
    pub(crate) fn sleep_ran_or_set_waker(&self, slot: u32, waker: &Waker) -> bool {
        {
            let mut s = self.sched.lock();
            if s.closed {
                return false;
            }
            match s.timers.sleep_poll(slot, waker) {
                SleepPoll::Ran => return true,
                SleepPoll::Waiting => return false,
                SleepPoll::NeedsWaker => {}
            }
        }
        let waker = waker.clone();
        let (ran, left) = {
            let mut s = self.sched.lock();
            if s.closed {
                (false, Some(waker))
            } else {
                match s.timers.sleep_set_waker(slot, waker) {
                    Ok(old) => (false, old),
                    Err(unused) => (true, Some(unused)),
                }
            }
        };
        crate::contain::drop_value(left);
        ran
    }

    /// `sleep_ran_or_set_waker` whose second critical section does not look again whether the
    /// timer ran: the injected `SleepWakerRace`.
    pub(crate) fn sleep_ran_then_set_waker(&self, slot: u32, waker: &Waker) -> bool {
        {
            let mut s = self.sched.lock();
            if s.closed {
                return false;
            }
            if s.timers.sleep_ran(slot) {
                return true;
            }
        }
        let waker = waker.clone();
        let left = {
            let mut s = self.sched.lock();
            if s.closed {
                Some(waker)
            } else {
                s.timers.sleep_set_waker_unchecked(slot, waker)
            }
        };
        crate::contain::drop_value(left);
        false
    }

    /// A pending `Sleep` is dropped: its timer will not wake anyone.
    pub(crate) fn cancel_sleep(&self, slot: u32) {
        let waker = {
            let mut s = self.sched.lock();
            if s.closed {
                return;
            }
            s.timers.cancel_sleep(slot)
        };
        // Dropped here, outside the lock: the waker may hold the last reference to a task.
        drop(waker);
    }

    pub(crate) fn describe_sleep(&self, slot: u32) -> String {
        let s = self.sched.lock();
        if s.closed {
            return "timer of a sleep (loop closed)".to_owned();
        }
        s.timers.describe_sleep(slot)
    }

    pub(crate) fn request_stop(&self) {
        let mut s = self.sched.lock();
        s.stopping = true;
        self.stop_asked.store(true, Ordering::Release);
        self.wakeup.notify_all();
    }

    /// A stop was requested (a hint; `Sched::stopping` under the lock decides).
    pub(crate) fn stop_asked(&self) -> bool {
        self.stop_asked.load(Ordering::Acquire)
    }

    /// Stops the loop if it is still in run number `run` (LOOP-4).
    fn request_stop_of(&self, run: u64) {
        if self.runs.load(Ordering::Relaxed) == run {
            self.request_stop();
        }
    }

    /// Cross-thread work has begun: a virtual clock must wait for it (TIME-4).
    pub(crate) fn inflight_begin(&self) {
        self.inflight.fetch_add(1, Ordering::SeqCst);
    }

    /// Cross-thread work has delivered (after its wake was scheduled) or was abandoned.
    pub(crate) fn inflight_end(&self) {
        // `decide()` (and the exploration hook) only ask whether the count is zero, and the wake
        // this work delivered was queued, with its own notify, before this call: a parked
        // worker has nothing new to see until the last one ends, so only that one takes the lock.
        // No lost unpark: a worker reads the count under `sched` and parks without letting go of
        // it, and the decrement comes before this lock, so either the worker reads zero or it is
        // counted in `idle` by the time the lock is ours.
        if self.inflight.fetch_sub(1, Ordering::SeqCst) == 1
            && !bug::enabled(Bug::SilentInflightEnd)
        {
            let s = self.sched.lock();
            if s.idle > 0 {
                self.wakeup.notify_all();
            }
        }
    }

    pub(crate) fn spawn<F>(
        this: &Arc<Self>,
        fut: F,
        name: Option<TaskName>,
        at: &'static Location<'static>,
    ) -> Result<Task<F::Output>, LoopError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        LoopInner::spawn_cell(this, fut, name, at).map(Task::from_cell)
    }

    /// [`LoopInner::spawn`] without the typed handle, for internal consumers (gather) that keep
    /// the cell and take the outcome themselves: saves the handle's reference count round trip.
    pub(crate) fn spawn_cell<F>(
        this: &Arc<Self>,
        fut: F,
        name: Option<TaskName>,
        at: &'static Location<'static>,
    ) -> Result<TaskRc, LoopError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let cell = {
            let mut reg = this.registry.lock();
            if reg.closed {
                drop(reg);
                // Never a task: dropping the future here, after the lock.
                drop(fut);
                return Err(LoopError::Closed);
            }
            // The key is chosen before the cell exists, so the cell is born knowing it and no
            // second lock (its done list) is needed to record it.
            let key = match reg.free.pop() {
                Some(key) => key,
                None if reg.slots.len() < REGISTRY_KEYS => reg.slots.len() as u32,
                None => panic!("more than 2^31 unfinished tasks on one loop"),
            };
            // asyncio numbers tasks from 1.
            reg.next_id += 1;
            let id = reg.next_id;
            let cell = TaskRc::new(id, name, at, fut, key, this.clone());
            if key as usize == reg.slots.len() {
                reg.slots.push(Some(cell.clone()));
            } else {
                reg.slots[key as usize] = Some(cell.clone());
            }
            cell
        };
        let id = cell.id;
        trace::record(|| format!("task {id} spawned"));
        this.schedule(Runnable::Task(cell.clone()));
        Ok(cell)
    }

    /// Records a named task's name (at its creation, before its cell exists).
    pub(crate) fn name_task(&self, id: u64, name: TaskName) {
        self.names.lock().insert(id, name);
    }

    /// A named task's name, while its cell lives.
    pub(crate) fn task_name(&self, id: u64) -> Option<String> {
        self.names.lock().get(&id).map(|n| String::from(&**n))
    }

    /// Drops a named task's name (its cell is being dropped).
    pub(crate) fn forget_task_name(&self, id: u64) {
        let name = self.names.lock().remove(&id);
        drop(name);
    }

    /// How many named tasks' names the loop keeps (tests: each goes with its task's cell).
    pub(crate) fn named_tasks(&self) -> usize {
        self.names.lock().len()
    }

    pub(crate) fn unregister(&self, key: u32) -> Option<TaskRc> {
        let mut reg = self.registry.lock();
        let cell = reg.slots.get_mut(key as usize).and_then(Option::take);
        if cell.is_some() {
            reg.free.push(key);
        }
        cell
    }

    /// Closes the loop unless it is running (LOOP-6). Idempotent.
    pub(crate) fn close_now(&self) -> Result<(), LoopError> {
        let racy = bug::enabled(Bug::CloseRace);
        if racy {
            // Injected: "is it running?" is asked before the lock, so a run that starts in
            // between finds its loop closed under it.
            if self.running.load(Ordering::Acquire) {
                return Err(LoopError::CloseWhileRunning);
            }
            evloop_model::thread::yield_now();
        }
        let (ready, (timers, sleep_wakers)) = {
            let mut s = self.sched.lock();
            // `run_inner` sets `running` under this lock, so no run can start between this
            // check and `closed` being set: a running loop is never torn down under its workers.
            if !racy && self.running.load(Ordering::Acquire) {
                return Err(LoopError::CloseWhileRunning);
            }
            if s.closed {
                return Ok(());
            }
            s.closed = true;
            let mut ready = std::mem::take(&mut s.ready);
            let mut inbox = self.inbox.lock();
            inbox.closed = true;
            // Behind what `ready` holds, as a worker's refill would have put it.
            ready.append(&mut inbox.items);
            drop(inbox);
            (ready, s.timers.drain())
        };
        let tasks: Vec<TaskRc> = {
            let mut reg = self.registry.lock();
            reg.closed = true;
            reg.free.clear();
            reg.slots.drain(..).flatten().collect()
        };
        trace::record(|| format!("loop closed with {} unfinished task(s)", tasks.len()));
        for t in &tasks {
            tracing::warn!(
                task = %t.display_name(),
                created_at = %t.created_at,
                "Task was destroyed but it is pending: the loop was closed before it finished"
            );
            TaskCell::tear_down(t);
        }
        drop(ready);
        for t in timers {
            t.cancel();
        }
        drop(sleep_wakers);
        drop(tasks);
        self.crew.shutdown();
        self.pool.shutdown();
        Ok(())
    }
}

struct ResetOnDrop<'a>(&'a AtomicBool);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
