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
    ///
    /// # Panics
    /// In debug builds, when this thread already holds this lock: locking it again would hang
    /// the thread for good. That happens only when code the runtime must never run under one of
    /// its locks (a user value's `Drop`, a foreign waker, a callback) called back into the
    /// runtime; the message names the lock's type so the place is found at once.
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(debug_assertions)]
        let held = held::enter(self.addr(), std::any::type_name::<Self>());
        let inner = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        MutexGuard {
            inner,
            #[cfg(debug_assertions)]
            _held: held,
        }
    }

    /// Locks if nobody holds the lock now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let inner = match self.0.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(MutexGuard {
            inner,
            #[cfg(debug_assertions)]
            _held: held::enter(self.addr(), std::any::type_name::<Self>()),
        })
    }

    #[cfg(debug_assertions)]
    fn addr(&self) -> usize {
        (self as *const Self).cast::<()>() as usize
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
        let MutexGuard {
            inner,
            #[cfg(debug_assertions)]
            _held,
        } = guard;
        // The lock stays recorded as this thread's while it waits: the thread runs nothing else.
        let inner = match self.0.wait(inner) {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        MutexGuard {
            inner,
            #[cfg(debug_assertions)]
            _held,
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
        let MutexGuard {
            inner,
            #[cfg(debug_assertions)]
            _held,
        } = guard;
        let inner = match self.0.wait_timeout(inner, timeout) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
        MutexGuard {
            inner,
            #[cfg(debug_assertions)]
            _held,
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

/// The guard of a locked [`Mutex`]; the lock is let go when it drops.
pub struct MutexGuard<'a, T: ?Sized> {
    inner: imp::MutexGuard<'a, T>,
    #[cfg(debug_assertions)]
    _held: held::Held,
}

impl<T: ?Sized> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> std::ops::DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// Which locks each thread holds (debug builds): a second `lock` of a held lock on the same
/// thread would hang it, so it panics instead, naming the lock.
#[cfg(debug_assertions)]
mod held {
    use std::cell::RefCell;

    crate::thread_local! {
        static HELD: RefCell<Vec<usize>> = RefCell::new(Vec::new());
    }

    /// One lock recorded as held by this thread, until dropped.
    pub(super) struct Held(usize);

    #[track_caller]
    pub(super) fn enter(addr: usize, name: &'static str) -> Held {
        // `try_with`: a lock may be taken from a thread-local's destructor (a waker woken there),
        // after this list is gone; such a lock is simply not recorded.
        let again = HELD
            .try_with(|held| {
                let mut held = held.borrow_mut();
                let again = held.contains(&addr);
                if !again {
                    held.push(addr);
                }
                again
            })
            .unwrap_or(false);
        if again {
            panic!(
                "re-entrant lock: this thread already holds evloop's `{name}`, and locking it \
                 again would hang. Code that must never run under a runtime lock (a value's \
                 `Drop`, a waker, a callback) called back into the runtime; please report it \
                 with this message and the backtrace (LOCK-2)"
            );
        }
        Held(addr)
    }

    impl Drop for Held {
        fn drop(&mut self) {
            let _ = HELD.try_with(|held| {
                let mut held = held.borrow_mut();
                if let Some(i) = held.iter().rposition(|&a| a == self.0) {
                    held.swap_remove(i);
                }
            });
        }
    }
}
