//! The task cell: one reference-counted allocation per task, shared by the ready queue, the loop's
//! registry, every waker and the handles.
//!
//! Access rights (each use cites the rule it relies on):
//! - **R1** `state`: anyone, only through the named transitions in [`super::state`].
//! - **R2** `body`: polled only by the runner that won `transition_to_running` (TASK-3), so the lock
//!   is never contended while polling; the outcome is taken only once `state` says COMPLETE. The
//!   body also keeps the task's own waker, and drops it with the future (completion, cancellation,
//!   tear-down), which breaks the cell → waker → cell cycle.
//! - **R3** `done`: the done list is closed exactly once, by [`TaskCell::complete`] (TASK-5); an
//!   entry added after closing is dispatched at once by the adder, so none is lost (TASK-6).
//! - **R4** the loop's registry holds one strong reference from creation until completion, so a
//!   task runs to the end even when every handle is dropped (TASK-9).

use crate::entries::Entries;
use crate::event_loop::LoopInner;
use crate::gather::SinkRc;
use crate::queue::Runnable;
use crate::task::body::Body;
use crate::task::state::{Idle, Notify, Outcome, Run, State};
use evloop_model::sync::{Arc, Mutex};
use evloop_model::task::{waker, Wake, Wakeable};
use evloop_model::trace;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Poll, Waker};

/// A task's own name (see [`TaskCell::name`]).
pub(crate) type TaskName = Box<Box<str>>;

/// The shared reference every part of the runtime holds to a task.
pub(crate) type TaskRc = Arc<Wakeable<TaskCell>>;

pub(crate) struct TaskCell {
    pub(crate) id: u64,
    /// Boxed twice so that the usual unnamed task pays one word, not two: the cell is most of
    /// what a parked task costs, and at 120 bytes it fits malloc's 144-byte chunks.
    pub(crate) name: Option<TaskName>,
    pub(crate) created_at: &'static Location<'static>,
    pub(crate) state: State,
    pub(crate) body: Mutex<Pin<Box<dyn Body>>>,
    pub(crate) done: Mutex<DoneList>,
    pub(crate) lp: Arc<LoopInner>,
}

/// Who is told when the task completes, in the order they asked (asyncio's done callbacks; an
/// awaiting task is one of them).
pub(crate) struct DoneList {
    pub(crate) closed: bool,
    pub(crate) entries: DoneEntries,
    /// Where the typed handle's waker sits in `entries`, once it has awaited. `u32` keeps the
    /// list, and so every parked task, smaller; nobody awaits one task four billion times.
    pub(crate) join_index: Option<u32>,
    /// The typed handle was dropped before completion: nobody can read a panic any more.
    pub(crate) detached: bool,
    /// The outcome was moved out by the typed handle.
    pub(crate) taken: bool,
    /// Slot in the loop's registry (R4); `u32` like the registry's keys.
    pub(crate) registry_key: u32,
}

/// The done list's entries, in the order they were added (first one inline, see [`Entries`]).
pub(crate) type DoneEntries = Entries<DoneEntry>;

pub(crate) enum DoneEntry {
    /// Wake this waker (a task awaiting the handle, or a `TaskRef::wait` future).
    Wake(Option<Waker>),
    /// Schedule this callback with `call_soon`.
    Call(Box<dyn FnOnce() + Send>),
    /// Schedule, with `call_soon`, the delivery of this task's outcome to slot `index` of a
    /// gather: a `Call` without a boxed closure per child.
    Gather(SinkRc, u32),
}

impl TaskCell {
    pub(crate) fn new(
        id: u64,
        name: Option<TaskName>,
        created_at: &'static Location<'static>,
        body: Pin<Box<dyn Body>>,
        registry_key: u32,
        lp: Arc<LoopInner>,
    ) -> TaskRc {
        Arc::new(Wakeable::new(TaskCell {
            id,
            name,
            created_at,
            state: State::new_scheduled(),
            body: Mutex::new(body),
            done: Mutex::new(DoneList {
                closed: false,
                entries: DoneEntries::default(),
                join_index: None,
                detached: false,
                taken: false,
                registry_key,
            }),
            lp,
        }))
    }

    /// The task's display name: its own, or asyncio's `Task-<id>`.
    pub(crate) fn display_name(&self) -> String {
        match &self.name {
            Some(n) => String::from(&***n),
            None => format!("Task-{}", self.id),
        }
    }

    /// Asks for cancellation and wakes the task so it is cancelled at its next suspension point
    /// (TASK-7). False when it has already completed.
    pub(crate) fn cancel(this: &TaskRc) -> bool {
        if this.state.transition_to_cancel_requested() {
            trace::record(|| format!("task {} cancel requested", this.id));
            TaskCell::wake_by_ref(this);
            true
        } else {
            false
        }
    }

    /// Adds an entry to the done list, or dispatches it now if the task has completed (R3).
    pub(crate) fn add_done_entry(this: &TaskRc, entry: DoneEntry) {
        let mut done = this.done.lock();
        if done.closed {
            drop(done);
            this.dispatch(entry);
        } else {
            done.entries.push(entry);
        }
    }

    fn dispatch(&self, entry: DoneEntry) {
        match entry {
            DoneEntry::Wake(Some(w)) => w.wake(),
            DoneEntry::Wake(None) => {}
            DoneEntry::Call(f) => self.lp.schedule(Runnable::Call(f)),
            DoneEntry::Gather(sink, index) => {
                self.lp.schedule(Runnable::Gather(sink, index as usize))
            }
        }
    }

    /// Runs one step of the task: takes it off the queue, polls (or cancels) it, and then either
    /// parks it, re-queues it, or completes it. Consumes the queue's reference.
    pub(crate) fn run(this: TaskRc) {
        match this.state.transition_to_running() {
            Run::Cancel => {
                trace::record(|| format!("task {} cancelled at a suspension point", this.id));
                // R2: we won transition_to_running.
                this.body.lock().as_mut().cancel();
                TaskCell::complete(&this, Outcome::Cancelled);
            }
            Run::Poll => {
                trace::record(|| format!("task {} polled", this.id));
                // R2: we won transition_to_running, so this lock is ours alone.
                let polled = this.body.lock().as_mut().poll(&|| waker(&this));
                match polled {
                    Poll::Pending => match this.state.transition_to_idle() {
                        Idle::Parked => {
                            trace::record(|| format!("task {} returned Pending", this.id));
                        }
                        Idle::Reschedule => {
                            trace::record(|| {
                                format!(
                                    "task {} returned Pending, woken during poll: rescheduled",
                                    this.id
                                )
                            });
                            TaskCell::schedule_owned(this);
                        }
                    },
                    Poll::Ready(mut outcome) => {
                        // asyncio: a cancel asked while the step ran wins over the value it
                        // returned (`_must_cancel` in `Task.__step`); a panic still wins over both.
                        if outcome == Outcome::Returned && this.state.load().cancel_requested() {
                            this.body.lock().as_mut().cancel();
                            outcome = Outcome::Cancelled;
                        }
                        TaskCell::complete(&this, outcome);
                    }
                }
            }
        }
    }

    /// Stores the outcome's kind, closes the done list, leaves the registry and tells everyone
    /// waiting, in the order they asked (TASK-5, TASK-6).
    fn complete(this: &TaskRc, outcome: Outcome) {
        this.state.transition_to_complete(outcome);
        trace::record(|| format!("task {} completed ({outcome:?})", this.id));
        let (entries, key, report) = {
            let mut done = this.done.lock();
            done.closed = true;
            let report = outcome == Outcome::Panicked && done.detached;
            (std::mem::take(&mut done.entries), done.registry_key, report)
        };
        if report {
            this.report_unretrieved_panic();
        }
        let registered = this.lp.unregister(key);
        entries.drain_in_order(|entry| this.dispatch(entry));
        drop(registered);
    }

    /// Ends a task that the closing loop will never run again: drops its future and done list.
    pub(crate) fn tear_down(this: &TaskRc) {
        if this.state.transition_to_torn_down() {
            this.body.lock().as_mut().cancel();
            let entries = {
                let mut done = this.done.lock();
                done.closed = true;
                std::mem::take(&mut done.entries)
            };
            // Wakers of tasks on other loops still hear about it; callbacks are not run on a
            // closed loop.
            entries.drain_in_order(|entry| {
                if let DoneEntry::Wake(Some(w)) = entry {
                    w.wake();
                }
            });
        }
    }

    /// Queues the task on its loop, handing over the reference `this` holds. On the loop's own
    /// thread the loop comes from the thread's context, which spares cloning `this.lp` (its
    /// `Arc` count is one atomic increment and decrement) just to reach it while `this` moves.
    /// `try_`: a waker may be woken from a thread-local destructor, after the context is gone.
    fn schedule_owned(this: TaskRc) {
        let mut task = Some(this);
        crate::context::try_with_running(|running| {
            let Some(lp) = running else { return };
            // A running loop cannot be closed (LOOP-6), so the item is never rejected and
            // dropped (possibly the cell's last reference) while the context is borrowed.
            if task
                .as_ref()
                .is_some_and(|t| Arc::ptr_eq(lp.inner(), &t.lp))
            {
                if let Some(t) = task.take() {
                    lp.inner().schedule(Runnable::Task(t));
                }
            }
        });
        if let Some(this) = task {
            let lp = this.lp.clone();
            lp.schedule(Runnable::Task(this));
        }
    }

    pub(crate) fn report_unretrieved_panic(&self) {
        tracing::error!(
            task = %self.display_name(),
            created_at = %self.created_at,
            "Task exception was never retrieved: the task panicked and no handle observed it"
        );
    }
}

impl Wake for TaskCell {
    /// The waker's own reference becomes the queue's, instead of a clone for the queue and a
    /// drop of the waker's.
    fn wake(this: TaskRc) {
        let (notify, before) = this.state.transition_to_notified();
        match notify {
            Notify::Submit => {
                trace::record(|| format!("task {} woken, saw {before:?}: scheduled", this.id));
                TaskCell::schedule_owned(this);
            }
            Notify::Nothing => {
                trace::record(|| format!("task {} woken, saw {before:?}: nothing to do", this.id));
            }
        }
    }

    fn wake_by_ref(this: &TaskRc) {
        let (notify, before) = this.state.transition_to_notified();
        match notify {
            Notify::Submit => {
                trace::record(|| format!("task {} woken, saw {before:?}: scheduled", this.id));
                this.lp.schedule(Runnable::Task(this.clone()));
            }
            Notify::Nothing => {
                trace::record(|| format!("task {} woken, saw {before:?}: nothing to do", this.id));
            }
        }
    }
}
