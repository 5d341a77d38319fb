//! The search: which schedules an exploration runs, in what order, when it stops, and how a
//! failure it finds is shrunk before it is reported.
//!
//! - FIFO: one run, asyncio's order;
//! - random and PCT: one run per seed, each derived from the exploration's seed (PCT learns how
//!   many choice points a run has from the runs before), until `runs` or a failure;
//! - DFS: every schedule within k deviations from FIFO, bumping the deepest choice first, until
//!   the space is exhausted, `max_runs`, or a failure;
//! - replay: the token's schedule, once, checked against the token's timeline hash;
//! - custom: one run per chooser the caller's factory makes, until `runs` or a failure.
//!
//! Invariants: a replay token, from `EVLOOP_REPLAY` (for every exploration that reads the
//! environment, or only the one `EVLOOP_REPLAY_ONLY` names) or from the config, is parsed and
//! checked before any run (EXPLORE-17). The same configuration runs the same schedules in the
//! same order (EXPLORE-15). Shrinking keeps a candidate only if it fails the same way and is
//! smaller in (deviations, steps, answers), so what it reports fails as found; a replay and a
//! failure that waited on a thread outside the loop (real time) are reported unshrunk. The
//! search never runs inside a running loop: it builds its own.
//!
//! Spec ids: EXPLORE-7 (DFS), EXPLORE-8 (replay), EXPLORE-11 (shrinking), EXPLORE-13 (coverage),
//! EXPLORE-15 (seeds), EXPLORE-17 (the token from the environment or the config).

use super::choice::{self, Chooser, Fifo, PctChooser, PrefixChooser, RandomChooser};
use super::config::{Config, Mode, Strategy};
use super::hook::Taken;
use super::report::{self, Failure, FailureKind, Report};
use super::run::{run_once, Run, Verdict};
use super::timeline::{fnv, timeline_hash};
use super::token::{Origin, Token};
use crate::context;
use std::collections::HashSet;
use std::future::Future;
use std::panic::Location;

/// What the runs so far covered (EXPLORE-13).
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

/// Runs `body` under the schedules `config` names; the search behind `explore` and `try_explore`.
pub(super) fn explore_at<F, Fut>(
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
    let (strategy, replay) = match effective_strategy(&config) {
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
                let run = once(factory.make(i), mode);
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
                let failure = run.into_failure(
                    &config,
                    &strategy,
                    token.mode,
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
    Err(Box::new(shrunk.into_failure(
        &config,
        &strategy,
        mode,
        seed,
        from,
        None,
        cov.report(mode, &strategy, exhausted),
    )))
}

/// The identity of a schedule for coverage: every answer with its number of options.
fn schedule_hash(choices: &[Taken]) -> u64 {
    let mut bytes = Vec::with_capacity(choices.len() * 3);
    for t in choices {
        bytes.extend_from_slice(&(t.options as u32).to_le_bytes());
        bytes.extend_from_slice(&(t.chosen as u32).to_le_bytes());
    }
    fnv(&bytes)
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

/// The strategy after `EVLOOP_REPLAY` (and `EVLOOP_REPLAY_ONLY`, which names the one
/// exploration it is for) are taken into account, with the token of a replay parsed; a value
/// that is not a token is an error (EXPLORE-17).
fn effective_strategy(config: &Config) -> Result<(Strategy, Option<Token>), String> {
    let from_env = config
        .use_env
        .then(|| std::env::var_os("EVLOOP_REPLAY"))
        .flatten();
    if let Some(value) = from_env {
        let only = std::env::var("EVLOOP_REPLAY_ONLY").ok();
        if only.is_none_or(|name| name == config.test_name()) {
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
    match &config.strategy {
        Strategy::Replay(text) => {
            let token = Token::parse(text, Origin::Config)?;
            Ok((config.strategy.clone(), Some(token)))
        }
        other => Ok((other.clone(), None)),
    }
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
    use crate::explore::choice::Kind;
    use crate::explore::hook::RunRecord;

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
}
