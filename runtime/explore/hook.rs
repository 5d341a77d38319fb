//! The explorer as the engine sees it: its answers to the turn's open choices
//! (`engine::choices::Explorer`), asked by the production turn itself (`engine::turn::run_turns`)
//! on a loop `explore` builds (one worker, virtual time).
//!
//! What the answers change, each a choice point recorded for the replay token:
//! - `to_thread` jobs are not handed to pool threads; they wait in [`RunState::jobs`] and run on
//!   the loop's thread when a choice says their result lands (EXPLORE-4), so the whole run is one
//!   deterministic thread;
//! - before a turn's due timers are merged into the ready queue, a pending job's result may land
//!   first (EXPLORE-3);
//! - in robustness mode, the items of the turn's batch run in a chosen order (EXPLORE-2).
//!
//! Everything else is the production turn's: only what was ready when the turn began runs in it
//! (LOOP-2, LOOP-3), the clock jumps to the next deadline when nothing is ready (TIME-4), and
//! "nothing ready, no timer, nothing in flight" is a deadlock (LOOP-8, EXPLORE-9). Two rules are
//! the explorer's own: a live resolver is waited for in real time, bounded, since a thread
//! outside the loop may hold it (EXPLORE-21), and the number of turns is bounded (EXPLORE-10).
//!
//! Invariants: no user code runs under either of the hook's locks — a user's chooser is taken out
//! of its slot while it answers, and a deferred job runs with the state unlocked (LOCK-1). Every
//! answer is recorded in order with its number of options, so the answers alone replay the run
//! (EXPLORE-8). An answer out of range stops the run at the next round instead of being taken
//! (EXPLORE-20).

use super::choice::{ChoicePoint, Chooser, Kind};
use super::timeline::{fnv, stamp, ANNOTATION};
use crate::engine::choices::{Explorer, Wait};
use crate::engine::pool::Job;
use crate::engine::ready::Runnable;
use crate::engine::scheduler::Scheduler;
use evloop_model::sync::{Arc, Mutex};
use evloop_model::time::Stopwatch;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// One answered choice point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Taken {
    pub(crate) kind: Kind,
    pub(crate) options: usize,
    pub(crate) chosen: usize,
}

/// One run's explorer: its chooser and what the run records. The loop holds it as [`Plugged`].
pub(crate) struct Hook {
    pub(crate) robust: bool,
    /// False in joint mode (EXPLORE-16): jobs go to the pool's (model) threads, and the loop
    /// parks for cross-thread work as production does.
    pub(crate) defers_jobs: bool,
    /// Apart from `state`: a chooser may be the user's (`Config::custom`), and user code must be
    /// free to call `note`, which takes `state`. Taken out while it answers, so that no user
    /// code runs under this lock either (LOCK-1).
    chooser: Mutex<Option<Box<dyn Chooser>>>,
    state: Mutex<RunState>,
    /// How long, in real time, to wait for a live resolver before giving up (EXPLORE-21).
    outside_thread_wait: Duration,
}

pub(crate) struct RunState {
    pub(crate) choices: Vec<Taken>,
    pub(crate) timeline: Vec<String>,
    jobs: VecDeque<(u64, Job)>,
    next_job: u64,
    pub(crate) turns: u64,
    max_turns: u64,
    pub(crate) livelock: bool,
    pub(crate) steps: u64,
    awaits: Vec<(u64, String)>,
    /// The loop's clock when the current item started (jobs are submitted from items).
    now: Duration,
    /// The chooser answered out of range (EXPLORE-20): what it did, and the run stops.
    misconfigured: Option<String>,
    /// Resolvers still alive when the wait for a thread outside the loop ran out (EXPLORE-21).
    outside_thread: usize,
    /// Since when the loop has waited for a thread outside it, while it does (EXPLORE-21).
    waiting: Option<Stopwatch>,
}

/// What one run left behind.
pub(crate) struct RunRecord {
    pub(crate) choices: Vec<Taken>,
    pub(crate) timeline: Vec<String>,
    pub(crate) turns: u64,
    pub(crate) steps: u64,
    pub(crate) livelock: bool,
    pub(crate) divergence: Option<String>,
    /// For a deadlock or livelock: what each pending task awaits, where that is known.
    pub(crate) awaits: Vec<(u64, String)>,
    /// A chooser's answer out of range (EXPLORE-20).
    pub(crate) misconfigured: Option<String>,
    /// Non-zero: the run stopped after waiting for this many live resolvers (EXPLORE-21).
    pub(crate) outside_thread: usize,
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExploreHook")
            .field("robust", &self.robust)
            .finish_non_exhaustive()
    }
}

impl Hook {
    pub(crate) fn new(
        robust: bool,
        defers_jobs: bool,
        chooser: Box<dyn Chooser>,
        max_turns: u64,
        outside_thread_wait: Duration,
    ) -> Hook {
        Hook {
            robust,
            defers_jobs,
            outside_thread_wait,
            chooser: Mutex::new(Some(chooser)),
            state: Mutex::new(RunState {
                choices: Vec::new(),
                timeline: Vec::new(),
                jobs: VecDeque::new(),
                next_job: 1,
                turns: 0,
                max_turns,
                livelock: false,
                steps: 0,
                awaits: Vec::new(),
                now: Duration::ZERO,
                misconfigured: None,
                outside_thread: 0,
                waiting: None,
            }),
        }
    }

    /// Takes a `to_thread` job instead of the pool (EXPLORE-4). The job already counts as in
    /// flight; it ends that itself when it has delivered.
    pub(crate) fn defer(&self, job: Job) {
        let mut st = self.state.lock();
        let now = st.now;
        let n = st.next_job;
        st.next_job += 1;
        st.jobs.push_back((n, job));
        st.timeline
            .push(format!("{} to_thread job #{n} submitted", stamp(now)));
    }

    pub(crate) fn log(&self, now: Duration, what: impl fmt::Display) {
        self.state
            .lock()
            .timeline
            .push(format!("{} {what}", stamp(now)));
    }

    fn choose(&self, kind: Kind, keys: &[u64]) -> usize {
        let ordinal = {
            let st = self.state.lock();
            if st.misconfigured.is_some() {
                // The run is stopping (`Plugged::arrival` ends it at the next round): FIFO for
                // what is left of this turn.
                return 0;
            }
            st.choices.len()
        };
        // `state` is not held here (see `Hook::chooser`); the loop is one thread, so nothing
        // else adds a choice in between.
        let mut chooser = self
            .chooser
            .lock()
            .take()
            .expect("the chooser is back after every choice");
        let chosen = chooser.choose(&ChoicePoint {
            kind,
            ordinal,
            keys,
        });
        *self.chooser.lock() = Some(chooser);
        let mut st = self.state.lock();
        if chosen >= keys.len() {
            // EXPLORE-20: the chooser is wrong, not the program; no schedule to report.
            st.misconfigured = Some(format!(
                "evloop explore: the Chooser answered {chosen} at choice point #{ordinal} ({}), \
                 which has {} option(s): `Chooser::choose` must return an index below \
                 `point.keys.len()` (0 is FIFO's answer)",
                kind.name(),
                keys.len()
            ));
            return 0;
        }
        if chosen != 0 {
            let line = format!(
                "{}choice #{ordinal} ({}): option {chosen} of {}, where FIFO takes 0",
                ANNOTATION,
                kind.name(),
                keys.len()
            );
            st.timeline.push(line);
        }
        st.choices.push(Taken {
            kind,
            options: keys.len(),
            chosen,
        });
        chosen
    }

    fn job_keys(&self) -> Vec<u64> {
        self.state.lock().jobs.iter().map(|(n, _)| *n).collect()
    }

    /// Runs pending job `i` here, on the loop's thread; its wake lands on the ready queue.
    fn deliver(&self, lp: &Scheduler, i: usize) {
        let (n, job) = {
            let mut st = self.state.lock();
            st.jobs.remove(i).expect("a chosen job exists")
        };
        self.log(
            lp.now(),
            format_args!("to_thread job #{n} runs and delivers"),
        );
        // Not under the state lock: the job is user code, and its wake schedules into the loop.
        job();
    }

    /// A wait for a thread outside the loop ended because something changed: noted as an
    /// annotation, left out of the timeline's hash (whether the thread was done before the loop
    /// looked is up to the OS, not to the schedule).
    fn end_wait(&self) {
        let mut st = self.state.lock();
        if st.waiting.take().is_some() {
            let line = format!("{}waited for a thread outside the loop", ANNOTATION);
            st.timeline.push(line);
        }
    }

    /// Ends the run: hands back what it recorded. Jobs that never delivered run now, oldest first,
    /// as a closing pool runs its queued jobs; nobody awaits their results any more.
    pub(crate) fn finish(&self) -> RunRecord {
        let (record, jobs) = {
            let mut st = self.state.lock();
            let record = RunRecord {
                choices: std::mem::take(&mut st.choices),
                timeline: std::mem::take(&mut st.timeline),
                turns: st.turns,
                steps: st.steps,
                livelock: st.livelock,
                divergence: self.chooser.lock().as_ref().and_then(|c| c.divergence()),
                awaits: std::mem::take(&mut st.awaits),
                misconfigured: st.misconfigured.take(),
                outside_thread: st.outside_thread,
            };
            (record, std::mem::take(&mut st.jobs))
        };
        for (_, job) in jobs {
            job();
        }
        record
    }
}

/// A stable key for an item on the ready queue, so strategies can follow an actor across turns.
fn key_of(item: &Runnable) -> u64 {
    match item {
        Runnable::Task(t) => t.id,
        Runnable::Handle(h) => (1 << 63) | (fnv(h.describe().as_bytes()) >> 1),
        // The runtime's own callbacks (done callbacks, a gathered child's delivery, a loop stop)
        // are no actor a strategy could follow: they share one key, so PCT gives them one
        // priority.
        Runnable::Call(_) | Runnable::Gather(..) => 1 << 62,
        Runnable::Sleep(_) => (1 << 63) | (fnv(item.describe().as_bytes()) >> 1),
    }
}

/// The hook as a loop's explorer (held in its config; `explore` keeps the `Arc` to read the
/// record when the run is over).
pub(crate) struct Plugged(pub(crate) Arc<Hook>);

impl Explorer for Plugged {
    fn defers_jobs(&self) -> bool {
        self.0.defers_jobs
    }

    fn defer(&self, job: Job) {
        self.0.defer(job)
    }

    fn note(&self, now: Duration, line: &str) {
        self.0.log(now, line)
    }

    fn arrival(&self, lp: &Scheduler) -> bool {
        let hook = &*self.0;
        if hook.state.lock().misconfigured.is_some() {
            // EXPLORE-20: stopped through the deadlock path, like a livelock, so that
            // `run_until_complete` returns; `run_once` reports the chooser instead.
            return false;
        }
        // EXPLORE-3: a job's result may land before this turn's due timers are merged.
        let jobs = hook.job_keys();
        if !jobs.is_empty() {
            let mut keys = Vec::with_capacity(jobs.len() + 1);
            keys.push(0);
            keys.extend(jobs);
            let c = hook.choose(Kind::Arrival, &keys);
            if c > 0 {
                hook.deliver(lp, c - 1);
            }
        }
        true
    }

    fn idle(&self, lp: &Scheduler, next: Option<Duration>) -> bool {
        let hook = &*self.0;
        if !hook.defers_jobs {
            // Joint mode: a model thread may still owe a result, and the loop waits for it as
            // production does (TIME-4, LOOP-5); its arrival is the model checker's choice.
            return false;
        }
        let jobs = hook.job_keys();
        if !jobs.is_empty() {
            // EXPLORE-4: which job finishes first, or (a job's duration being unknown) whether
            // the next timer fires before any of them. Option 0 is what production does in
            // virtual time: wait for the oldest job (TIME-4).
            hook.end_wait();
            let njobs = jobs.len();
            let mut keys = jobs;
            if next.is_some() {
                keys.push(u64::MAX);
            }
            let c = hook.choose(Kind::Idle, &keys);
            if c < njobs {
                hook.deliver(lp, c);
            } else if let Some(d) = next {
                hook.log(d, "clock jumps here before any to_thread job finishes");
                lp.advance_clock(d);
            }
            return true;
        }
        match next {
            // Production would not jump while a resolver is alive (TIME-4); the explorer runs no
            // thread that could use one, so it moves on to the timer (EXPLORE-21 says so).
            Some(d) => {
                hook.end_wait();
                hook.log(d, "clock jumps to the next timer");
                lp.advance_clock(d);
                true
            }
            None => false,
        }
    }

    fn clock_jumps(&self, _: &Scheduler, to: Duration) {
        self.0.log(to, "clock jumps to the next timer");
    }

    /// EXPLORE-21: main is pending and nothing on the loop can wake it, but resolvers are alive
    /// (no job is pending), and a thread the program started itself may hold one: the explorer
    /// does not run that thread, so the loop parks for it as production would, in real time, but
    /// at most the hook's `outside_thread_wait` in all. A resolver that delivers queues its wake
    /// through `schedule`, and the last one to go away notifies (`Scheduler::inflight_end`), so
    /// the park ends as soon as something changes; no polling.
    fn wait(&self, lp: &Scheduler) -> Wait {
        let hook = &*self.0;
        if !hook.defers_jobs {
            return Wait::Forever;
        }
        let mut st = hook.state.lock();
        let watch = st.waiting.get_or_insert_with(Stopwatch::start);
        let left = hook.outside_thread_wait.saturating_sub(watch.elapsed());
        if left.is_zero() {
            st.waiting = None;
            st.outside_thread = lp.inflight().max(1);
            Wait::GiveUp
        } else {
            Wait::For(left)
        }
    }

    /// Counts a turn; false once the bound is passed (EXPLORE-10).
    fn begin_turn(&self, lp: &Scheduler) -> bool {
        let hook = &*self.0;
        hook.end_wait();
        let mut st = hook.state.lock();
        st.turns += 1;
        if st.turns <= st.max_turns {
            return true;
        }
        st.livelock = true;
        drop(st);
        hook.log(lp.now(), "livelock: the turn bound was reached");
        false
    }

    fn pick(&self, batch: &VecDeque<Runnable>) -> usize {
        let hook = &*self.0;
        if hook.robust && batch.len() > 1 {
            let keys: Vec<u64> = batch.iter().map(key_of).collect();
            hook.choose(Kind::Ready, &keys)
        } else {
            0
        }
    }

    fn running(&self, lp: &Scheduler, item: &Runnable) {
        let mut st = self.0.state.lock();
        st.steps += 1;
        st.now = lp.now();
        let line = format!("{} {}", stamp(st.now), item.describe());
        st.timeline.push(line);
    }

    fn stopped(&self, lp: &Scheduler) {
        let hook = &*self.0;
        let (misconfigured, livelock, outside) = {
            let st = hook.state.lock();
            (st.misconfigured.is_some(), st.livelock, st.outside_thread)
        };
        if misconfigured {
            return;
        }
        if outside > 0 {
            hook.log(
                lp.now(),
                format_args!(
                    "waiting on an outside thread: nothing ready, no timer can fire, no job \
                     pending, and {outside} resolver(s) alive but unused within {:?}",
                    hook.outside_thread_wait
                ),
            );
        } else if !livelock {
            hook.end_wait();
            hook.log(
                lp.now(),
                "deadlock: nothing ready, no timer can fire, no job pending",
            );
        }
        describe_waits(hook);
    }
}

/// EXPLORE-9: for each pending task, what it awaits — another task, when that task's done list
/// holds its waker; otherwise something that is not a task (a future nobody completes, a
/// `gather`, a task's `wait()`), which is said as such.
fn describe_waits(hook: &Hook) {
    let Some(lp) = crate::context::running_loop() else {
        return;
    };
    let tasks = lp.pending_tasks();
    let mut awaits = Vec::new();
    for waiting in &tasks {
        let mine = waiting.cell().own_waker();
        let awaited = tasks.iter().find(|other| {
            let mut found = false;
            other.cell().done.lock().entries.for_each(|e| {
                if let crate::engine::cell::DoneEntry::Wake(w) = e {
                    found |= w.will_wake(&mine);
                }
            });
            found
        });
        let what = match awaited {
            Some(t) => format!(
                "awaits task {} (id {}, created at {})",
                t.name(),
                t.id(),
                t.created_at()
            ),
            None => "awaits something that is not a task (a future nobody completes, a gather, \
                     or a task's wait())"
                .to_owned(),
        };
        hook.log(
            lp.now(),
            format_args!("  {} (id {}) {what}", waiting.name(), waiting.id()),
        );
        awaits.push((waiting.id(), what));
    }
    hook.state.lock().awaits = awaits;
}
