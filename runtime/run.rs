//! `run`: asyncio's `asyncio.run(main)` — a fresh loop per call, cancel what is left, close.

use crate::awaitable::{Attach, Awaitable};
use crate::builder::Builder;
use crate::context;
use crate::crew;
use crate::engine::incident::{self, Incident};
use crate::engine::scheduler::Scheduler;
use crate::engine::turn::run_worker;
use crate::error::{or_panic, Deadlock, LoopError, PendingTask, RunError, TaskError};
use crate::event_loop::EventLoop;
use evloop_model::trace;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};

/// Runs `main` on a new event loop and returns its output (asyncio's `asyncio.run`).
///
/// At the end every task still pending is cancelled and given the chance to finish cancelling,
/// the thread pool is stopped and the loop is closed (RUN-2). Use [`Builder::run`] for options
/// such as `debug` or `virtual_time`.
///
/// ```
/// let greeting = evloop::run(async { "hello" });
/// assert_eq!(greeting, "hello");
/// ```
///
/// # Panics
/// Re-raises a panic from `main`; panics with a message saying what to do when called inside a
/// running loop, when `main` is cancelled, or on a virtual-time deadlock.
#[track_caller]
pub fn run<F>(main: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    or_panic(run_with(&Builder::new(), main, Location::caller()))
}

/// [`run`], returning misuse, cancellation and deadlock as values.
///
/// ```
/// evloop::run(async {
///     let err = evloop::try_run(async {}).unwrap_err();
///     assert!(matches!(err, evloop::RunError::Loop(evloop::LoopError::AnotherLoopRunning)));
/// });
/// ```
#[track_caller]
pub fn try_run<F>(main: F) -> Result<F::Output, RunError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    run_with(&Builder::new(), main, Location::caller())
}

pub(crate) fn run_with<F>(
    builder: &Builder,
    main: F,
    at: &'static Location<'static>,
) -> Result<F::Output, RunError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if context::running_loop().is_some() {
        // asyncio: "asyncio.run() cannot be called from a running event loop".
        return Err(LoopError::AnotherLoopRunning.into());
    }
    let lp = builder.build();
    let previous = context::current_loop();
    context::set_event_loop(Some(lp.clone()));
    let outcome = catch_unwind(AssertUnwindSafe(|| lp.run_inner(main, at)));
    let deadlocked = matches!(outcome, Ok(Err(RunError::Deadlock(_))));
    if !deadlocked {
        cancel_all_tasks(&lp);
    }
    lp.close();
    context::set_event_loop(previous);
    match outcome {
        Ok(r) => r,
        Err(payload) => resume_unwind(payload),
    }
}

/// asyncio's `_cancel_all_tasks`: cancel every pending task, run the loop until each has
/// finished cancelling — cleanup that awaits, tasks that catch the cancellation and carry on for
/// a while (RUN-2) — for at most the shutdown timeout (RUN-4), and report the ones that panicked
/// instead (RUN-3) or that did not finish (RUN-4).
fn cancel_all_tasks(lp: &crate::EventLoop) {
    let pending = lp.pending_tasks();
    if pending.is_empty() {
        return;
    }
    for t in &pending {
        t.cancel();
    }
    let waiting = pending.clone();
    let timeout = lp.inner().config().shutdown_timeout;
    let finished = catch_unwind(AssertUnwindSafe(|| {
        lp.try_run_until_complete(async move {
            let all = async {
                for t in &waiting {
                    t.wait().await;
                }
            };
            first_of(all, crate::sleep(timeout)).await
        })
    }));
    let handler = lp.inner().exception_handler();
    if !matches!(finished, Ok(Ok(_))) {
        incident::deliver(
            handler.clone(),
            Incident::new("tasks did not finish cancelling while `run` shut the loop down"),
        );
    }
    for t in &pending {
        if !t.done() {
            incident::deliver(
                handler.clone(),
                Incident::new(format!(
                    "a task did not finish within {timeout:?} of being cancelled by `run`'s \
                     shutdown (asyncio would wait for it forever): it is torn down with the \
                     loop; `Builder::shutdown_timeout` sets the bound"
                ))
                .task(t.cell()),
            );
        }
    }
    for t in pending {
        if t.panicked() {
            let panic = match t.exception() {
                Ok(Some(TaskError::Panicked(p))) => Some(p),
                _ => None,
            };
            incident::deliver(
                handler.clone(),
                Incident::new(
                    "unhandled panic during asyncio.run() shutdown: a task panicked while \
                     cancelling",
                )
                .task(t.cell())
                .panic(panic),
            );
        }
    }
}

/// Polls both, in order, until one finishes; true when `a` did.
async fn first_of(a: impl Future<Output = ()>, b: impl Future<Output = ()>) -> bool {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(true);
        }
        if b.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(false);
        }
        std::task::Poll::Pending
    })
    .await
}

impl Builder {
    /// asyncio's `run(main, debug=...)` with this configuration; see [`run`](crate::run).
    ///
    /// ```
    /// let lp = evloop::Builder::new().virtual_time(true).run(async {
    ///     evloop::get_running_loop().unwrap()
    /// });
    /// assert!(lp.is_closed()); // like asyncio.run, it runs a fresh loop and closes it
    /// ```
    #[track_caller]
    pub fn run<F>(&self, main: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        or_panic(self.try_run(main))
    }

    /// [`Builder::run`], returning misuse, cancellation and deadlock as values.
    ///
    /// ```
    /// use evloop::RunError;
    /// let r = evloop::Builder::new().try_run(async {
    ///     let lp = evloop::get_running_loop().unwrap();
    ///     lp.pending_tasks()[0].cancel(); // the main task itself
    ///     evloop::sleep(std::time::Duration::ZERO).await; // cancelled here
    /// });
    /// assert!(matches!(r, Err(RunError::Cancelled(_))));
    /// ```
    #[track_caller]
    pub fn try_run<F>(&self, main: F) -> Result<F::Output, RunError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::run::run_with(self, main, Location::caller())
    }
}

impl EventLoop {
    /// Runs the loop until `main` is done and returns its output (asyncio's
    /// `run_until_complete`). A coroutine (any future) is wrapped in a task; a [`Task`](crate::Task) or a
    /// [`LoopFuture`](crate::LoopFuture) is run as itself, without a wrapper (TASK-14). A panic inside it is
    /// re-raised here.
    ///
    /// ```
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    /// let lp = evloop::EventLoop::new();
    /// assert_eq!(lp.run_until_complete(async { "first" }), "first");
    /// // asyncio re-raises the coroutine's exception; here the panic resumes in the caller...
    /// let r = catch_unwind(AssertUnwindSafe(|| lp.run_until_complete(async { panic!("boom") })));
    /// assert!(r.is_err());
    /// // ...and the loop can run again.
    /// assert_eq!(lp.run_until_complete(async { "again" }), "again");
    /// // A task of this loop is run as itself: its output, and the same task afterwards.
    /// let task = lp.create_task(async { 7 });
    /// assert_eq!(lp.run_until_complete(task.clone()), 7);
    /// assert!(task.done());
    /// ```
    ///
    /// # Panics
    /// With the message of the [`RunError`] when the loop is closed, already running, another
    /// loop runs on this thread, the main task was cancelled, or a deadlock was found in virtual
    /// time. [`EventLoop::try_run_until_complete`] returns these instead.
    #[track_caller]
    pub fn run_until_complete<A: Awaitable>(&self, main: A) -> A::Output {
        or_panic(self.run_inner(main, Location::caller()))
    }

    /// [`EventLoop::run_until_complete`], returning misuse, cancellation and deadlock as values.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// lp.close();
    /// let err = lp.try_run_until_complete(async {}).unwrap_err();
    /// assert!(matches!(err, evloop::RunError::Loop(evloop::LoopError::Closed)));
    /// ```
    #[track_caller]
    pub fn try_run_until_complete<A: Awaitable>(&self, main: A) -> Result<A::Output, RunError> {
        self.run_inner(main, Location::caller())
    }

    pub(crate) fn run_inner<A: Awaitable>(
        &self,
        main: A,
        at: &'static Location<'static>,
    ) -> Result<A::Output, RunError> {
        let inner = self.inner();
        if self.is_closed() {
            return Err(LoopError::Closed.into());
        }
        if let Some(running) = context::running_loop() {
            return Err(if running.same_loop(self) {
                LoopError::AlreadyRunning
            } else {
                LoopError::AnotherLoopRunning
            }
            .into());
        }
        let running = inner.begin_run()?;
        let main = main.into_child(Attach::new(inner, at))?;
        let run = Scheduler::open_run(inner, &running);
        {
            let lp = inner.clone();
            // asyncio: `future.add_done_callback(_run_until_complete_cb)`, which stops the loop
            // after the turn in which the callback runs (LOOP-4). asyncio removes the callback
            // when `run_until_complete` returns; here it stays on the done list, so it stops
            // only the run it was added for (a main task left pending by a deadlocked run may
            // finish during a later one).
            main.on_done(Box::new(move || lp.request_stop_of(run)));
        }
        trace::record(|| "loop starts".into());
        crew::run_workers(self.crew(), self, inner.config().workers, run_here);
        trace::record(|| "loop stops".into());
        let deadlock = inner.deadlocked();
        match main.read() {
            Some(Ok(v)) => Ok(v),
            Some(Err(TaskError::Panicked(p))) => resume_unwind(p.into_payload()),
            Some(Err(TaskError::Cancelled(c))) => Err(RunError::Cancelled(c)),
            Some(Err(TaskError::Failed(e))) => Err(RunError::Failed(e)),
            None if deadlock => Err(RunError::Deadlock(self.deadlock_report())),
            // `stop()` was called: the main task stays pending and may finish in a later run.
            None => Err(RunError::Stopped),
        }
    }

    /// Runs the loop until [`EventLoop::stop`] is called (asyncio's `loop.run_forever()`).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let stopper = lp.clone();
    /// lp.call_soon(move || stopper.stop());
    /// lp.run_forever(); // runs the turn with the callback, then returns
    /// assert!(!lp.is_running());
    /// lp.close();
    /// ```
    ///
    /// # Panics
    /// With the message of the [`RunError`] when the loop is closed, already running, another
    /// loop runs on this thread, or (virtual time) nothing is left that could ever stop it.
    #[track_caller]
    pub fn run_forever(&self) {
        or_panic(self.try_run_forever())
    }

    /// [`EventLoop::run_forever`], returning misuse and deadlock as values. With a virtual clock,
    /// a loop with nothing ready, no timer and nothing in flight can never be stopped: that is
    /// reported as `RunError::Deadlock` (asyncio would wait forever).
    ///
    /// ```
    /// let lp = evloop::Builder::new().virtual_time(true).build();
    /// assert!(matches!(lp.try_run_forever(), Err(evloop::RunError::Deadlock(_))));
    /// lp.close();
    /// ```
    pub fn try_run_forever(&self) -> Result<(), RunError> {
        let inner = self.inner();
        if self.is_closed() {
            return Err(LoopError::Closed.into());
        }
        if let Some(running) = context::running_loop() {
            return Err(if running.same_loop(self) {
                LoopError::AlreadyRunning
            } else {
                LoopError::AnotherLoopRunning
            }
            .into());
        }
        let running = inner.begin_run()?;
        Scheduler::open_run(inner, &running);
        trace::record(|| "loop starts (run_forever)".into());
        crew::run_workers(self.crew(), self, inner.config().workers, run_here);
        trace::record(|| "loop stops".into());
        if inner.deadlocked() {
            Err(RunError::Deadlock(self.deadlock_report()))
        } else {
            Ok(())
        }
    }

    fn deadlock_report(&self) -> Deadlock {
        Deadlock {
            pending: self
                .pending_tasks()
                .into_iter()
                .map(|t| PendingTask {
                    id: t.id(),
                    name: t.name(),
                    created_at: t.created_at(),
                })
                .collect(),
        }
    }
}

/// One worker's share of a run (`crew::Work`): the turns, on the calling thread, under `lp` as
/// the running loop.
fn run_here(lp: &EventLoop, worker: usize) {
    let _ctx = context::enter_running(lp);
    let _stop = StopOnUnwind(lp.inner());
    run_worker(lp.inner(), worker);
    if worker > 0 {
        // A helper thread: a task may have made a loop this thread's current one
        // (`set_event_loop`); kept past the run, that handle could keep its loop, and so this
        // thread, alive for good.
        drop(context::take_current());
    }
}

/// If a worker unwinds (a runtime invariant failed), stop the others so that waiting for them
/// cannot hang.
struct StopOnUnwind<'a>(&'a Scheduler);

impl Drop for StopOnUnwind<'_> {
    fn drop(&mut self) {
        if evloop_model::thread::panicking() {
            self.0.request_stop();
        }
    }
}
