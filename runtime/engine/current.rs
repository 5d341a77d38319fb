//! Which loop's scheduler runs on this thread: what the things users await (`sleep`, a new
//! `LoopFuture`, `to_thread`, `gather`'s children) bind to, and how a task woken on its own
//! loop's thread finds the queue without touching its loop's reference count.
//!
//! Set for exactly as long as the loop runs on the thread (`crate::context::enter_running` sets
//! it together with the running `EventLoop` that `get_running_loop` returns).

use super::scheduler::Scheduler;
use evloop_model::sync::Arc;
use std::cell::{Cell, RefCell};

evloop_model::thread_local! {
    static CURRENT: RefCell<Option<Arc<Scheduler>>> = RefCell::new(None);
    /// The task whose step runs on this thread: its registry key and id (`NO_TASK` outside a
    /// step). Plain numbers, so that marking a step costs two stores and no reference count;
    /// `current_task()` finds the task in its loop's registry by them.
    static TASK: Cell<(u32, u64)> = Cell::new(NO_TASK);
}

const NO_TASK: (u32, u64) = (u32::MAX, 0);

/// Marks the task (`key`, `id`) as the one whose step runs here, until the guard drops.
#[inline]
pub(crate) fn enter_task(key: u32, id: u64) -> InTask {
    InTask(TASK.with(|t| t.replace((key, id))))
}

/// The registry key and id of the task whose step runs on this thread (asyncio's
/// `current_task`), if any.
pub(crate) fn task() -> Option<(u32, u64)> {
    let t = TASK.with(Cell::get);
    (t != NO_TASK).then_some(t)
}

pub(crate) struct InTask((u32, u64));

impl Drop for InTask {
    #[inline]
    fn drop(&mut self) {
        let _ = TASK.try_with(|t| t.set(self.0));
    }
}

/// The running loop's scheduler, if one runs on this thread.
pub(crate) fn scheduler() -> Option<Arc<Scheduler>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Calls `f` with the running loop's scheduler, without cloning it.
pub(crate) fn with<R>(f: impl FnOnce(Option<&Arc<Scheduler>>) -> R) -> R {
    CURRENT.with(|c| f(c.borrow().as_ref()))
}

/// [`with`] for code that may run in a thread-local destructor (a waker can be woken from one):
/// once this thread's context is gone, `f` is not called and `None` returned.
#[inline(always)]
pub(crate) fn try_with<R>(f: impl FnOnce(Option<&Arc<Scheduler>>) -> R) -> Option<R> {
    CURRENT.try_with(|c| f(c.borrow().as_ref())).ok()
}

/// Makes `lp` this thread's running scheduler until the guard drops.
pub(crate) fn enter(lp: Arc<Scheduler>) -> Entered {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(lp));
    Entered { prev }
}

pub(crate) struct Entered {
    prev: Option<Arc<Scheduler>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // Swapped out first and dropped after the borrow ends: the last reference to a scheduler
        // drops its pool and tasks, which may look at this thread's context again.
        let mine = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), prev));
        drop(mine);
    }
}
