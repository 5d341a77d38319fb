//! The world evloop runs in.
//!
//! This crate is the only place that names `std::sync`, `std::thread`, loom or shuttle. The runtime
//! takes every atomic, lock, condition variable, thread, thread-local, task waker and clock from
//! here, so the code that ships is the code the model checkers explore.
//!
//! | backend  | chosen by             | threads / memory model                   | clock            |
//! |----------|-----------------------|------------------------------------------|------------------|
//! | std      | (default)             | real OS threads                          | real or virtual  |
//! | loom     | feature `loom`        | every interleaving within a bound        | always virtual   |
//! | shuttle  | feature `shuttle`     | randomized / PCT schedules               | always virtual   |
//!
//! The surface is shaped like the strictest backend: `lock()` never reports poisoning, a task's
//! wakers own counts of loom's `Arc`, and there is no real time under a model checker.
//!
//! Only what the runtime needs at run time is here, because this crate is in every user's
//! dependency graph; the harness that runs model checks and reports their failures is the
//! `evloop-check` crate, a dev-dependency (REPO-4).

// `deny`, not `forbid`: the one-word task pointer (`task::ThinArc`) is allowed `unsafe` on its
// items alone; each block says why it is sound.
#![deny(unsafe_code)]

#[cfg(all(feature = "loom", feature = "shuttle"))]
compile_error!(
    "evloop: the `loom` and `shuttle` features are mutually exclusive; enable one of them \
     (`cargo test --features loom` or `cargo test --features shuttle`), not both \
     (note that `--all-features` turns on both)"
);

pub mod bug;
pub mod rand;
pub mod sync;
pub mod task;
pub mod thread;
pub mod time;
pub mod tokens;
pub mod trace;

/// Which world the code is running in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Real OS threads and std synchronisation.
    Std,
    /// loom: exhaustive exploration of interleavings within a preemption bound.
    Loom,
    /// shuttle: randomized and PCT schedules.
    Shuttle,
}

/// The backend this build uses.
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub const BACKEND: Backend = Backend::Std;
/// The backend this build uses.
#[cfg(feature = "loom")]
pub const BACKEND: Backend = Backend::Loom;
/// The backend this build uses.
#[cfg(all(feature = "shuttle", not(feature = "loom")))]
pub const BACKEND: Backend = Backend::Shuttle;

/// True under loom or shuttle: real time and real blocking do not exist there.
pub const IS_MODEL: bool = !matches!(BACKEND, Backend::Std);

#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "loom")]
    pub use loom;
    #[cfg(all(feature = "shuttle", not(feature = "loom")))]
    pub use shuttle;
}

/// Declares a thread-local on the current backend (std's, loom's or shuttle's `thread_local!`).
///
/// `static NAME: T = init;` or `static NAME: T = const { init };`. std keeps the `const { }`
/// form, which spares every access the lazy-initialisation check (a task's step reads these);
/// loom's and shuttle's macros take no `const { }`, so there it becomes the plain form.
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
#[macro_export]
macro_rules! thread_local {
    ($($t:tt)*) => { ::std::thread_local! { $($t)* } };
}
/// Declares a thread-local on the current backend (std's, loom's or shuttle's `thread_local!`).
#[cfg(feature = "loom")]
#[macro_export]
macro_rules! thread_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr } $(; $($rest:tt)*)?) => {
        $crate::__private::loom::thread_local! { $(#[$attr])* $vis static $name: $t = $init; }
        $($crate::thread_local! { $($rest)* })?
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr $(; $($rest:tt)*)?) => {
        $crate::__private::loom::thread_local! { $(#[$attr])* $vis static $name: $t = $init; }
        $($crate::thread_local! { $($rest)* })?
    };
}
/// Declares a thread-local on the current backend (std's, loom's or shuttle's `thread_local!`).
#[cfg(all(feature = "shuttle", not(feature = "loom")))]
#[macro_export]
macro_rules! thread_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr } $(; $($rest:tt)*)?) => {
        $crate::__private::shuttle::thread_local! { $(#[$attr])* $vis static $name: $t = $init; }
        $($crate::thread_local! { $($rest)* })?
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr $(; $($rest:tt)*)?) => {
        $crate::__private::shuttle::thread_local! { $(#[$attr])* $vis static $name: $t = $init; }
        $($crate::thread_local! { $($rest)* })?
    };
}
