//! User code the runtime runs outside any task — a waker it wakes or drops, a user value it drops
//! — with a panic contained: reported to the loop's exception handler (LOOP-13), and the loop
//! keeps running (LOOP-7, TASK-12). A panic that unwound out of these places would leave
//! the runtime half way through an operation (a done list half dispatched) or take a worker thread
//! down with it.
//!
//! None of these is ever called with a runtime lock held (LOCK-1): the caller takes what it is
//! about to wake or drop out of its lock first.

use super::incident::Incident;
use crate::error::Panic;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Waker;

/// Wakes `waker`, which may be any executor's.
#[inline]
pub(crate) fn wake(waker: Waker) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
        report(payload, "a waker panicked while being woken");
    }
}

/// Drops `value`, whose destructor may be a user's.
#[inline]
pub(crate) fn drop_value<T>(value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
        report(payload, "a value panicked while being dropped");
    }
}

#[cold]
#[inline(never)]
pub(crate) fn report(payload: Box<dyn std::any::Any + Send>, what: &str) {
    let panic = Panic::new(payload);
    super::incident::report(
        Incident::new(format!(
            "Exception in callback: {what}; the loop keeps running"
        ))
        .panic(Some(panic)),
    );
}

/// Runs a callback, catching a panic and reporting it the way asyncio's default exception handler
/// does (the loop keeps running, LOOP-7).
pub(crate) fn run_guarded(f: Box<dyn FnOnce() + Send>) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        report_callback_panic(payload);
    }
}

/// [`run_guarded`]'s report, also for callbacks that are not boxed closures.
pub(crate) fn report_callback_panic(payload: Box<dyn std::any::Any + Send>) {
    report(payload, "a callback panicked");
}
