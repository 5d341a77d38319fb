//! The clock the loop reads: real monotonic time, or a virtual clock that only moves when the loop
//! jumps it to the next timer deadline.
//!
//! Under loom and shuttle the clock is always virtual: real time is neither explorable nor
//! reproducible, and a model run must not wait for it.

use crate::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonic clock measured from the moment it was created.
#[derive(Debug)]
pub struct Clock {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Real(std::time::Instant),
    /// Nanoseconds since the epoch; only [`Clock::advance_to`] moves it, and only forwards.
    Virtual(AtomicU64),
}

impl Clock {
    /// A clock for a new loop. `virtual_time` is forced on under the model backends.
    pub fn new(virtual_time: bool) -> Clock {
        let kind = if virtual_time || crate::IS_MODEL {
            Kind::Virtual(AtomicU64::new(0))
        } else {
            Kind::Real(std::time::Instant::now())
        };
        Clock { kind }
    }

    /// True when time moves only by [`Clock::advance_to`].
    pub fn is_virtual(&self) -> bool {
        matches!(self.kind, Kind::Virtual(_))
    }

    /// Time since the clock's epoch.
    pub fn now(&self) -> Duration {
        match &self.kind {
            Kind::Real(epoch) => epoch.elapsed(),
            Kind::Virtual(nanos) => Duration::from_nanos(nanos.load(Ordering::Acquire)),
        }
    }

    /// Moves a virtual clock forward to `t` (never backwards). Does nothing on a real clock. The
    /// clock counts nanoseconds in a `u64` (about 584 years): a later `t` stops it at that end,
    /// which is why the runtime never jumps to a deadline it saturated (TIME-5).
    pub fn advance_to(&self, t: Duration) {
        if let Kind::Virtual(nanos) = &self.kind {
            let t = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            nanos.fetch_max(t, Ordering::AcqRel);
        }
    }
}

/// Measures how long a piece of work took, for debug-mode warnings. Always zero under the model
/// backends, so no model run depends on real time.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Option<std::time::Instant>);

impl Stopwatch {
    /// Starts measuring.
    pub fn start() -> Stopwatch {
        Stopwatch(if crate::IS_MODEL {
            None
        } else {
            Some(std::time::Instant::now())
        })
    }

    /// Time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.map(|t| t.elapsed()).unwrap_or_default()
    }
}
