//! Wakers for reference-counted tasks whose shared pointer is unsized, on every backend.
//!
//! The runtime keeps a task in one allocation: a header and the future, behind one `Arc`, erased to
//! an unsized type so that one pointer type names every task. [`new_erased`] builds that `Arc` and
//! the task's waker together, because the two backends' obstacles meet there:
//! - `std::task::Wake` (and `Waker::from`) needs a sized `Arc<W>`, so the waker is made from the
//!   typed `Arc` before it is erased; when it fires, [`Erase::erase`] turns the typed `Arc` into the
//!   erased one (an unsizing coercion: no code, no reference count traffic) for [`Wake`];
//! - loom's `Arc` cannot be unsized by coercion, so the value is unsized as a std [`RawArc`] and
//!   handed to `loom::sync::Arc::from_std`; loom's waker is a small std-`Arc` adapter holding a
//!   clone of that loom `Arc`, so loom still sees every reference a waker keeps alive and reports a
//!   waker that leaks its task.
//!
//! On std and shuttle (whose `Arc` is std's) the waker is the task's own `Arc`: one reference count
//! increment, no allocation.

use crate::sync::Arc;
use std::ops::Deref;
use std::task::Waker;

/// The `Arc` that unsizing coercions work on: std's, on every backend. Only [`Erase::erase`]
/// needs to name it (a closure `|a| a` or a function returning its argument coerces).
pub type RawArc<T> = std::sync::Arc<T>;

/// What a task cell does when one of its wakers fires. Implemented by the erased (possibly
/// unsized) cell type.
pub trait Wake: Send + Sync + 'static {
    /// Called by `Waker::wake` with the reference the waker held (std and shuttle; under loom the
    /// waker's reference is an adapter's, so `wake_by_ref` is called instead), from any thread.
    fn wake(this: Arc<Wakeable<Self>>);

    /// Called by `Waker::wake_by_ref`, from any thread. `to_owned` makes a new reference, for
    /// when one is needed (the waker's own is typed, not erased, so it cannot be lent as one).
    fn wake_by_ref(this: &Wakeable<Self>, to_owned: impl FnOnce() -> Arc<Wakeable<Self>>);
}

/// A sized cell that [`new_erased`] can erase to [`Erase::Erased`].
pub trait Erase: Send + Sync + Sized + 'static {
    /// The erased cell type every shared pointer to the task has.
    type Erased: ?Sized + Wake;

    /// The unsizing coercion from the typed cell to the erased one; implement it as `this`.
    fn erase(this: RawArc<Wakeable<Self>>) -> RawArc<Wakeable<Self::Erased>>;

    /// The same coercion for a reference; implement it as `this`.
    fn erase_ref(this: &Wakeable<Self>) -> &Wakeable<Self::Erased>;
}

/// A value that can stand behind a [`Waker`]; derefs to the value. `T` may be unsized.
// Transparent, so the value's address is the one a std waker made from its `Arc` carries as data
// (see `is_waker_of`).
#[derive(Debug)]
#[repr(transparent)]
pub struct Wakeable<T: ?Sized>(T);

impl<T> Wakeable<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Wakeable(value)
    }
}

impl<T: ?Sized> Deref for Wakeable<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Moves `value` into a new shared allocation and returns the erased pointer to it. The task's
/// waker (it keeps one reference and calls [`Wake`] on the erased type) is handed to `install`
/// with the still typed value, before anyone else can reach it: typed code has no vtable call
/// and no field offsets to compute from the value's alignment.
pub fn new_erased<T: Erase>(value: T, install: impl FnOnce(&T, Waker)) -> Arc<Wakeable<T::Erased>> {
    imp::new_erased(value, install)
}

/// True when `waker` is the waker [`new_erased`] made for `this`, or a clone of it, whatever
/// `Context` carries it. Under loom the waker is an adapter's, whose data is the adapter, so the
/// answer there is always false: callers keep a check of their own that works on every backend.
pub fn is_waker_of<U: ?Sized>(waker: &Waker, this: &Wakeable<U>) -> bool {
    imp::is_waker_of(waker, this)
}

#[cfg(not(feature = "loom"))]
mod imp {
    use super::{Erase, Wake, Wakeable};
    use std::sync::Arc;
    use std::task::Waker;

    impl<T: Erase> std::task::Wake for Wakeable<T> {
        fn wake(self: Arc<Self>) {
            <T::Erased as Wake>::wake(T::erase(self))
        }
        fn wake_by_ref(self: &Arc<Self>) {
            <T::Erased as Wake>::wake_by_ref(T::erase_ref(self), || T::erase(self.clone()))
        }
    }

    pub(super) fn new_erased<T: Erase>(
        value: T,
        install: impl FnOnce(&T, Waker),
    ) -> Arc<Wakeable<T::Erased>> {
        let typed = Arc::new(Wakeable(value));
        install(&typed.0, Waker::from(typed.clone()));
        T::erase(typed)
    }

    pub(super) fn is_waker_of<U: ?Sized>(waker: &Waker, this: &Wakeable<U>) -> bool {
        // A waker made from an `Arc<W>` carries the `W`'s address as its data, and the erased
        // cell is the same allocation as the typed one.
        std::ptr::eq(waker.data(), (this as *const Wakeable<U>).cast::<()>())
    }
}

#[cfg(feature = "loom")]
mod imp {
    use super::{Erase, Wake, Wakeable};
    use std::task::Waker;

    /// Holds a clone of the loom `Arc`, set right after the waker is installed: the loom `Arc`
    /// can only be made from a std `Arc` nobody else holds, and `install` runs before that.
    struct Adapter<U: ?Sized>(std::sync::OnceLock<loom::sync::Arc<Wakeable<U>>>);

    impl<U: ?Sized + Wake> Adapter<U> {
        fn cell(&self) -> &loom::sync::Arc<Wakeable<U>> {
            self.0
                .get()
                .expect("a task's waker fired before its cell was made")
        }
    }

    impl<U: ?Sized + Wake> std::task::Wake for Adapter<U> {
        fn wake(self: std::sync::Arc<Self>) {
            U::wake_by_ref(self.cell(), || self.cell().clone())
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            U::wake_by_ref(self.cell(), || self.cell().clone())
        }
    }

    pub(super) fn new_erased<T: Erase>(
        value: T,
        install: impl FnOnce(&T, Waker),
    ) -> loom::sync::Arc<Wakeable<T::Erased>> {
        let typed = std::sync::Arc::new(Wakeable(value));
        let adapter = std::sync::Arc::new(Adapter(std::sync::OnceLock::new()));
        install(&typed.0, Waker::from(adapter.clone()));
        let erased = loom::sync::Arc::from_std(T::erase(typed));
        let _ = adapter.0.set(erased.clone());
        erased
    }

    pub(super) fn is_waker_of<U: ?Sized>(_waker: &Waker, _this: &Wakeable<U>) -> bool {
        false
    }
}
