//! Callback handles: what `call_soon`, `call_later` and `call_at` return (asyncio's `Handle` and
//! `TimerHandle`), over the engine's callback cell (`engine::callback`).

use crate::engine::callback::HandleCell;
use evloop_model::sync::Arc;
use std::fmt;
use std::time::Duration;

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
    /// assert_eq!(lp.run_until_complete(fut), "fired"); // the 1 s timer never fired
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
