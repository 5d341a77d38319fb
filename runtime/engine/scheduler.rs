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
//! | `registry`, `names`   | their locks (leaves)        | spawn, completion, close, `pending_tasks`   |
//! | `running`, `runs`     | set under `sched` by a run  | `run_until_complete`, `close` (LOOP-6)      |
//!
//! Lock order: `sched`, then `inbox`; `registry` and `names` are leaves taken under nothing else
//! that they could wait for. No user code runs under any of them (LOCK-1).

use super::callback::HandleCell;
use super::cell::{TaskCell, TaskName, TaskRc, REGISTRY_KEYS};
use super::config::Config;
use super::pool::{Job, Pool};
use super::ready::Runnable;
use super::timers::SleepPoll;
use super::turn::{Inbox, Sched};
use crate::contain;
use crate::error::LoopError;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use evloop_model::sync::{Arc, Condvar, Mutex};
use evloop_model::time::Clock;
use evloop_model::trace;
use std::collections::BTreeMap;
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
    registry: Mutex<Registry>,
    running: AtomicBool,
    /// Counts `run_until_complete` calls, so that a main task's stop callback stops only its own
    /// run (LOOP-4).
    runs: AtomicU64,
    /// `Sched::stopping`, readable without the lock: a worker running a chunk of entries checks
    /// it after each one (LOOP-4 with several workers, `turn::run_shared_turn`).
    stop_asked: AtomicBool,
    /// Cross-thread work the loop knows of (thread-pool jobs, live resolvers): while non-zero a
    /// virtual clock must not jump, because a result may still arrive (TIME-4). An atomic rather
    /// than a `Sched` field so that beginning and ending such work does not take the `sched` lock
    /// the loop takes every turn (see `inflight_end` for why parking stays safe).
    pub(super) inflight: AtomicUsize,
    pool: Pool,
    /// Names of this loop's named tasks, by id, for as long as their cells live (the cell only
    /// has a bit saying it is named; see `cell`). A leaf lock: nothing is locked while it is
    /// held, and it may be taken under any other (a cell can be dropped anywhere).
    names: Mutex<BTreeMap<u64, TaskName>>,
}

/// The loop's strong references to unfinished tasks (R4 in `task::cell`), oldest first.
#[derive(Default)]
struct Registry {
    /// The next task id: allocated under the lock `spawn` takes anyway, so no atomic of its own.
    next_id: u64,
    slots: Vec<Option<TaskRc>>,
    /// Keys are `u32` so that the cell's done list (what a parked task costs) stays small.
    free: Vec<u32>,
    closed: bool,
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
            let parked = self.parked.load(Ordering::SeqCst);
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
        let parked = early.unwrap_or_else(|| self.parked.load(Ordering::SeqCst));
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
        crate::contain::drop_value(left);
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
        crate::contain::drop_value(left);
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

    pub(crate) fn request_stop(&self) {
        let mut s = self.sched.lock();
        s.stopping = true;
        self.stop_asked.store(true, Ordering::Release);
        self.wakeup.notify_all();
    }

    /// A stop was requested (a hint; `Sched::stopping` under the lock decides).
    pub(crate) fn stop_asked(&self) -> bool {
        self.stop_asked.load(Ordering::Acquire)
    }

    /// Stops the loop if it is still in run number `run` (LOOP-4).
    pub(crate) fn request_stop_of(&self, run: u64) {
        if self.runs.load(Ordering::Relaxed) == run {
            self.request_stop();
        }
    }

    /// Cross-thread work has begun: a virtual clock must wait for it (TIME-4).
    pub(crate) fn inflight_begin(&self) {
        self.inflight.fetch_add(1, Ordering::SeqCst);
    }

    /// Cross-thread work has delivered (after its wake was scheduled) or was abandoned.
    pub(crate) fn inflight_end(&self) {
        // `decide()` (and the exploration hook) only ask whether the count is zero, and the wake
        // this work delivered was queued, with its own notify, before this call: a parked
        // worker has nothing new to see until the last one ends, so only that one takes the lock.
        // No lost unpark: a worker reads the count under `sched` and parks without letting go of
        // it, and the decrement comes before this lock, so either the worker reads zero or it is
        // counted in `idle` by the time the lock is ours.
        if self.inflight.fetch_sub(1, Ordering::SeqCst) == 1
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
        let cell = {
            let mut reg = this.registry.lock();
            if reg.closed {
                drop(reg);
                // Never a task: dropping the future here, after the lock.
                drop(fut);
                return Err(LoopError::Closed);
            }
            // The key is chosen before the cell exists, so the cell is born knowing it and no
            // second lock (its done list) is needed to record it.
            let key = match reg.free.pop() {
                Some(key) => key,
                None if reg.slots.len() < REGISTRY_KEYS => reg.slots.len() as u32,
                None => panic!("more than 2^31 unfinished tasks on one loop"),
            };
            // asyncio numbers tasks from 1.
            reg.next_id += 1;
            let id = reg.next_id;
            let cell = TaskRc::new(id, name, at, fut, key, this.clone());
            if key as usize == reg.slots.len() {
                reg.slots.push(Some(cell.clone()));
            } else {
                reg.slots[key as usize] = Some(cell.clone());
            }
            cell
        };
        let id = cell.id;
        trace::record(|| format!("task {id} spawned"));
        this.schedule(Runnable::Task(cell.clone()));
        Ok(cell)
    }

    /// Records a named task's name (at its creation, before its cell exists).
    pub(crate) fn name_task(&self, id: u64, name: TaskName) {
        self.names.lock().insert(id, name);
    }

    /// A named task's name, while its cell lives.
    pub(crate) fn task_name(&self, id: u64) -> Option<String> {
        self.names.lock().get(&id).map(|n| String::from(&**n))
    }

    /// Drops a named task's name (its cell is being dropped).
    pub(crate) fn forget_task_name(&self, id: u64) {
        let name = self.names.lock().remove(&id);
        drop(name);
    }

    /// How many named tasks' names the loop keeps (tests: each goes with its task's cell).
    pub(crate) fn named_tasks(&self) -> usize {
        self.names.lock().len()
    }

    pub(crate) fn unregister(&self, key: u32) -> Option<TaskRc> {
        let mut reg = self.registry.lock();
        let cell = reg.slots.get_mut(key as usize).and_then(Option::take);
        if cell.is_some() {
            reg.free.push(key);
        }
        cell
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
        let tasks: Vec<TaskRc> = {
            let mut reg = self.registry.lock();
            reg.closed = true;
            reg.free.clear();
            reg.slots.drain(..).flatten().collect()
        };
        trace::record(|| format!("loop closed with {} unfinished task(s)", tasks.len()));
        for t in &tasks {
            tracing::warn!(
                task = %t.display_name(),
                created_at = %t.created_at,
                "Task was destroyed but it is pending: the loop was closed before it finished"
            );
            TaskCell::tear_down(t);
        }
        contain::drop_value(ready);
        for t in timers {
            t.cancel();
        }
        contain::drop_value(sleep_wakers);
        drop(tasks);
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
            registry: Mutex::new(Registry::default()),
            running: AtomicBool::new(false),
            runs: AtomicU64::new(0),
            stop_asked: AtomicBool::new(false),
            inflight: AtomicUsize::new(0),
            pool: Pool::new(config.max_threads, config.explore.clone()),
            config,
            names: Mutex::new(BTreeMap::new()),
        })
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
    pub(crate) fn begin_run(&self) -> Result<Running<'_>, LoopError> {
        let s = self.sched.lock();
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
        Ok(Running(&self.running))
    }

    /// Clears what the last run left (a stop, a deadlock) and numbers this run (LOOP-4).
    pub(crate) fn open_run(&self) -> u64 {
        {
            let mut s = self.sched.lock();
            s.stopping = false;
            self.stop_asked.store(false, Ordering::Relaxed);
            s.deadlock = false;
        }
        // Runs never overlap (`running`), so the count cannot move while this one runs.
        self.runs.fetch_add(1, Ordering::Relaxed) + 1
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

    /// Every unfinished task, oldest first (asyncio's `all_tasks`).
    pub(crate) fn tasks(&self) -> Vec<TaskRc> {
        let reg = self.registry.lock();
        let mut tasks: Vec<TaskRc> = reg.slots.iter().flatten().cloned().collect();
        drop(reg);
        tasks.sort_by_key(|t| t.id);
        tasks
    }

    /// Hands a blocking job to the thread pool; false when the loop is closed (the job is
    /// handed back to be dropped outside the pool's lock).
    pub(crate) fn submit_job(&self, job: Job) -> Result<(), Job> {
        self.pool.submit(job)
    }
}

/// The loop is running until this drops.
pub(crate) struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
