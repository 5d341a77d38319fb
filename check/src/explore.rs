//! evloop's own shuttle schedulers: random and PCT, each schedule drawn from a seed of its own, so
//! that one short token replays one failing schedule exactly.
//!
//! Why not shuttle's schedule strings: measured with shuttle 0.9.10, one failure can print two
//! different strings and replaying the first has died with "schedule ended early", and strings do
//! not survive a shuttle upgrade. Why not shuttle's own seeded schedulers: their per-schedule seed
//! is derived from the previous schedule's, and PCT learns its step bound across schedules, so
//! schedule k cannot be replayed alone. Here every schedule is a pure function of its [`Token`]
//! (scheduler, PCT depth and step bound, seed) and of the runnable-task lists shuttle hands us,
//! which are themselves a function of the earlier decisions.

use shuttle::scheduler::{Schedule, Scheduler, Task, TaskId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::rc::Rc;

/// Default PCT depth (bug depth d: d-1 priority change points per schedule).
pub const DEFAULT_PCT_DEPTH: usize = 3;

/// PCT's step bound before any schedule has been measured.
const INITIAL_PCT_STEPS: usize = 64;

/// One schedule, completely determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// Uniformly random choice among runnable threads at every step.
    Random {
        /// The schedule's seed.
        seed: u64,
    },
    /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010).
    Pct {
        /// Bug depth: `depth - 1` priority change points.
        depth: usize,
        /// Change points are drawn from `1..=steps`.
        steps: usize,
        /// The schedule's seed.
        seed: u64,
    },
}

impl Token {
    /// The schedule's seed.
    pub fn seed(self) -> u64 {
        match self {
            Token::Random { seed } | Token::Pct { seed, .. } => seed,
        }
    }

    /// Parses `random:<hex seed>` or `pct:<depth>:<steps>:<hex seed>`.
    pub fn parse(s: &str) -> Option<Token> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let hex = |h: &str| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok();
        match parts.as_slice() {
            ["random", seed] => Some(Token::Random { seed: hex(seed)? }),
            ["pct", depth, steps, seed] => Some(Token::Pct {
                depth: depth.parse().ok().filter(|d| *d >= 1)?,
                steps: steps.parse().ok().filter(|s| *s >= 1)?,
                seed: hex(seed)?,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Random { seed } => write!(f, "random:{seed:016x}"),
            Token::Pct { depth, steps, seed } => write!(f, "pct:{depth}:{steps}:{seed:016x}"),
        }
    }
}

/// SplitMix64: tiny, fast, and fixed forever (unlike a dependency's RNG), so tokens stay valid.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Which schedulers a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedulers {
    /// Random only.
    Random,
    /// PCT only.
    Pct,
    /// Random, then PCT, each over the whole seed range.
    Both,
}

/// What a check explores: a replay of one token, or seed indices `range` from `base` with the
/// chosen schedulers.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Exactly one schedule.
    Replay(Token),
    /// A seed range.
    Explore {
        /// Base seed (`EVLOOP_SEED`).
        base: u64,
        /// Seed indices (`EVLOOP_SEEDS=a..b`, or `0..EVLOOP_ITERATIONS`).
        range: Range<u64>,
        /// Which schedulers.
        schedulers: Schedulers,
        /// PCT depth.
        depth: usize,
    },
}

impl Plan {
    /// How many schedules the plan runs.
    pub fn len(&self) -> u64 {
        match self {
            Plan::Replay(_) => 1,
            Plan::Explore {
                range, schedulers, ..
            } => {
                let n = range.end.saturating_sub(range.start);
                if *schedulers == Schedulers::Both {
                    2 * n
                } else {
                    n
                }
            }
        }
    }

    /// True when the plan runs nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Replay(t) => write!(f, "replaying {t}"),
            Plan::Explore {
                base,
                range,
                schedulers,
                depth,
            } => {
                let which = match schedulers {
                    Schedulers::Random => "random".to_owned(),
                    Schedulers::Pct => format!("PCT depth {depth}"),
                    Schedulers::Both => format!("random, then PCT depth {depth}"),
                };
                write!(
                    f,
                    "{which}; seeds {}..{} from base seed {base} ({} schedules)",
                    range.start,
                    range.end,
                    self.len()
                )
            }
        }
    }
}

/// The seed of schedule index `k` for a scheduler: independent streams for random and PCT.
fn seed_for(base: u64, k: u64, pct: bool) -> u64 {
    let stream = if pct { 0x5043_5400_0000_0000 } else { 0 };
    mix(base ^ stream ^ mix(k))
}

/// Where the exploration is; shared with the harness so that a failure can name its schedule.
#[derive(Debug, Default)]
pub struct Progress {
    /// Schedules started so far.
    pub started: u64,
    /// The schedule running now (the failing one, after a failure).
    pub current: Option<Token>,
}

enum Current {
    Random(Rng),
    Pct {
        rng: Rng,
        /// Higher runs first; demoted threads get small values below every initial priority.
        priorities: HashMap<usize, u64>,
        change_points: Vec<usize>,
        next_demoted: u64,
    },
}

/// The shuttle scheduler that runs a [`Plan`].
pub struct Explorer {
    plan: Plan,
    /// Position in the plan: index into random seeds, then PCT seeds.
    next: u64,
    progress: Rc<RefCell<Progress>>,
    current: Option<Current>,
    /// Scheduling decisions with a real choice in the current schedule.
    steps: usize,
    /// The most such decisions seen in any schedule so far (PCT's step bound).
    max_steps: usize,
}

impl Explorer {
    /// An explorer for `plan`, reporting to `progress`.
    pub fn new(plan: Plan, progress: Rc<RefCell<Progress>>) -> Explorer {
        Explorer {
            plan,
            next: 0,
            progress,
            current: None,
            steps: 0,
            max_steps: 0,
        }
    }

    fn next_token(&mut self) -> Option<Token> {
        let i = self.next;
        if i >= self.plan.len() {
            return None;
        }
        self.next += 1;
        Some(match &self.plan {
            Plan::Replay(t) => *t,
            Plan::Explore {
                base,
                range,
                schedulers,
                depth,
            } => {
                let n = range.end - range.start;
                let (pct, k) = match schedulers {
                    Schedulers::Random => (false, range.start + i),
                    Schedulers::Pct => (true, range.start + i),
                    Schedulers::Both if i < n => (false, range.start + i),
                    Schedulers::Both => (true, range.start + i - n),
                };
                let seed = seed_for(*base, k, pct);
                if pct {
                    let steps = if self.max_steps == 0 {
                        INITIAL_PCT_STEPS
                    } else {
                        self.max_steps
                    };
                    Token::Pct {
                        depth: *depth,
                        steps,
                        seed,
                    }
                } else {
                    Token::Random { seed }
                }
            }
        })
    }
}

impl Scheduler for Explorer {
    fn new_execution(&mut self) -> Option<Schedule> {
        self.max_steps = self.max_steps.max(self.steps);
        self.steps = 0;
        let token = self.next_token()?;
        {
            let mut p = self.progress.borrow_mut();
            p.started += 1;
            p.current = Some(token);
        }
        self.current = Some(match token {
            Token::Random { seed } => Current::Random(Rng(seed)),
            Token::Pct { depth, steps, seed } => {
                let mut rng = Rng(seed);
                let mut change_points = Vec::new();
                let wanted = (depth - 1).min(steps);
                while change_points.len() < wanted {
                    let p = 1 + rng.below(steps);
                    if !change_points.contains(&p) {
                        change_points.push(p);
                    }
                }
                Current::Pct {
                    rng,
                    priorities: HashMap::new(),
                    change_points,
                    next_demoted: u64::from(u32::MAX),
                }
            }
        });
        Some(Schedule::new(token.seed()))
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        if runnable.len() > 1 {
            self.steps += 1;
        }
        let steps = self.steps;
        match self.current.as_mut().expect("new_execution comes first") {
            Current::Random(rng) => Some(runnable[rng.below(runnable.len())].id()),
            Current::Pct {
                rng,
                priorities,
                change_points,
                next_demoted,
            } => {
                for t in runnable {
                    let id = usize::from(t.id());
                    priorities
                        .entry(id)
                        .or_insert_with(|| (1 << 32) | (rng.next() >> 32));
                }
                if runnable.len() > 1 && (change_points.contains(&steps) || is_yielding) {
                    if let Some(cur) = current {
                        *next_demoted -= 1;
                        priorities.insert(usize::from(cur), *next_demoted);
                    }
                }
                runnable
                    .iter()
                    .max_by_key(|t| priorities[&usize::from(t.id())])
                    .map(|t| t.id())
            }
        }
    }

    fn next_u64(&mut self) -> u64 {
        match self.current.as_mut().expect("new_execution comes first") {
            Current::Random(rng) | Current::Pct { rng, .. } => rng.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for t in [
            Token::Random { seed: 0 },
            Token::Random { seed: u64::MAX },
            Token::Pct {
                depth: 3,
                steps: 120,
                seed: 0xdead_beef,
            },
        ] {
            assert_eq!(Token::parse(&t.to_string()), Some(t));
            // The explorer, which reads the same variable, names it as this harness's.
            assert!(evloop_model::tokens::harness_replay_token(&t.to_string()).is_some());
        }
        assert_eq!(Token::parse("pct:0:1:00"), None);
        assert_eq!(Token::parse("dfs:1"), None);
    }
}
