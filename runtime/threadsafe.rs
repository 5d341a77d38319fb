//! `run_coroutine_threadsafe`: hand a future to a loop running on another thread and block on the
//! result (asyncio's `asyncio.run_coroutine_threadsafe` and its `concurrent.futures.Future`).

use crate::context;
use crate::engine::ready::Runnable;
use crate::engine::scheduler::Scheduler;
use crate::error::{Cancelled, TaskError};
use crate::event_loop::EventLoop;
use evloop_model::sync::{Arc, Condvar, Mutex};
use std::fmt;
use std::future::Future;
use std::panic::Location;

struct Shared<T> {
    result: Mutex<Option<Result<T, TaskError>>>,
    ready: Condvar,
}

/// A result another thread can block on (asyncio's `concurrent.futures.Future`).
///
/// ```
/// evloop::run(async {
///     let lp = evloop::get_running_loop().unwrap();
///     let outcome = evloop::to_thread(move || {
///         // On a blocking thread: the task's outcome, a panic included, comes back as a value.
///         evloop::run_coroutine_threadsafe(async { panic!("boom") }, &lp).wait()
///     });
///     assert!(outcome.await.unwrap().unwrap_err().is_panic());
/// });
/// ```
pub struct ConcurrentFuture<T> {
    shared: Arc<Shared<T>>,
    lp: EventLoop,
}

/// Completes the shared result exactly once; if it is dropped unused (the loop closed before the
/// task ran), the waiter gets `Err(Cancelled)` instead of hanging.
struct Completer<T> {
    shared: Option<Arc<Shared<T>>>,
}

impl<T> Completer<T> {
    fn complete(&mut self, r: Result<T, TaskError>) {
        if let Some(shared) = self.shared.take() {
            *shared.result.lock() = Some(r);
            shared.ready.notify_all();
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.complete(Err(TaskError::Cancelled(Cancelled::new(None))));
    }
}

/// Submits `fut` to `lp` from any thread; it runs as a task on that loop. Block on the result
/// with [`ConcurrentFuture::wait`].
///
/// ```
/// evloop::run(async {
///     let lp = evloop::get_running_loop().unwrap();
///     // A blocking thread (here a thread-pool job) hands work to the loop and waits for it.
///     let answer = evloop::to_thread(move || {
///         evloop::run_coroutine_threadsafe(async { 40 + 2 }, &lp).wait().unwrap()
///     });
///     assert_eq!(answer.await.unwrap(), 42);
/// });
/// ```
#[track_caller]
pub fn run_coroutine_threadsafe<F>(fut: F, lp: &EventLoop) -> ConcurrentFuture<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let shared = Arc::new(Shared {
        result: Mutex::new(None),
        ready: Condvar::new(),
    });
    let mut completer = Completer {
        shared: Some(shared.clone()),
    };
    // The loop's core, not an `EventLoop` handle: a handle in a callback on the loop's own queue
    // would keep the loop from closing when the user's last handle goes (LOOP-6), leaking it.
    let target = lp.inner().clone();
    let at = Location::caller();
    // On a closed loop `schedule` drops the callback, and with it the completer: the waiter gets
    // `Err(Cancelled)` rather than waiting forever.
    lp.inner().schedule(Runnable::call(move || {
        match Scheduler::spawn_cell(&target, fut, None, at).map(crate::task::Task::from_cell) {
            Ok(task) => task.on_output(move |r| completer.complete(r)),
            Err(_) => completer.complete(Err(TaskError::Cancelled(Cancelled::new(None)))),
        }
    }));
    ConcurrentFuture {
        shared,
        lp: lp.clone(),
    }
}

impl<T> ConcurrentFuture<T> {
    /// Blocks this thread until the task has finished.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// lp.close();
    /// let fut = evloop::run_coroutine_threadsafe(async { 1 }, &lp);
    /// // The work can never run: the waiter gets Cancelled instead of blocking forever.
    /// assert!(fut.wait().unwrap_err().is_cancelled());
    /// ```
    ///
    /// # Panics
    /// When called on a thread where that same loop is running: the loop could never run the task
    /// this thread waits for. `await` it in the loop instead.
    pub fn wait(self) -> Result<T, TaskError> {
        if let Some(running) = context::running_loop() {
            assert!(
                !running.same_loop(&self.lp),
                "ConcurrentFuture::wait called on the loop's own thread would block it forever: \
                 `await` the work inside the loop instead"
            );
        }
        let mut r = self.shared.result.lock();
        loop {
            if let Some(out) = r.take() {
                return out;
            }
            r = self.shared.ready.wait(r);
        }
    }

    /// True once the result is available.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let fut = evloop::run_coroutine_threadsafe(async { 6 * 7 }, &lp);
    /// assert!(!fut.done()); // queued until the loop runs
    /// let fut = lp.run_until_complete(async move {
    ///     while !fut.done() {
    ///         evloop::sleep(std::time::Duration::ZERO).await;
    ///     }
    ///     fut
    /// });
    /// assert_eq!(fut.wait().unwrap(), 42); // done: returns at once
    /// ```
    pub fn done(&self) -> bool {
        self.shared.result.lock().is_some()
    }
}

impl<T> fmt::Debug for ConcurrentFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentFuture")
            .field("done", &self.done())
            .finish()
    }
}
