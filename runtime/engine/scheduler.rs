//! The scheduler: everything a loop's workers and its producers share, behind one type whose
//! fields only the engine's own files touch (`turn`, `pool`, this file). Everything above the
//! engine — the futures users await, the handles, `run` — goes through its methods.
//!
//! | field                 | guarded by                  | who reads / writes                          |
//! |-----------------------|-----------------------------|---------------------------------------------|
//! | `sched` (`Sched`)     | its lock                    | workers every turn; producers (`schedule`) with one worker; timers |
//! | `inbox`               | its lock (after `sched`)    | producers with several workers; workers at `refill` |
//! | `parked`              | written under `sched`       | producers read it to decide whether to take `sched` (see `turn::park`) |
//! | `stop_asked`          | written under `sched`       | a worker between the entries of a chunk (LOOP-4) |
//! | `inflight`            | atomic                      | cross-thread work begins / ends; the turn's virtual-clock decision (TIME-4) |
//! | `registry`            | its own leaf locks          | spawn, completion, close, `pending_tasks` (`registry`) |
//! | `running`, `runs`     | set under `sched` by a run  | `run_until_complete`, `close` (LOOP-6)      |
//!
//! Lock order: `sched`, then `inbox`; the registry's locks are leaves. No user code runs under
//! any of them (LOCK-1).
//!
//! Just over 500 lines: every operation on the shared state lives here, so that its fields stay
//! private to the engine; the registry and the timers are their own files.

use super::callback::HandleCell;
use super::cell::{TaskCell, TaskName, TaskRc};
use super::config::Config;
use super::incident::{self, Handler, Incident};
use super::pool::{Job, Pool};
use super::ready::Runnable;
use super::registry::Registry;
use super::timers::SleepPoll;
use super::turn::{Inbox, Sched};
use crate::engine::contain;
use crate::error::LoopError;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use evloop_model::sync::{Arc, Condvar, Mutex};
use evloop_model::time::Clock;
use evloop_model::trace;
use std::future::Future;
use std::panic::Location;
use std::task::Waker;
use std::time::Duration;

/// See the module documentation.
pub(crate) struct Scheduler {
    pub(super) sched: Mutex<Sched>,
    /// With several workers, where `schedule` pushes (the ready queue's tail, see `turn::Inbox`),
    /// so that producers and workers do not meet at `sched` for every item.
    pub(super) inbox: Mutex<Inbox>,
    /// With several workers: parked workers with no wakeup on its way (`Sched::idle` minus
    /// `Sched::notified`), readable without `sched`. Stored only under `sched`, counted up before
    /// the parking worker's last look at the inbox (see `turn::park`); a producer takes `sched`
    /// to notify only while it is non-zero.
    pub(super) parked: AtomicUsize,
    pub(super) wakeup: Condvar,
    pub(super) clock: Clock,
    pub(super) config: Config,
    registry: Registry,
    running: AtomicBool,
    /// Counts `run_until_complete` calls, so that a main task's stop callback stops only its own
    /// run (LOOP-4).
    runs: AtomicU64,
    /// The run is stopping: the main task is done (LOOP-4) or nothing can wake it (LOOP-8); the
    /// workers finish their turn and return. Written only under `sched` (`stop_under`), so the
    /// turn's decisions, made under `sched`, see it exactly; read without the lock (Acquire) by a
    /// worker between the entries of a chunk (LOOP-4 with several workers, `turn::run_shared_turn`).
    stopping: AtomicBool,
    /// Cross-thread work the loop knows of (thread-pool jobs, live resolvers): while non-zero a
    /// virtual clock must not jump, because a result may still arrive (TIME-4). An atomic rather
    /// than a `Sched` field so that beginning and ending such work does not take the `sched` lock
    /// the loop takes every turn (see `inflight_end` for why parking stays safe).
    pub(super) inflight: AtomicUsize,
    pool: Pool,
    /// The user's exception handler (LOOP-13); `None`: the default one. Cloned out under its lock
    /// and called after: the handler is user code (LOCK-1).
    handler: Mutex<Option<Handler>>,
    /// Cancellation messages and live `Cancelled` values, by task (CANCEL-4, CANCEL-8).
    cancels: super::cancel::CancelTable,
}

impl Scheduler {
    /// Pushes an item on the ready queue and wakes a parked worker (LOOP-5). Safe from any
    /// thread. On a closed loop the item is dropped — outside the lock, since it may own user
    /// values whose destructors call back into the loop.
    pub(crate) fn schedule(&self, item: Runnable) {
        if self.config.workers > 1 {
            return self.schedule_shared(item);
        }
        let rejected = {
            let mut s = self.sched.lock();
            if s.closed {
                Some(item)
            } else {
                s.ready.push_back(item);
                let idle = s.idle;
                let notify = s.claim_wakeup();
                trace::record(|| {
                    format!(
                        "queued an item; {idle} worker(s) parked{}",
                        if notify {
                            ", notified one"
                        } else if idle > 0 {
                            ", one already notified"
                        } else {
                            ", nobody to notify"
                        }
                    )
                });
                if notify {
                    self.wakeup.notify_one();
                }
                None
            }
        };
        drop(rejected);
    }

    /// `schedule` with several workers: push to the inbox, and take `sched` only when a worker is
    /// parked (the protocol is in `turn::park`).
    #[inline(never)]
    fn schedule_shared(&self, item: Runnable) {
        // Injected: "is anyone parked?" asked before the push, so workers that look at the inbox
        // and park in between are counted neither by this read nor by their look.
        let early = bug::enabled(Bug::InboxParkedReadEarly).then(|| {
            let parked = self.parked.load(Ordering::Relaxed);
            evloop_model::thread::yield_now();
            parked
        });
        {
            let mut inbox = self.inbox.lock();
            if inbox.closed {
                drop(inbox);
                drop(item);
                return;
            }
            inbox.items.push_back(item);
        }
        // Relaxed: the inbox lock just let go orders this read after a parking worker's count
        // (see `Sched::publish_parked`).
        let parked = early.unwrap_or_else(|| self.parked.load(Ordering::Relaxed));
        if parked == 0 {
            trace::record(|| "queued an item in the inbox; nobody parked".into());
            return;
        }
        let mut s = self.sched.lock();
        let notify = s.claim_wakeup();
        if notify {
            s.publish_parked(self);
        }
        trace::record(|| {
            format!(
                "queued an item in the inbox; {parked} worker(s) parked without a wakeup{}",
                if notify {
                    ", notified one"
                } else {
                    ", one already notified"
                }
            )
        });
        if notify {
            self.wakeup.notify_one();
        }
    }

    pub(crate) fn add_timer(&self, when: Duration, cell: Arc<HandleCell>) {
        let mut s = self.sched.lock();
        if s.closed {
            drop(s);
            cell.cancel();
            return;
        }
        s.timers.push(when, cell);
        if s.idle > 0 {
            // The new deadline may be earlier than the one a worker sleeps until.
            self.wakeup.notify_all();
        }
    }

    /// A `sleep`'s timer that wakes `waker` at `when`: the slot the `Sleep` asks about, or `None`
    /// on a closed loop (the sleep then never ends, like a timer cancelled by `close`).
    pub(crate) fn sleep_timer(
        &self,
        when: Duration,
        waker: Waker,
        at: &'static Location<'static>,
    ) -> Option<u32> {
        let mut s = self.sched.lock();
        if s.closed {
            drop(s);
            drop(waker);
            return None;
        }
        let slot = s.timers.push_sleep(when, waker, at);
        if s.idle > 0 {
            // The new deadline may be earlier than the one a worker sleeps until.
            self.wakeup.notify_all();
        }
        Some(slot)
    }

    /// A sleep's timer came due and its turn to run has come: the waker of the sleeping task,
    /// to wake outside the lock (none if the `Sleep` is gone).
    pub(crate) fn fire_sleep_timer(&self, slot: u32) -> Option<Waker> {
        let mut s = self.sched.lock();
        if s.closed {
            return None;
        }
        s.timers.fire_sleep(slot)
    }

    /// For `Sleep::poll`: true once its timer ran; otherwise leaves `waker` for it to wake. A new
    /// waker is cloned, and the one it replaces dropped, outside the lock (LOCK-1).
    pub(crate) fn sleep_ran_or_set_waker(&self, slot: u32, waker: &Waker) -> bool {
        {
            let mut s = self.sched.lock();
            if s.closed {
                return false;
            }
            match s.timers.sleep_poll(slot, waker) {
                SleepPoll::Ran => return true,
                SleepPoll::Waiting => return false,
                SleepPoll::NeedsWaker => {}
            }
        }
        let waker = waker.clone();
        let (ran, left) = {
            let mut s = self.sched.lock();
            if s.closed {
                (false, Some(waker))
            } else {
                match s.timers.sleep_set_waker(slot, waker) {
                    Ok(old) => (false, old),
                    Err(unused) => (true, Some(unused)),
                }
            }
        };
        crate::engine::contain::drop_value(left);
        ran
    }

    /// `sleep_ran_or_set_waker` whose second critical section does not look again whether the
    /// timer ran: the injected `SleepWakerRace`.
    pub(crate) fn sleep_ran_then_set_waker(&self, slot: u32, waker: &Waker) -> bool {
        {
            let mut s = self.sched.lock();
            if s.closed {
                return false;
            }
            if s.timers.sleep_ran(slot) {
                return true;
            }
        }
        let waker = waker.clone();
        let left = {
            let mut s = self.sched.lock();
            if s.closed {
                Some(waker)
            } else {
                s.timers.sleep_set_waker_unchecked(slot, waker)
            }
        };
        crate::engine::contain::drop_value(left);
        false
    }

    /// A pending `Sleep` is dropped: its timer will not wake anyone.
    pub(crate) fn cancel_sleep(&self, slot: u32) {
        let waker = {
            let mut s = self.sched.lock();
            if s.closed {
                return;
            }
            s.timers.cancel_sleep(slot)
        };
        // Dropped here, outside the lock: the waker may hold the last reference to a task.
        drop(waker);
    }

    pub(crate) fn describe_sleep(&self, slot: u32) -> String {
        let s = self.sched.lock();
        if s.closed {
            return "timer of a sleep (loop closed)".to_owned();
        }
        s.timers.describe_sleep(slot)
    }

    /// Stops the run: every worker finishes its turn and returns (LOOP-4).
    pub(crate) fn request_stop(&self) {
        let mut s = self.sched.lock();
        self.stop_under(&mut s);
    }

    /// [`Scheduler::request_stop`] with `sched` held (its guard is the proof).
    pub(super) fn stop_under(&self, _held: &mut Sched) {
        // Release: pairs with the Acquire of a worker looking between a chunk's entries.
        self.stopping.store(true, Ordering::Release);
        self.wakeup.notify_all();
    }

    /// The run is stopping (see the field).
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Stops the loop if it is still in run number `run` (LOOP-4).
    pub(crate) fn request_stop_of(&self, run: u64) {
        if self.runs.load(Ordering::Relaxed) == run {
            self.request_stop();
        }
    }

    /// Cross-thread work has begun: a virtual clock must wait for it (TIME-4).
    ///
    /// Relaxed: begun by a task's step (or before the work is handed to another thread), so a
    /// worker deciding about an idle loop sees it through `sched`: the step's worker takes `sched`
    /// to count itself out of `busy`, and no worker decides "nothing in flight" while one is busy.
    pub(crate) fn inflight_begin(&self) {
        self.inflight.fetch_add(1, Ordering::Relaxed);
    }

    /// Cross-thread work has delivered (after its wake was scheduled) or was abandoned.
    pub(crate) fn inflight_end(&self) {
        // `decide()` (and the exploration hook) only ask whether the count is zero, and the wake
        // this work delivered was queued, with its own notify, before this call: a parked
        // worker has nothing new to see until the last one ends, so only that one takes the lock.
        // No lost unpark: a worker reads the count under `sched` and parks without letting go of
        // it, and the decrement comes before this lock, so either the worker reads zero or it is
        // counted in `idle` by the time the lock is ours.
        //
        // Release, paired with the Acquire of the worker that reads zero: the wake pushed before
        // this decrement (to the inbox, with several workers) is then visible to that worker's
        // next look at the queue (TIME-4, LOOP-8).
        if self.inflight.fetch_sub(1, Ordering::Release) == 1
            && !bug::enabled(Bug::SilentInflightEnd)
        {
            let s = self.sched.lock();
            if s.idle > 0 {
                self.wakeup.notify_all();
            }
        }
    }

    /// Makes a task of `fut` and queues its first step (asyncio's `loop.create_task`): the cell,
    /// registered (R4 in `cell`), for the caller to wrap in a handle or, like gather, to keep.
    pub(crate) fn spawn_cell<F>(
        this: &Arc<Scheduler>,
        fut: F,
        name: Option<TaskName>,
        at: &'static Location<'static>,
    ) -> Result<TaskRc, LoopError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Some(cell) = this
            .registry
            .register(|id, key| TaskRc::new(id, name, at, fut, key, this.clone()))
        else {
            // Never a task: the future is dropped with the closure, here, after the lock.
            return Err(LoopError::Closed);
        };
        let id = cell.id;
        trace::record(|| format!("task {id} spawned"));
        this.schedule(Runnable::Task(cell.clone()));
        Ok(cell)
    }

    /// The loop's registry of unfinished tasks and task names.
    pub(crate) fn cancels(&self) -> &super::cancel::CancelTable {
        &self.cancels
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Closes the loop unless it is running (LOOP-6). Idempotent.
    pub(crate) fn close_now(&self) -> Result<(), LoopError> {
        let racy = bug::enabled(Bug::CloseRace);
        if racy {
            // Injected: "is it running?" is asked before the lock, so a run that starts in
            // between finds its loop closed under it.
            if self.running.load(Ordering::Acquire) {
                return Err(LoopError::CloseWhileRunning);
            }
            evloop_model::thread::yield_now();
        }
        let (ready, (timers, sleep_wakers)) = {
            let mut s = self.sched.lock();
            // `run_inner` sets `running` under this lock, so no run can start between this
            // check and `closed` being set: a running loop is never torn down under its workers.
            if !racy && self.running.load(Ordering::Acquire) {
                return Err(LoopError::CloseWhileRunning);
            }
            if s.closed {
                return Ok(());
            }
            s.closed = true;
            let mut ready = std::mem::take(&mut s.ready);
            let mut inbox = self.inbox.lock();
            inbox.closed = true;
            // Behind what `ready` holds, as a worker's refill would have put it.
            ready.append(&mut inbox.items);
            drop(inbox);
            (ready, s.timers.drain())
        };
        let tasks = self.registry.close();
        trace::record(|| format!("loop closed with {} unfinished task(s)", tasks.len()));
        let handler = self.exception_handler();
        for t in &tasks {
            let incident = Incident::new(
                "Task was destroyed but it is pending: the loop was closed before it finished",
            )
            .task(t)
            .warning();
            incident::deliver(handler.clone(), incident);
            TaskCell::tear_down(t);
        }
        contain::drop_value(ready);
        for t in timers {
            t.cancel();
        }
        contain::drop_value(sleep_wakers);
        drop(tasks);
        // A closed loop reports nothing more, and a handler that holds the loop's own handle no
        // longer keeps it alive.
        self.set_exception_handler(None);
        self.pool.shutdown();
        Ok(())
    }
}

impl Scheduler {
    pub(crate) fn new(config: Config) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            sched: Mutex::new(Sched::default()),
            inbox: Mutex::new(Inbox::default()),
            parked: AtomicUsize::new(0),
            wakeup: Condvar::new(),
            clock: Clock::new(config.virtual_time),
            registry: Registry::new(),
            running: AtomicBool::new(false),
            runs: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            inflight: AtomicUsize::new(0),
            pool: Pool::new(config.max_threads, config.explore.clone()),
            handler: Mutex::new(None),
            cancels: Default::default(),
            config,
        })
    }

    /// The loop's exception handler, if the user set one (LOOP-13).
    pub(crate) fn exception_handler(&self) -> Option<Handler> {
        self.handler.lock().clone()
    }

    /// Sets (or, with `None`, resets to the default) the loop's exception handler; the old one
    /// is dropped after the lock (LOCK-1).
    pub(crate) fn set_exception_handler(&self, handler: Option<Handler>) {
        let old = std::mem::replace(&mut *self.handler.lock(), handler);
        contain::drop_value(old);
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The loop's clock (`loop.time()`), real or virtual.
    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    pub(crate) fn is_virtual_time(&self) -> bool {
        self.clock.is_virtual()
    }

    /// Moves a virtual clock forward (explore's choice that a timer fires first).
    pub(crate) fn advance_clock(&self, to: Duration) {
        self.clock.advance_to(to);
    }

    /// Cross-thread work in flight now (TIME-4).
    pub(crate) fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.sched.lock().closed
    }

    /// Marks the loop running, under the lock `close` holds while it checks `running` and
    /// closes, so a run either starts on an open loop or finds it closed (LOOP-6). The guard
    /// marks it idle again.
    ///
    /// What the last run left (its stop, a deadlock) is cleared in the same critical section, so
    /// that a `stop()` from another thread lands either before it (and is kept for this run, see
    /// `stop`) or after it, in this run.
    pub(crate) fn begin_run(&self) -> Result<Running<'_>, LoopError> {
        let mut s = self.sched.lock();
        if s.closed {
            return Err(LoopError::Closed);
        }
        if self
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(LoopError::AlreadyRunning);
        }
        self.stopping.store(false, Ordering::Relaxed);
        s.deadlock = false;
        Ok(Running {
            running: &self.running,
            stop_first_turn: std::mem::take(&mut s.stop_pending),
        })
    }

    /// Numbers this run (LOOP-4); with a `stop()` asked before it began, queues the stop behind
    /// what is ready, so the run makes exactly one turn (asyncio's `run_forever` after `stop`:
    /// one iteration).
    pub(crate) fn open_run(this: &Arc<Scheduler>, running: &Running<'_>) -> u64 {
        if running.stop_first_turn {
            let lp = this.clone();
            this.schedule(Runnable::call(move || lp.request_stop()));
        }
        // Runs never overlap (`running`), so the count cannot move while this one runs.
        this.runs.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// asyncio's `loop.stop()`: a running loop finishes the turn it is in and returns; one that
    /// is not running makes one turn of its next run and returns (LOOP-12).
    pub(crate) fn stop(&self) {
        let mut s = self.sched.lock();
        if self.running.load(Ordering::Acquire) {
            self.stop_under(&mut s);
        } else if !bug::enabled(Bug::StopLost) {
            s.stop_pending = true;
        }
    }

    /// Timers that can never fire, cancelled ones not yet swept included (tests: they do not
    /// pile up).
    pub(crate) fn never_timers(&self) -> usize {
        self.sched.lock().timers.never_len()
    }

    /// The run stopped because nothing could wake the main task (LOOP-8).
    pub(crate) fn deadlocked(&self) -> bool {
        self.sched.lock().deadlock
    }

    /// Hands a blocking job to the thread pool; false when the loop is closed (the job is
    /// handed back to be dropped outside the pool's lock).
    pub(crate) fn submit_job(&self, job: Job) -> Result<(), Job> {
        self.pool.submit(job)
    }
}

/// The loop is running until this drops.
pub(crate) struct Running<'a> {
    running: &'a AtomicBool,
    /// `stop()` was asked before the run began.
    stop_first_turn: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Release);
    }
}
