//! Task-level exploration: run an async test under many schedules of the loop's own choice points
//! — which ready item runs next, when a `to_thread` result lands, whether a timer beats it — on one
//! OS thread in virtual time; on failure, hand back one token that replays it (`specs/exploration.md`).
//!
//! ```
//! use evloop::explore::{explore, Config};
//!
//! // The three coroutines may start in any order (robustness mode permutes ready tasks), but
//! // gather's results always follow argument order.
//! let report = explore(Config::robustness().dfs(3), || async {
//!     let names = ["coroutine1", "coroutine2", "coroutine3"];
//!     let out = evloop::gather(names.map(|n| async move { n.to_string() })).await.unwrap();
//!     assert_eq!(out, names);
//! });
//! assert!(report.distinct_schedules > 1);
//! ```
//!
//! On failure `explore` panics with the shrunk schedule's token, the command that replays it, the
//! timeline of that schedule and the path of a JSON record under `target/evloop-failures/`.
//! `EVLOOP_REPLAY=<token>` in the environment makes every `explore` call replay that token; a value
//! that is not a token (empty, mistyped, or the model-check harness's) is an error that says so
//! (EXPLORE-17).

pub mod choice;
pub(crate) mod hook;
mod quiet;
mod report;
mod token;

pub use choice::{ChoicePoint, Chooser, Fifo, Kind};
pub use report::{Failure, FailureKind, Report};

use crate::builder::Builder;
use crate::context;
use crate::error::{PendingTask, RunError};
use choice::{PctChooser, PrefixChooser, RandomChooser};
use evloop_model::sync::Arc;
use hook::{Hook, RunRecord, Taken};
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::time::Duration;
use token::{Origin, Token};

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
    mode: Mode,
    strategy: Strategy,
    max_turns: u64,
    max_runs: usize,
    shrink_budget: usize,
    name: Option<String>,
    write_record: bool,
    use_env: bool,
    outside_thread_wait: Duration,
    quiet_panics: bool,
}

impl Config {
    fn new(mode: Mode) -> Config {
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
    /// evloop version is refused with a [`FailureKind::Config`] error that says why (EXPLORE-17).
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
    /// [`FailureKind::OutsideThread`]. A thread's result then lands as a wake from outside does
    /// in production; the explorer does not choose when.
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

    /// The name reports use: the configured one, else the test harness's thread name.
    pub(crate) fn test_name(&self) -> String {
        self.name
            .clone()
            .or_else(evloop_model::thread::current_name)
            .filter(|n| n != "main")
            .unwrap_or_else(|| UNNAMED.to_owned())
    }

    /// The strategy after `EVLOOP_REPLAY` (and `EVLOOP_REPLAY_ONLY`, which names the one
    /// exploration it is for) are taken into account, with the token of a replay parsed; a value
    /// that is not a token is an error (EXPLORE-17).
    fn effective_strategy(&self) -> Result<(Strategy, Option<Token>), String> {
        let from_env = self
            .use_env
            .then(|| std::env::var_os("EVLOOP_REPLAY"))
            .flatten();
        if let Some(value) = from_env {
            let only = std::env::var("EVLOOP_REPLAY_ONLY").ok();
            if only.is_none_or(|name| name == self.test_name()) {
                let text = value.into_string().map_err(|v| {
                    format!(
                        "evloop explore: EVLOOP_REPLAY={v:?} is not valid UTF-8, so it is not a \
                         replay token: unset it to explore as configured"
                    )
                })?;
                let token = Token::parse(&text, Origin::Env)?;
                return Ok((Strategy::Replay(text), Some(token)));
            }
        }
        match &self.strategy {
            Strategy::Replay(text) => {
                let token = Token::parse(text, Origin::Config)?;
                Ok((self.strategy.clone(), Some(token)))
            }
            other => Ok((other.clone(), None)),
        }
    }
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

/// Records a line in the timeline of the schedule being explored (a no-op outside `explore`).
/// Use it where a plain program would print: the line shows in failure reports, and distinct
/// orders of notes count as distinct timelines.
///
/// ```
/// use evloop::explore::{note, try_explore, Config};
/// let failure = try_explore(Config::robustness().write_record(false), || async {
///     let first = evloop::LoopFuture::new(); // the first `set_result` wins
///     let child = |n: u32| {
///         let f = first.clone();
///         async move {
///             note(format!("child {n} starts"));
///             let _ = f.set_result(n);
///         }
///     };
///     evloop::gather([child(0), child(1)]).await.unwrap();
///     assert_eq!(first.await.unwrap(), 0);
/// })
/// .unwrap_err();
/// // The notes show the order that failed.
/// let notes: Vec<_> = failure.timeline.iter().filter(|l| l.contains("note:")).collect();
/// assert!(notes[0].ends_with("child 1 starts"), "{notes:?}");
/// evloop::run(async { note("outside `explore` this does nothing") });
/// ```
pub fn note(what: impl fmt::Display) {
    log_to_running(&format!("note: {what}"));
}

pub(crate) fn log_to_running(line: &str) {
    crate::engine::current::with(|lp| {
        if let Some(lp) = lp {
            if let Some(explorer) = &lp.config().explore {
                explorer.note(lp.now(), line);
            }
        }
    });
}

/// FNV-1a, 64-bit: a hash that is the same on every machine and every run (unlike std's
/// `DefaultHasher`, which is seeded per process), as tokens and coverage need.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The test name when neither the config nor the thread gives one.
pub(crate) const UNNAMED: &str = "(unnamed)";

/// Timeline lines that annotate choices, not events: left out of the timeline's hash, so that two
/// schedules with the same events count as one timeline.
const ANNOTATION: &str = "    ↳ ";

/// Source locations are left out too: a token must survive the user adding a line above the test
/// while investigating it.
pub(crate) fn timeline_hash(lines: &[String]) -> u64 {
    let mut h = fnv(b"");
    for l in lines.iter().filter(|l| !l.starts_with(ANNOTATION)) {
        let event = [" (created at ", " (at "]
            .iter()
            .filter_map(|m| l.find(m))
            .min()
            .map_or(l.as_str(), |cut| &l[..cut]);
        h ^= fnv(event.as_bytes());
        h = h.rotate_left(5).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn schedule_hash(choices: &[Taken]) -> u64 {
    let mut bytes = Vec::with_capacity(choices.len() * 3);
    for t in choices {
        bytes.extend_from_slice(&(t.options as u32).to_le_bytes());
        bytes.extend_from_slice(&(t.chosen as u32).to_le_bytes());
    }
    fnv(&bytes)
}

/// How one run ended.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    Pass,
    Fail {
        kind: FailureKind,
        message: String,
        pending: Vec<PendingTask>,
    },
}

pub(crate) struct Run {
    pub(crate) record: RunRecord,
    pub(crate) verdict: Verdict,
}

impl Run {
    fn failed(&self) -> Option<FailureKind> {
        match &self.verdict {
            Verdict::Pass => None,
            Verdict::Fail { kind, .. } => Some(*kind),
        }
    }

    fn deviations(&self) -> Vec<(usize, usize)> {
        self.record
            .choices
            .iter()
            .enumerate()
            .filter(|(_, t)| t.chosen != 0)
            .map(|(i, t)| (i, t.chosen))
            .collect()
    }

    fn dense(&self) -> Vec<usize> {
        self.record.choices.iter().map(|t| t.chosen).collect()
    }
}

fn run_once<F, Fut>(
    mode: Mode,
    max_turns: u64,
    outside_thread_wait: Duration,
    quiet_panics: bool,
    chooser: Box<dyn Chooser>,
    body: &F,
    at: &'static Location<'static>,
) -> Run
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let hook = Arc::new(Hook::new(
        mode == Mode::Robustness,
        true,
        chooser,
        max_turns,
        outside_thread_wait,
    ));
    let builder = Builder::new().explore_hook(Arc::new(Box::new(hook::Plugged(hook.clone()))));
    let outcome = quiet::catching(quiet_panics, || crate::run::run_with(&builder, body(), at));
    let record = hook.finish();
    let verdict = match outcome {
        // Whatever the run did after its chooser went wrong, the chooser is the thing to fix.
        _ if record.misconfigured.is_some() => Verdict::Fail {
            kind: FailureKind::Config,
            message: record.misconfigured.clone().unwrap_or_default(),
            pending: Vec::new(),
        },
        Ok(Err(RunError::Deadlock(d))) if record.outside_thread > 0 => Verdict::Fail {
            kind: FailureKind::OutsideThread,
            message: format!(
                "the main future is pending and nothing on the loop can wake it, but {n} \
                 Resolver(s) are still alive, and none was used within {wait:?} of real time \
                 (Config::outside_thread_wait). A thread outside the loop holds one and has not \
                 resolved it yet, or a task on the loop holds it and never will",
                n = record.outside_thread,
                wait = outside_thread_wait,
            ),
            pending: d.pending,
        },
        Ok(Ok(())) => Verdict::Pass,
        Ok(Err(RunError::Deadlock(d))) => Verdict::Fail {
            kind: if record.livelock {
                FailureKind::Livelock
            } else {
                FailureKind::Deadlock
            },
            message: if record.livelock {
                format!(
                    "livelock: the main future was still pending after {} loop turns \
                     (raise the bound with Config::max_turns if the program is just long)",
                    record.turns - 1
                )
            } else {
                "the main future is pending, but nothing is ready, no timer can fire and no \
                 to_thread job is pending, so nothing can wake it"
                    .to_owned()
            },
            pending: d.pending,
        },
        Ok(Err(e)) => Verdict::Fail {
            kind: FailureKind::Error,
            message: e.to_string(),
            pending: Vec::new(),
        },
        Err(panic) => Verdict::Fail {
            kind: FailureKind::Panic,
            message: panic,
            pending: Vec::new(),
        },
    };
    Run { record, verdict }
}

/// The next DFS prefix after a run: bump the deepest choice that can take another option within
/// the deviation bound, and drop everything after it (later choices default to FIFO).
fn next_dfs_prefix(choices: &[Taken], k: usize) -> Option<Vec<usize>> {
    let mut before = vec![0usize; choices.len() + 1];
    for (i, t) in choices.iter().enumerate() {
        before[i + 1] = before[i] + usize::from(t.chosen != 0);
    }
    (0..choices.len()).rev().find_map(|i| {
        let t = choices[i];
        (t.chosen + 1 < t.options && before[i] < k).then(|| {
            let mut p: Vec<usize> = choices[..i].iter().map(|t| t.chosen).collect();
            p.push(t.chosen + 1);
            p
        })
    })
}

/// Derives run `i`'s seed from the exploration's seed (splitmix64 of both).
fn run_seed(seed: u64, i: usize) -> u64 {
    choice::Rng::new(seed ^ (i as u64).wrapping_mul(0xA076_1D64_78BD_642F)).next_u64()
}

/// Runs `body` under many schedules (see [`Config`]) and returns what was covered; panics with
/// the [`Failure`] report when a schedule fails, or with one message, at the caller, when the
/// configuration cannot run (EXPLORE-18).
///
/// ```
/// use evloop::explore::{explore, Config};
/// // Whatever order the children run in, gather's results follow argument order.
/// let report = explore(Config::robustness(), || async {
///     let out = evloop::gather([3, 1, 2].map(|n| async move { n })).await.unwrap();
///     assert_eq!(out, [3, 1, 2]);
/// });
/// assert!(report.distinct_timelines > 1);
/// ```
#[track_caller]
pub fn explore<F, Fut>(config: Config, body: F) -> Report
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    match explore_at(config, body, Location::caller()) {
        Ok(report) => {
            eprintln!("{report}");
            report
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// [`explore`], returning the failure instead of panicking: a failing schedule, or a
/// configuration that cannot run ([`FailureKind::Config`]: a replay token that is not one, a
/// custom chooser answering out of range) (EXPLORE-18).
///
/// ```
/// use evloop::explore::{try_explore, Config, FailureKind};
/// let failure = try_explore(Config::conformance().write_record(false), || async {
///     // Awaits a task that never finishes: nothing can wake main.
///     evloop::create_task_named("forever", std::future::pending::<()>()).await.unwrap();
/// })
/// .unwrap_err();
/// assert_eq!(failure.kind, FailureKind::Deadlock);
/// assert!(failure.pending.iter().any(|t| t.name == "forever"));
///
/// // A token with a typo is an error, not a fresh exploration.
/// let typo = Config::conformance().replay("V1:0.1.0:c:-:0000000000000000");
/// let failure = try_explore(typo.use_env(false), || async {}).unwrap_err();
/// assert_eq!(failure.kind, FailureKind::Config);
/// assert!(failure.message.contains("not a replay token"));
/// ```
#[track_caller]
pub fn try_explore<F, Fut>(config: Config, body: F) -> Result<Report, Box<Failure>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    explore_at(config, body, Location::caller())
}

/// Joint mode (EXPLORE-16): runs `body` once, on a loop whose task-level choice points draw from
/// the model checker's scheduler, with `to_thread` jobs on the pool's model threads. Call it inside
/// a randomized model check (`evloop_check::check`, see `specs/exploration.md`): each
/// schedule then fixes both the thread interleaving and the task choices, and the check's replay
/// token replays both.
///
/// A panic in the body propagates (after the timeline is printed to stderr); a deadlock or
/// livelock panics with the pending tasks and the timeline.
///
/// ```
/// use evloop::explore::{joint, Mode};
/// // Meant for a randomized model check (see `specs/exploration.md`); without one, a body with
/// // no choice point (conformance mode, no `to_thread`) runs once, in FIFO order.
/// joint(Mode::Conformance, || async {
///     let t = evloop::create_task(async { 6 * 7 });
///     assert_eq!(t.await.unwrap(), 42);
/// });
/// ```
///
/// # Panics
/// At the first choice point on a backend with no randomized scheduler to draw from (std, and the
/// exhaustive backend); the message says which feature to build with.
#[track_caller]
pub fn joint<F, Fut>(mode: Mode, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let at = Location::caller();
    let defaults = Config::new(mode);
    let hook = Arc::new(Hook::new(
        mode == Mode::Robustness,
        false,
        Box::new(choice::SchedulerChooser),
        defaults.max_turns,
        defaults.outside_thread_wait,
    ));
    let builder = Builder::new().explore_hook(Arc::new(Box::new(hook::Plugged(hook.clone()))));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::run::run_with(&builder, body(), at)
    }));
    let record = hook.finish();
    let timeline = record.timeline.join("\n  ");
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let what = if record.livelock {
                "livelock: the turn bound was reached".to_owned()
            } else {
                e.to_string()
            };
            panic!("evloop joint ({mode:?}): {what}\ntimeline:\n  {timeline}");
        }
        Err(payload) => {
            eprintln!("evloop joint ({mode:?}): the body panicked; timeline:\n  {timeline}");
            std::panic::resume_unwind(payload);
        }
    }
}

struct Coverage {
    runs: usize,
    schedules: HashSet<u64>,
    timelines: HashSet<u64>,
}

impl Coverage {
    fn add(&mut self, run: &Run) {
        self.runs += 1;
        self.schedules.insert(schedule_hash(&run.record.choices));
        self.timelines.insert(timeline_hash(&run.record.timeline));
    }

    fn report(&self, mode: Mode, strategy: &Strategy, exhausted: bool) -> Report {
        Report {
            mode,
            strategy: strategy.to_string(),
            runs: self.runs,
            distinct_schedules: self.schedules.len(),
            distinct_timelines: self.timelines.len(),
            exhausted,
        }
    }
}

fn explore_at<F, Fut>(
    config: Config,
    body: F,
    at: &'static Location<'static>,
) -> Result<Report, Box<Failure>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut cov = Coverage {
        runs: 0,
        schedules: HashSet::new(),
        timelines: HashSet::new(),
    };
    let refuse = |strategy: &Strategy, message: String, timeline, cov: &Coverage, mode| {
        let coverage = cov.report(mode, strategy, false);
        Box::new(report::refused(&config, message, timeline, coverage))
    };
    if context::running_loop().is_some() {
        let why = "evloop explore: explore runs its own loops, so it cannot be called inside a \
                   running loop: call it from a plain test";
        return Err(refuse(
            &config.strategy,
            why.to_owned(),
            Vec::new(),
            &cov,
            config.mode,
        ));
    }
    let (strategy, replay) = match config.effective_strategy() {
        Ok(s) => s,
        Err(why) => {
            return Err(refuse(&config.strategy, why, Vec::new(), &cov, config.mode));
        }
    };
    let mode = replay.as_ref().map_or(config.mode, |t| t.mode);
    let turns = config.max_turns;
    let (wait, quiet) = (config.outside_thread_wait, config.quiet_panics);
    let once = |chooser: Box<dyn Chooser>, mode: Mode| {
        run_once(mode, turns, wait, quiet, chooser, &body, at)
    };
    let mut found: Option<(Run, Option<u64>)> = None;
    let mut exhausted = false;
    match &strategy {
        Strategy::Fifo => {
            let run = once(Box::new(Fifo), mode);
            cov.add(&run);
            exhausted = mode == Mode::Conformance && run.record.choices.is_empty();
            if run.failed().is_some() {
                found = Some((run, None));
            }
        }
        Strategy::Random { seed, runs } => {
            for i in 0..*runs {
                let s = run_seed(*seed, i);
                let run = once(Box::new(RandomChooser::new(s)), mode);
                cov.add(&run);
                if run.failed().is_some() {
                    found = Some((run, Some(s)));
                    break;
                }
            }
        }
        Strategy::Pct { seed, depth, runs } => {
            let mut horizon = 16;
            for i in 0..*runs {
                let s = run_seed(*seed, i);
                let run = once(Box::new(PctChooser::new(s, *depth, horizon)), mode);
                horizon = horizon.max(run.record.choices.len());
                cov.add(&run);
                if run.failed().is_some() {
                    found = Some((run, Some(s)));
                    break;
                }
            }
        }
        Strategy::Custom { runs, factory } => {
            for i in 0..*runs {
                let run = once((factory.0)(i), mode);
                cov.add(&run);
                if run.failed().is_some() {
                    found = Some((run, None));
                    break;
                }
            }
        }
        Strategy::Dfs { max_deviations } => {
            let mut prefix = Vec::new();
            loop {
                let run = once(Box::new(PrefixChooser::new(prefix, false)), mode);
                cov.add(&run);
                let next = next_dfs_prefix(&run.record.choices, *max_deviations);
                if run.failed().is_some() {
                    found = Some((run, None));
                    break;
                }
                match next {
                    Some(p) if cov.runs < config.max_runs => prefix = p,
                    Some(_) => break,
                    None => {
                        exhausted = true;
                        break;
                    }
                }
            }
        }
        Strategy::Replay(_) => {
            let token = replay
                .as_ref()
                .expect("a replay strategy comes with its token");
            let run = once(
                Box::new(PrefixChooser::sparse(token.deviations.clone(), true)),
                token.mode,
            );
            cov.add(&run);
            let hash = timeline_hash(&run.record.timeline);
            let diverged = match (&run.record.divergence, hash == token.timeline_hash) {
                (Some(why), _) => Some(why.clone()),
                (None, false) => Some(format!(
                    "the run's timeline hashes to {hash:016x}, the token recorded {:016x}",
                    token.timeline_hash
                )),
                (None, true) => None,
            };
            if let Some(why) = diverged {
                let failure = report::build(
                    &config,
                    &strategy,
                    token.mode,
                    run,
                    None,
                    None,
                    Some(why),
                    cov.report(token.mode, &strategy, false),
                );
                return Err(Box::new(failure));
            }
            if run.failed().is_some() {
                found = Some((run, None));
            } else {
                return Ok(cov.report(token.mode, &strategy, true));
            }
        }
    }
    let Some((run, seed)) = found else {
        return Ok(cov.report(mode, &strategy, exhausted));
    };
    if let Verdict::Fail {
        kind: FailureKind::Config,
        message,
        ..
    } = run.verdict
    {
        return Err(refuse(&strategy, message, run.record.timeline, &cov, mode));
    }
    let is_replay = matches!(strategy, Strategy::Replay(_));
    // A wait on a thread outside the loop depends on real time, not on the schedule: shrinking
    // would only wait again for every candidate.
    let real_time = run.failed() == Some(FailureKind::OutsideThread);
    let (shrunk, from) = if is_replay || real_time || config.shrink_budget == 0 {
        (run, None)
    } else {
        let from = (run.deviations().len(), run.record.steps);
        let small = shrink(run, config.shrink_budget, |prefix| {
            once(Box::new(PrefixChooser::new(prefix, false)), mode)
        });
        (small, Some(from))
    };
    Err(Box::new(report::build(
        &config,
        &strategy,
        mode,
        shrunk,
        seed,
        from,
        None,
        cov.report(mode, &strategy, exhausted),
    )))
}

/// Shrinking (EXPLORE-11). First greedy: drop one deviation at a time, then lower one option at a
/// time, keeping any change after which the run still fails the same way and is smaller in
/// (deviations, steps, answers). Greedy can stop at a local minimum (every single removal passes
/// while some other, smaller schedule fails), so it is followed by DFS with bounds 1, 2, ... below
/// the current number of deviations; a failure found there restarts the greedy pass. Stops at a
/// fixed point or when the budget is spent.
fn shrink(mut best: Run, budget: usize, rerun: impl Fn(Vec<usize>) -> Run) -> Run {
    let kind = best.failed();
    let key = |r: &Run| (r.deviations().len(), r.record.steps, r.dense());
    let mut spent = 0;
    'outer: loop {
        let devs = best.deviations();
        let mut candidates: Vec<Vec<usize>> = Vec::new();
        for &(i, _) in devs.iter().rev() {
            let mut p = best.dense();
            p[i] = 0;
            candidates.push(p);
        }
        for &(i, c) in &devs {
            if c > 1 {
                let mut p = best.dense();
                p[i] = c - 1;
                candidates.push(p);
            }
        }
        for mut p in candidates {
            if spent >= budget {
                break 'outer;
            }
            while p.last() == Some(&0) {
                p.pop();
            }
            spent += 1;
            let run = rerun(p);
            if run.failed() == kind && key(&run) < key(&best) {
                best = run;
                continue 'outer;
            }
        }
        for k in 1..devs.len() {
            let mut prefix = Vec::new();
            loop {
                if spent >= budget {
                    break 'outer;
                }
                spent += 1;
                let run = rerun(prefix);
                if run.failed() == kind && key(&run) < key(&best) {
                    best = run;
                    continue 'outer;
                }
                match next_dfs_prefix(&run.record.choices, k) {
                    Some(p) => prefix = p,
                    None => break,
                }
            }
        }
        break;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(options: usize, chosen: usize) -> Taken {
        Taken {
            kind: Kind::Ready,
            options,
            chosen,
        }
    }

    #[test]
    fn dfs_bumps_the_deepest_choice_within_the_bound() {
        let run = [taken(3, 0), taken(2, 0)];
        assert_eq!(next_dfs_prefix(&run, 2), Some(vec![0, 1]));
        let run = [taken(3, 0), taken(2, 1)];
        assert_eq!(next_dfs_prefix(&run, 2), Some(vec![1]));
        let run = [taken(3, 1), taken(2, 0)];
        assert_eq!(next_dfs_prefix(&run, 1), Some(vec![2]));
        let run = [taken(3, 2), taken(2, 0)];
        assert_eq!(next_dfs_prefix(&run, 1), None);
    }

    /// A fake program with three two-way choice points that fails when the first two both
    /// deviate, or when the third does.
    fn fake(prefix: Vec<usize>) -> Run {
        let chosen = |i: usize| prefix.get(i).copied().unwrap_or(0);
        let fails = (chosen(0) == 1 && chosen(1) == 1) || chosen(2) == 1;
        Run {
            record: RunRecord {
                choices: (0..3).map(|i| taken(2, chosen(i))).collect(),
                timeline: Vec::new(),
                turns: 1,
                steps: 3,
                livelock: false,
                divergence: None,
                awaits: Vec::new(),
                misconfigured: None,
                outside_thread: 0,
            },
            verdict: if fails {
                Verdict::Fail {
                    kind: FailureKind::Panic,
                    message: String::new(),
                    pending: Vec::new(),
                }
            } else {
                Verdict::Pass
            },
        }
    }

    #[test]
    fn shrinking_escapes_a_greedy_local_minimum() {
        // Dropping either deviation of [1, 1, 0] passes; DFS with bound 1 finds [0, 0, 1].
        let small = shrink(fake(vec![1, 1, 0]), 50, fake);
        assert_eq!(small.deviations(), vec![(2, 1)]);
    }

    #[test]
    fn tokens_round_trip() {
        let t = Token {
            mode: Mode::Robustness,
            deviations: vec![(3, 1), (7, 2)],
            timeline_hash: 0xdead_beef,
        };
        assert_eq!(Token::parse(&t.to_string(), Origin::Env), Ok(t.clone()));
        let line = format!("EVLOOP_REPLAY={t}");
        assert_eq!(Token::parse(&line, Origin::Env), Ok(t));
    }
}
