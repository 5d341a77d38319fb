//! Timeouts on cancellation (asyncio 3.11's `timeouts.py` and `tasks.wait_for` / `shield`):
//! a timeout cancels its task and turns that one cancellation — told apart from any other by
//! the task's request count (CANCEL-3) — into [`TimeoutError`].
//!
//! ```text
//!   Timeout:  CREATED ──run (enter)──► ENTERED ──deadline: task.cancel()──► EXPIRING
//!                                         │                                   │
//!                                 inner ends or an outside                inner ends: uncancel();
//!                                 cancellation passes through             its own cancellation
//!                                         ▼                               becomes TimeoutError
//!                                      EXITED                              ▼
//!                                                                       EXPIRED
//! ```

use crate::awaitable::Awaitable;
use crate::catch::catch_cancel;
use crate::context::get_running_loop;
use crate::engine::cancel;
use crate::error::{or_panic, TaskError, TimeoutError};
use crate::handle::TimerHandle;
use crate::task::{current_task, Task, TaskRef};
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use pin_project_lite::pin_project;
use std::future::{Future, IntoFuture};
use std::panic::resume_unwind;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A deadline for the awaits inside [`Timeout::run`] (asyncio's `asyncio.Timeout`): at the
/// deadline the task running them is cancelled, and [`Timeout::run`] turns that cancellation
/// into `Err(TimeoutError)`. Cheap to clone: every clone is the same timeout, so code inside
/// can [`reschedule`](Timeout::reschedule) it.
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let t = evloop::timeout(Some(Duration::from_secs(1)));
///     let r = t.run(evloop::sleep(Duration::from_secs(10))).await;
///     assert!(r.is_err() && t.expired());
/// });
/// ```
#[derive(Clone)]
pub struct Timeout(Arc<Mutex<State>>);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Created,
    Entered,
    Expiring,
    Expired,
    Exited,
}

struct State {
    phase: Phase,
    /// On the loop's clock (`EventLoop::now`).
    when: Option<Duration>,
    handle: Option<TimerHandle>,
    task: Option<TaskRef>,
    /// The task's `cancelling()` when the timeout was entered (asyncio's `_cancelling`).
    cancelling: u32,
}

/// asyncio's `asyncio.timeout(delay)`: a [`Timeout`] `delay` after now on the running loop's
/// clock, or one that never expires (`None`).
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let quick = evloop::timeout(Some(Duration::from_secs(5)));
///     assert_eq!(quick.run(async { 7 }).await.unwrap(), 7);
/// });
/// ```
///
/// # Panics
/// When no loop is running on this thread.
pub fn timeout(delay: Option<Duration>) -> Timeout {
    let lp = or_panic(get_running_loop());
    Timeout::new(delay.map(|d| lp.now().saturating_add(d)))
}

/// asyncio's `asyncio.timeout_at(when)`: a [`Timeout`] at `when` on the loop's clock
/// ([`EventLoop::now`](crate::EventLoop::now)); `None` never expires.
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let lp = evloop::get_running_loop().unwrap();
///     let t = evloop::timeout_at(Some(lp.now() + Duration::from_secs(2)));
///     assert!(t.run(evloop::sleep(Duration::from_secs(3))).await.is_err());
///     assert_eq!(lp.now(), Duration::from_secs(2));
/// });
/// ```
pub fn timeout_at(when: Option<Duration>) -> Timeout {
    Timeout::new(when)
}

impl Timeout {
    fn new(when: Option<Duration>) -> Timeout {
        Timeout(Arc::new(Mutex::new(State {
            phase: Phase::Created,
            when,
            handle: None,
            task: None,
            cancelling: 0,
        })))
    }

    /// The deadline, on the loop's clock.
    ///
    /// ```
    /// let t = evloop::timeout_at(None);
    /// assert_eq!(t.when(), None);
    /// ```
    pub fn when(&self) -> Option<std::time::Duration> {
        self.0.lock().when
    }

    /// True once the deadline has passed while it was running (asyncio's `expired()`).
    ///
    /// ```
    /// assert!(!evloop::timeout_at(None).expired());
    /// ```
    pub fn expired(&self) -> bool {
        matches!(self.0.lock().phase, Phase::Expiring | Phase::Expired)
    }

    /// Moves the deadline (asyncio's `reschedule`); `None` disarms it. A deadline already past
    /// expires at the next loop turn.
    ///
    /// ```
    /// use std::time::Duration;
    /// evloop::Builder::new().virtual_time(true).run(async {
    ///     let t = evloop::timeout(Some(Duration::from_secs(1)));
    ///     let inner = t.clone();
    ///     let r = t
    ///         .run(async move {
    ///             inner.reschedule(None); // no deadline after all
    ///             evloop::sleep(Duration::from_secs(5)).await;
    ///             "done"
    ///         })
    ///         .await;
    ///     assert_eq!(r.unwrap(), "done");
    /// });
    /// ```
    ///
    /// # Panics
    /// When the timeout is not running (asyncio: `RuntimeError: Timeout has not been entered`,
    /// `Cannot change state of expired Timeout`).
    pub fn reschedule(&self, when: Option<Duration>) {
        let old = {
            let mut st = self.0.lock();
            match st.phase {
                Phase::Entered => {}
                Phase::Created => {
                    panic!("Timeout has not been entered: reschedule it from inside `run`")
                }
                other => {
                    panic!("Cannot change state of {other:?} Timeout: it is no longer running")
                }
            }
            st.when = when;
            st.handle.take()
        };
        if let Some(h) = old {
            h.cancel();
        }
        let Some(when) = when else { return };
        let lp = or_panic(get_running_loop());
        let me = self.clone();
        // asyncio: `call_soon` when the deadline has passed, `call_at` otherwise; the timer
        // wheel runs a past deadline at the next turn either way.
        let handle = lp.call_at(when, move || me.on_timeout());
        let stale = {
            let mut st = self.0.lock();
            if st.phase == Phase::Entered {
                st.handle.replace(handle)
            } else {
                Some(handle)
            }
        };
        if let Some(h) = stale {
            h.cancel();
        }
    }

    /// The deadline: cancel the task (asyncio's `_on_timeout`).
    fn on_timeout(&self) {
        let task = {
            let mut st = self.0.lock();
            if st.phase != Phase::Entered {
                return;
            }
            st.phase = Phase::Expiring;
            st.handle = None;
            st.task.clone()
        };
        if let Some(task) = task {
            task.cancel();
        }
    }

    /// Runs `fut` under this deadline (asyncio's `async with timeout:` block): `Ok(output)`, or
    /// `Err(TimeoutError)` when the deadline cancelled the task while `fut` was suspended
    /// (`fut` is dropped where it stopped). A cancellation from outside passes through, even
    /// one that arrives together with the deadline: the task's request count tells them apart
    /// (TIMEOUT-2).
    ///
    /// ```
    /// use std::time::Duration;
    /// evloop::Builder::new().virtual_time(true).run(async {
    ///     let r = evloop::timeout(Some(Duration::from_millis(10)))
    ///         .run(async {
    ///             evloop::sleep(Duration::from_millis(5)).await;
    ///             evloop::sleep(Duration::from_millis(20)).await; // the deadline lands here
    ///         })
    ///         .await;
    ///     assert_eq!(r, Err(evloop::TimeoutError));
    /// });
    /// ```
    ///
    /// # Panics
    /// When awaited outside a task, or when this timeout has already been run.
    pub fn run<F: IntoFuture>(&self, fut: F) -> TimeoutScope<F::IntoFuture> {
        TimeoutScope {
            timeout: self.clone(),
            entered: false,
            inner: Inner::Running {
                fut: fut.into_future(),
            },
        }
    }

    fn enter(&self) {
        let task = current_task().expect("Timeout should be used inside a task");
        let when = {
            let mut st = self.0.lock();
            assert!(
                st.phase == Phase::Created,
                "Timeout has already been entered: make a new one for each block"
            );
            st.phase = Phase::Entered;
            st.cancelling = task.cancelling();
            st.task = Some(task);
            st.when
        };
        self.reschedule(when);
    }

    /// asyncio's `__aexit__`: true when the block's cancellation is the timeout's own and
    /// becomes `TimeoutError`.
    fn exit(&self, cancelled: bool) -> bool {
        let (handle, task, cancelling, expiring) = {
            let mut st = self.0.lock();
            let expiring = st.phase == Phase::Expiring;
            st.phase = if expiring {
                Phase::Expired
            } else {
                Phase::Exited
            };
            (st.handle.take(), st.task.take(), st.cancelling, expiring)
        };
        if let Some(h) = handle {
            h.cancel();
        }
        expiring && task.is_some_and(|t| t.uncancel() <= cancelling) && cancelled
    }
}

impl std::fmt::Debug for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.0.lock();
        f.debug_struct("Timeout")
            .field("state", &st.phase)
            .field("when", &st.when)
            .finish()
    }
}

pin_project! {
    /// The future [`Timeout::run`] returns.
    #[must_use = "futures do nothing unless awaited"]
    pub struct TimeoutScope<F> {
        timeout: Timeout,
        entered: bool,
        #[pin]
        inner: Inner<F>,
    }

    impl<F> PinnedDrop for TimeoutScope<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before it ended (its task was dropped, or an outer scope took a
            // cancellation): the deadline must not cancel the task later.
            let this = this.project();
            if *this.entered {
                let handle = this.timeout.0.lock().handle.take();
                if let Some(h) = handle {
                    h.cancel();
                }
            }
        }
    }
}

pin_project! {
    #[project = InnerProj]
    enum Inner<F> {
        Running { #[pin] fut: F },
        Done,
    }
}

impl<F: Future> Future for TimeoutScope<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.entered {
            this.timeout.enter();
            *this.entered = true;
        }
        let polled = match this.inner.as_mut().project() {
            InnerProj::Running { fut } => fut.poll(cx),
            InnerProj::Done => panic!("a timeout scope was polled after it completed"),
        };
        match polled {
            Poll::Ready(v) => {
                this.inner.set(Inner::Done);
                this.timeout.exit(false);
                Poll::Ready(Ok(v))
            }
            Poll::Pending => match cancel::take() {
                None => Poll::Pending,
                Some(c) => {
                    this.inner.set(Inner::Done);
                    if this.timeout.exit(true) {
                        // TIMEOUT-1: the timeout's own cancellation.
                        Poll::Ready(Err(TimeoutError))
                    } else {
                        // TIMEOUT-2: someone else's; on to the next scope out.
                        cancel::raise(c.message_arc());
                        Poll::Pending
                    }
                }
            },
        }
    }
}

/// Waits for `aw` — a coroutine, started as a task here, or a task, used as itself (asyncio's
/// `ensure_future`) — for at most `timeout` (asyncio 3.11's `wait_for`). At the deadline the
/// task is cancelled and waited for — cleanup included — and then `Err(TimeoutError)`, unless
/// it produced its value after all, which is returned (TIMEOUT-3: a result that arrives with the
/// timeout is not lost). `None` waits without a deadline (asyncio awaits a coroutine in the
/// caller's own task then; evloop still runs it as a task). If the awaiting task is cancelled,
/// the work is cancelled and waited for, and the cancellation passes on — unless the work had
/// already finished, whose value is then returned (asyncio). A panic in the work is re-raised
/// here; work cancelled by someone else is raised here as a cancellation.
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let slow = evloop::sleep(Duration::from_secs(10));
///     assert_eq!(evloop::wait_for(slow, Some(Duration::from_secs(1))).await, Err(evloop::TimeoutError));
///     let quick = async { 5 };
///     assert_eq!(evloop::wait_for(quick, Some(Duration::from_secs(1))).await, Ok(5));
/// });
/// ```
///
/// # Panics
/// When no loop is running on this thread.
#[track_caller]
pub fn wait_for<A>(aw: A, timeout: Option<Duration>) -> WaitFor<A::Output>
where
    A: Awaitable<Ensured = Task<<A as Awaitable>::Output>>,
{
    // Started here, as asyncio's `ensure_future`: a task is used as itself, so its own
    // completion (not a wrapper's, a turn later) decides (TIMEOUT-3).
    WaitFor(Box::pin(wait_for_task(
        crate::spawn::ensure_future(aw),
        timeout,
    )))
}

/// The future [`wait_for`] returns.
#[must_use = "futures do nothing unless awaited; the work runs anyway, as a task"]
pub struct WaitFor<T>(Pin<Box<dyn Future<Output = Result<T, TimeoutError>> + Send>>);

impl<T> Future for WaitFor<T> {
    type Output = Result<T, TimeoutError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<T> std::fmt::Debug for WaitFor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitFor").finish_non_exhaustive()
    }
}

async fn wait_for_task<T: Send + 'static>(
    task: Task<T>,
    timeout: Option<Duration>,
) -> Result<T, TimeoutError> {
    let Some(timeout) = timeout else {
        return Ok(result_of(task).await);
    };
    let lp = or_panic(get_running_loop());
    let as_ref = task.task_ref();
    if timeout.is_zero() {
        cancel_and_wait(&as_ref).await;
        return result_or_timeout(task).await;
    }
    let waiter = crate::LoopFuture::<()>::new();
    let w = waiter.clone();
    let timer = lp.call_later(timeout, move || {
        let _ = w.set_result(());
    });
    let w = waiter.clone();
    as_ref.add_done_callback(move |_| {
        let _ = w.set_result(());
    });
    let waited = catch_cancel(waiter).await;
    timer.cancel();
    match waited {
        Err(c) => {
            if !as_ref.done() {
                cancel_and_wait(&as_ref).await;
                return c.raise().await;
            }
            Ok(result_of(task).await)
        }
        Ok(_) => {
            if as_ref.done() {
                Ok(result_of(task).await)
            } else {
                cancel_and_wait(&as_ref).await;
                result_or_timeout(task).await
            }
        }
    }
}

/// asyncio's `_cancel_and_wait`.
fn cancel_and_wait(task: &TaskRef) -> crate::task::WaitDone {
    task.cancel();
    task.wait()
}

/// A finished task's value; its panic re-raised, its cancellation raised at this await.
async fn result_of<T: Send + 'static>(task: Task<T>) -> T {
    match task.await {
        Ok(v) => v,
        Err(TaskError::Panicked(p)) => resume_unwind(p.into_payload()),
        Err(TaskError::Cancelled(c)) => c.raise().await,
        Err(e) => panic!("wait_for: {e}"),
    }
}

/// After the deadline cancelled it: its value if it still produced one, else the timeout.
async fn result_or_timeout<T: Send + 'static>(task: Task<T>) -> Result<T, TimeoutError> {
    if bug::enabled(Bug::WaitForLostResult) {
        return Err(TimeoutError);
    }
    match task.await {
        Ok(v) => Ok(v),
        Err(TaskError::Cancelled(_)) => Err(TimeoutError),
        Err(TaskError::Panicked(p)) => resume_unwind(p.into_payload()),
        Err(e) => panic!("wait_for: {e}"),
    }
}

/// Awaits `task` without letting a cancellation of the awaiting task reach it (asyncio's
/// `shield`): the awaiting task still receives its cancellation at this await (TIMEOUT-4), and
/// `task` runs on. `task` cancelled by other means gives `Err(TaskError::Cancelled(_))`. For
/// asyncio's `shield(coro())`, shield `create_task(coro())`.
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let work = evloop::create_task(async {
///         evloop::sleep(Duration::from_secs(2)).await;
///         "saved"
///     });
///     let w = work.clone();
///     let caller = evloop::create_task(async move { evloop::shield(w).await });
///     evloop::sleep(Duration::from_secs(1)).await;
///     caller.cancel();
///     assert!(caller.await.unwrap_err().is_cancelled());
///     assert_eq!(work.await.unwrap(), "saved"); // not cancelled
/// });
/// ```
pub fn shield<T: Send + 'static>(task: Task<T>) -> Shield<T> {
    let wait = task.task_ref().wait();
    Shield {
        task: Some(task),
        wait,
    }
}

/// The future [`shield`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct Shield<T> {
    task: Option<Task<T>>,
    wait: crate::task::WaitDone,
}

impl<T: Send + 'static> Future for Shield<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `WaitDone` never hands a cancellation down (asyncio's `wait`): with one in flight it
        // returns `Pending` and the cancellation lands here.
        std::task::ready!(Pin::new(&mut self.wait).poll(cx));
        let mut task = self
            .task
            .take()
            .expect("a shield was polled after it completed");
        let out = task
            .try_result()
            .expect("a task that is done has its outcome");
        Poll::Ready(out.map_err(cancel::adopt_error))
    }
}

impl<T> std::fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shield").finish_non_exhaustive()
    }
}

impl<F> std::fmt::Debug for TimeoutScope<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeoutScope")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
