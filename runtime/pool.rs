//! The thread pool behind `to_thread` / `run_in_executor` (asyncio's default executor).
//!
//! Threads are started on demand up to the loop's `max_threads`, reused while there is work, and
//! stopped and joined when the loop closes. Each job counts as cross-thread work in flight from
//! submission until its result has been handed to the loop (THREAD-4), so a virtual clock never
//! jumps past a job that is still running.

use crate::context;
use crate::error::{LoopError, Panic, TaskError};
use crate::event_loop::LoopInner;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Condvar, Mutex};
use evloop_model::thread::JoinHandle;
use evloop_model::trace;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Pool {
    shared: Arc<PoolShared>,
    max_threads: usize,
    /// On a loop built by the explorer, jobs go to its hook instead of threads (EXPLORE-4). The
    /// branch lives here rather than in the generic `ToThread::submit`, whose code is inlined into
    /// every caller's future: there it changed inlining enough to cost 1 % of all instructions in
    /// a benchmark that never explores (EXPLORE-12).
    explore: Option<Arc<crate::explore::hook::Hook>>,
}

struct PoolShared {
    state: Mutex<PoolState>,
    work: Condvar,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    /// Threads waiting for work (or woken and not yet back under the lock).
    idle: usize,
    /// Idle threads already sent a wakeup for a queued job: claimed, so the next job of a burst
    /// needs another thread (THREAD-7). Taken back by each thread that comes out of its wait.
    notified: usize,
    threads: Vec<JoinHandle<()>>,
    shutdown: bool,
}

evloop_model::thread_local! {
    static IN_POOL: std::cell::Cell<bool> = std::cell::Cell::new(false);
}

impl Pool {
    pub(crate) fn new(
        max_threads: usize,
        explore: Option<Arc<crate::explore::hook::Hook>>,
    ) -> Pool {
        Pool {
            explore: explore.filter(|h| h.defers_jobs),
            shared: Arc::new(PoolShared {
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
            }),
            max_threads,
        }
    }

    /// Queues a job, waking an idle thread that no earlier job has claimed, or else starting a
    /// thread if the pool may grow (asyncio's `ThreadPoolExecutor._adjust_thread_count`, THREAD-7).
    /// Gives the job back when the pool has been shut down (the loop is closed), for the caller to
    /// drop outside the lock: it owns the user's function.
    fn submit(&self, job: Job) -> Result<(), Job> {
        let mut st = self.shared.state.lock();
        if st.shutdown {
            return Err(job);
        }
        if let Some(hook) = &self.explore {
            drop(st);
            hook.defer(job);
            return Ok(());
        }
        st.jobs.push_back(job);
        // A notified thread counts itself out of `idle` only once it has the lock again; without
        // the claim every job of a burst would go to that one thread and the pool would not grow.
        if st.idle > st.notified {
            st.notified += 1;
            self.shared.work.notify_one();
        } else if st.threads.len() < self.max_threads {
            let shared = self.shared.clone();
            let n = st.threads.len();
            st.threads.push(evloop_model::thread::spawn(
                format!("evloop-pool-{n}"),
                move || worker(&shared),
            ));
        }
        Ok(())
    }

    /// Stops the pool: queued jobs still run, then every thread exits and is joined (unless this
    /// is itself a pool thread, which cannot join itself).
    pub(crate) fn shutdown(&self) {
        let threads = {
            let mut st = self.shared.state.lock();
            st.shutdown = true;
            self.shared.work.notify_all();
            std::mem::take(&mut st.threads)
        };
        if IN_POOL.with(|p| p.get()) {
            return;
        }
        for t in threads {
            let _ = t.join();
        }
    }
}

fn worker(shared: &PoolShared) {
    IN_POOL.with(|p| p.set(true));
    let mut st = shared.state.lock();
    loop {
        if let Some(job) = st.jobs.pop_front() {
            drop(st);
            job();
            st = shared.state.lock();
        } else if st.shutdown {
            return;
        } else {
            st.idle += 1;
            st = shared.work.wait(st);
            st.idle -= 1;
            // Woken by a job's notify, by shutdown or spuriously: one claim is taken back either
            // way. So `notified` never exceeds the woken threads still on their way to the lock,
            // each of which takes every queued job before it waits again: no job is stranded.
            st.notified = st.notified.saturating_sub(1);
        }
    }
}

struct Slot<T> {
    result: Option<Result<T, TaskError>>,
    waker: Option<Waker>,
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
}

impl<T: Send + 'static> ToThread<T> {
    pub(crate) fn submit<F>(lp: Arc<LoopInner>, f: F) -> ToThread<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(Slot {
            result: None,
            waker: None,
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
            let waker = {
                let mut s = theirs.lock();
                debug_assert!(s.result.is_none(), "a job delivers once");
                s.result = Some(result);
                s.waker.take()
            };
            // User code on a pool thread: a panic in it is reported, and the job still ends as
            // delivered (THREAD-4) instead of taking the thread down with its count in flight.
            if let Some(w) = waker {
                crate::contain::wake(w);
            }
            // With the awaiter gone, this is the slot's last reference: the result and any waker
            // left in it are dropped here, with no lock held, while the job still counts as in
            // flight (what their destructors queue is seen before the loop decides it is idle).
            crate::contain::drop_value(theirs);
            trace::record(|| "to_thread job delivered".into());
            // After the wake is queued: the loop never sees "nothing in flight, nothing ready"
            // between the two (THREAD-4).
            if !early {
                lp2.inflight_end();
            }
        });
        if let Err(job) = lp.pool.submit(job) {
            drop(job);
            slot.lock().result = Some(Err(TaskError::Cancelled));
            lp.inflight_end();
        }
        ToThread { slot }
    }
}

impl<T> Future for ToThread<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.lock();
        if let Some(r) = s.result.take() {
            return Poll::Ready(r);
        }
        if matches!(&s.waker, Some(w) if w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        // A foreign waker's clone and drop are user code: neither runs under the slot lock.
        drop(s);
        let new = cx.waker().clone();
        let mut s = self.slot.lock();
        if let Some(r) = s.result.take() {
            // Delivered while the lock was let go, its wake going to the old waker, which may not
            // be this task's: take the result now.
            drop(s);
            drop(new);
            return Poll::Ready(r);
        }
        let old = s.waker.replace(new);
        drop(s);
        drop(old);
        Poll::Pending
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
    match context::running_loop() {
        Some(lp) => lp.run_in_executor(f),
        None => panic!("{}", LoopError::NoRunningLoop),
    }
}
