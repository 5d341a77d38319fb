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
//! | `CANCEL`    | a cancellation waits for the task's next step (asyncio's `_must_cancel`) | TASK-7, CANCEL-1 |
//! | `CANCELLED` | the outcome is "cancelled" (only with `COMPLETE`)           | TASK-7               |
//! | `PANICKED`  | the outcome is a caught panic (only with `COMPLETE`)        | TASK-8               |
//! | `STARTED`   | the future has been polled once: a cancellation is delivered into it, not just dropped | CANCEL-2 |
//! | `PASSED`    | the task's cancellation was handed to what it awaits (asyncio: `_fut_waiter.cancel()` accepted it) | CANCEL-6 |
//! | `MESSAGE`   | the loop's cancellation table holds a message or live `Cancelled` values of the task | CANCEL-4, CANCEL-8 |
//!
//! The upper half counts the cancellation requests not taken back (asyncio 3.11's
//! `cancelling()`; `uncancel()` decrements it, CANCEL-3), saturating at `u16::MAX`.
//!
//! `CANCEL` is cleared when a step takes the request for delivery (`Run::Deliver`), so that a
//! task that catches its cancellation runs on, and a second `cancel()` cancels it again.
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
const STARTED: usize = 1 << 7;
const PASSED: usize = 1 << 8;
const MESSAGE: usize = 1 << 9;
/// The cancellation request count: the upper 16 bits.
const REQUEST_SHIFT: u32 = 16;
const REQUEST_ONE: usize = 1 << REQUEST_SHIFT;
const REQUEST_MAX: usize = 0xFFFF;

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
        const NAMES: [(usize, &str); 10] = [
            (SCHEDULED, "SCHEDULED"),
            (RUNNING, "RUNNING"),
            (NOTIFIED, "NOTIFIED"),
            (COMPLETE, "COMPLETE"),
            (CANCEL, "CANCEL"),
            (CANCELLED, "CANCELLED"),
            (PANICKED, "PANICKED"),
            (STARTED, "STARTED"),
            (PASSED, "PASSED"),
            (MESSAGE, "MESSAGE"),
        ];
        let set: Vec<&str> = NAMES
            .iter()
            .filter(|(flag, _)| self.has(*flag))
            .map(|(_, name)| *name)
            .collect();
        if set.is_empty() {
            f.write_str("IDLE")?;
        } else {
            f.write_str(&set.join("|"))?;
        }
        match self.requests() {
            0 => Ok(()),
            n => write!(f, " (cancelling {n})"),
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
    /// Parked: not queued, not being polled, not complete — what it awaits is where it stopped
    /// (the only state in which its cancellation may be handed down, CANCEL-6).
    pub(crate) fn is_parked(self) -> bool {
        self.0 & (SCHEDULED | RUNNING | COMPLETE) == 0
    }
    pub(crate) fn passed(self) -> bool {
        self.has(PASSED)
    }
    pub(crate) fn has_message(self) -> bool {
        self.has(MESSAGE)
    }
    /// asyncio's `cancelling()`: requests not taken back (CANCEL-3).
    pub(crate) fn requests(self) -> u32 {
        (self.0 >> REQUEST_SHIFT) as u32
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
    /// Cancellation was asked and the future has started: poll it once with the cancellation
    /// in flight, so that a catch scope on its await path can take it (CANCEL-2).
    Deliver,
    /// Cancellation was asked before the future's first step: drop it without running any of it.
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

    /// The runner took the task off the ready queue (TASK-3: never two polls at once). Also
    /// returns the state it found (its `PASSED` and `MESSAGE` flags tell the step what to do).
    pub(crate) fn transition_to_running(&self) -> (Run, Snapshot) {
        self.transition(|s| {
            assert!(
                s.has(SCHEDULED) && !s.has(RUNNING) && !s.has(COMPLETE),
                "TASK-3 violated: a task was taken off the ready queue while not scheduled, \
                 already running or complete (state {s:?})"
            );
            let next = (s.0 & !SCHEDULED) | RUNNING;
            if !s.has(CANCEL) {
                ((Run::Poll, s), Some(Snapshot(next | STARTED)))
            } else if s.has(STARTED) {
                // Taken for delivery: a cancellation the step's catch scope takes is spent.
                ((Run::Deliver, s), Some(Snapshot(next & !CANCEL)))
            } else {
                ((Run::Cancel, s), Some(Snapshot(next)))
            }
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

    /// The task finished (TASK-5: exactly once). Returns the state it left.
    #[inline(always)]
    pub(crate) fn transition_to_complete(&self, outcome: Outcome) -> Snapshot {
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
            (s, Some(Snapshot(next)))
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

    /// `cancel()` was called (TASK-7): one more request counted (CANCEL-3). Returns the state
    /// before, or `None` when the task is already complete. The caller then either hands the
    /// cancellation down (`transition_to_passed`) or asks for delivery (`transition_to_must_cancel`).
    pub(crate) fn transition_to_cancel_counted(&self) -> Option<Snapshot> {
        if bug::enabled(Bug::CancelCountLost) {
            // Injected: the count is read, then written back one higher, as two steps. The flags
            // are still updated atomically, so that only the count is lost (not a wake).
            let s = self.load();
            if s.has(COMPLETE) {
                return None;
            }
            evloop_model::thread::yield_now();
            let counted = (s.0 + REQUEST_ONE) & (REQUEST_MAX << REQUEST_SHIFT);
            return self.transition(|fresh| {
                let next = fresh.0 & !(REQUEST_MAX << REQUEST_SHIFT) | counted;
                (Some(s), Some(Snapshot(next)))
            });
        }
        self.transition(|s| {
            if s.has(COMPLETE) {
                (None, None)
            } else {
                let count = if s.requests() as usize >= REQUEST_MAX {
                    s.0
                } else {
                    s.0 + REQUEST_ONE
                };
                (Some(s), Some(Snapshot(count)))
            }
        })
    }

    /// The cancellation waits for the task's next step (asyncio's `_must_cancel = True`).
    /// Returns false when the task has completed meanwhile. `message`: the loop's table holds
    /// one for it.
    pub(crate) fn transition_to_must_cancel(&self, message: bool) -> bool {
        self.transition(|s| {
            if s.has(COMPLETE) {
                (false, None)
            } else {
                let m = if message { MESSAGE } else { 0 };
                (true, Some(Snapshot(s.0 | CANCEL | m)))
            }
        })
    }

    /// What the parked task awaits took its cancellation (CANCEL-6): the task is not woken; it
    /// learns, when what it awaits completes cancelled, that the cancellation was its own.
    pub(crate) fn transition_to_passed(&self) {
        self.transition(|s| ((), Some(Snapshot(s.0 | PASSED))))
    }

    /// The step that found `PASSED` has used it (an await completed).
    pub(crate) fn clear_passed(&self) {
        self.transition(|s| ((), s.has(PASSED).then_some(Snapshot(s.0 & !PASSED))))
    }

    /// The loop's cancellation table now holds something for the task (a message, a live
    /// `Cancelled`): completion must look there.
    pub(crate) fn mark_message(&self) {
        self.transition(|s| ((), (!s.has(MESSAGE)).then_some(Snapshot(s.0 | MESSAGE))))
    }

    /// asyncio's `uncancel()`: takes one request back and returns how many are left (CANCEL-3).
    pub(crate) fn transition_to_uncancelled(&self) -> u32 {
        self.transition(|s| {
            if s.requests() == 0 {
                (0, None)
            } else {
                let next = Snapshot(s.0 - REQUEST_ONE);
                (next.requests(), Some(next))
            }
        })
    }
}
