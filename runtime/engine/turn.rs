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
//! Where the spec leaves the next step open, the single worker's loop asks a `Choices`
//! (`choices.rs`): production's `Fifo`, or `explore`'s search. This is the only copy of the turn:
//! production, the model checkers and the explorer all run it (EXPLORE-12).
//!
//! With one worker, parking is decided under the `sched` lock that every producer also takes, so
//! a producer either sees the worker counted in `idle` (and notifies it) or the worker sees the
//! new item before it waits (LOOP-5: no lost unpark). With several, producers push to the
//! `Inbox` without taking `sched` (workers take `sched` per chunk and per decision, and sharing
//! it with every producer was what two workers cost most); see `park` for how no wake-up is lost.
//!
//! One file for all of the turn, single worker and several, parking included, though it is over
//! 500 lines: the no-lost-wake-up argument (LOOP-5) spans `decide`, `park` and `refill`, and reads
//! best in one place.

use super::choices::{Choices, Explorer, Fifo, Wait};
use super::ready::Runnable;
use super::scheduler::Scheduler;
use super::timers::Timers;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::atomic::Ordering;
use evloop_model::sync::MutexGuard;
use evloop_model::time::Stopwatch;
use evloop_model::trace;
use std::collections::VecDeque;
use std::time::Duration;

/// With several workers: the tail of the ready queue, where `schedule` pushes. Workers move all of
/// it to the back of `Sched::ready` under both locks (`refill`), so everything in `ready` is older
/// than everything here and the queue's FIFO order (LOOP-2) is `ready` then `items`. Lock order:
/// `sched`, then the inbox; a producer never holds the inbox while it takes `sched`.
#[derive(Default)]
pub(crate) struct Inbox {
    pub(crate) items: VecDeque<Runnable>,
    /// Set with `Sched::closed`, under both locks: the producer's check (LOOP-6).
    pub(crate) closed: bool,
}

/// Everything the workers and producers share, under one lock.
#[derive(Default)]
pub(crate) struct Sched {
    pub(crate) ready: VecDeque<Runnable>,
    pub(crate) timers: Timers,
    /// Workers waiting on the loop's condition variable.
    pub(crate) idle: usize,
    /// Wakeups `schedule` has sent that no parked worker has taken up yet (see `claim_wakeup`).
    pub(crate) notified: usize,
    /// Workers running an item right now.
    pub(crate) busy: usize,
    pub(crate) deadlock: bool,
    /// `stop()` was asked while the loop was not running: its next run makes one turn.
    pub(crate) stop_pending: bool,
    pub(crate) closed: bool,
    /// Entries taken from `ready` by several workers so far: tells a stopping worker whether
    /// another one has taken an entry behind its chunk since it took it.
    pub(crate) taken: u64,
}

impl Sched {
    /// Whether a producer that just queued an item must notify a parked worker. Not when every
    /// parked worker already has a wakeup on its way: `notify_one` is a futex system call each
    /// time, and a burst of spawns would otherwise make one per item until the woken worker gets the
    /// lock.
    ///
    /// No wake is lost (LOOP-5): `notified` never exceeds the parked workers already unblocked
    /// (a `notify_one` either unblocks a waiter or finds every parked worker unblocked already,
    /// and each unblocked worker takes one back in `unparked`). So while a wakeup is
    /// outstanding some parked worker is on its way to the lock, and will see this item.
    pub(crate) fn claim_wakeup(&mut self) -> bool {
        if self.idle > self.notified {
            self.notified += 1;
            true
        } else {
            false
        }
    }

    /// With several workers: stores for producers how many parked workers have no wakeup on its
    /// way (`Scheduler::parked`), after every change to `idle` or `notified`. Only those need a
    /// producer to take `sched`: a worker with a wakeup on its way decides again after taking
    /// itself out of `idle` (`unparked`), and so finds what was pushed before this count said so.
    ///
    /// Relaxed is enough: what must be seen is a parking worker's count by a producer that pushed
    /// after the worker's last look at the inbox, and the inbox lock orders the two (the worker
    /// stores, then locks the inbox to look; the producer locks it to push, then reads; the
    /// worker's unlock happens before the producer's lock, so its store before the read).
    pub(crate) fn publish_parked(&self, lp: &Scheduler) {
        lp.parked
            .store(self.idle.saturating_sub(self.notified), Ordering::Relaxed);
    }

    /// A parked worker has the lock again (notified, timed out, or woken spuriously).
    pub(crate) fn unparked(&mut self) {
        self.idle -= 1;
        if bug::enabled(Bug::StaleWakeup) {
            // Injected: the wakeup this worker got stays counted as on its way.
            return;
        }
        self.notified = self.notified.saturating_sub(1);
    }
}

/// How many times a worker that finds nothing ready, while another worker is running entries,
/// lets the lock go and yields its time slice before it parks. The busy worker usually queues
/// more within that time (a step's wakes, a task's done callbacks), and parking costs a futex
/// wait, a `notify_one` system call from the producer and a context switch each way (the
/// figures are in bench/PROFILING.md). Nothing is decided outside the lock: after each yield the
/// worker runs `decide` again, so a wake cannot be missed (LOOP-5).
const SPINS_BEFORE_PARK: u32 = 2;

/// The longest a worker parks on the real clock before deciding again, however far the next
/// deadline: a deadline centuries away is then never handed to the condition variable as a
/// timeout (asyncio caps its `select` the same way, `MAXIMUM_SELECT_TIMEOUT`, one day).
const MAX_PARK: Duration = Duration::from_secs(24 * 3600);

/// What the worker does next after looking at the queue.
enum Next {
    Stop,
    /// Stop: nothing can wake the main task (LOOP-8).
    Deadlock,
    RunTurn,
    /// Nothing is ready; the choices are asked before production's answer (`Choices::idle`).
    Idle(Option<Duration>),
    Park(Option<Duration>),
}

/// One worker's loop; returns when the loop is stopped (or a deadlock was found).
pub(crate) fn run_worker(lp: &Scheduler, worker: usize) {
    match &lp.config.explore {
        // Built by `explore` (one worker, virtual time): the same turn, with its open choices
        // answered by the explorer. One branch per run, outside the turn loop (EXPLORE-12).
        Some(explorer) => run_turns::<&dyn Explorer>(lp, worker, &&***explorer),
        None if lp.config.workers == 1 => run_turns(lp, worker, &Fifo),
        None => run_shared_turns(lp, worker),
    }
}

/// A single worker's loop, asking `c` at the turn's open places (`choices`). Kept out of line,
/// apart from the explorer's instance and the loop of several workers, so that neither changes
/// how production's loop compiles (EXPLORE-12; PROFILING, "Code placement").
#[inline(never)]
fn run_turns<C: Choices>(lp: &Scheduler, worker: usize, c: &C) {
    let mut batch: VecDeque<Runnable> = VecDeque::new();
    let mut s = lp.sched.lock();
    // Whether the choices were asked about the idle loop since it last changed.
    let mut asked = false;
    loop {
        if C::ASKS {
            if lp.stopping() {
                break;
            }
            drop(s);
            let go_on = c.arrival(lp);
            s = lp.sched.lock();
            if !go_on {
                stop_as_deadlock(lp, &mut s);
                drop(s);
                c.stopped(lp);
                return;
            }
        }
        let next = decide::<false, C>(lp, &mut s, worker, c, asked);
        match next {
            Next::Stop => break,
            Next::Deadlock => {
                if C::ASKS {
                    drop(s);
                    c.stopped(lp);
                    return;
                }
                break;
            }
            Next::Idle(deadline) => {
                drop(s);
                let acted = c.idle(lp, deadline);
                s = lp.sched.lock();
                asked = !acted;
            }
            // Never spins: with one worker nobody else is ever busy.
            Next::Park(timeout) => {
                let timeout = if C::ASKS && timeout.is_none() {
                    drop(s);
                    let wait = c.wait(lp);
                    s = lp.sched.lock();
                    match wait {
                        Wait::Forever => None,
                        Wait::For(d) => Some(d),
                        Wait::GiveUp => {
                            stop_as_deadlock(lp, &mut s);
                            drop(s);
                            c.stopped(lp);
                            return;
                        }
                    }
                } else {
                    timeout
                };
                s = park::<false>(lp, s, worker, timeout);
                asked = false;
            }
            Next::RunTurn => {
                asked = false;
                if C::ASKS {
                    drop(s);
                    let within_bound = c.begin_turn(lp);
                    s = lp.sched.lock();
                    if !within_bound {
                        stop_as_deadlock(lp, &mut s);
                        drop(s);
                        c.stopped(lp);
                        return;
                    }
                }
                // Nobody else takes from the queue: take the whole turn under one lock. The
                // batch is empty here, so swapping the two buffers takes exactly the items ready
                // now, without copying them, and hands the queue the batch's spare capacity for
                // what this turn makes ready.
                debug_assert!(batch.is_empty());
                if batch.capacity() > KEEP_QUEUE_CAPACITY {
                    give_back_spare(&mut batch, s.ready.len());
                }
                std::mem::swap(&mut batch, &mut s.ready);
                s.busy += 1;
                drop(s);
                if C::ASKS {
                    while !batch.is_empty() {
                        let i = c.pick(&batch);
                        let item = batch.remove(i).expect("the chosen item is in the batch");
                        c.running(lp, &item);
                        run_item(lp, worker, item);
                    }
                } else {
                    while let Some(item) = batch.pop_front() {
                        run_item(lp, worker, item);
                    }
                }
                s = lp.sched.lock();
                s.busy -= 1;
            }
        }
    }
}

/// Ends the run as LOOP-8 does, so that `run_until_complete` returns with the pending tasks (a
/// deadlock found by the turn, or an explorer's livelock bound or given-up wait).
fn stop_as_deadlock(lp: &Scheduler, s: &mut Sched) {
    s.deadlock = true;
    lp.stop_under(s);
}

/// A queue buffer keeps up to this capacity for the loop's life (64 KiB of 16-byte entries).
/// Past it, a buffer is given back once a turn uses less than an eighth of it: a burst of spawns
/// (a million tasks parked on one future) must not pin its peak for as long as the loop lives,
/// as asyncio's deque and smol's segmented queue give drained blocks back. The eighth is the
/// hysteresis: a workload whose turns vary in size by less than that never reallocates, and one
/// that does pays at most a regrowth per shrink, not a cost per item.
const KEEP_QUEUE_CAPACITY: usize = 4096;

/// The single worker's check, once per turn at the swap: `spare` is the empty buffer about to
/// become the ready queue for what this turn (`ready` entries) makes ready; an oversized one is
/// replaced by an empty one, and the queue regrows as needed. Freed under the `sched` lock
/// (a `munmap` for a large buffer): rare, and only producers on other threads can be waiting.
#[cold]
#[inline(never)]
fn give_back_spare(spare: &mut VecDeque<Runnable>, ready: usize) {
    if ready < spare.capacity() / 8 {
        *spare = VecDeque::new();
    }
}

/// The shared queue's trim (several workers), once per turn under the `sched` lock: to twice
/// what is ready, so the entries still queued keep room to grow before reallocating again.
#[cold]
#[inline(never)]
fn shrink_queue(ready: &mut VecDeque<Runnable>, len: usize) {
    ready.shrink_to(len * 2);
}

/// The loop of one of several workers sharing the queue (THREAD-1).
#[inline(never)]
fn run_shared_turns(lp: &Scheduler, worker: usize) {
    let mut batch: VecDeque<Runnable> = VecDeque::new();
    let mut s = lp.sched.lock();
    loop {
        match decide::<true, Fifo>(lp, &mut s, worker, &Fifo, false) {
            Next::Stop | Next::Deadlock => break,
            Next::Idle(_) => unreachable!("FIFO is never asked"),
            Next::Park(timeout) => s = park::<true>(lp, s, worker, timeout),
            Next::RunTurn => s = run_shared_turn(lp, worker, s, &mut batch),
        }
    }
}

/// Waits for work: first, while another worker is busy, by yielding and deciding again
/// (`SPINS_BEFORE_PARK`), then on the loop's condition variable. Returns with the lock held; the
/// caller decides again.
///
/// `SHARED` (several workers, producers pushing to the `Inbox` without `sched`): no lost wake-up
/// (LOOP-5) by a store-then-look on each side. The worker, holding `sched`, counts itself in
/// `Scheduler::parked` and then looks at the inbox under its lock; a producer pushes under the
/// inbox lock, lets it go, and then reads `parked`. The inbox lock orders the two looks: either
/// the worker's look comes after the push (it sees the item and does not wait) or it comes
/// before, and then the producer's read comes after the count and sees it, takes `sched` and
/// notifies. The worker holds `sched` from its look until the wait lets it go, so that producer
/// gets `sched` only once the worker really waits (or has been woken and has not yet taken itself
/// back out, which `claim_wakeup` accounts for).
#[inline]
fn park<'a, const SHARED: bool>(
    lp: &'a Scheduler,
    mut s: MutexGuard<'a, Sched>,
    worker: usize,
    mut timeout: Option<Duration>,
) -> MutexGuard<'a, Sched> {
    for _ in 0..SPINS_BEFORE_PARK {
        // Only while another worker is busy: otherwise nothing on the loop can queue work, and
        // an idle loop must not burn its core.
        if s.busy == 0 {
            break;
        }
        drop(s);
        evloop_model::thread::yield_now();
        s = lp.sched.lock();
        match decide::<SHARED, Fifo>(lp, &mut s, worker, &Fifo, false) {
            Next::Park(t) => timeout = t,
            // Work came (or a stop): the caller's `decide` finds it again.
            _ => return s,
        }
    }
    if bug::enabled(Bug::ParkRace) {
        // Injected: the "nothing to do" decision is acted on after the lock was let go, so a
        // wake that lands in between notifies nobody.
        drop(s);
        evloop_model::thread::yield_now();
        s = lp.sched.lock();
    }
    s.idle += 1;
    if SHARED {
        s.publish_parked(lp);
        if !lp.inbox.lock().items.is_empty() {
            // Pushed after `decide` looked, by a producer that may have read `parked` before
            // this count: take it now rather than wait for a notify that may never come.
            s.idle -= 1;
            s.publish_parked(lp);
            return s;
        }
    }
    trace::record(|| format!("worker {worker} parks"));
    s = match timeout {
        Some(t) => lp.wakeup.wait_timeout(s, t),
        None => lp.wakeup.wait(s),
    };
    s.unparked();
    if SHARED {
        s.publish_parked(lp);
    }
    trace::record(|| format!("worker {worker} unparked"));
    s
}

/// Moves the whole inbox to the back of the ready queue (several workers; under `sched`): the
/// items `schedule` pushed since the last refill, which are all newer than what is in `ready`.
/// An empty `ready` swaps buffers with the inbox, so a refill copies nothing in the common case.
#[inline]
fn refill(lp: &Scheduler, s: &mut Sched) {
    let mut inbox = lp.inbox.lock();
    if inbox.items.is_empty() {
        return;
    }
    if s.ready.is_empty() {
        std::mem::swap(&mut s.ready, &mut inbox.items);
    } else {
        s.ready.append(&mut inbox.items);
    }
}

/// The most entries a worker takes from the shared queue under one lock. Bounded so that an
/// idle worker still finds work while a busy one runs a long entry (the size is chosen in
/// bench/PROFILING.md).
const MAX_CHUNK: usize = 32;

/// One turn of one worker when several share the queue (THREAD-1). Entries are taken from the
/// front in chunks, one lock acquisition per chunk instead of one per entry; every chunk is a
/// contiguous run of the queue's front, so entries are still *taken* in FIFO order, and the
/// worker takes no more than the `ntodo` entries that were ready when its turn began (LOOP-3).
/// A chunk is at most the worker's share of what is ready (`len / workers`), so a short queue is
/// taken one entry at a time, and the other workers are left their part.
///
/// A stop (LOOP-4) is noticed after each entry: the worker stops after the entry it is running
/// and puts the rest of its chunk back at the front of the queue, in order, so they are the next
/// entries taken, as if never taken. That keeps FIFO take order only while no other worker has
/// taken an entry behind the chunk; if one has, those later entries were taken (and may have
/// run) already, so the worker runs the rest of its chunk instead of putting it back: FIFO take
/// order wins over stopping at once (see the worker notes in bench/PROFILING.md).
fn run_shared_turn<'a>(
    lp: &'a Scheduler,
    worker: usize,
    mut s: MutexGuard<'a, Sched>,
    batch: &mut VecDeque<Runnable>,
) -> MutexGuard<'a, Sched> {
    let workers = lp.config.workers;
    let mut left = s.ready.len();
    if s.ready.capacity() > KEEP_QUEUE_CAPACITY && left < s.ready.capacity() / 8 {
        shrink_queue(&mut s.ready, left);
    }
    while left > 0 {
        // Other workers may have emptied the queue since this turn began.
        let ready = s.ready.len();
        if ready == 0 {
            break;
        }
        let take = (ready / workers).clamp(1, MAX_CHUNK).min(left);
        debug_assert!(batch.is_empty());
        batch.extend(s.ready.drain(..take));
        left -= batch.len();
        s.taken += batch.len() as u64;
        let taken_through = s.taken;
        s.busy += 1;
        drop(s);
        let mut finish_chunk = false;
        while let Some(item) = batch.pop_front() {
            run_item(lp, worker, item);
            if !finish_chunk && !batch.is_empty() && lp.stopping() {
                if bug::enabled(Bug::StopDropsChunk) {
                    // Injected: the rest of the chunk stays in this worker's buffer, which is
                    // dropped when the worker returns.
                    break;
                }
                let mut g = lp.sched.lock();
                if g.taken == taken_through {
                    let back = batch.len();
                    trace::record(|| format!("worker {worker} stops; puts {back} entries back"));
                    g.taken -= back as u64;
                    while let Some(item) = batch.pop_back() {
                        g.ready.push_front(item);
                    }
                } else {
                    finish_chunk = true;
                }
            }
        }
        s = lp.sched.lock();
        s.busy -= 1;
        if lp.stopping() {
            break;
        }
    }
    s
}

/// `SHARED`: several workers, so what producers queued is in the inbox until `refill` moves it,
/// before the due timers (which go behind what was queued before they came due, TIME-1).
///
/// `c` is asked first when nothing is ready (`Next::Idle`), unless `asked` says it was asked
/// already and had nothing to do; production's `Fifo` never is.
fn decide<const SHARED: bool, C: Choices>(
    lp: &Scheduler,
    s: &mut MutexGuard<'_, Sched>,
    worker: usize,
    c: &C,
    asked: bool,
) -> Next {
    loop {
        if lp.stopping() {
            return Next::Stop;
        }
        if SHARED {
            refill(lp, s);
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
        if C::ASKS && !asked {
            return Next::Idle(next_deadline);
        }
        if lp.clock.is_virtual() {
            if s.busy == 0 && lp.inflight.load(Ordering::Acquire) == 0 {
                // Cross-thread work queues its wake (to the inbox, without `sched`) before it
                // stops counting as in flight: the wake of work that ended since the refill
                // above is in the inbox now, and must not be taken for "nothing ready" (TIME-4,
                // LOOP-8).
                if SHARED && !bug::enabled(Bug::InflightInboxUnchecked) {
                    refill(lp, s);
                    if !s.ready.is_empty() {
                        return Next::RunTurn;
                    }
                }
                match next_deadline {
                    Some(d) => {
                        trace::record(|| format!("virtual clock jumps to {d:?}"));
                        if C::ASKS {
                            c.clock_jumps(lp, d);
                        }
                        lp.clock.advance_to(d);
                        continue;
                    }
                    None => {
                        trace::record(|| {
                            "deadlock: nothing ready, no timer can fire, nothing in flight".into()
                        });
                        stop_as_deadlock(lp, s);
                        return Next::Deadlock;
                    }
                }
            }
            trace::record(|| format!("worker {worker}: nothing ready, will park"));
            return Next::Park(None);
        }
        return Next::Park(next_deadline.map(|d| d.saturating_sub(now).min(MAX_PARK)));
    }
}

/// Moves the due timers to the ready queue; returns the clock reading and how many moved.
// Out of line: keeps the timer-free turn's `decide()` small (PROFILING, "Code placement").
#[inline(never)]
fn fire_due_timers(lp: &Scheduler, s: &mut Sched) -> (Duration, usize) {
    let mut now = lp.clock.now();
    if bug::enabled(Bug::EarlyTimer) {
        now += Duration::from_millis(1);
    }
    let moved = s
        .timers
        .pop_due(now, |d| s.ready.push_back(Runnable::from(d)));
    (now, moved)
}

fn run_item(lp: &Scheduler, worker: usize, item: Runnable) {
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
