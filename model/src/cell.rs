//! A cell checked for unsynchronised access under loom, with loom's `with` / `with_mut` shape.
//!
//! The audited `unsafe` code (pinning a task's future in its cell, the one-word task pointer in
//! [`crate::task`]) does not need it; it is here so that an optimisation
//! that needs it (see DEVELOPERS.md: only with a benchmark that shows it pays) goes through the
//! facade and is checked by loom like everything else.

#[cfg(feature = "loom")]
pub use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's access API.
#[cfg(not(feature = "loom"))]
#[derive(Debug, Default)]
pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(feature = "loom"))]
impl<T> UnsafeCell<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Gives a read pointer to `f`; dereferencing it is the caller's (unsafe) business.
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Gives a write pointer to `f`; dereferencing it is the caller's (unsafe) business.
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
