//! Wakers for reference-counted tasks, on every backend.
//!
//! `std::task::Wake` needs `std::sync::Arc<Self>`, which loom's tracked `Arc` is not. The runtime
//! therefore wraps its task cell in [`Wakeable`] and implements [`Wake`]; [`waker`] turns an
//! `Arc<Wakeable<T>>` into a `Waker`:
//! - std and shuttle (whose `Arc` is std's): the `Arc` itself becomes the waker — one reference
//!   count increment, no allocation;
//! - loom: a small std-`Arc` adapter holds a clone of loom's `Arc`, so loom still sees every
//!   reference a waker keeps alive and reports a waker that leaks its task.

use crate::sync::Arc;
use std::ops::Deref;
use std::task::Waker;

/// What a task cell does when one of its wakers fires.
pub trait Wake: Send + Sync + Sized + 'static {
    /// Called by `Waker::wake_by_ref`, and by `Waker::wake` unless [`Wake::wake`] is overridden,
    /// from any thread.
    fn wake_by_ref(this: &Arc<Wakeable<Self>>);

    /// Called by `Waker::wake` with the reference the waker held (std and shuttle; under loom the
    /// waker's reference is an adapter's, so `wake_by_ref` is called instead), from any thread.
    fn wake(this: Arc<Wakeable<Self>>) {
        Self::wake_by_ref(&this)
    }
}

/// A value that can stand behind a [`Waker`]; derefs to the value.
#[derive(Debug)]
pub struct Wakeable<T>(T);

impl<T> Wakeable<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Wakeable(value)
    }
}

impl<T> Deref for Wakeable<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Creates a waker that calls `T::wake_by_ref` and keeps one reference to `this`.
pub fn waker<T: Wake>(this: &Arc<Wakeable<T>>) -> Waker {
    imp::waker(this)
}

#[cfg(not(feature = "loom"))]
mod imp {
    use super::{Wake, Wakeable};
    use std::sync::Arc;
    use std::task::Waker;

    impl<T: Wake> std::task::Wake for Wakeable<T> {
        fn wake(self: Arc<Self>) {
            T::wake(self)
        }
        fn wake_by_ref(self: &Arc<Self>) {
            T::wake_by_ref(self)
        }
    }

    pub(super) fn waker<T: Wake>(this: &Arc<Wakeable<T>>) -> Waker {
        Waker::from(this.clone())
    }
}

#[cfg(feature = "loom")]
mod imp {
    use super::{Wake, Wakeable};
    use std::task::Waker;

    struct Adapter<T>(loom::sync::Arc<Wakeable<T>>);

    impl<T: Wake> std::task::Wake for Adapter<T> {
        fn wake(self: std::sync::Arc<Self>) {
            T::wake_by_ref(&self.0)
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            T::wake_by_ref(&self.0)
        }
    }

    pub(super) fn waker<T: Wake>(this: &loom::sync::Arc<Wakeable<T>>) -> Waker {
        Waker::from(std::sync::Arc::new(Adapter(this.clone())))
    }
}
