//! The loop's own worker threads: workers 1.. of `workers(n > 1)` (worker 0 is the thread that
//! calls `run_until_complete`). Started by the loop's first run, kept for its life and parked
//! here between runs, joined when the loop closes (THREAD-8).
//!
//! ```text
//!   started by the first run ──► waits for a run ──joins──► runs turns ──run stops──► leaves ──┐
//!                                   ▲      │                                                   │
//!                                   │      └── loop closed: exits, joined by `close`           │
//!                                   └──────────────────────────────────────────────────────────┘
//! ```
//!
//! Between runs a helper waits on the crew's own condition variable, not the loop's: it is in
//! neither `Sched::idle` nor `Sched::busy`, so no producer sends it a wakeup meant for a worker of
//! a run (LOOP-5), and it never stands for a busy worker in the deadlock check (LOOP-8).
//!
//! Who touches what, under `Crew::state`: worker 0 sets `run` (and bumps `generation`) as its run
//! begins and takes it back as the run ends. A helper joins a run only while `run` is set, at most
//! once per `generation`, counting itself `inside`; one that comes late finds `run` gone and waits
//! for the next. Worker 0 returns only once `inside` is back to zero, so no worker outlives its
//! run: a run's stop stops only that run (LOOP-4), and the loop reads as not running, and can be
//! closed, only once every worker has left (LOOP-6).

use crate::context;
use crate::event_loop::{EventLoop, LoopInner};
use crate::turn::run_worker;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Condvar, Mutex};
use evloop_model::thread::JoinHandle;
use evloop_model::trace;
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

type Payload = Box<dyn Any + Send>;

pub(crate) struct Crew {
    state: Mutex<CrewState>,
    /// Helpers wait here between runs.
    start: Condvar,
    /// Worker 0 waits here, at the end of a run, for the helpers to leave it.
    left: Condvar,
}

#[derive(Default)]
struct CrewState {
    /// The run helpers may join: the handle they run it under. Set only while a run is open, so
    /// that between runs no helper keeps the loop alive (the last user handle closes it).
    run: Option<EventLoop>,
    /// Counts runs, so that a helper joins each one at most once.
    generation: u64,
    /// Helpers inside the current run.
    inside: usize,
    /// The first panic out of a helper's run (a runtime invariant failed), for worker 0 to
    /// re-raise once every helper has left.
    panic: Option<Payload>,
    threads: Vec<JoinHandle<()>>,
    closed: bool,
}

impl Crew {
    pub(crate) fn new() -> Crew {
        Crew {
            state: Mutex::new(CrewState::default()),
            start: Condvar::new(),
            left: Condvar::new(),
        }
    }

    /// Stops and joins every helper. Called by `close`, which never runs while the loop runs, so
    /// every helper is between runs (and none of them is the calling thread: a helper runs user
    /// code only inside a run).
    pub(crate) fn shutdown(&self) {
        let threads = {
            let mut c = self.state.lock();
            c.closed = true;
            std::mem::take(&mut c.threads)
        };
        self.start.notify_all();
        for t in threads {
            // Helpers catch their panics (`helper`): nothing to re-raise here.
            let _ = t.join();
        }
    }
}

/// Runs worker 0 here and, with several workers, the loop's helpers on their threads until the
/// loop stops; returns once every helper has left the run.
pub(crate) fn run_workers(lp: &EventLoop) {
    let inner = lp.inner();
    if inner.config.workers > 1 {
        let run = OpenRun::open(lp);
        run_here(lp, 0);
        if let Some(payload) = run.close() {
            resume_unwind(payload);
        }
    } else {
        run_here(lp, 0);
    }
}

/// One worker's share of a run, on the calling thread, under `lp` as the running loop.
fn run_here(lp: &EventLoop, worker: usize) {
    let _ctx = context::enter_running(lp);
    let _stop = StopOnUnwind(lp.inner());
    run_worker(lp.inner(), worker);
}

/// A run the helpers may join. Closing it (also when worker 0 unwinds: a runtime invariant
/// failed, and `StopOnUnwind` has asked the helpers to stop) waits for them to leave, so that
/// `run_until_complete` never reports the loop idle while a worker of its run still runs.
struct OpenRun<'a> {
    lp: &'a LoopInner,
    open: bool,
}

impl<'a> OpenRun<'a> {
    /// Opens the run, starting the helpers the loop does not have yet.
    fn open(lp: &'a EventLoop) -> OpenRun<'a> {
        let inner = lp.inner();
        let crew = &inner.crew;
        {
            let mut c = crew.state.lock();
            debug_assert!(!c.closed, "a run on a closed loop");
            debug_assert!(c.run.is_none(), "runs never overlap");
            c.run = Some(lp.clone());
            c.generation += 1;
            while c.threads.len() + 1 < inner.config.workers {
                let worker = c.threads.len() + 1;
                let lp = inner.clone();
                c.threads.push(evloop_model::thread::spawn(
                    format!("evloop-worker-{worker}"),
                    move || helper(&lp, worker),
                ));
            }
        }
        crew.start.notify_all();
        OpenRun {
            lp: inner,
            open: true,
        }
    }

    /// Closes the run and waits for the helpers inside it to leave; returns the first panic one
    /// of them caught.
    fn close(mut self) -> Option<Payload> {
        self.open = false;
        wait_for_helpers(self.lp)
    }
}

impl Drop for OpenRun<'_> {
    fn drop(&mut self) {
        if self.open {
            // Unwinding from worker 0: one panic is on its way already; a helper's is dropped.
            drop(wait_for_helpers(self.lp));
        }
    }
}

/// Takes the run back from the helpers and waits until every one that joined it has left.
fn wait_for_helpers(lp: &LoopInner) -> Option<Payload> {
    let crew = &lp.crew;
    let mut c = crew.state.lock();
    let run = c.run.take();
    // Injected: the run ends while a helper may still be running one of its entries.
    while c.inside > 0 && !bug::enabled(Bug::RunLeavesWorkersBehind) {
        c = crew.left.wait(c);
    }
    let panic = c.panic.take();
    drop(c);
    // Not the last handle: the caller of `run_until_complete` holds one.
    drop(run);
    panic
}

/// A helper's life: wait for a run, run turns until it stops, leave it, and again, until the loop
/// closes.
fn helper(lp: &Arc<LoopInner>, worker: usize) {
    let crew = &lp.crew;
    let mut seen = 0;
    loop {
        let run = {
            let mut c = crew.state.lock();
            loop {
                if c.closed {
                    return;
                }
                if c.generation != seen {
                    seen = c.generation;
                    if let Some(run) = c.run.clone() {
                        c.inside += 1;
                        break run;
                    }
                    // That run ended before this helper got to it.
                }
                c = crew.start.wait(c);
            }
        };
        trace::record(|| format!("worker {worker} joins the run"));
        // A panic here is a runtime invariant failing (user code's panics are contained where
        // they run); caught so that this thread stays the loop's, and re-raised by worker 0.
        let outcome = catch_unwind(AssertUnwindSafe(|| run_here(&run, worker)));
        // A task may have made a loop this thread's current one (`set_event_loop`): kept past
        // the run, that handle could keep its loop, and so this thread, alive for good.
        let current = context::take_current();
        drop(current);
        // Not the last handle: worker 0 holds one until every helper has left.
        drop(run);
        let (last, spare) = {
            let mut c = crew.state.lock();
            c.inside -= 1;
            let spare = match outcome {
                Err(p) if c.panic.is_none() => {
                    c.panic = Some(p);
                    None
                }
                Err(p) => Some(p),
                Ok(()) => None,
            };
            (c.inside == 0, spare)
        };
        if last {
            crew.left.notify_all();
        }
        drop(spare);
        trace::record(|| format!("worker {worker} leaves the run"));
    }
}

/// If a worker unwinds (a runtime invariant failed), stop the others so that waiting for them
/// cannot hang.
struct StopOnUnwind<'a>(&'a LoopInner);

impl Drop for StopOnUnwind<'_> {
    fn drop(&mut self) {
        if evloop_model::thread::panicking() {
            self.0.request_stop();
        }
    }
}
