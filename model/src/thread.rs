//! Threads on the selected backend.

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
use std::thread as imp;

#[cfg(feature = "loom")]
use loom::thread as imp;

#[cfg(all(feature = "shuttle", not(feature = "loom")))]
use shuttle::thread as imp;

pub use imp::{yield_now, JoinHandle};

/// Spawns a named thread. The name shows in panics and debuggers on real threads.
pub fn spawn<F, T>(name: String, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let traced = name.clone();
    imp::Builder::new()
        .name(name)
        .spawn(move || {
            // Gives the timeline a name for this thread's index.
            crate::trace::record(|| format!("thread {traced} starts"));
            f()
        })
        .expect("evloop: the operating system refused to start a thread")
}

/// A small number identifying the current thread in traces (0 for the first thread seen).
pub fn current_index() -> usize {
    use std::cell::Cell;
    crate::thread_local! {
        static INDEX: Cell<usize> = Cell::new(usize::MAX);
    }
    INDEX.with(|i| {
        if i.get() == usize::MAX {
            i.set(crate::trace::next_thread_index());
        }
        i.get()
    })
}

/// True while the current thread unwinds from a panic.
pub fn panicking() -> bool {
    std::thread::panicking()
}

/// The name of the current OS thread, if it has one (the test harness names each test's thread
/// after the test, which is how failure reports name the test to re-run).
pub fn current_name() -> Option<String> {
    std::thread::current().name().map(str::to_owned)
}
