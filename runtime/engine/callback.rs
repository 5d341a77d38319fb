//! A scheduled callback's cell: what the ready queue and the timers hold for `call_soon`,
//! `call_later` and `call_at`, and what the public `Handle` / `TimerHandle` cancel (LOOP-9).
//!
//! ```text
//!   Armed ── cancel() ──► Cancelled        (the callback is dropped at once)
//!     └──── run() ──────► Ran              (the callback was taken and called)
//! ```

use crate::engine::contain::run_guarded;
use evloop_model::sync::atomic::{AtomicBool, Ordering};
use evloop_model::sync::{Arc, Mutex};
use std::panic::Location;
use std::time::Duration;

pub(crate) enum Callback {
    /// A user or internal function. (A `sleep`'s timer is not a handle: see `timers::Sleeps`.)
    Call(Box<dyn FnOnce() + Send>),
}

enum Slot {
    Armed(Callback),
    Cancelled,
    Ran,
}

const NO_DEADLINE: u32 = u32::MAX;

pub(crate) struct HandleCell {
    slot: Mutex<Slot>,
    /// Mirrors `slot == Cancelled`, stored in the same critical section that empties the slot, so
    /// the timer heap can skip cancelled entries without a lock per entry.
    cancelled: AtomicBool,
    // `when` split in two so the flag above fits in the padding and the cell stays in the same
    // allocation size class (a larger cell made glibc's malloc_consolidate dominate `timers`).
    when_secs: u64,
    /// `NO_DEADLINE` for a `call_soon` handle; a real `Duration` never has that many nanoseconds.
    when_nanos: u32,
    created_at: &'static Location<'static>,
}

impl HandleCell {
    pub(crate) fn new(
        cb: Callback,
        when: Option<Duration>,
        created_at: &'static Location<'static>,
    ) -> Arc<HandleCell> {
        Arc::new(HandleCell {
            slot: Mutex::new(Slot::Armed(cb)),
            cancelled: AtomicBool::new(false),
            when_secs: when.map_or(0, |w| w.as_secs()),
            when_nanos: when.map_or(NO_DEADLINE, |w| w.subsec_nanos()),
            created_at,
        })
    }

    pub(crate) fn cancel(&self) {
        let taken = {
            let mut slot = self.slot.lock();
            match &*slot {
                Slot::Armed(_) => {
                    self.cancelled.store(true, Ordering::Release);
                    Some(std::mem::replace(&mut *slot, Slot::Cancelled))
                }
                Slot::Cancelled | Slot::Ran => None,
            }
        };
        // Dropped here, outside the lock: the callback may own anything.
        drop(taken);
    }

    /// Set only once the slot holds `Cancelled` for good: an armed handle never reads as cancelled
    /// before `cancel()` took the lock, and a handle that ran never reads as cancelled at all.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    pub(crate) fn run(&self) {
        let taken = {
            let mut slot = self.slot.lock();
            match std::mem::replace(&mut *slot, Slot::Ran) {
                Slot::Armed(cb) => Some(cb),
                Slot::Cancelled => {
                    *slot = Slot::Cancelled;
                    None
                }
                Slot::Ran => None,
            }
        };
        if let Some(Callback::Call(f)) = taken {
            run_guarded(f);
        }
    }

    pub(crate) fn when(&self) -> Option<Duration> {
        (self.when_nanos != NO_DEADLINE).then(|| Duration::new(self.when_secs, self.when_nanos))
    }

    pub(crate) fn describe(&self) -> String {
        match self.when() {
            Some(when) => format!("timer at {when:?} (created at {})", self.created_at),
            None => format!("created at {}", self.created_at),
        }
    }
}
