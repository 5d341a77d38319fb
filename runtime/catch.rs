//! Where a cancellation is caught: [`catch_cancel`], the Rust form of asyncio's
//! `try: … except CancelledError: …`, and [`Cancelled::raise`], its `raise`.
//!
//! ```text
//!   catch_cancel(fut) ── poll fut ──► Ready(v) ───────────────────────────► Ok(v)
//!                                 └─► Pending, a cancellation in flight ──► fut dropped where it
//!                                     (delivered or raised in this step)     stopped, Err(Cancelled)
//! ```
//!
//! The scope looks for the cancellation *after* its inner future's poll, so the innermost scope
//! on the task's await path takes it, and one raised during that poll is seen too (CANCEL-5).

use crate::engine::cancel;
use crate::error::Cancelled;
use evloop_model::bug::{self, Bug};
use pin_project_lite::pin_project;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `fut`, and catches the cancellation of the task running it (asyncio's
/// `try: await fut except CancelledError as c: …`): `Ok(output)` if `fut` finishes, or
/// `Err(Cancelled)` if the task is cancelled while suspended inside it — `fut` is then dropped
/// at its suspension point (its destructors run, as without a scope) and the code around the
/// scope runs on. It may await more (cleanup), return a value (the task then ends normally),
/// fail differently, or end cancelled: by returning the `Cancelled` (`?` into a
/// [`TaskError`](crate::TaskError), CANCEL-8) or by [`Cancelled::raise`] to the next scope out.
///
/// Without a scope a cancelled task's future is dropped where it stopped, as before. With
/// nested scopes the innermost one on the await path takes it. Inside `join!`-style combinators
/// of one task, the first scope polled in the cancelled step takes it (CANCEL-5).
///
/// Catching does not take the request back: [`Task::cancelling`](crate::Task::cancelling)
/// still counts it until [`uncancel`](crate::Task::uncancel), and a later `cancel()` cancels
/// the task again.
///
/// ```
/// use evloop::catch_cancel;
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let worker = evloop::create_task(async {
///         match catch_cancel(evloop::sleep(Duration::from_secs(3600))).await {
///             Ok(()) => "finished",
///             Err(_cancelled) => {
///                 // Cleanup that awaits, as asyncio's `except CancelledError:` may.
///                 evloop::sleep(Duration::from_secs(1)).await;
///                 "cleaned up"
///             }
///         }
///     });
///     evloop::sleep(Duration::from_secs(1)).await;
///     worker.cancel();
///     assert_eq!(worker.await.unwrap(), "cleaned up");
/// });
/// ```
pub fn catch_cancel<F: IntoFuture>(fut: F) -> CatchCancel<F::IntoFuture> {
    CatchCancel {
        inner: Inner::Running {
            fut: fut.into_future(),
        },
    }
}

pin_project! {
    /// The future [`catch_cancel`] returns.
    #[must_use = "futures do nothing unless awaited"]
    pub struct CatchCancel<F> {
        #[pin]
        inner: Inner<F>,
    }
}

pin_project! {
    #[project = InnerProj]
    enum Inner<F> {
        Running { #[pin] fut: F },
        Done,
    }
}

impl<F: Future> Future for CatchCancel<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if bug::enabled(Bug::ScopeMissesCancel) {
            // Injected: looks before the poll only, so a cancellation raised during it is missed.
            if let Some(c) = cancel::take() {
                this.inner.set(Inner::Done);
                return Poll::Ready(Err(c));
            }
        }
        let polled = match this.inner.as_mut().project() {
            InnerProj::Running { fut } => fut.poll(cx),
            InnerProj::Done => panic!("a `catch_cancel` future was polled after it completed"),
        };
        match polled {
            Poll::Ready(v) => {
                this.inner.set(Inner::Done);
                Poll::Ready(Ok(v))
            }
            Poll::Pending if bug::enabled(Bug::ScopeMissesCancel) => Poll::Pending,
            Poll::Pending => match cancel::take() {
                Some(c) => {
                    // Dropped where it stopped; its destructors run here, in the task's step,
                    // under no runtime lock.
                    this.inner.set(Inner::Done);
                    Poll::Ready(Err(c))
                }
                None => Poll::Pending,
            },
        }
    }
}

impl<F> std::fmt::Debug for CatchCancel<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchCancel")
            .field("done", &matches!(self.inner, Inner::Done))
            .finish()
    }
}

impl Cancelled {
    /// Raises this cancellation again at this await (asyncio's bare `raise` in an
    /// `except CancelledError:` block): the next [`catch_cancel`] scope out takes it; without
    /// one, the task ends cancelled, with this cancellation's message. Never completes, so it
    /// fits any type.
    ///
    /// ```
    /// use evloop::{catch_cancel, Cancelled};
    /// use std::time::Duration;
    /// evloop::run(async {
    ///     let t = evloop::create_task(async {
    ///         let inner = async {
    ///             match catch_cancel(evloop::sleep(Duration::from_secs(60))).await {
    ///                 Ok(()) => "slept",
    ///                 Err(c) => c.raise().await, // cleanup would go first
    ///             }
    ///         };
    ///         match catch_cancel(inner).await {
    ///             Ok(v) => v,
    ///             Err(_) => "caught by the outer scope",
    ///         }
    ///     });
    ///     evloop::sleep(Duration::ZERO).await;
    ///     t.cancel();
    ///     assert_eq!(t.await.unwrap(), "caught by the outer scope");
    /// });
    /// ```
    ///
    /// # Panics
    /// When awaited outside a task's step (nothing there can be cancelled).
    pub fn raise<T>(self) -> Raise<T> {
        Raise {
            cancelled: Some(self),
            _output: PhantomData,
        }
    }
}

/// The future [`Cancelled::raise`] returns: it never completes.
#[must_use = "futures do nothing unless awaited"]
pub struct Raise<T> {
    cancelled: Option<Cancelled>,
    _output: PhantomData<fn() -> T>,
}

impl<T> Future for Raise<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<T> {
        assert!(
            crate::engine::current::task().is_some(),
            "`Cancelled::raise` was awaited outside a task: only a task's step can be cancelled"
        );
        // Kept until the future is dropped (by the scope that takes it, or with the task).
        let message = self.cancelled.as_ref().and_then(Cancelled::message_arc);
        cancel::raise(message);
        Poll::Pending
    }
}

impl<T> std::fmt::Debug for Raise<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raise")
            .field("cancelled", &self.cancelled)
            .finish()
    }
}
