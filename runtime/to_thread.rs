//! [`to_thread`] and `EventLoop::run_in_executor`: blocking work on the loop's thread pool
//! (`engine::pool`), and the future that hands its result back to the awaiting task (THREAD-3).
//!
//! Each job counts as cross-thread work in flight from submission until its result has been
//! handed over (THREAD-4), so a virtual clock never jumps past a job that is still running. The
//! job wakes the awaiting task from the pool thread; its slot's one waiter is kept in the
//! runtime's waiter list like every other (`waiters`), cloned and dropped outside the slot's lock
//! (LOCK-1).

use crate::engine::current;
use crate::engine::pool::Job;
use crate::engine::scheduler::Scheduler;
use crate::error::{Cancelled, LoopError, Panic, TaskError};
use crate::waiters::WaitList;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use evloop_model::trace;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    result: Option<Result<T, TaskError>>,
    /// The awaiting task (one at a time: a `ToThread` is not `Clone`).
    waiters: WaitList<Waker>,
}

/// The future returned by [`to_thread`] and `EventLoop::run_in_executor`: the blocking function's
/// result, or `Err(TaskError::Panicked)` if it panicked, or `Err(TaskError::Cancelled)` if the loop
/// closed before it ran.
///
/// ```
/// let r = evloop::run(async {
///     // A panic on the pool thread comes back as a value; the loop keeps running.
///     evloop::to_thread(|| -> u32 { panic!("disk on fire") }).await
/// });
/// assert!(r.unwrap_err().is_panic());
/// ```
#[must_use = "the function runs anyway; await this to get its result"]
pub struct ToThread<T> {
    slot: Arc<Mutex<Slot<T>>>,
    /// This future's key in the slot's waiter list, while it waits.
    key: Option<u32>,
}

impl<T: Send + 'static> ToThread<T> {
    pub(crate) fn submit<F>(lp: Arc<Scheduler>, f: F) -> ToThread<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(Slot {
            result: None,
            waiters: WaitList::default(),
        }));
        let theirs = slot.clone();
        lp.inflight_begin();
        let lp2 = lp.clone();
        let job: Job = Box::new(move || {
            trace::record(|| "to_thread job runs".into());
            let early = bug::enabled(Bug::InflightEndEarly);
            if early {
                // Injected: released before the result is handed back (THREAD-4).
                lp2.inflight_end();
            }
            let result =
                catch_unwind(AssertUnwindSafe(f)).map_err(|p| TaskError::Panicked(Panic::new(p)));
            let woken = {
                let mut s = theirs.lock();
                debug_assert!(s.result.is_none(), "a job delivers once");
                s.result = Some(result);
                std::mem::take(&mut s.waiters)
            };
            // User code on a pool thread: a panic in it is reported, and the job still ends as
            // delivered (THREAD-4) instead of taking the thread down with its count in flight.
            woken.drain_in_order(crate::engine::contain::wake);
            // With the awaiter gone, this is the slot's last reference: the result and any waker
            // left in it are dropped here, with no lock held, while the job still counts as in
            // flight (what their destructors queue is seen before the loop decides it is idle).
            crate::engine::contain::drop_value(theirs);
            trace::record(|| "to_thread job delivered".into());
            // After the wake is queued: the loop never sees "nothing in flight, nothing ready"
            // between the two (THREAD-4).
            if !early {
                lp2.inflight_end();
            }
        });
        if let Err(job) = lp.submit_job(job) {
            crate::engine::contain::drop_value(job);
            slot.lock().result = Some(Err(TaskError::Cancelled(Cancelled::new(None))));
            lp.inflight_end();
        }
        ToThread { slot, key: None }
    }
}

impl<T> Future for ToThread<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        let mut s = this.slot.lock();
        if let Some(r) = s.result.take() {
            // The delivery took every waiter out of the list.
            this.key = None;
            return Poll::Ready(r);
        }
        if this
            .key
            .is_some_and(|k| s.waiters.get(k).will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        // A foreign waker's clone and drop are user code: neither runs under the slot lock.
        drop(s);
        let new = cx.waker().clone();
        let mut s = this.slot.lock();
        if let Some(r) = s.result.take() {
            // Delivered while the lock was let go, its wake going to the old waker, which may not
            // be this task's: take the result now.
            this.key = None;
            drop(s);
            drop(new);
            return Poll::Ready(r);
        }
        let old = match this.key {
            Some(k) => Some(s.waiters.replace(k, new)),
            None => {
                this.key = Some(s.waiters.push(new));
                None
            }
        };
        drop(s);
        crate::engine::contain::drop_value(old);
        Poll::Pending
    }
}

impl<T> Drop for ToThread<T> {
    fn drop(&mut self) {
        if let Some(k) = self.key {
            let mut s = self.slot.lock();
            // The waiter goes with its future; a delivered slot gave its waiters out already.
            let gone = s.result.is_none().then(|| s.waiters.remove(k));
            drop(s);
            crate::engine::contain::drop_value(gone);
        }
    }
}

impl<T> std::fmt::Debug for ToThread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ToThread")
    }
}

/// Runs blocking `f` on the running loop's thread pool and resumes the awaiting task with its
/// result (asyncio's `asyncio.to_thread`). The job is submitted at once, not at the first poll.
///
/// ```
/// let n = evloop::run(async {
///     evloop::to_thread(|| (1..=10).sum::<u32>()).await.unwrap()
/// });
/// assert_eq!(n, 55);
/// ```
///
/// # Panics
/// When no loop is running on this thread.
#[track_caller]
pub fn to_thread<T, F>(f: F) -> ToThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match current::scheduler() {
        Some(lp) => ToThread::submit(lp, f),
        None => panic!("{}", LoopError::NoRunningLoop),
    }
}
