//! Atomics, `Arc`, a poison-free `Mutex` and a `Condvar`, from the selected backend.
//!
//! Poisoning is not part of the surface: the runtime never holds a lock across user code, so a
//! poisoned lock would only mean a bug in the runtime itself, which the checkers report on their own.

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
use std::sync as imp;

#[cfg(feature = "loom")]
use loom::sync as imp;

#[cfg(all(feature = "shuttle", not(feature = "loom")))]
use shuttle::sync as imp;

use std::time::Duration;

pub use imp::Arc;
pub use imp::MutexGuard;

/// Atomic integers and flags; every ordering is explored under loom, SeqCst under shuttle.
pub mod atomic {
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    pub use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

    #[cfg(feature = "loom")]
    pub use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

    #[cfg(all(feature = "shuttle", not(feature = "loom")))]
    pub use shuttle::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
}

/// A mutual-exclusion lock whose `lock()` returns the guard directly.
#[derive(Debug, Default)]
///
/// `T` may be unsized (as the last field of a struct behind an `Arc`), as with std's `Mutex`.
pub struct Mutex<T: ?Sized>(imp::Mutex<T>);

impl<T> Mutex<T> {
    /// Creates an unlocked mutex. Not `const`: loom's is not either.
    pub fn new(value: T) -> Self {
        Mutex(imp::Mutex::new(value))
    }

    /// Consumes the mutex, returning the value.
    pub fn into_inner(self) -> T {
        match self.0.into_inner() {
            Ok(v) => v,
            Err(p) => p.into_inner(),
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, ignoring poisoning (see the module doc for why that is sound here).
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Locks if nobody holds the lock now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The value, through exclusive access: no lock is taken (and no model scheduling point).
    pub fn get_mut(&mut self) -> &mut T {
        match self.0.get_mut() {
            Ok(v) => v,
            Err(p) => p.into_inner(),
        }
    }
}

/// A condition variable paired with [`Mutex`].
#[derive(Debug, Default)]
pub struct Condvar(imp::Condvar);

impl Condvar {
    /// Creates a condition variable nobody waits on.
    pub fn new() -> Self {
        Condvar(imp::Condvar::new())
    }

    /// Blocks until notified (or spuriously woken); the caller re-checks its condition.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        match self.0.wait(guard) {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Blocks until notified or `timeout` passes. Under loom and shuttle there is no real time, so
    /// this waits for a notification only; the runtime uses a virtual clock there and never relies
    /// on the timeout.
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> MutexGuard<'a, T> {
        match self.0.wait_timeout(guard, timeout) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        }
    }

    /// Wakes one waiter.
    pub fn notify_one(&self) {
        self.0.notify_one()
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.0.notify_all()
    }
}
