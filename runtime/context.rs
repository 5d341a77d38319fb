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

/// Marks `lp` as running on this thread until the guard drops: as the `EventLoop` that
/// `get_running_loop` returns, and as the engine's current scheduler.
pub(crate) fn enter_running(lp: &EventLoop) -> RunningGuard {
    let prev = CONTEXT.with(|c| c.borrow_mut().running.replace(lp.clone()));
    let scheduler = crate::engine::current::enter(lp.inner().clone());
    RunningGuard {
        prev,
        _scheduler: scheduler,
    }
}

pub(crate) struct RunningGuard {
    prev: Option<EventLoop>,
    _scheduler: crate::engine::current::Entered,
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
