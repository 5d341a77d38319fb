//! The task's state word.
//!
//! ```text
//!              wake (Submit)            run (Poll / Cancel)
//!   IDLE ────────────────────► SCHEDULED ───────────────────► RUNNING
//!    ▲                                                          │  │
//!    │        idle (Ok): Pending and no wake during the poll    │  │ complete: Ready, or
//!    └──────────────────────────────────────────────────────────┘  │ cancelled at a
//!                                                                   │ suspension point
//!   RUNNING + wake ─► RUNNING|NOTIFIED ─ idle (Reschedule) ─► SCHEDULED
//!                                                                   ▼
//!                                                               COMPLETE (final)
//! ```
//!
//! | flag        | meaning                                                    | guarantee            |
//! |-------------|------------------------------------------------------------|----------------------|
//! | `SCHEDULED` | exactly one queue entry for the task exists                | TASK-3 (no double poll) |
//! | `RUNNING`   | one thread is polling the task's future right now          | TASK-3               |
//! | `NOTIFIED`  | a wake arrived during the poll; the poll's end re-queues   | TASK-4 (no lost wake) |
//! | `COMPLETE`  | the outcome is stored; never unset once set                | TASK-5               |
//! | `CANCEL`    | `cancel()` was asked; never unset once set                  | TASK-7               |
//! | `CANCELLED` | the outcome is "cancelled" (only with `COMPLETE`)           | TASK-7               |
//! | `PANICKED`  | the outcome is a caught panic (only with `COMPLETE`)        | TASK-8               |
//!
//! Every transition is one method built on [`State::transition`], the single compare-and-swap
//! loop; each returns a `#[must_use]` value telling the caller what to do next.

use evloop_model::bug::{self, Bug};
use evloop_model::sync::atomic::{AtomicU32, Ordering};

const SCHEDULED: usize = 1 << 0;
const RUNNING: usize = 1 << 1;
const NOTIFIED: usize = 1 << 2;
const COMPLETE: usize = 1 << 3;
const CANCEL: usize = 1 << 4;
const CANCELLED: usize = 1 << 5;
const PANICKED: usize = 1 << 6;

/// The atomic state word. 32 bits: the flags need 7, and the cell packs its registry key into
/// the other half of the word this would round up to.
#[derive(Debug)]
pub(crate) struct State(AtomicU32);

/// A plain copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
///
/// A `usize` although the word is 32 bits, so that the transitions' `(action, Option<Snapshot>)`
/// results stay in registers (PROFILING, "Code placement").
pub(crate) struct Snapshot(usize);

/// The flags by name, so that assertion messages and model-check timelines read as states.
impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [(usize, &str); 7] = [
            (SCHEDULED, "SCHEDULED"),
            (RUNNING, "RUNNING"),
            (NOTIFIED, "NOTIFIED"),
            (COMPLETE, "COMPLETE"),
            (CANCEL, "CANCEL"),
            (CANCELLED, "CANCELLED"),
            (PANICKED, "PANICKED"),
        ];
        let set: Vec<&str> = NAMES
            .iter()
            .filter(|(flag, _)| self.has(*flag))
            .map(|(_, name)| *name)
            .collect();
        if set.is_empty() {
            f.write_str("IDLE")
        } else {
            f.write_str(&set.join("|"))
        }
    }
}

impl Snapshot {
    fn has(self, flag: usize) -> bool {
        self.0 & flag != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.has(COMPLETE)
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.has(CANCELLED)
    }
    pub(crate) fn is_panicked(self) -> bool {
        self.has(PANICKED)
    }
    pub(crate) fn cancel_requested(self) -> bool {
        self.has(CANCEL)
    }
}

/// What a waker must do after [`State::transition_to_notified`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Notify {
    /// The task went IDLE → SCHEDULED: push it on the ready queue.
    Submit,
    /// Already queued, being polled (the poll's end re-queues it), or complete.
    Nothing,
}

/// What the runner must do after [`State::transition_to_running`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Run {
    /// Poll the future.
    Poll,
    /// Cancellation was asked: drop the future instead of polling it.
    Cancel,
}

/// What the runner must do after [`State::transition_to_idle`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Idle {
    /// Nothing: some later wake will re-queue the task.
    Parked,
    /// A wake arrived during the poll: the task is SCHEDULED again; push it on the ready queue.
    Reschedule,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Returned,
    Cancelled,
    Panicked,
}

impl State {
    /// A new task is created SCHEDULED: asyncio queues a task's first step when it is created.
    pub(crate) fn new_scheduled() -> State {
        State(AtomicU32::new(SCHEDULED as u32))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Acquire) as usize)
    }

    /// The one compare-and-swap loop: `f` sees the current value and returns the caller's action
    /// plus the next value (or `None` to leave the word unchanged).
    fn transition<R>(&self, mut f: impl FnMut(Snapshot) -> (R, Option<Snapshot>)) -> R {
        let mut cur = self.load();
        loop {
            let (action, next) = f(cur);
            let Some(next) = next else { return action };
            match self.0.compare_exchange(
                cur.0 as u32,
                next.0 as u32,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return action,
                Err(actual) => cur = Snapshot(actual as usize),
            }
        }
    }

    /// A waker fired (TASK-3, TASK-4). Also returns the state the wake found, for traces.
    pub(crate) fn transition_to_notified(&self) -> (Notify, Snapshot) {
        self.transition(|s| {
            if s.has(COMPLETE) && !bug::enabled(Bug::WakeAfterComplete) {
                ((Notify::Nothing, s), None)
            } else if s.has(RUNNING) {
                if bug::enabled(Bug::LostWakeup) {
                    return ((Notify::Nothing, s), None);
                }
                ((Notify::Nothing, s), Some(Snapshot(s.0 | NOTIFIED)))
            } else if s.has(SCHEDULED) && !bug::enabled(Bug::DoublePoll) {
                ((Notify::Nothing, s), None)
            } else {
                ((Notify::Submit, s), Some(Snapshot(s.0 | SCHEDULED)))
            }
        })
    }

    /// The runner took the task off the ready queue (TASK-3: never two polls at once).
    pub(crate) fn transition_to_running(&self) -> Run {
        self.transition(|s| {
            assert!(
                s.has(SCHEDULED) && !s.has(RUNNING) && !s.has(COMPLETE),
                "TASK-3 violated: a task was taken off the ready queue while not scheduled, \
                 already running or complete (state {s:?})"
            );
            let run = if s.has(CANCEL) {
                Run::Cancel
            } else {
                Run::Poll
            };
            (run, Some(Snapshot((s.0 & !SCHEDULED) | RUNNING)))
        })
    }

    /// The poll returned `Pending` (TASK-4: a wake during the poll re-queues the task).
    pub(crate) fn transition_to_idle(&self) -> Idle {
        self.transition(|s| {
            assert!(
                s.has(RUNNING),
                "transition_to_idle on a task that was not running"
            );
            if s.has(NOTIFIED) {
                let next = (s.0 & !(RUNNING | NOTIFIED)) | SCHEDULED;
                (Idle::Reschedule, Some(Snapshot(next)))
            } else {
                (Idle::Parked, Some(Snapshot(s.0 & !RUNNING)))
            }
        })
    }

    /// The task finished (TASK-5: exactly once).
    pub(crate) fn transition_to_complete(&self, outcome: Outcome) {
        self.transition(|s| {
            assert!(
                s.has(RUNNING) && !s.has(COMPLETE),
                "TASK-5 violated: a task completed twice or without running (state {s:?})"
            );
            let mut next = (s.0 & !(RUNNING | NOTIFIED | SCHEDULED)) | COMPLETE;
            match outcome {
                Outcome::Returned => {}
                Outcome::Cancelled => next |= CANCELLED,
                Outcome::Panicked => next |= PANICKED,
            }
            ((), Some(Snapshot(next)))
        })
    }

    /// The loop is closing with this task unfinished (LOOP-6): it ends as cancelled without
    /// running again. False when it had already completed.
    pub(crate) fn transition_to_torn_down(&self) -> bool {
        self.transition(|s| {
            assert!(
                !s.has(RUNNING),
                "a task was torn down while it was being polled"
            );
            if s.has(COMPLETE) {
                (false, None)
            } else {
                let next = (s.0 & !(SCHEDULED | NOTIFIED)) | COMPLETE | CANCELLED;
                (true, Some(Snapshot(next)))
            }
        })
    }

    /// `cancel()` was called (TASK-7). Returns false when the task is already complete.
    pub(crate) fn transition_to_cancel_requested(&self) -> bool {
        self.transition(|s| {
            if s.has(COMPLETE) {
                (false, None)
            } else if s.has(CANCEL) {
                (true, None)
            } else {
                (true, Some(Snapshot(s.0 | CANCEL)))
            }
        })
    }
}
