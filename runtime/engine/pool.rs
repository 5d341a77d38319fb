//! The thread pool behind `to_thread` / `run_in_executor` (asyncio's default executor): threads
//! started on demand up to the loop's `max_threads` (THREAD-7), reused while there is work,
//! stopped and joined when the loop closes (LOOP-6). What a job does and how its result reaches
//! the awaiting task is `crate::to_thread`'s; here a job is an opaque closure.

use super::choices::ExplorerRc;
use evloop_model::sync::{Arc, Condvar, Mutex};
use evloop_model::thread::JoinHandle;
use std::collections::VecDeque;

/// A blocking job: runs once, on a pool thread (or, on a loop built by `explore`, wherever the
/// explorer chooses).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Pool {
    shared: Arc<PoolShared>,
    max_threads: usize,
    /// On a loop built by the explorer, jobs go to its hook instead of threads (EXPLORE-4). The
    /// branch lives here rather than in the generic `ToThread::submit`, whose code is inlined into
    /// every caller's future, so that a loop that never explores pays nothing for it (EXPLORE-12).
    explore: Option<ExplorerRc>,
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
    static IN_POOL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Pool {
    pub(crate) fn new(max_threads: usize, explore: Option<ExplorerRc>) -> Pool {
        Pool {
            explore: explore.filter(|h| h.defers_jobs()),
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
    pub(super) fn submit(&self, job: Job) -> Result<(), Job> {
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
