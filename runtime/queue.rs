//! What the ready queue holds. Callbacks and task steps share one FIFO queue, exactly as in
//! asyncio, where a task's step is itself a callback on `loop._ready` (LOOP-2).

use crate::gather::SinkRc;
use crate::handle::HandleCell;
use crate::task::cell::{TaskCell, TaskRc};
use crate::timer::Due;
use evloop_model::sync::Arc;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub(crate) enum Runnable {
    /// One step of a task.
    Task(TaskRc),
    /// A user callback with a cancellable handle (`call_soon`, or a timer that came due).
    Handle(Arc<HandleCell>),
    /// An internal callback (done callbacks, loop stop).
    Call(Box<dyn FnOnce() + Send>),
    /// A `sleep`'s timer that came due: wakes the sleeping task (its slot in the loop's timers).
    // A `usize`, not the slot's `u32`: a 4-byte payload changed the enum's layout and made every
    // item's move in the turn loop longer (callgrind, yield_loop).
    Sleep(usize),
    /// A gathered child's done callback: moves its outcome into slot `.1` of the gather.
    // `usize` for the same reason as `Sleep`'s.
    Gather(SinkRc, usize),
}

impl Runnable {
    /// Runs the item. Panics from user code are caught inside (task bodies, handles).
    pub(crate) fn run(self) {
        match self {
            Runnable::Task(task) => TaskCell::run(task),
            Runnable::Handle(handle) => handle.run(),
            Runnable::Call(f) => crate::handle::run_guarded(f),
            // Items run on a worker of the loop that queued them, where it is the running loop.
            Runnable::Sleep(slot) => run_sleep_timer(slot as u32),
            Runnable::Gather(sink, index) => deliver_to_gather(&sink, index as u32),
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
            Runnable::Sleep(slot) => crate::context::with_running(|lp| match lp {
                Some(lp) => format!("callback {}", lp.inner().describe_sleep(*slot as u32)),
                None => "callback timer of a sleep".to_owned(),
            }),
        }
    }
}

/// Wakes the task of a `sleep` whose timer came due. Items run on a worker of the loop that
/// queued them, where that loop is the running one.
// Out of line: inlined into `run()`, the thread-local lookup made every turn's item loop longer
// (callgrind, yield_loop).
#[inline(never)]
fn run_sleep_timer(slot: u32) {
    let waker =
        crate::context::with_running(|lp| lp.and_then(|lp| lp.inner().fire_sleep_timer(slot)));
    if let Some(w) = waker {
        w.wake();
    }
}

/// Runs a gather's done callback with the same guard as any other callback (`run_guarded`): a
/// panic there (a waker's) is reported, and the loop keeps running.
#[inline(never)]
fn deliver_to_gather(sink: &SinkRc, index: u32) {
    let delivered = catch_unwind(AssertUnwindSafe(|| sink.deliver(index)));
    if let Err(payload) = delivered {
        crate::handle::report_callback_panic(payload);
    }
}

impl From<Due> for Runnable {
    fn from(due: Due) -> Runnable {
        match due {
            Due::Handle(h) => Runnable::Handle(h),
            Due::Sleep(slot) => Runnable::Sleep(slot as usize),
        }
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}
