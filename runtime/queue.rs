//! What the ready queue holds. Callbacks and task steps share one FIFO queue, exactly as in
//! asyncio, where a task's step is itself a callback on `loop._ready` (LOOP-2).

use crate::handle::HandleCell;
use crate::task::cell::{TaskCell, TaskRc};
use evloop_model::sync::Arc;
use std::fmt;

pub(crate) enum Runnable {
    /// One step of a task.
    Task(TaskRc),
    /// A user callback with a cancellable handle (`call_soon`, or a timer that came due).
    Handle(Arc<HandleCell>),
    /// An internal callback (done callbacks, loop stop).
    Call(Box<dyn FnOnce() + Send>),
}

impl Runnable {
    /// Runs the item. Panics from user code are caught inside (task bodies, handles).
    pub(crate) fn run(self) {
        match self {
            Runnable::Task(task) => TaskCell::run(task),
            Runnable::Handle(handle) => handle.run(),
            Runnable::Call(f) => crate::handle::run_guarded(f),
        }
    }

    /// Describes the item for debug-mode warnings.
    pub(crate) fn describe(&self) -> String {
        match self {
            Runnable::Task(t) => {
                format!("step of {} (created at {})", t.display_name(), t.created_at)
            }
            Runnable::Handle(h) => format!("callback {}", h.describe()),
            Runnable::Call(_) => "internal callback".to_owned(),
        }
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}
