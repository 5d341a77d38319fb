//! Which loop's scheduler runs on this thread: what the things users await (`sleep`, a new
//! `LoopFuture`, `to_thread`, `gather`'s children) bind to, and how a task woken on its own
//! loop's thread finds the queue without touching its loop's reference count.
//!
//! Set for exactly as long as the loop runs on the thread (`crate::context::enter_running` sets
//! it together with the running `EventLoop` that `get_running_loop` returns).

use super::scheduler::Scheduler;
use crate::error::Message;
use evloop_model::sync::Arc;
use std::cell::{Cell, RefCell};

evloop_model::thread_local! {
    static CURRENT: RefCell<Option<Arc<Scheduler>>> = const { RefCell::new(None) };
    /// The task whose step runs on this thread (`NO_TASK` outside a step), and what the step
    /// carries about a cancellation: plain numbers, so that marking a step costs one store and
    /// no reference count (the flags fill what would be the key's padding); `current_task()`
    /// finds the task in its loop's registry by key and id.
    static TASK: Cell<Marked> = const { Cell::new(NO_TASK) };
    /// The message of the cancellation in flight in this step, if it has one.
    static MESSAGE: RefCell<Option<Message>> = const { RefCell::new(None) };
}

/// A step as the thread's context holds it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Marked {
    key: u32,
    /// `super::cancel`'s mode and flags: 0 outside a step and in almost every step.
    flags: u32,
    id: u64,
}

const NO_TASK: Marked = Marked {
    key: u32::MAX,
    flags: 0,
    id: 0,
};

/// Marks the task (`key`, `id`) as the one whose step runs here, with `flags` (and the
/// cancellation's `message`, when one is in flight), until [`InTask::finish`] or the guard drops.
#[inline]
pub(crate) fn enter_task(key: u32, id: u64, flags: u32, message: Option<Message>) -> InTask {
    if message.is_some() {
        MESSAGE.with(|m| *m.borrow_mut() = message);
    }
    InTask(Some(TASK.with(|t| t.replace(Marked { key, flags, id }))))
}

/// The registry key and id of the task whose step runs on this thread (asyncio's
/// `current_task`), if any.
pub(crate) fn task() -> Option<(u32, u64)> {
    let t = TASK.with(Cell::get);
    (t.key != NO_TASK.key).then_some((t.key, t.id))
}

/// The current step's flags (0 outside a step): what every evloop await looks at
/// (`cancel::in_flight`).
#[inline]
pub(crate) fn flags() -> u32 {
    TASK.with(|t| t.get().flags)
}

/// Changes the current step's flags with `f`; nothing outside a step.
pub(crate) fn update(f: impl FnOnce(&mut u32)) {
    TASK.with(|t| {
        let mut m = t.get();
        if m.key != NO_TASK.key {
            f(&mut m.flags);
            t.set(m);
        }
    })
}

/// Replaces the in-flight cancellation's message.
pub(crate) fn set_message(message: Option<Message>) {
    MESSAGE.with(|m| *m.borrow_mut() = message);
}

/// The in-flight cancellation's message.
pub(crate) fn message() -> Option<Message> {
    MESSAGE.with(|m| m.borrow().clone())
}

/// Takes the in-flight cancellation's message.
pub(crate) fn take_message() -> Option<Message> {
    MESSAGE.with(|m| m.borrow_mut().take())
}

pub(crate) struct InTask(Option<Marked>);

impl InTask {
    /// The step is over: returns what it left (its flags, and the message of a cancellation
    /// still in flight) and restores what was here before.
    #[inline]
    pub(crate) fn finish(mut self) -> (u32, Option<Message>) {
        let prev = self.0.take().unwrap_or(NO_TASK);
        let flags = TASK.with(|t| t.replace(prev)).flags;
        if flags == 0 {
            return (0, None);
        }
        (flags, take_message())
    }
}

impl Drop for InTask {
    #[inline]
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            let _ = TASK.try_with(|t| t.set(prev));
            let _ = MESSAGE.try_with(|m| m.borrow_mut().take());
        }
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
