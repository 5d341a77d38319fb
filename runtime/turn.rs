//! The loop itself: what each worker does, turn after turn (asyncio's `_run_once`).
//!
//! One turn:
//! 1. move every timer that is due to the back of the ready queue, earliest first (TIME-1, TIME-2);
//! 2. if nothing is ready: with a virtual clock and no work in flight anywhere, jump the clock to
//!    the next deadline (TIME-4) or report a deadlock (LOOP-8); otherwise park until woken (LOOP-5);
//! 3. run, in FIFO order, only the items that were ready when the turn began; what they make ready
//!    runs next turn (LOOP-2, LOOP-3).
//!
//! With `workers(n > 1)` every worker runs this same loop on the one shared queue, so items are
//! taken in FIFO order but may run at the same time (THREAD-1).
//!
//! Parking is decided under the `sched` lock that every producer also takes, so a producer either
//! sees the worker counted in `idle` (and notifies it) or the worker sees the new item before it
//! waits (LOOP-5: no lost unpark).

use crate::event_loop::LoopInner;
use crate::queue::Runnable;
use crate::timer::Timers;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::atomic::Ordering;
use evloop_model::sync::MutexGuard;
use evloop_model::time::Stopwatch;
use evloop_model::trace;
use std::collections::VecDeque;
use std::time::Duration;

/// Everything the workers and producers share, under one lock.
#[derive(Default)]
pub(crate) struct Sched {
    pub(crate) ready: VecDeque<Runnable>,
    pub(crate) timers: Timers,
    /// Workers waiting on the loop's condition variable.
    pub(crate) idle: usize,
    /// Workers running an item right now.
    pub(crate) busy: usize,
    /// The main future is done: finish this turn, then return.
    pub(crate) stopping: bool,
    pub(crate) deadlock: bool,
    pub(crate) closed: bool,
}

/// What the worker does next after looking at the queue.
enum Next {
    Stop,
    RunTurn,
    Park(Option<Duration>),
}

/// One worker's loop; returns when the loop is stopped (or a deadlock was found).
pub(crate) fn run_worker(lp: &LoopInner, worker: usize) {
    match &lp.config.explore {
        // Built by `explore` (one worker, virtual time): the same turn, with its open choices
        // answered by the explorer. One branch per run, outside the turn loop, so the loop's code
        // is what it would be without exploration (EXPLORE-12).
        Some(hook) => crate::explore::hook::run_loop(lp, hook),
        None => run_turns(lp, worker),
    }
}

/// Kept out of line: inlined into `run_worker` next to the explorer's branch, its code came out
/// a few instructions longer per turn (EXPLORE-12, measured with callgrind).
#[inline(never)]
fn run_turns(lp: &LoopInner, worker: usize) {
    let single = lp.config.workers == 1;
    let mut batch: VecDeque<Runnable> = VecDeque::new();
    let mut s = lp.sched.lock();
    loop {
        let next = decide(lp, &mut s, worker);
        match next {
            Next::Stop => break,
            Next::Park(timeout) => {
                if bug::enabled(Bug::ParkRace) {
                    // Injected: the "nothing to do" decision is acted on after the lock was let
                    // go, so a wake that lands in between notifies nobody.
                    drop(s);
                    evloop_model::thread::yield_now();
                    s = lp.sched.lock();
                }
                trace::record(|| format!("worker {worker} parks"));
                s.idle += 1;
                s = match timeout {
                    Some(t) => lp.wakeup.wait_timeout(s, t),
                    None => lp.wakeup.wait(s),
                };
                s.idle -= 1;
                trace::record(|| format!("worker {worker} unparked"));
            }
            Next::RunTurn => {
                let ntodo = s.ready.len();
                if single {
                    // Nobody else takes from the queue: take the whole turn under one lock. The
                    // batch is empty here, so swapping the two buffers takes exactly the `ntodo`
                    // items ready now, without copying them, and hands the queue the batch's
                    // spare capacity for what this turn makes ready.
                    debug_assert!(batch.is_empty());
                    std::mem::swap(&mut batch, &mut s.ready);
                    s.busy += 1;
                    drop(s);
                    while let Some(item) = batch.pop_front() {
                        run_item(lp, worker, item);
                    }
                    s = lp.sched.lock();
                    s.busy -= 1;
                } else {
                    for _ in 0..ntodo {
                        let Some(item) = s.ready.pop_front() else {
                            break;
                        };
                        s.busy += 1;
                        drop(s);
                        run_item(lp, worker, item);
                        s = lp.sched.lock();
                        s.busy -= 1;
                        if s.stopping {
                            break;
                        }
                    }
                }
            }
        }
    }
}

fn decide(lp: &LoopInner, s: &mut MutexGuard<'_, Sched>, worker: usize) -> Next {
    loop {
        if s.stopping {
            return Next::Stop;
        }
        // Reading a real clock costs as much as the rest of a short turn; without timers
        // nothing below looks at it.
        let (now, moved) = if s.timers.is_empty() {
            (Duration::ZERO, 0)
        } else {
            fire_due_timers(lp, s)
        };
        if moved > 0 {
            trace::record(|| format!("worker {worker}: {moved} timer(s) fired at {now:?}"));
            if s.idle > 0 {
                lp.wakeup.notify_all();
            }
        }
        if !s.ready.is_empty() {
            return Next::RunTurn;
        }
        let next_deadline = s.timers.next_deadline();
        if lp.clock.is_virtual() {
            if s.busy == 0 && lp.inflight.load(Ordering::SeqCst) == 0 {
                match next_deadline {
                    Some(d) => {
                        trace::record(|| format!("virtual clock jumps to {d:?}"));
                        lp.clock.advance_to(d);
                        continue;
                    }
                    None => {
                        trace::record(|| {
                            "deadlock: nothing ready, no timer, nothing in flight".into()
                        });
                        s.deadlock = true;
                        s.stopping = true;
                        lp.wakeup.notify_all();
                        return Next::Stop;
                    }
                }
            }
            trace::record(|| format!("worker {worker}: nothing ready, will park"));
            return Next::Park(None);
        }
        return Next::Park(next_deadline.map(|d| d.saturating_sub(now)));
    }
}

/// Moves the due timers to the ready queue; returns the clock reading and how many moved.
// Out of line: inlined, it made `decide()` spill registers on every turn, timers or not
// (callgrind, yield_loop: 462 instructions per yield inlined, 449 out of line).
#[inline(never)]
fn fire_due_timers(lp: &LoopInner, s: &mut Sched) -> (Duration, usize) {
    let mut now = lp.clock.now();
    if bug::enabled(Bug::EarlyTimer) {
        now += Duration::from_millis(1);
    }
    let moved = s
        .timers
        .pop_due(now, |d| s.ready.push_back(Runnable::from(d)));
    (now, moved)
}

fn run_item(lp: &LoopInner, worker: usize, item: Runnable) {
    if lp.config.debug {
        let what = item.describe();
        let watch = Stopwatch::start();
        item.run();
        let took = watch.elapsed();
        if took >= lp.config.slow_callback_duration {
            tracing::warn!(
                worker,
                "Executing {what} took {:.3} seconds",
                took.as_secs_f64()
            );
        }
    } else {
        item.run();
    }
}
