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
//!
//! This file holds the entry points: [`explore`] and [`try_explore`] (EXPLORE-18: the first
//! panics at the caller, the second returns the failure), [`joint`] (EXPLORE-16) and [`note`].
//! Each builds its own loop, so none may be called inside a running one.
//!
//! ## Where things are
//! - `config.rs`: [`Mode`], [`Strategy`], [`ChooserFactory`], [`Config`], what the caller sets;
//! - `search.rs`: which schedules run, in what order, when the search stops, and how a failure
//!   is shrunk;
//! - `run.rs`: one run of the body under one chooser, its verdict, and the [`Failure`] a failing
//!   run becomes;
//! - `hook.rs`: the explorer as the production turn sees it (`engine::choices::Explorer`): it
//!   puts the turn's open choices to the run's chooser and records the run;
//! - [`choice`]: the choice-point interface ([`Chooser`], [`ChoicePoint`], [`Kind`], [`Fifo`]) and
//!   the built-in strategies' choosers;
//! - `report.rs`: [`Report`], [`Failure`], [`FailureKind`] and how they print;
//! - `token.rs`: the replay token; `timeline.rs`: a run's timeline and the hashes that identify
//!   timelines; `quiet.rs`: panics recorded instead of printed.
//!
//! Imports inside point one way: the entry points → `search` → `run` → `hook`, `report`, `quiet`
//! → `token`, `config`, `choice`, `timeline`.

pub mod choice;
mod config;
pub(crate) mod hook;
mod quiet;
mod report;
mod run;
mod search;
mod timeline;
mod token;

pub use choice::{ChoicePoint, Chooser, Fifo, Kind};
pub use config::{ChooserFactory, Config, Mode, Strategy};
pub use report::{Failure, FailureKind, Report};

use evloop_model::sync::Arc;
use hook::Hook;
use std::fmt;
use std::future::Future;
use std::panic::Location;

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
    timeline::log_to_running(&format!("note: {what}"));
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
    match search::explore_at(config, body, Location::caller()) {
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
    search::explore_at(config, body, Location::caller())
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
    let builder = run::builder_for(&hook);
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
