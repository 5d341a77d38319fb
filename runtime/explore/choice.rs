//! The loop's choice points and the strategies that answer them.
//!
//! A choice point is a place where the spec allows more than one next step (EXPLORE-1). The loop
//! asks a [`Chooser`] for an index into the options; option 0 is always what production FIFO does,
//! so "deviations from FIFO" are simply the non-zero answers (EXPLORE-7).
//!
//! | kind              | where the turn asks (`engine::turn`)    | options                              | modes      |
//! |-------------------|-----------------------------------------|--------------------------------------|------------|
//! | [`Kind::Ready`]   | each pick from the turn's batch         | the items still in the batch         | robustness |
//! | [`Kind::Arrival`] | start of a turn, before due timers move | "not yet", then each pending job     | both       |
//! | [`Kind::Idle`]    | nothing ready, `to_thread` jobs pending | each pending job, then "timer first" | both       |
//!
//! The questions are put to the chooser by `hook.rs`, which answers the turn's `Explorer` calls.
//! Invariants: a chooser sees each choice point once, numbered in order within the run, with at
//! least one option; its answer is an index below the number of options, or the run stops with a
//! configuration error (EXPLORE-20). The built-in choosers are deterministic functions of their
//! seed or prefix, so a run is reproduced by the same answers (EXPLORE-8, EXPLORE-15).
//!
//! Spec ids: EXPLORE-1, EXPLORE-2, EXPLORE-3, EXPLORE-4 (the choice points), EXPLORE-7 (prefixes
//! for DFS), EXPLORE-15 (seeded random and PCT), EXPLORE-16 (the model checker's chooser).
//!
//! ```
//! use evloop::explore::choice::{ChoicePoint, Chooser, Fifo, Kind};
//! let point = ChoicePoint { kind: Kind::Ready, ordinal: 0, keys: &[7, 8, 9] };
//! assert_eq!(Fifo.choose(&point), 0); // option 0 is what production FIFO does
//! ```

/// Which kind of choice the loop is making (see the table in the module docs).
///
/// ```
/// use evloop::explore::{explore, ChoicePoint, Chooser, Config, Kind};
/// /// Takes FIFO's answer, checking what is asked.
/// struct OnlyJobs;
/// impl Chooser for OnlyJobs {
///     fn choose(&mut self, point: &ChoicePoint<'_>) -> usize {
///         // Conformance mode keeps each turn in FIFO order: it asks only about `to_thread` jobs.
///         assert!(matches!(point.kind, Kind::Arrival | Kind::Idle));
///         0
///     }
/// }
/// explore(Config::conformance().custom(1, |_| Box::new(OnlyJobs)), || async {
///     let other = evloop::create_task(async {}); // two ready items: no question in this mode
///     evloop::to_thread(|| ()).await.unwrap(); // when does the job's result land?
///     other.await.unwrap();
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Which item of the current turn's batch runs next (robustness mode only; asyncio fixes FIFO).
    Ready,
    /// Whether a pending `to_thread` job's result lands now, before this turn's due timers are
    /// merged into the ready queue, and which one.
    Arrival,
    /// Nothing is ready and jobs are pending: which job finishes first, or whether the next
    /// timer fires before any of them does.
    Idle,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Ready => "ready",
            Kind::Arrival => "arrival",
            Kind::Idle => "idle",
        }
    }
}

/// One question the loop asks a [`Chooser`].
///
/// ```
/// use evloop::explore::{explore, ChoicePoint, Chooser, Config};
/// /// FIFO, checking what the loop asks.
/// struct Check(usize);
/// impl Chooser for Check {
///     fn choose(&mut self, point: &ChoicePoint<'_>) -> usize {
///         assert_eq!(point.ordinal, self.0); // numbered in order within the run
///         assert!(!point.keys.is_empty()); // option 0, FIFO's answer, always exists
///         self.0 += 1;
///         0
///     }
/// }
/// explore(Config::robustness().custom(2, |_| Box::new(Check(0))), || async {
///     evloop::gather([1, 2, 3].map(|n| async move { n })).await.unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct ChoicePoint<'a> {
    /// What is being chosen.
    pub kind: Kind,
    /// How many choice points came before this one in this run.
    pub ordinal: usize,
    /// A stable key per option (a task id, a job number, ...), so strategies such as PCT can give
    /// the same actor the same priority across choice points. Option 0 is FIFO's answer.
    pub keys: &'a [u64],
}

/// Answers the loop's choice points. `choose` must return an index below `point.keys.len()`;
/// 0 is always the production (FIFO) answer. An answer out of range stops the run, and the
/// exploration fails with a [`FailureKind::Config`](super::FailureKind::Config) error naming it
/// (EXPLORE-20).
///
/// ```
/// use evloop::explore::{explore, ChoicePoint, Chooser, Config};
/// /// Always the last option: LIFO where FIFO takes the first.
/// struct Last;
/// impl Chooser for Last {
///     fn choose(&mut self, point: &ChoicePoint<'_>) -> usize { point.keys.len() - 1 }
/// }
/// let report = explore(Config::robustness().custom(1, |_| Box::new(Last)), || async {
///     let out = evloop::gather([1, 2].map(|n| async move { n })).await.unwrap();
///     assert_eq!(out, [1, 2]); // argument order, whatever order the children ran in
/// });
/// assert_eq!(report.runs, 1);
/// ```
pub trait Chooser: Send {
    /// Picks one option.
    fn choose(&mut self, point: &ChoicePoint<'_>) -> usize;

    /// A replaying chooser says here that the run asked a question its schedule cannot answer
    /// (the program or the runtime changed since the schedule was recorded).
    fn divergence(&self) -> Option<String> {
        None
    }
}

/// asyncio's order: always option 0.
///
/// ```
/// use evloop::explore::{explore, Config, Fifo};
/// // Always option 0: the order `evloop::run` uses, so the children start in argument order.
/// explore(Config::robustness().custom(1, |_| Box::new(Fifo)), || async {
///     let first = evloop::LoopFuture::new(); // the first `set_result` wins
///     let child = |n: u32| { let f = first.clone(); async move { let _ = f.set_result(n); } };
///     evloop::gather([child(0), child(1)]).await.unwrap();
///     assert_eq!(first.await.unwrap(), 0);
/// });
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Fifo;

impl Chooser for Fifo {
    fn choose(&mut self, _: &ChoicePoint<'_>) -> usize {
        0
    }
}

/// splitmix64: tiny, seedable, and the same on every platform, which is what a replayable seed
/// needs (no dependency, no global state).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant for option counts this small.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Uniformly random answers from a seed.
#[derive(Debug, Clone)]
pub(crate) struct RandomChooser {
    rng: Rng,
}

impl RandomChooser {
    pub(crate) fn new(seed: u64) -> RandomChooser {
        RandomChooser {
            rng: Rng::new(seed),
        }
    }
}

impl Chooser for RandomChooser {
    fn choose(&mut self, point: &ChoicePoint<'_>) -> usize {
        self.rng.below(point.keys.len())
    }
}

/// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010) over task-level choices:
/// every actor (key) gets a random priority when first seen, the highest-priority option wins,
/// and at `depth - 1` randomly placed choice points the winner drops below everyone seen so far.
/// A bug that needs `d` specific ordering constraints is found with probability at least
/// 1 / (n * k^(d-1)) per run, for n actors and k choice points.
#[derive(Debug, Clone)]
pub(crate) struct PctChooser {
    rng: Rng,
    priorities: std::collections::HashMap<(Kind, u64), u64>,
    change_points: Vec<usize>,
    lowest: u64,
}

impl PctChooser {
    /// `horizon` is how many choice points a run is expected to have (learned from earlier runs).
    pub(crate) fn new(seed: u64, depth: usize, horizon: usize) -> PctChooser {
        let mut rng = Rng::new(seed);
        let change_points = (1..depth.max(1))
            .map(|_| rng.below(horizon.max(1)))
            .collect();
        PctChooser {
            rng,
            priorities: Default::default(),
            change_points,
            lowest: u64::MAX / 2,
        }
    }
}

impl Chooser for PctChooser {
    fn choose(&mut self, point: &ChoicePoint<'_>) -> usize {
        let mut best = 0;
        let mut best_priority = 0;
        for (i, &key) in point.keys.iter().enumerate() {
            let rng = &mut self.rng;
            // Fresh actors draw from the upper half, so a demoted actor stays below all of them.
            let p = *self
                .priorities
                .entry((point.kind, key))
                .or_insert_with(|| u64::MAX / 2 + 1 + rng.next_u64() / 2);
            if i == 0 || p > best_priority {
                best = i;
                best_priority = p;
            }
        }
        if self.change_points.contains(&point.ordinal) {
            self.lowest -= 1;
            self.priorities
                .insert((point.kind, point.keys[best]), self.lowest);
        }
        best
    }
}

/// Follows given answers, then answers FIFO. Used by DFS (the prefix to extend), by replay (the
/// token's deviations) and by shrinking.
#[derive(Debug, Clone)]
pub(crate) struct PrefixChooser {
    /// (choice point ordinal, option) of every non-zero answer, ordinals ascending. Sparse: a
    /// token's ordinals come from outside, and what they cost must not grow with their size
    /// (EXPLORE-17).
    answers: Vec<(usize, usize)>,
    /// How many choice points the run has asked so far.
    asked: usize,
    /// Replay must not silently take a different path: an answer out of range is recorded here.
    pub(crate) diverged: Option<String>,
    strict: bool,
}

impl PrefixChooser {
    /// From one answer per choice point (DFS, shrinking).
    pub(crate) fn new(prefix: Vec<usize>, strict: bool) -> PrefixChooser {
        let answers = prefix
            .into_iter()
            .enumerate()
            .filter(|&(_, c)| c != 0)
            .collect();
        PrefixChooser::sparse(answers, strict)
    }

    /// From the non-zero answers alone, ordinals ascending (a token's deviations).
    pub(crate) fn sparse(answers: Vec<(usize, usize)>, strict: bool) -> PrefixChooser {
        debug_assert!(answers.windows(2).all(|w| w[0].0 < w[1].0));
        PrefixChooser {
            answers,
            asked: 0,
            diverged: None,
            strict,
        }
    }
}

impl Chooser for PrefixChooser {
    fn choose(&mut self, point: &ChoicePoint<'_>) -> usize {
        self.asked = self.asked.max(point.ordinal.saturating_add(1));
        let want = self
            .answers
            .binary_search_by_key(&point.ordinal, |&(i, _)| i)
            .map_or(0, |k| self.answers[k].1);
        let n = point.keys.len();
        if want < n {
            return want;
        }
        if self.strict && self.diverged.is_none() {
            self.diverged = Some(format!(
                "choice point #{} ({}) has {n} option(s) but the schedule asks for option {want}",
                point.ordinal,
                point.kind.name()
            ));
        }
        n - 1
    }

    fn divergence(&self) -> Option<String> {
        if let Some(why) = &self.diverged {
            return Some(why.clone());
        }
        let &(last, _) = self.answers.last()?;
        (self.strict && last >= self.asked).then(|| {
            format!(
                "the run asked {} choice point(s), but the schedule names choice point #{last}",
                self.asked
            )
        })
    }
}

/// Joint mode (EXPLORE-16): every answer is drawn from the model checker's scheduler, so the
/// checker's schedule fixes both thread interleavings and task-level choices.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SchedulerChooser;

impl Chooser for SchedulerChooser {
    fn choose(&mut self, point: &ChoicePoint<'_>) -> usize {
        evloop_model::rand::scheduler_choice(point.keys.len())
    }
}
