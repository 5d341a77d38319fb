//! Panics during exploration are results, not noise: while a schedule runs, the panic hook
//! records the message and where it was raised (into the run's timeline) instead of printing a
//! backtrace for each of the hundreds of schedules tried.
//!
//! The process-wide hook is wrapped once per thread that explores; the wrapper only acts on a
//! thread whose flag is set and hands every other panic to the hook it replaced.

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
        super::log_to_running(&line);
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

/// Runs `f` with panics recorded instead of printed; a panic that escapes `f` comes back as the
/// message of the first recorded panic that matches it, with its location.
pub(crate) fn catching<R>(f: impl FnOnce() -> R) -> Result<R, String> {
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
