//! Callback handles: what `call_soon`, `call_later` and `call_at` return (asyncio's `Handle` and
//! `TimerHandle`).
//!
//! ```text
//!   Armed ── cancel() ──► Cancelled        (the callback is dropped at once)
//!     └──── run() ──────► Ran              (the callback was taken and called)
//! ```

use crate::error::Panic;
use evloop_model::sync::atomic::{AtomicBool, Ordering};
use evloop_model::sync::{Arc, Mutex};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::time::Duration;

pub(crate) enum Callback {
    /// A user or internal function. (A `sleep`'s timer is not a handle: see `timer::Sleeps`.)
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

    fn when(&self) -> Option<Duration> {
        (self.when_nanos != NO_DEADLINE).then(|| Duration::new(self.when_secs, self.when_nanos))
    }

    pub(crate) fn describe(&self) -> String {
        match self.when() {
            Some(when) => format!("timer at {when:?} (created at {})", self.created_at),
            None => format!("created at {}", self.created_at),
        }
    }
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
    let panic = Panic::new(payload);
    evloop_model::trace::record(|| format!("a callback panicked: {}", panic.message()));
    tracing::error!(
        panic = panic.message(),
        "Exception in callback: a callback panicked; the loop keeps running"
    );
}

/// A callback scheduled with `call_soon` or `call_soon_threadsafe` (asyncio's `Handle`).
///
/// ```
/// evloop::run(async {
///     let lp = evloop::get_running_loop().unwrap();
///     let h = lp.call_soon(|| unreachable!("cancelled before the loop reached it"));
///     h.cancel();
///     assert!(h.cancelled());
///     evloop::sleep(std::time::Duration::ZERO).await;
/// });
/// ```
#[derive(Clone)]
pub struct Handle(pub(crate) Arc<HandleCell>);

impl Handle {
    /// Cancels the callback if it has not run yet; its closure is dropped at once.
    ///
    /// ```
    /// evloop::run(async {
    ///     let lp = evloop::get_running_loop().unwrap();
    ///     let fut = lp.create_future::<&str>();
    ///     let (a, b) = (fut.clone(), fut.clone());
    ///     lp.call_soon(move || a.set_result("cancelled").unwrap()).cancel();
    ///     lp.call_soon(move || b.set_result("ran").unwrap());
    ///     assert_eq!(fut.await.unwrap(), "ran"); // the first callback never ran
    /// });
    /// ```
    pub fn cancel(&self) {
        self.0.cancel()
    }

    /// True once cancelled.
    ///
    /// ```
    /// evloop::run(async {
    ///     let lp = evloop::get_running_loop().unwrap();
    ///     let h = lp.call_soon(|| {});
    ///     evloop::sleep(std::time::Duration::ZERO).await; // the callback runs
    ///     h.cancel(); // too late: does nothing
    ///     // A handle that ran never reads as cancelled (asyncio's `cancelled()` says True here).
    ///     assert!(!h.cancelled());
    /// });
    /// ```
    pub fn cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({})", self.0.describe())
    }
}

/// A callback scheduled with `call_later` or `call_at` (asyncio's `TimerHandle`).
///
/// ```
/// use std::time::Duration;
/// evloop::run(async {
///     let lp = evloop::get_running_loop().unwrap();
///     let h = lp.call_later(Duration::from_secs(5), || unreachable!());
///     assert!(h.when() >= Duration::from_secs(5));
///     h.cancel();
/// });
/// ```
#[derive(Clone)]
pub struct TimerHandle(pub(crate) Arc<HandleCell>);

impl TimerHandle {
    /// Cancels the callback if it has not run yet.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::Builder::new().virtual_time(true).build();
    /// let fut = lp.create_future::<&str>();
    /// let (a, b) = (fut.clone(), fut.clone());
    /// lp.call_later(Duration::from_secs(1), move || a.set_result("cancelled").unwrap()).cancel();
    /// lp.call_later(Duration::from_secs(2), move || b.set_result("fired").unwrap());
    /// assert_eq!(lp.run_until_complete(fut).unwrap(), "fired"); // the 1 s timer never fired
    /// ```
    pub fn cancel(&self) {
        self.0.cancel()
    }

    /// True once cancelled.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::Builder::new().virtual_time(true).build();
    /// let h = lp.call_later(Duration::from_secs(1), || {});
    /// assert!(!h.cancelled());
    /// h.cancel();
    /// assert!(h.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// When the callback is due, on the loop's clock (see `EventLoop::time`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::Builder::new().virtual_time(true).build();
    /// let at = lp.call_at(Duration::from_secs(5), || {});
    /// assert_eq!(at.when(), Duration::from_secs(5));
    /// let later = lp.call_later(Duration::from_secs(2), || {});
    /// assert_eq!(later.when(), lp.now() + Duration::from_secs(2));
    /// ```
    pub fn when(&self) -> Duration {
        self.0.when().unwrap_or_default()
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimerHandle({})", self.0.describe())
    }
}
