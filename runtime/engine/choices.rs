//! The turn's open choices, and who answers them.
//!
//! asyncio's `_run_once` is deterministic only because one thread runs it and the OS decides when
//! other threads' results arrive. Three places in a turn are left open by the spec, and the turn
//! (`turn::run_turns`) asks a [`Choices`] at each of them:
//!
//! | where in the turn                        | production ([`Fifo`])           | `explore` (`crate::explore::hook`) |
//! |------------------------------------------|---------------------------------|------------------------------------|
//! | before due timers merge (EXPLORE-3)      | nothing arrives                 | a deferred `to_thread` result may land |
//! | nothing is ready (EXPLORE-4)             | jump a virtual clock / park     | which deferred result lands first, or the next timer |
//! | which item of the batch runs next (EXPLORE-2) | the oldest (LOOP-2)        | robustness mode: any of them |
//!
//! plus the explorer's bookkeeping around them (its turn bound, its timeline, a bounded wait for
//! threads outside the loop). The turn is generic over `Choices`, and [`Fifo`]'s `ASKS` is
//! false, so production's turn is compiled with no question in it: the turn that ships is the
//! turn `explore` runs, and asking costs production nothing (EXPLORE-12).

use super::pool::Job;
use super::ready::Runnable;
use super::scheduler::Scheduler;
use std::collections::VecDeque;
use std::time::Duration;

/// What the turn asks at its open places; see the module documentation. Every method is called
/// with no runtime lock held (an answer may run a deferred job, which wakes a task).
pub(crate) trait Choices {
    /// Whether anything is asked: false compiles every question out of the turn.
    const ASKS: bool;
    /// At the top of every round of the loop, before due timers are merged: a deferred result may
    /// land now. False ends the run (the chooser itself went wrong).
    fn arrival(&self, lp: &Scheduler) -> bool;
    /// Nothing is ready; `next` is the next deadline. True when the answer changed something (a
    /// deferred result landed, the clock moved) and the turn must look again; false to go on as
    /// production does.
    fn idle(&self, lp: &Scheduler, next: Option<Duration>) -> bool;
    /// A virtual clock jumps to `to` because nothing is ready and nothing is in flight (TIME-4).
    fn clock_jumps(&self, lp: &Scheduler, to: Duration);
    /// How long to wait, parked, for work from another thread when production would wait for
    /// it indefinitely.
    fn wait(&self, lp: &Scheduler) -> Wait;
    /// A turn takes its batch; false ends the run as a livelock.
    fn begin_turn(&self, lp: &Scheduler) -> bool;
    /// Which item of the batch runs next (an index into `batch`).
    fn pick(&self, batch: &VecDeque<Runnable>) -> usize;
    /// `item` is about to run.
    fn running(&self, lp: &Scheduler, item: &Runnable);
    /// The run ends with nothing able to wake its main task: a deadlock (LOOP-8), a livelock, or
    /// a wait for an outside thread given up.
    fn stopped(&self, lp: &Scheduler);
}

/// [`Choices::wait`]'s answer.
pub(crate) enum Wait {
    /// As production: until woken.
    Forever,
    /// At most this long, then ask again.
    For(Duration),
    /// Stop waiting: end the run as a deadlock.
    GiveUp,
}

/// Production's answers: FIFO, nothing arrives but what arrives, never give up.
pub(crate) struct Fifo;

impl Choices for Fifo {
    const ASKS: bool = false;
    #[inline(always)]
    fn arrival(&self, _: &Scheduler) -> bool {
        true
    }
    #[inline(always)]
    fn idle(&self, _: &Scheduler, _: Option<Duration>) -> bool {
        false
    }
    #[inline(always)]
    fn clock_jumps(&self, _: &Scheduler, _: Duration) {}
    #[inline(always)]
    fn wait(&self, _: &Scheduler) -> Wait {
        Wait::Forever
    }
    #[inline(always)]
    fn begin_turn(&self, _: &Scheduler) -> bool {
        true
    }
    #[inline(always)]
    fn pick(&self, _: &VecDeque<Runnable>) -> usize {
        0
    }
    #[inline(always)]
    fn running(&self, _: &Scheduler, _: &Runnable) {}
    #[inline(always)]
    fn stopped(&self, _: &Scheduler) {}
}

/// What `explore` plugs into a loop it builds (one worker, virtual time): its answers to the
/// turn's choices, and the `to_thread` jobs it keeps to run itself when a choice says their result
/// lands (EXPLORE-4). Object-safe, so the engine knows nothing of the explorer's types.
pub(crate) trait Explorer: Send + Sync {
    /// False in joint mode (EXPLORE-16): jobs go to the pool's threads as in production.
    fn defers_jobs(&self) -> bool;
    /// Takes a job instead of the pool. The job already counts as in flight.
    fn defer(&self, job: Job);
    /// A line for the explorer's timeline (`explore::note`), at loop time `now`.
    fn note(&self, now: Duration, line: &str);
    fn arrival(&self, lp: &Scheduler) -> bool;
    fn idle(&self, lp: &Scheduler, next: Option<Duration>) -> bool;
    fn clock_jumps(&self, lp: &Scheduler, to: Duration);
    fn wait(&self, lp: &Scheduler) -> Wait;
    fn begin_turn(&self, lp: &Scheduler) -> bool;
    fn pick(&self, batch: &VecDeque<Runnable>) -> usize;
    fn running(&self, lp: &Scheduler, item: &Runnable);
    fn stopped(&self, lp: &Scheduler);
}

/// How a loop holds its explorer: the model checkers' `Arc` cannot be unsized, so the trait
/// object is boxed inside it.
pub(crate) type ExplorerRc = evloop_model::sync::Arc<Box<dyn Explorer>>;

impl Choices for &dyn Explorer {
    const ASKS: bool = true;
    fn arrival(&self, lp: &Scheduler) -> bool {
        Explorer::arrival(*self, lp)
    }
    fn idle(&self, lp: &Scheduler, next: Option<Duration>) -> bool {
        Explorer::idle(*self, lp, next)
    }
    fn clock_jumps(&self, lp: &Scheduler, to: Duration) {
        Explorer::clock_jumps(*self, lp, to)
    }
    fn wait(&self, lp: &Scheduler) -> Wait {
        Explorer::wait(*self, lp)
    }
    fn begin_turn(&self, lp: &Scheduler) -> bool {
        Explorer::begin_turn(*self, lp)
    }
    fn pick(&self, batch: &VecDeque<Runnable>) -> usize {
        Explorer::pick(*self, batch)
    }
    fn running(&self, lp: &Scheduler, item: &Runnable) {
        Explorer::running(*self, lp, item)
    }
    fn stopped(&self, lp: &Scheduler) {
        Explorer::stopped(*self, lp)
    }
}
