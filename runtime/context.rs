//! Which loop is running on this thread, and which is this thread's current loop (asyncio's
//! `get_running_loop`, `get_event_loop`, `set_event_loop`, `new_event_loop`).

use crate::error::LoopError;
use crate::event_loop::EventLoop;
use std::cell::RefCell;

#[derive(Default)]
struct Context {
    running: Option<EventLoop>,
    current: Option<EventLoop>,
}

evloop_model::thread_local! {
    static CONTEXT: RefCell<Context> = RefCell::new(Context::default());
}

/// The loop running on this thread, if any.
pub(crate) fn running_loop() -> Option<EventLoop> {
    CONTEXT.with(|c| c.borrow().running.clone())
}

/// Calls `f` with the running loop without cloning the handle.
pub(crate) fn with_running<R>(f: impl FnOnce(Option<&EventLoop>) -> R) -> R {
    CONTEXT.with(|c| f(c.borrow().running.as_ref()))
}

/// Like [`with_running`], for code that may run in a thread-local destructor (a waker can be
/// woken from one): once this thread's context is gone, `f` is not called and `None` returned.
// Inlined by hand: with the fat task pointer LLVM kept it out of line in `schedule_owned`
// (callgrind, yield_loop: 2 instructions per re-queue).
#[inline(always)]
pub(crate) fn try_with_running<R>(f: impl FnOnce(Option<&EventLoop>) -> R) -> Option<R> {
    CONTEXT.try_with(|c| f(c.borrow().running.as_ref())).ok()
}

/// Marks `lp` as running on this thread until the guard drops.
pub(crate) fn enter_running(lp: &EventLoop) -> RunningGuard {
    let prev = CONTEXT.with(|c| c.borrow_mut().running.replace(lp.clone()));
    RunningGuard { prev }
}

pub(crate) struct RunningGuard {
    prev: Option<EventLoop>,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // Swap out first and drop after the borrow ends: dropping a handle can close a loop,
        // which runs destructors that may look at the context again.
        let mine = CONTEXT.with(|c| std::mem::replace(&mut c.borrow_mut().running, prev));
        drop(mine);
    }
}

/// The loop running on this thread (asyncio's `get_running_loop`).
///
/// ```
/// assert!(evloop::get_running_loop().is_err());
/// evloop::run(async {
///     let lp = evloop::get_running_loop().unwrap();
///     assert!(lp.is_running());
/// });
/// ```
pub fn get_running_loop() -> Result<EventLoop, LoopError> {
    running_loop().ok_or(LoopError::NoRunningLoop)
}

/// The running loop, else this thread's current loop, creating and setting one if there is none
/// (asyncio's `get_event_loop` as the seed document describes it; Python 3.12+ deprecates the
/// creating branch outside a running loop).
///
/// ```
/// let a = evloop::get_event_loop();
/// let b = evloop::get_event_loop();
/// assert!(a.same_loop(&b));
/// ```
pub fn get_event_loop() -> EventLoop {
    if let Some(lp) = running_loop() {
        return lp;
    }
    let existing = CONTEXT.with(|c| c.borrow().current.clone());
    match existing {
        Some(lp) if !lp.is_closed() => lp,
        _ => {
            let lp = EventLoop::new();
            set_event_loop(Some(lp.clone()));
            lp
        }
    }
}

/// Sets (or clears) this thread's current loop (asyncio's `set_event_loop`).
///
/// ```
/// let lp = evloop::new_event_loop();
/// evloop::set_event_loop(Some(lp.clone()));
/// assert!(evloop::get_event_loop().same_loop(&lp));
/// evloop::set_event_loop(None);
/// // With no current loop, `get_event_loop` makes a fresh one.
/// assert!(!evloop::get_event_loop().same_loop(&lp));
/// ```
pub fn set_event_loop(lp: Option<EventLoop>) {
    let old = CONTEXT.with(|c| std::mem::replace(&mut c.borrow_mut().current, lp));
    drop(old);
}

/// A new loop with the default configuration (asyncio's `new_event_loop`); it is not made current.
///
/// ```
/// let current = evloop::get_event_loop();
/// let fresh = evloop::new_event_loop();
/// assert!(!fresh.same_loop(&current));
/// assert!(evloop::get_event_loop().same_loop(&current)); // still the current one
/// assert_eq!(fresh.run_until_complete(async { 2 + 2 }), 4);
/// ```
pub fn new_event_loop() -> EventLoop {
    EventLoop::new()
}

/// Takes this thread's current loop away, for the caller to drop (outside the context's borrow:
/// dropping a handle can close a loop).
pub(crate) fn take_current() -> Option<EventLoop> {
    CONTEXT.with(|c| c.borrow_mut().current.take())
}

/// This thread's current loop without creating one.
pub(crate) fn current_loop() -> Option<EventLoop> {
    CONTEXT.with(|c| c.borrow().current.clone())
}
