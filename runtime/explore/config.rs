//! What an exploration varies and how it picks schedules: [`Mode`] (what may vary), [`Strategy`]
//! (how schedules are picked), [`ChooserFactory`] (a strategy of the caller's own) and [`Config`],
//! the settings `explore` takes, built from [`Config::conformance`] or [`Config::robustness`].
//!
//! Invariants: a `Config` is plain data. Building one reads nothing from the environment and
//! checks nothing; `EVLOOP_REPLAY` and a replay token's text are read and checked when the
//! exploration starts (`search.rs`), so a bad token is an exploration's error, not a panic here
//! (EXPLORE-17, EXPLORE-18). Every default is written once, in `Config::new`.
//!
//! Spec ids: EXPLORE-1 (custom choosers), EXPLORE-5 and EXPLORE-6 (the modes), EXPLORE-7 (DFS's
//! bound), EXPLORE-10 (the turn bound), EXPLORE-11 (the shrink budget), EXPLORE-15 (seeds),
//! EXPLORE-21 (the wait for a thread outside the loop), EXPLORE-22 (quiet panics).

use super::choice::Chooser;
use std::fmt;
use std::time::Duration;

/// What may vary (EXPLORE-5, EXPLORE-6).
///
/// ```
/// use evloop::explore::{try_explore, Config, Mode};
/// // Assumes gather starts its children in argument order: asyncio's FIFO does, but does not
/// // promise it. Only the first `set_result` counts, so `first` names the child that ran first.
/// let body = || async {
///     let first = evloop::LoopFuture::new();
///     let child = |n: u32| { let f = first.clone(); async move { let _ = f.set_result(n); } };
///     evloop::gather([child(0), child(1)]).await.unwrap();
///     assert_eq!(first.await.unwrap(), 0);
/// };
/// // Conformance keeps FIFO within a turn: the assumption holds in every schedule...
/// assert!(try_explore(Config::conformance(), body).is_ok());
/// // ...robustness permutes each turn's ready items and finds the order it relies on.
/// let failure = try_explore(Config::robustness().write_record(false), body).unwrap_err();
/// assert_eq!(failure.mode, Mode::Robustness);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// FIFO is the spec: only what asyncio leaves open varies — when `to_thread` results land and
    /// in which order, relative to each other and to timers.
    Conformance,
    /// Also permutes the items of each turn's batch, to find code that relies on an order asyncio
    /// does not promise across versions (e.g. which gathered coroutine starts first).
    Robustness,
}

/// How schedules are picked.
///
/// ```
/// use evloop::explore::{explore, Config, Strategy};
/// let report = explore(Config::conformance().fifo(), || async {});
/// assert_eq!(report.strategy, Strategy::Fifo.to_string());
/// assert_eq!(report.runs, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// asyncio's order only: one run.
    Fifo,
    /// `runs` runs, each choice uniformly random from a seed derived from `seed` and the run.
    Random {
        /// The seed of run 0.
        seed: u64,
        /// How many runs.
        runs: usize,
    },
    /// `runs` runs of probabilistic concurrency testing with `depth` ordering constraints.
    Pct {
        /// The seed of run 0.
        seed: u64,
        /// Bug depth: `depth - 1` priority changes per run.
        depth: usize,
        /// How many runs.
        runs: usize,
    },
    /// Every schedule that deviates from FIFO at most `max_deviations` times (EXPLORE-7).
    Dfs {
        /// The bound k.
        max_deviations: usize,
    },
    /// Exactly the schedule a token names.
    Replay(String),
    /// `runs` runs, run `i` answered by the chooser `factory` makes for it.
    Custom {
        /// How many runs.
        runs: usize,
        /// Makes run `i`'s chooser.
        factory: ChooserFactory,
    },
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Fifo => f.write_str("fifo"),
            Strategy::Random { seed, runs } => write!(f, "random(seed {seed}, {runs} runs)"),
            Strategy::Pct { seed, depth, runs } => {
                write!(f, "pct(seed {seed}, depth {depth}, {runs} runs)")
            }
            Strategy::Dfs { max_deviations } => write!(f, "dfs(k = {max_deviations})"),
            Strategy::Replay(t) => write!(f, "replay({})", t.trim()),
            Strategy::Custom { runs, .. } => write!(f, "custom({runs} runs)"),
        }
    }
}

/// Makes a [`Chooser`] for each run of a [`Strategy::Custom`] exploration.
///
/// ```
/// use evloop::explore::{ChooserFactory, Fifo, Strategy};
/// let factory = ChooserFactory::new(|_run| Box::new(Fifo));
/// let strategy = Strategy::Custom { runs: 3, factory: factory.clone() };
/// assert_eq!(strategy, Strategy::Custom { runs: 3, factory }); // the same factory
/// assert_eq!(strategy.to_string(), "custom(3 runs)");
/// ```
#[derive(Clone)]
pub struct ChooserFactory(std::rc::Rc<dyn Fn(usize) -> Box<dyn Chooser>>);

impl ChooserFactory {
    /// Wraps `f`, which is called with the run number.
    ///
    /// ```
    /// use evloop::explore::{ChooserFactory, Fifo};
    /// let a = ChooserFactory::new(|_run| Box::new(Fifo));
    /// let b = ChooserFactory::new(|_run| Box::new(Fifo));
    /// assert_ne!(a, b); // factories compare by identity
    /// assert_eq!(a, a.clone());
    /// ```
    pub fn new(f: impl Fn(usize) -> Box<dyn Chooser> + 'static) -> ChooserFactory {
        ChooserFactory(std::rc::Rc::new(f))
    }

    /// Run `run`'s chooser.
    pub(super) fn make(&self, run: usize) -> Box<dyn Chooser> {
        (self.0)(run)
    }
}

impl fmt::Debug for ChooserFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChooserFactory")
    }
}

impl PartialEq for ChooserFactory {
    fn eq(&self, other: &Self) -> bool {
        std::rc::Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ChooserFactory {}

/// An exploration's settings; start from [`Config::conformance`] or [`Config::robustness`].
///
/// ```
/// use evloop::explore::{explore, Config};
/// let config = Config::robustness().dfs(1).max_runs(100).name("two children");
/// let report = explore(config, || async {
///     let out = evloop::gather([1, 2].map(|n| async move { n * 10 })).await.unwrap();
///     assert_eq!(out, [10, 20]);
/// });
/// assert!(report.exhausted); // every schedule within one deviation from FIFO was run
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(super) mode: Mode,
    pub(super) strategy: Strategy,
    pub(super) max_turns: u64,
    pub(super) max_runs: usize,
    pub(super) shrink_budget: usize,
    pub(super) name: Option<String>,
    pub(super) write_record: bool,
    pub(super) use_env: bool,
    pub(super) outside_thread_wait: Duration,
    pub(super) quiet_panics: bool,
}

impl Config {
    /// `mode`'s defaults: what [`Config::conformance`] and [`Config::robustness`] start from,
    /// and what `joint` runs with.
    pub(super) fn new(mode: Mode) -> Config {
        Config {
            mode,
            strategy: Strategy::Dfs { max_deviations: 2 },
            max_turns: 10_000,
            max_runs: 10_000,
            shrink_budget: 200,
            name: None,
            write_record: true,
            use_env: true,
            outside_thread_wait: Duration::from_secs(5),
            quiet_panics: true,
        }
    }

    /// FIFO is the spec; vary only `to_thread` arrivals. Default strategy: DFS with k = 2.
    ///
    /// ```
    /// use evloop::explore::{explore, Config};
    /// // No `to_thread` job, so nothing asyncio leaves open: FIFO is the only schedule.
    /// let report = explore(Config::conformance(), || async {
    ///     let t = evloop::create_task(async { 1 });
    ///     assert_eq!(t.await.unwrap(), 1);
    /// });
    /// assert_eq!((report.distinct_schedules, report.exhausted), (1, true));
    /// ```
    pub fn conformance() -> Config {
        Config::new(Mode::Conformance)
    }

    /// Also permute ready items. Default strategy: DFS with k = 2.
    ///
    /// ```
    /// use evloop::explore::{explore, Config};
    /// // Two gathered children may start in either order.
    /// let report = explore(Config::robustness(), || async {
    ///     evloop::gather([1, 2].map(|n| async move { n })).await.unwrap();
    /// });
    /// assert!(report.distinct_timelines > 1);
    /// ```
    pub fn robustness() -> Config {
        Config::new(Mode::Robustness)
    }

    /// asyncio's order only.
    ///
    /// ```
    /// use evloop::explore::{explore, Config};
    /// let report = explore(Config::robustness().fifo(), || async {
    ///     evloop::gather([1, 2].map(|n| async move { n })).await.unwrap();
    /// });
    /// assert_eq!(report.runs, 1);
    /// ```
    pub fn fifo(mut self) -> Config {
        self.strategy = Strategy::Fifo;
        self
    }

    /// `runs` uniformly random schedules from `seed`.
    ///
    /// ```
    /// use evloop::explore::{explore, Config};
    /// let body = || async { evloop::gather([1, 2].map(|n| async move { n })).await.unwrap(); };
    /// let a = explore(Config::robustness().random(7, 5), body);
    /// let b = explore(Config::robustness().random(7, 5), body);
    /// assert_eq!(a.runs, 5);
    /// assert_eq!(a, b); // the same seed explores the same schedules
    /// ```
    pub fn random(mut self, seed: u64, runs: usize) -> Config {
        self.strategy = Strategy::Random { seed, runs };
        self
    }

    /// `runs` PCT schedules of depth `depth` from `seed`.
    ///
    /// ```
    /// use evloop::explore::{explore, Config};
    /// let report = explore(Config::robustness().pct(7, 2, 5), || async {
    ///     evloop::gather([1, 2, 3].map(|n| async move { n })).await.unwrap();
    /// });
    /// assert_eq!(report.runs, 5);
    /// assert_eq!(report.strategy, "pct(seed 7, depth 2, 5 runs)");
    /// ```
    pub fn pct(mut self, seed: u64, depth: usize, runs: usize) -> Config {
        self.strategy = Strategy::Pct { seed, depth, runs };
        self
    }

    /// Every schedule with at most `k` deviations from FIFO (stops early at [`Config::max_runs`]).
    ///
    /// ```
    /// use evloop::explore::{explore, Config};
    /// let body = || async { evloop::gather([1, 2, 3].map(|n| async move { n })).await.unwrap(); };
    /// let k1 = explore(Config::robustness().dfs(1), body);
    /// let k2 = explore(Config::robustness().dfs(2), body);
    /// assert!(k1.exhausted && k2.exhausted);
    /// assert!(k2.runs > k1.runs); // a larger bound covers more schedules
    /// ```
    pub fn dfs(mut self, k: usize) -> Config {
        self.strategy = Strategy::Dfs { max_deviations: k };
        self
    }

    /// `runs` runs, each answered by a chooser of your own (EXPLORE-1): `factory(i)` makes run
    /// `i`'s. Failures are shrunk and replayed like any other.
    ///
    /// ```
    /// use evloop::explore::{try_explore, ChoicePoint, Chooser, Config};
    /// /// Always the last option: LIFO where FIFO takes the first.
    /// struct Last;
    /// impl Chooser for Last {
    ///     fn choose(&mut self, point: &ChoicePoint<'_>) -> usize { point.keys.len() - 1 }
    /// }
    /// let config = Config::robustness().custom(1, |_run| Box::new(Last)).write_record(false);
    /// let failure = try_explore(config, || async {
    ///     let first = evloop::LoopFuture::new(); // the first `set_result` wins
    ///     let child = |n: u32| { let f = first.clone(); async move { let _ = f.set_result(n); } };
    ///     evloop::gather([child(0), child(1)]).await.unwrap();
    ///     assert_eq!(first.await.unwrap(), 0, "children started in reverse");
    /// })
    /// .unwrap_err();
    /// assert!(failure.message.contains("children started in reverse"));
    /// ```
    pub fn custom(
        mut self,
        runs: usize,
        factory: impl Fn(usize) -> Box<dyn Chooser> + 'static,
    ) -> Config {
        self.strategy = Strategy::Custom {
            runs,
            factory: ChooserFactory::new(factory),
        };
        self
    }

    /// Replays one token (the mode comes from the token). Text that is not a token of this
    /// evloop version is refused with a [`FailureKind::Config`](super::FailureKind::Config)
    /// error that says why (EXPLORE-17).
    ///
    /// ```
    /// use evloop::explore::{try_explore, Config};
    /// let body = || async {
    ///     let first = evloop::LoopFuture::new(); // the first `set_result` wins
    ///     let child = |n: u32| { let f = first.clone(); async move { let _ = f.set_result(n); } };
    ///     evloop::gather([child(0), child(1)]).await.unwrap();
    ///     assert_eq!(first.await.unwrap(), 0);
    /// };
    /// let found = try_explore(Config::robustness().write_record(false), body).unwrap_err();
    /// // The token alone runs that one schedule again (its mode comes from the token).
    /// let config = Config::conformance().replay(found.token.clone()).write_record(false);
    /// let again = try_explore(config, body).unwrap_err();
    /// assert_eq!(again.coverage.runs, 1);
    /// assert_eq!((again.token, again.message), (found.token, found.message));
    /// ```
    pub fn replay(mut self, token: impl Into<String>) -> Config {
        self.strategy = Strategy::Replay(token.into());
        self
    }

    /// Livelock bound: a run that takes more loop turns fails (default 10 000) (EXPLORE-10).
    ///
    /// ```
    /// use evloop::explore::{try_explore, Config, FailureKind};
    /// let config = Config::conformance().max_turns(50).write_record(false);
    /// let failure = try_explore(config, || async {
    ///     loop {
    ///         evloop::sleep(std::time::Duration::ZERO).await; // busy forever
    ///     }
    /// })
    /// .unwrap_err();
    /// assert_eq!(failure.kind, FailureKind::Livelock);
    /// ```
    pub fn max_turns(mut self, n: u64) -> Config {
        self.max_turns = n;
        self
    }

    /// The most runs DFS makes before it stops, not exhausted (default 10 000).
    ///
    /// ```
    /// use evloop::explore::{explore, Config};
    /// let report = explore(Config::robustness().dfs(3).max_runs(2), || async {
    ///     evloop::gather([1, 2, 3].map(|n| async move { n })).await.unwrap();
    /// });
    /// assert_eq!(report.runs, 2);
    /// assert!(!report.exhausted); // stopped at the budget, not at the end of the space
    /// ```
    pub fn max_runs(mut self, n: usize) -> Config {
        self.max_runs = n;
        self
    }

    /// How many runs shrinking may spend (0 turns it off; default 200).
    ///
    /// ```
    /// use evloop::explore::{try_explore, Config};
    /// let config = Config::robustness().shrink_budget(0).write_record(false);
    /// let failure = try_explore(config, || async {
    ///     let first = evloop::LoopFuture::new(); // the first `set_result` wins
    ///     let child = |n: u32| { let f = first.clone(); async move { let _ = f.set_result(n); } };
    ///     evloop::gather([child(0), child(1)]).await.unwrap();
    ///     assert_eq!(first.await.unwrap(), 0);
    /// })
    /// .unwrap_err();
    /// assert_eq!(failure.shrunk_from, None); // reported as found
    /// ```
    pub fn shrink_budget(mut self, n: usize) -> Config {
        self.shrink_budget = n;
        self
    }

    /// The test's name in reports (default: the test harness's thread name).
    ///
    /// ```
    /// use evloop::explore::{try_explore, Config};
    /// let config = Config::conformance().name("never wakes").write_record(false);
    /// let failure = try_explore(config, || std::future::pending::<()>()).unwrap_err();
    /// assert_eq!(failure.test, "never wakes");
    /// assert!(failure.to_string().contains("`never wakes` fails"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Config {
        self.name = Some(name.into());
        self
    }

    /// Whether a failure writes its JSON record under `target/evloop-failures/` (default on).
    ///
    /// ```
    /// use evloop::explore::{try_explore, Config};
    /// let config = Config::conformance().write_record(false);
    /// let failure = try_explore(config, || std::future::pending::<()>()).unwrap_err();
    /// assert!(failure.record.is_none()); // nothing written under target/evloop-failures/
    /// ```
    pub fn write_record(mut self, on: bool) -> Config {
        self.write_record = on;
        self
    }

    /// Whether `EVLOOP_REPLAY` in the environment overrides the strategy (default on). Tests that
    /// check exploration itself turn it off.
    ///
    /// ```
    /// use evloop::explore::{explore, Config};
    /// // A token meant for another exploration is in the environment; this one ignores it.
    /// std::env::set_var("EVLOOP_REPLAY", "v1:0.1.0:r:0=1:0000000000000000");
    /// let report = explore(Config::robustness().use_env(false), || async {
    ///     evloop::gather([1, 2].map(|n| async move { n })).await.unwrap();
    /// });
    /// assert!(report.runs > 1);
    /// ```
    pub fn use_env(mut self, on: bool) -> Config {
        self.use_env = on;
        self
    }

    /// How long a run waits, in real time, for a thread outside the loop (default 5 s)
    /// (EXPLORE-21). When main is pending and nothing on the loop can wake it, but a
    /// [`Resolver`](crate::Resolver) is still alive, a thread the program started itself may be
    /// about to use it: the run waits for that, up to this long, before it fails with
    /// [`FailureKind::OutsideThread`](super::FailureKind::OutsideThread). A thread's result then
    /// lands as a wake from outside does in production; the explorer does not choose when.
    ///
    /// ```
    /// use evloop::explore::{try_explore, Config, FailureKind};
    /// use std::time::Duration;
    /// let config = Config::conformance()
    ///     .outside_thread_wait(Duration::from_millis(10))
    ///     .write_record(false);
    /// let failure = try_explore(config, || async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     let resolver = fut.resolver(); // alive (held by main itself here), never used
    ///     fut.await.unwrap();
    ///     drop(resolver);
    /// })
    /// .unwrap_err();
    /// assert_eq!(failure.kind, FailureKind::OutsideThread);
    /// ```
    pub fn outside_thread_wait(mut self, wait: Duration) -> Config {
        self.outside_thread_wait = wait;
        self
    }

    /// Whether the schedules' panics are recorded instead of printed (default on) (EXPLORE-22).
    ///
    /// On, the exploration installs a panic hook (once per thread that explores, wrapping the
    /// process's hook) that, while one of its schedules runs, writes each panic with its location
    /// into the schedule's timeline and the failure's message instead of printing it; every other
    /// panic still goes to the hook it wrapped. Off, the process's hook is left alone: each
    /// schedule's panics go to it (printed, by the default hook), and the failure's message is the
    /// panic's text without its location. A token replays under the setting that found it: the
    /// timeline it hashes lists panics only when this is on.
    ///
    /// ```
    /// use evloop::explore::{try_explore, Config};
    /// // A program that owns the process's panic hook keeps it: the explorer installs none.
    /// let config = Config::conformance().quiet_panics(false).write_record(false);
    /// let failure = try_explore(config, || async { panic!("bad state") }).unwrap_err();
    /// assert_eq!(failure.message, "bad state"); // no location: only a hook sees it
    /// ```
    pub fn quiet_panics(mut self, on: bool) -> Config {
        self.quiet_panics = on;
        self
    }

    /// The name reports use: the configured one, else the test harness's thread name.
    pub(crate) fn test_name(&self) -> String {
        self.name
            .clone()
            .or_else(evloop_model::thread::current_name)
            .filter(|n| n != "main")
            .unwrap_or_else(|| UNNAMED.to_owned())
    }
}

/// The test name when neither the config nor the thread gives one.
pub(crate) const UNNAMED: &str = "(unnamed)";
