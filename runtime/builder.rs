//! [`Builder`]: how a loop is set up (asyncio's `new_event_loop()` and `run(main, debug=...)`
//! with options).

use crate::engine::choices::ExplorerRc;
use crate::engine::config::Config;
use crate::event_loop::EventLoop;
use std::time::Duration;

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
    ///
    /// # Panics
    /// When `n` is 0 or more than [`Builder::MAX_WORKERS`]: each worker is an OS thread.
    pub fn workers(mut self, n: usize) -> Builder {
        assert!(n >= 1, "a loop needs at least one worker");
        assert!(
            n <= Builder::MAX_WORKERS,
            "workers({n}): a loop runs at most {} worker threads; for blocking work use \
             `to_thread` (see `max_threads`), which runs it off the loop",
            Builder::MAX_WORKERS
        );
        self.config.workers = n;
        self
    }

    /// The most worker threads a loop may have (see [`Builder::workers`]).
    ///
    /// ```
    /// let too_many = std::panic::catch_unwind(|| {
    ///     evloop::Builder::new().workers(evloop::Builder::MAX_WORKERS + 1)
    /// });
    /// assert!(too_many.is_err());
    /// ```
    pub const MAX_WORKERS: usize = 1024;

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

    /// How long [`run`](crate::run)'s shutdown waits, on the loop's clock, for the tasks it
    /// cancelled to finish — cleanup that awaits included — before it reports the ones still
    /// running to the exception handler and closes the loop anyway (RUN-4; default 10 s).
    /// asyncio waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let out = evloop::Builder::new()
    ///     .virtual_time(true)
    ///     .shutdown_timeout(Duration::from_secs(1))
    ///     .run(async {
    ///         drop(evloop::create_task(async {
    ///             // Catches the shutdown's cancellation and never finishes.
    ///             let _ = evloop::catch_cancel(std::future::pending::<()>()).await;
    ///             std::future::pending::<()>().await
    ///         }));
    ///         evloop::sleep(Duration::ZERO).await;
    ///         "main's value"
    ///     });
    /// assert_eq!(out, "main's value"); // the leftover was reported and torn down
    /// ```
    pub fn shutdown_timeout(mut self, d: Duration) -> Builder {
        self.config.shutdown_timeout = d;
        self
    }

    /// A loop whose choice points are explored (one worker, virtual time): see `explore`.
    pub(crate) fn explore_hook(mut self, hook: ExplorerRc) -> Builder {
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
}

impl EventLoop {
    /// Starts a [`Builder`].
    ///
    /// ```
    /// let lp = evloop::EventLoop::builder().virtual_time(true).build();
    /// assert_eq!(lp.time(), 0.0); // a virtual clock starts at zero
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }
}
