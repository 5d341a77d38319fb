//! One run: the body under one chooser, on a loop built for it, and what its outcome means.
//!
//! `run_once` builds a one-worker loop in virtual time whose turn asks the run's [`Hook`]
//! (through [`Plugged`]), runs the body to completion, deadlock, livelock or panic, and classifies
//! the outcome as a [`Verdict`]. A failing run becomes the user's [`Failure`] with its token here.
//!
//! Invariants: for a body that depends on nothing outside the loop, a run is a function of the
//! chooser's answers (the loop is one thread in virtual time, and `to_thread` jobs run on it when
//! a choice says so), so the same answers give the same timeline; a wait for a thread outside the
//! loop is the one real-time step, bounded and reported as such (EXPLORE-21). A chooser that answers out of range
//! outranks whatever the run did after it: the verdict is a configuration error (EXPLORE-20).
//!
//! Spec ids: EXPLORE-9 (deadlock), EXPLORE-10 (livelock), EXPLORE-14 (the failure report),
//! EXPLORE-20, EXPLORE-21, EXPLORE-22 (panics caught quietly when asked).

use super::choice::Chooser;
use super::config::{Config, Mode, Strategy};
use super::hook::{Hook, Plugged, RunRecord};
use super::quiet;
use super::report::{self, Failure, FailureKind, Report};
use super::timeline::timeline_hash;
use super::token::Token;
use crate::builder::Builder;
use crate::error::{PendingTask, RunError};
use evloop_model::sync::Arc;
use std::future::Future;
use std::panic::Location;
use std::time::Duration;

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

/// A finished run: what the explorer recorded, and how it ended.
pub(crate) struct Run {
    pub(crate) record: RunRecord,
    pub(crate) verdict: Verdict,
}

impl Run {
    /// How it failed, if it did.
    pub(super) fn failed(&self) -> Option<FailureKind> {
        match &self.verdict {
            Verdict::Pass => None,
            Verdict::Fail { kind, .. } => Some(*kind),
        }
    }

    /// (choice point ordinal, option) of every answer that was not FIFO's.
    pub(super) fn deviations(&self) -> Vec<(usize, usize)> {
        self.record
            .choices
            .iter()
            .enumerate()
            .filter(|(_, t)| t.chosen != 0)
            .map(|(i, t)| (i, t.chosen))
            .collect()
    }

    /// Every answer, in order: the prefix that makes the same run again.
    pub(super) fn dense(&self) -> Vec<usize> {
        self.record.choices.iter().map(|t| t.chosen).collect()
    }
}

/// The loop a run uses: its turn asks `hook`, which `explore` keeps to read the record after.
pub(super) fn builder_for(hook: &Arc<Hook>) -> Builder {
    Builder::new().explore_hook(Arc::new(Box::new(Plugged(hook.clone()))))
}

/// Runs `body` once, answering the turn's choices with `chooser`.
pub(super) fn run_once<F, Fut>(
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
    let builder = builder_for(&hook);
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

impl Run {
    /// The user's report of this failing run (or, with `diverged`, of a replay that left its
    /// token's schedule), with its token; writes the JSON record if the config asks.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn into_failure(
        self,
        config: &Config,
        strategy: &Strategy,
        mode: Mode,
        seed: Option<u64>,
        shrunk_from: Option<(usize, u64)>,
        diverged: Option<String>,
        coverage: Report,
    ) -> Failure {
        let run = self;
        let deviations = run.deviations();
        let token = Token {
            mode,
            deviations: deviations.clone(),
            timeline_hash: timeline_hash(&run.record.timeline),
        }
        .to_string();
        let test = config.test_name();
        let (kind, message, pending) = match (diverged, run.verdict) {
            (Some(why), verdict) => {
                let outcome = match verdict {
                    Verdict::Pass => "and passed".to_owned(),
                    Verdict::Fail { message, .. } => format!("and failed with: {message}"),
                };
                (
                    FailureKind::Diverged,
                    format!(
                        "the run left the token's schedule ({why}) {outcome}. The test or \
                         the code it runs changed since the token was made, or the program depends \
                         on something outside the loop (real threads, real time, hash order)"
                    ),
                    Vec::new(),
                )
            }
            (
                None,
                Verdict::Fail {
                    kind,
                    message,
                    pending,
                },
            ) => (kind, message, pending),
            (None, Verdict::Pass) => unreachable!("only failing runs are reported"),
        };
        let mut failure = Failure {
            replay_command: report::replay_command(&token, &test),
            test,
            kind,
            message,
            mode,
            strategy: strategy.to_string(),
            seed,
            token,
            timeline: run.record.timeline,
            awaits: run.record.awaits,
            pending,
            shrunk_from,
            deviations: deviations.len(),
            steps: run.record.steps,
            record: None,
            coverage,
        };
        if config.write_record {
            failure.record = report::write_record(&failure);
        }
        failure
    }
}
