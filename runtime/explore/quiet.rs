//! Panics during exploration are results, not noise: while a schedule runs, the panic hook
//! records the message and where it was raised (into the run's timeline) instead of printing a
//! backtrace for each of the hundreds of schedules tried.
//!
//! A panic hook is process-wide, so it is installed only when the caller asks (EXPLORE-22): by an
//! exploration whose [`Config::quiet_panics`](super::Config::quiet_panics) is on, the default of
//! `explore` and `try_explore`, the test entry points whose whole job is to run schedules that
//! panic. `evloop::run`, `joint` and an exploration with the option off never install it and leave
//! every panic to the process's own hook. Once installed, the hook is wrapped once per thread that
//! explores; the wrapper only acts on a thread whose flag is set, which only an asking exploration
//! sets while a schedule runs, and hands every other panic to the hook it replaced.
//!
//! Spec ids: EXPLORE-22 (the hook is installed only when asked), EXPLORE-14 (a panic's location in
//! the failure's message and timeline).

use super::timeline::log_to_running;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};

evloop_model::thread_local! {
    static QUIET: Cell<bool> = Cell::new(false);
    static INSTALLED: Cell<bool> = Cell::new(false);
    static PANICS: RefCell<Vec<String>> = RefCell::new(Vec::new());
}

fn install() {
    if INSTALLED.with(|i| i.replace(true)) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.with(Cell::get) {
            previous(info);
            return;
        }
        let msg = payload_message(info.payload());
        let line = match info.location() {
            Some(at) => format!("panic: {msg} (at {at})"),
            None => format!("panic: {msg}"),
        };
        log_to_running(&line);
        PANICS.with(|p| p.borrow_mut().push(line));
    }));
}

pub(crate) fn payload_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic with a non-string payload)".to_owned()
    }
}

/// Runs `f`, returning a panic that escapes it as its message. With `quiet` (the exploration's
/// [`Config::quiet_panics`](super::Config::quiet_panics)) panics are recorded instead of printed,
/// and the message is the first recorded panic that matches the escaping one, with its location;
/// without it the process's hook sees every panic and the message is the payload's text.
pub(crate) fn catching<R>(quiet: bool, f: impl FnOnce() -> R) -> Result<R, String> {
    if !quiet {
        return catch_unwind(AssertUnwindSafe(f)).map_err(|payload| payload_message(&*payload));
    }
    install();
    PANICS.with(|p| p.borrow_mut().clear());
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    let seen = PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    r.map_err(|payload| {
        let msg = payload_message(&*payload);
        seen.into_iter()
            .find_map(|line| {
                line.strip_prefix("panic: ")
                    .filter(|rest| rest.starts_with(&msg))
                    .map(str::to_owned)
            })
            .unwrap_or(msg)
    })
}
