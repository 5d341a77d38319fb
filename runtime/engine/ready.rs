//! What the ready queue holds. Callbacks and task steps share one FIFO queue, exactly as in
//! asyncio, where a task's step is itself a callback on `loop._ready` (LOOP-2).

use crate::engine::callback::HandleCell;
use crate::engine::cell::{TaskCell, TaskRc};
use crate::engine::timers::Due;
use evloop_model::sync::Arc;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// 16 bytes: every variant's payload is one pointer (the task pointer is one word, the callback
/// boxed twice) or a pointer and a `u32`, beside the tag. Each queued item is moved twice (into
/// the queue, out into a turn's batch) and the queue's buffers are what a burst of spawns costs
/// until the next turn gives them back.
pub(crate) enum Runnable {
    /// One step of a task.
    Task(TaskRc),
    /// A user callback with a cancellable handle (`call_soon`, or a timer that came due).
    Handle(Arc<HandleCell>),
    /// An internal callback (done callbacks, loop stop). Boxed twice, so that the item is one
    /// word (see [`Runnable::call`]); internal callbacks are rare next to task steps.
    Call(Box<Box<dyn FnOnce() + Send>>),
    /// A `sleep`'s timer that came due: wakes the sleeping task (its slot in the loop's timers).
    Sleep(u32),
    /// A gathered child's done callback: moves its outcome into slot `.1` of the gather.
    Gather(SinkRc, u32),
}

/// What a gathered child's done entry names instead of a boxed closure (`crate::gather`'s shared
/// state): boxed once per gather behind a non-generic `Arc`, so that the done list and the ready
/// queue can hold it (the model checkers' `Arc` cannot be unsized to `Arc<dyn _>`). Each child's
/// entry is this `Arc` and the child's index, so a gathered child costs no allocation of its own
/// beyond its task.
pub(crate) type SinkRc = Arc<Box<dyn Sink>>;

/// A consumer of several tasks' outcomes, told by index when each completes.
pub(crate) trait Sink: Send + Sync {
    /// Child `index` has completed: take its outcome. Runs as a done callback scheduled with
    /// `call_soon`, as in asyncio.
    fn deliver(&self, index: u32);
    /// For the consumer to reach its own type again.
    fn as_any(&self) -> &dyn std::any::Any;
}

// On the std backend; a model checker's `Arc` may carry bookkeeping of its own.
const _: () = assert!(evloop_model::IS_MODEL || std::mem::size_of::<Runnable>() == 16);

impl Runnable {
    /// An internal callback item.
    pub(crate) fn call(f: impl FnOnce() + Send + 'static) -> Runnable {
        Runnable::Call(Box::new(Box::new(f)))
    }

    /// Runs the item. Panics from user code are caught inside (task bodies, handles).
    pub(crate) fn run(self) {
        match self {
            Runnable::Task(task) => TaskCell::run(task),
            Runnable::Handle(handle) => handle.run(),
            Runnable::Call(f) => run_call(f),
            // Items run on a worker of the loop that queued them, where it is the running loop.
            Runnable::Sleep(slot) => run_sleep_timer(slot),
            Runnable::Gather(sink, index) => deliver_to_gather(&sink, index),
        }
    }

    /// Describes the item for debug-mode warnings.
    pub(crate) fn describe(&self) -> String {
        match self {
            Runnable::Task(t) => {
                format!("step of {} (created at {})", t.display_name(), t.created_at)
            }
            Runnable::Handle(h) => format!("callback {}", h.describe()),
            Runnable::Call(_) | Runnable::Gather(..) => "internal callback".to_owned(),
            Runnable::Sleep(slot) => super::current::with(|lp| match lp {
                Some(lp) => format!("callback {}", lp.describe_sleep(*slot)),
                None => "callback timer of a sleep".to_owned(),
            }),
        }
    }
}

/// Runs an internal callback, and frees its outer box. Out of line so that the rare callback's
/// free does not weigh on every item's `run()` (bench/PROFILING.md, "Code placement").
#[inline(never)]
#[allow(clippy::boxed_local)] // the outer box is freed here, which is the point
fn run_call(f: Box<Box<dyn FnOnce() + Send>>) {
    crate::engine::contain::run_guarded(*f)
}

/// Wakes the task of a `sleep` whose timer came due. Items run on a worker of the loop that
/// queued them, where that loop is the running one.
// Out of line: the thread-local lookup stays off the common item's path (PROFILING, "Code
// placement").
#[inline(never)]
fn run_sleep_timer(slot: u32) {
    let waker = super::current::with(|lp| lp.and_then(|lp| lp.fire_sleep_timer(slot)));
    if let Some(w) = waker {
        crate::engine::contain::wake(w);
    }
}

/// Runs a gather's done callback with the same guard as any other callback (`run_guarded`): a
/// panic there (a waker's) is reported, and the loop keeps running.
#[inline(never)]
fn deliver_to_gather(sink: &SinkRc, index: u32) {
    let delivered = catch_unwind(AssertUnwindSafe(|| sink.deliver(index)));
    if let Err(payload) = delivered {
        crate::engine::contain::report_callback_panic(payload);
    }
}

impl From<Due> for Runnable {
    fn from(due: Due) -> Runnable {
        match due {
            Due::Handle(h) => Runnable::Handle(h),
            Due::Sleep(slot) => Runnable::Sleep(slot),
        }
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}
