//! The runtime's own event log, kept under the model backends so that a failed check can be told as
//! a numbered, per-thread timeline in the runtime's terms ("task 3 polled by worker 1, returned
//! Pending", "woken by thread 2", ...), not only as a checker's opaque schedule string.
//!
//! In the std build [`record`] is an empty inline function and the closure is never called.

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the log, from 1.
    pub seq: usize,
    /// The thread that recorded it (the model's thread index; 0 is the thread that began the check).
    pub thread: usize,
    /// What happened, in the runtime's words.
    pub what: String,
}

/// How many events the log keeps; older ones are dropped first (the end of a story matters most).
pub const CAPACITY: usize = 4096;

/// Records an event; `what` is only called when a log is being kept.
#[inline(always)]
pub fn record(what: impl FnOnce() -> String) {
    imp::record(what)
}

/// Takes the events recorded on this OS thread since the last [`reset`].
pub fn take() -> Vec<Event> {
    imp::take()
}

/// A copy of the events recorded on this OS thread since the last [`reset`], leaving them in
/// place (a check may look at its own story; the harness still gets all of it on failure).
pub fn events() -> Vec<Event> {
    imp::events()
}

/// Starts a new log (the harness calls this at the start of every explored schedule).
pub fn reset() {
    imp::reset()
}

/// Formats events as a timeline a person can follow.
pub fn render(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&format!("{:>5}  [t{}] {}\n", e.seq, e.thread, e.what));
    }
    out
}

pub(crate) fn next_thread_index() -> usize {
    imp::next_thread_index()
}

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod imp {
    use super::Event;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

    #[inline(always)]
    pub(super) fn record(_what: impl FnOnce() -> String) {}

    pub(super) fn take() -> Vec<Event> {
        Vec::new()
    }

    pub(super) fn events() -> Vec<Event> {
        Vec::new()
    }

    pub(super) fn reset() {}

    pub(super) fn next_thread_index() -> usize {
        NEXT_THREAD.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod imp {
    use super::{Event, CAPACITY};
    use std::cell::RefCell;
    use std::collections::VecDeque;

    #[derive(Default)]
    struct Log {
        events: VecDeque<Event>,
        seq: usize,
        threads: usize,
    }

    std::thread_local! {
        // Every simulated thread of one check runs on the OS thread that started the check, so one
        // OS-thread-local log holds the whole schedule's story.
        static LOG: RefCell<Log> = RefCell::new(Log::default());
    }

    pub(super) fn record(what: impl FnOnce() -> String) {
        let thread = crate::thread::current_index();
        let what = what();
        LOG.with(|l| {
            let mut l = l.borrow_mut();
            l.seq += 1;
            let seq = l.seq;
            if l.events.len() == CAPACITY {
                l.events.pop_front();
            }
            l.events.push_back(Event { seq, thread, what });
        });
    }

    pub(super) fn take() -> Vec<Event> {
        // Also called from the harness's panic hook, possibly while a checker unwinds: never panic.
        LOG.try_with(|l| match l.try_borrow_mut() {
            Ok(mut l) => l.events.drain(..).collect(),
            Err(_) => Vec::new(),
        })
        .unwrap_or_default()
    }

    pub(super) fn events() -> Vec<Event> {
        LOG.with(|l| l.borrow().events.iter().cloned().collect())
    }

    pub(super) fn reset() {
        LOG.with(|l| *l.borrow_mut() = Log::default());
    }

    pub(super) fn next_thread_index() -> usize {
        LOG.with(|l| {
            let mut l = l.borrow_mut();
            l.threads += 1;
            l.threads - 1
        })
    }
}
