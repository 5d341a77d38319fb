//! The task cell: one reference-counted allocation per task, shared by the ready queue, the loop's
//! registry, every waker and the handles.
//!
//! Access rights (each use cites the rule it relies on):
//! - **R1** `state`: anyone, only through the named transitions in [`super::state`].
//! - **R2** `body`: polled only by the runner that won `transition_to_running` (TASK-3), so the lock
//!   is never contended while polling; the outcome is taken only once `state` says COMPLETE.
//!   Reached only through [`TaskRc::with_body`], which pins it (P below).
//! - **W** the task's waker is not stored anywhere in the cell: the poll lends the future a waker
//!   made on the stack from the [`TaskRc`] it runs (`ThinArc::with_waker`: data = the
//!   allocation's start, no count taken), and only a clone owns a count. A clone the future keeps
//!   inside itself is a cell → waker → cell cycle, broken when the future is dropped (completion,
//!   cancellation, tear-down); nothing else in the cell holds one.
//!
//! **P**: the future is stored in the task's one allocation, after the header (the body, erased
//! to `Mutex<dyn Body>`), not in a box of its own: one allocation per task instead of two.
//! Polling it needs `Pin<&mut _>`, which safe code cannot make from a lock guard inside an `Arc`,
//! so [`TaskRc::with_body`] holds the crate's one `unsafe` block (the task pointer's own are in
//! the model crate, T below). What it relies on:
//! - the allocation is never moved: it is created inside its `Arc` and only ever reached through
//!   one; the one-word pointer over it (`evloop_model::task::ThinArc`) gives out the body only
//!   as a shared reference, never by value, as `&mut` or through `get_mut` / `try_unwrap` /
//!   `into_inner`, so it stays at one address until the last reference drops it in place;
//! - the body is reachable only through the [`TaskRc`]'s private field, in this module, and every
//!   access to it goes through `with_body`, which hands out only `Pin<&mut dyn Body>`; the stage
//!   is replaced in place with
//!   `Pin::set` (`Stage::finish`), which drops the future where it lies before reusing its memory;
//! - dropping the allocation drops the body in place, future included, before the memory is
//!   freed.
//!
//! The invariant is checked by TASK-10 (a `!Unpin` future records its address at every poll and
//! checks it in its destructor, on real threads and under the model checker, in runs that complete,
//! cancel, panic and tear down), and the check is shown to fail by the `move_pinned_future` bug.
//! - **R3** `done`: the done list is closed exactly once, by [`TaskCell::complete`] (TASK-5); an
//!   entry added after closing is dispatched at once by the adder, so none is lost (TASK-6).
//! - **R4** the loop's registry holds one strong reference from creation until completion, so a
//!   task runs to the end even when every handle is dropped (TASK-9).
//!
//! **T**: a [`TaskRc`] is one word (`evloop_model::task::ThinArc`): a pointer to the header at
//! the allocation's start, owning one strong count of the typed `Arc`, with the body's type
//! known only to a table of functions stored after the header (the waker's functions included,
//! W): a fat `Arc<TaskCell<dyn Body>>` would compute the header's place from the body's
//! alignment at every dereference and make every holder (registry slot, queue item, handle) a
//! word longer (PROFILING, "one-word TaskRc"). The
//! `unsafe` code of the pointer is in the model crate (each block says why it is sound); what it
//! relies on, that every count taken is given back exactly once, is checked by the model
//! checker's leak report at the end of every model (the `thin_rc_leak` and `waker_leak` bugs: a
//! pointer's or a waker's drop that keeps its count is reported as a leaked `Arc`).

use crate::engine::body::{Body, Stage};
use crate::engine::cancel::{self as cancelling, DELIVERING, PASSED_IN, PASSED_USED, TOKENS};
use crate::engine::incident::Incident;
use crate::engine::ready::{Runnable, SinkRc};
use crate::engine::scheduler::Scheduler;
use crate::engine::state::{Idle, Notify, Outcome, Run, State};
use crate::error::Message;
use crate::waiters::WaitList;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::atomic::{AtomicU32, Ordering};
use evloop_model::sync::{Arc, Mutex};
use evloop_model::task::{Erase, ThinArc, Wake};
use evloop_model::trace;
use std::future::Future;
use std::ops::Deref;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A task's own name, kept in its loop's name table (see [`TaskCell::display_name`]).
pub(crate) type TaskName = Box<str>;

/// The top bit of [`TaskCell`]'s `registry_key`: the task has a name in its loop's table. A bit of
/// an immutable plain field, so that telling named cells apart costs no lock and no atomic read
/// (an atomic would be one more scheduling point per cell in every model-checked run).
const NAMED: u32 = 1 << 31;

/// How many registry keys there are: the top bit of the `u32` is [`NAMED`].
pub(crate) const REGISTRY_KEYS: usize = NAMED as usize;

/// The shared reference every part of the runtime holds to a task: one word (T), derefs to the
/// header. The field is private, so that only this module reaches the body (P).
#[derive(Clone)]
pub(crate) struct TaskRc(ThinArc<TaskCell>);

impl Deref for TaskRc {
    type Target = TaskCell;

    fn deref(&self) -> &TaskCell {
        &self.0
    }
}

/// A task's header. Its future lives in the same allocation, after it (P), reached through a
/// [`TaskRc`].
pub(crate) struct TaskCell {
    pub(crate) id: u64,
    pub(crate) created_at: &'static Location<'static>,
    pub(crate) state: State,
    /// Slot in the loop's registry (R4), chosen before the cell is made and never changed, so
    /// it needs no lock; `u32` like the registry's keys, beside the 32-bit state word. Its top
    /// bit is [`NAMED`]: a name would cost every cell a word for what few tasks have (the cell is
    /// most of what a parked task costs), so names live in the loop's table, keyed by `id`, and
    /// leave it when the cell is dropped.
    registry_key: u32,
    pub(crate) done: Mutex<DoneList>,
    pub(crate) lp: Arc<Scheduler>,
    /// The registry key of the task this one awaited when its last step ended (`NOT_AWAITING`
    /// if none was recorded): where `cancel` hands the cancellation down (CANCEL-6). A hint,
    /// checked against that task's done list before it is used.
    awaiting: AtomicU32,
}

const NOT_AWAITING: u32 = u32::MAX;

/// The body as the typed task's creator makes it: the stage behind the lock R2 describes.
impl<F> Erase<TaskCell> for Mutex<Stage<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn erase(&self) -> &Mutex<dyn Body> {
        self
    }
}

/// Who is told when the task completes, in the order they asked (asyncio's done callbacks; an
/// awaiting task is one of them), and who may still read the outcome.
pub(crate) struct DoneList {
    pub(crate) closed: bool,
    /// Some typed reader read the outcome (awaited it, `result()`, `exception()`, or an internal
    /// consumer such as gather): a panic has been seen (TASK-8).
    pub(crate) retrieved: bool,
    /// Live typed handles (`Task<T>`, including the ones inside awaiting futures): the last one
    /// to read moves the output out, every other one gets a clone (TASK-13). A cell is born with
    /// one, its creator's.
    pub(crate) handles: u32,
    pub(crate) entries: WaitList<DoneEntry>,
    /// How to clone the outcome, set by the first `Task::clone` (only an output that is `Clone`
    /// can have two handles).
    pub(crate) cloner: Option<Cloner>,
}

/// Clones a finished task's outcome: `src` is the body's `Option<Result<T, TaskError>>`, `dst` an
/// empty one of the same type. Type-erased, as the cell does not know `T`.
pub(crate) type Cloner = fn(src: &dyn std::any::Any, dst: &mut dyn std::any::Any);

pub(crate) enum DoneEntry {
    /// Wake this waker (a task awaiting the handle, or a `TaskRef::wait` future).
    Wake(Waker),
    /// Schedule this callback with `call_soon`.
    Call(Box<dyn FnOnce() + Send>),
    /// Schedule, with `call_soon`, the delivery of this task's outcome to slot `index` of a
    /// gather: a `Call` without a boxed closure per child.
    Gather(SinkRc, u32),
}

impl TaskRc {
    /// Makes a task: its header and its future in one allocation.
    #[inline]
    pub(crate) fn new<F>(
        id: u64,
        name: Option<TaskName>,
        created_at: &'static Location<'static>,
        fut: F,
        registry_key: u32,
        lp: Arc<Scheduler>,
    ) -> TaskRc
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let registry_key = match name {
            Some(name) => {
                // Before the cell exists, so nobody can see it nameless. The caller may hold the
                // registry lock: the name table's lock is a leaf.
                lp.registry().name_task(id, name);
                registry_key | NAMED
            }
            None => registry_key,
        };
        TaskRc(ThinArc::new(
            TaskCell {
                id,
                created_at,
                state: State::new_scheduled(),
                registry_key,
                done: Mutex::new(DoneList {
                    closed: false,
                    retrieved: false,
                    handles: 1,
                    entries: WaitList::default(),
                    cloner: None,
                }),
                lp,
                awaiting: AtomicU32::new(NOT_AWAITING),
            },
            Mutex::new(Stage::new(fut)),
        ))
    }

    /// Runs `f` on the body, locked and pinned. The only way to the body (P).
    #[allow(unsafe_code)]
    pub(crate) fn with_body<R>(&self, f: impl FnOnce(Pin<&mut dyn Body>) -> R) -> R {
        let mut body = self.0.body().lock();
        // SAFETY: `Pin`'s contract is that the body is not moved, nor its memory reused without
        // dropping it first, from now until it is dropped. The body is a field of the task's
        // allocation, which lives at one address inside its `Arc` until the last reference drops
        // it in place, and nothing moves it out (P: the one-word pointer gives the body out as a
        // shared reference only). It is reached only through the `TaskRc`'s private field, and
        // this function is its only reader (apart from the injected `move_pinned_future` bug, which is there to
        // show that TASK-10's check catches such a move), so no other `&mut` to it exists that
        // could `mem::swap` or `mem::replace` it; the stage inside is only ever replaced through
        // `Pin::set`, which drops the future in place first. Even an unpinned `&mut dyn Body`
        // could not be moved out with `mem::swap` / `mem::replace` (the body is unsized once
        // the cell is shared): only `Body`'s own `&mut self` methods could move it, and the one
        // there is (`drop_moved`, in the model checkers' builds only) is the injected bug's. The lock guard's borrow ends with `f`,
        // so the pinned reference cannot outlive it.
        let pinned = unsafe { Pin::new_unchecked(&mut *body) };
        f(pinned)
    }

    /// Injected `move_pinned_future`: drops the future the wrong way, after moving the stage
    /// out of the cell through the unpinned guard. Compiled only into the model checkers' builds.
    #[cfg(evloop_model_backend)]
    fn drop_future_by_moving_it(&self) {
        self.0.body().lock().drop_moved();
    }

    /// Drops the future (or a value it already returned) and stores "cancelled", with the
    /// cancellation's message.
    fn cancel_body(&self, message: Option<Message>) {
        #[cfg(evloop_model_backend)]
        if bug::enabled(Bug::MovePinnedFuture) {
            return self.drop_future_by_moving_it();
        }
        self.with_body(|body| body.cancel(message));
    }

    /// Polls the future with the task's waker lent for the poll (W). R2: the caller won
    /// `transition_to_running`. `flags` and `message`: the cancellation the step carries
    /// (`cancel.rs`); returns what the step left of it.
    #[inline]
    fn poll_body(
        &self,
        flags: u32,
        message: Option<Message>,
    ) -> (Poll<Outcome>, u32, Option<Message>) {
        // asyncio's `current_task()` while the step runs.
        let step = super::current::enter_task(self.registry_key & !NAMED, self.id, flags, message);
        let polled = self
            .0
            .with_waker(|waker| self.with_body(|body| body.poll(&mut Context::from_waker(waker))));
        let (flags, leftover) = step.finish();
        (polled, flags, leftover)
    }

    /// True when `waker` is one of this task's wakers, i.e. (for the waker of a `Context`) the
    /// task's poll is running with it: the one the poll lends and every clone of it, so a
    /// combinator that re-wraps a clone in a `Context` of its own is caught too. Two address
    /// comparisons (the waker's data is the allocation's start, its vtable the table's): no
    /// lock (the body's is held by that very poll) and no waker to make and drop.
    pub(crate) fn is_polled_with(&self, waker: &Waker) -> bool {
        self.0.is_waker_of(waker)
    }

    /// A clone of the task's waker (diagnostics: `Waker::will_wake` tells its clones).
    pub(crate) fn own_waker(&self) -> Waker {
        self.0.waker()
    }
}

impl TaskCell {
    /// The task's key in its loop's registry.
    pub(crate) fn key(&self) -> u32 {
        self.registry_key & !NAMED
    }

    /// The task's display name: its own, or asyncio's `Task-<id>`.
    pub(crate) fn display_name(&self) -> String {
        let named = if self.registry_key & NAMED != 0 {
            self.lp.registry().task_name(self.id)
        } else {
            None
        };
        named.unwrap_or_else(|| format!("Task-{}", self.id))
    }

    /// asyncio's `Task.cancel(msg)` (TASK-7): one more request counted (CANCEL-3); handed to
    /// the task it awaits if that one takes it (CANCEL-6), otherwise delivered at the task's next
    /// step, with `message` (CANCEL-4). False when it has already completed.
    pub(crate) fn cancel(this: &TaskRc, message: Option<Message>) -> bool {
        let Some(before) = this.state.transition_to_cancel_counted() else {
            return false;
        };
        trace::record(|| format!("task {} cancel requested", this.id));
        if before.is_parked() && !bug::enabled(Bug::CancelNotHandedDown) {
            if let Some(target) = TaskCell::awaited_task(this) {
                if TaskCell::cancel(&target, message.clone()) {
                    trace::record(|| {
                        format!("task {} cancel handed to task {}", this.id, target.id)
                    });
                    this.state.transition_to_passed();
                    return true;
                }
            } else if let Some(canceller) = TaskCell::awaited_other(this) {
                // Called under no lock: cancelling a gather's children wakes their awaiters.
                if canceller(message.clone()) {
                    trace::record(|| format!("task {} cancel handed to its gather", this.id));
                    this.state.transition_to_passed();
                    return true;
                }
            }
        }
        let has_message = message.is_some();
        if has_message || before.has_message() {
            this.lp.cancels().set_message(this.id, message);
        }
        if this.state.transition_to_must_cancel(has_message) {
            Wake::wake_by_ref(&**this, || this.0.clone());
        } else if has_message {
            // Completed meanwhile, perhaps without seeing the message's flag.
            this.lp.cancels().finish(this.id);
        }
        true
    }

    /// asyncio's `uncancel()`: takes one cancellation request back (CANCEL-3).
    pub(crate) fn uncancel(&self) -> u32 {
        self.state.transition_to_uncancelled()
    }

    /// What else this parked task awaits that takes a cancellation (a gather), under the same
    /// conditions as [`TaskCell::awaited_task`].
    fn awaited_other(this: &TaskRc) -> Option<super::cancel::Canceller> {
        if this.lp.config.workers != 1 {
            return None;
        }
        let mine: *const Scheduler = &*this.lp;
        let on_loop = super::current::with(|lp| lp.is_some_and(|lp| std::ptr::eq(&**lp, mine)));
        if !on_loop {
            return None;
        }
        this.lp.cancels().awaited(this.id)
    }

    /// The task this parked one awaits, if `cancel` may hand its cancellation down to it now
    /// (CANCEL-6): on the loop's own thread with one worker, where the task cannot step
    /// meanwhile (asyncio's loop is one thread), and only while the task's waker is still in
    /// that task's done list — the hint is from its last step and is checked here.
    fn awaited_task(this: &TaskRc) -> Option<TaskRc> {
        let key = this.awaiting.load(Ordering::Relaxed);
        if key == NOT_AWAITING || this.lp.config.workers != 1 {
            return None;
        }
        let mine: *const Scheduler = &*this.lp;
        let on_loop = super::current::with(|lp| lp.is_some_and(|lp| std::ptr::eq(&**lp, mine)));
        if !on_loop {
            return None;
        }
        let target = this.lp.registry().at(key)?;
        let mut waits = false;
        {
            let done = target.done.lock();
            if !done.closed {
                done.entries.for_each(|e| {
                    if let DoneEntry::Wake(w) = e {
                        waits |= this.is_polled_with(w);
                    }
                });
            }
        }
        waits.then_some(target)
    }

    /// Adds an entry to the done list, or dispatches it now if the task has completed (R3).
    pub(crate) fn add_done_entry(this: &TaskRc, entry: DoneEntry) {
        let mut done = this.done.lock();
        if done.closed {
            drop(done);
            this.dispatch(entry);
        } else {
            done.entries.push(entry);
        }
    }

    fn dispatch(&self, entry: DoneEntry) {
        match entry {
            DoneEntry::Wake(w) => crate::engine::contain::wake(w),
            DoneEntry::Call(f) => schedule_call(&self.lp, f),
            DoneEntry::Gather(sink, index) => self.lp.schedule(Runnable::Gather(sink, index)),
        }
    }

    /// Runs one step of the task: takes it off the queue, polls (or cancels) it, and then either
    /// parks it, re-queues it, or completes it. Consumes the queue's reference.
    pub(crate) fn run(this: TaskRc) {
        let cell: &TaskCell = &this;
        let (run, before) = cell.state.transition_to_running();
        let passed = if before.passed() { PASSED_IN } else { 0 };
        let (flags, message) = match run {
            Run::Poll => {
                trace::record(|| format!("task {} polled", cell.id));
                (passed, None)
            }
            Run::Deliver => {
                trace::record(|| format!("task {} polled to deliver its cancellation", cell.id));
                (DELIVERING | passed, cell.message_if(before.has_message()))
            }
            Run::Cancel => {
                trace::record(|| format!("task {} cancelled before its first step", cell.id));
                // R2: we won transition_to_running.
                this.cancel_body(cell.message_if(before.has_message()));
                cell.complete(&this, Outcome::Cancelled);
                return;
            }
        };
        // R2: we won transition_to_running, so the body's lock is ours alone.
        let (polled, flags, leftover) = this.poll_body(flags, message);
        if flags != 0 {
            return TaskCell::after_cancel_step(this, polled, flags, leftover);
        }
        match polled {
            Poll::Pending => TaskCell::park(this),
            Poll::Ready(outcome) => cell.end(&this, outcome),
        }
    }

    /// The message of the task's last cancellation request, if the state says there may be one.
    fn message_if(&self, flagged: bool) -> Option<Message> {
        if flagged {
            self.lp.cancels().message(self.id)
        } else {
            None
        }
    }

    /// The rest of a step that carried or met a cancellation (`cancel.rs`): out of line, so
    /// that every other step pays one test of its flags.
    #[cold]
    #[inline(never)]
    fn after_cancel_step(
        this: TaskRc,
        polled: Poll<Outcome>,
        flags: u32,
        leftover: Option<Message>,
    ) {
        let cell: &TaskCell = &this;
        if flags & PASSED_USED != 0 {
            cell.state.clear_passed();
        }
        if flags & TOKENS != 0 {
            cell.state.mark_message();
        }
        if let Some(key) = cancelling::hint_of(flags) {
            cell.awaiting.store(key, Ordering::Relaxed);
        }
        let in_flight = cancelling::is_in_flight(flags);
        match polled {
            Poll::Pending if in_flight => {
                // No catch scope on the task's await path took it: as without any (TASK-7).
                trace::record(|| format!("task {} cancelled at a suspension point", cell.id));
                this.cancel_body(leftover);
                cell.complete(&this, Outcome::Cancelled);
            }
            Poll::Pending => TaskCell::park(this),
            Poll::Ready(Outcome::Returned) if in_flight => {
                this.cancel_body(leftover);
                cell.complete(&this, Outcome::Cancelled);
            }
            Poll::Ready(outcome) => cell.end(&this, outcome),
        }
    }

    /// The poll returned `Pending`.
    #[inline(always)]
    fn park(this: TaskRc) {
        let cell: &TaskCell = &this;
        match cell.state.transition_to_idle() {
            Idle::Parked => {
                trace::record(|| format!("task {} returned Pending", cell.id));
            }
            Idle::Reschedule => {
                trace::record(|| {
                    format!(
                        "task {} returned Pending, woken during poll: rescheduled",
                        cell.id
                    )
                });
                TaskCell::schedule_owned(this);
            }
        }
    }

    /// The future is finished with `outcome`.
    #[inline(always)]
    fn end(&self, this: &TaskRc, mut outcome: Outcome) {
        if outcome == Outcome::Returned {
            let s = self.state.load();
            if s.cancel_requested() {
                // asyncio: a cancel asked while the step ran wins over the value it returned
                // (`_must_cancel` in `Task.__step`); a panic still wins over both.
                this.cancel_body(self.message_if(s.has_message()));
                outcome = Outcome::Cancelled;
            } else if s.has_message() {
                // CANCEL-8: a cancellation handed to the task is alive — it escaped.
                if let Some(message) = self.lp.cancels().escaped(self.id) {
                    trace::record(|| format!("task {} returned with its cancellation", self.id));
                    this.cancel_body(message);
                    outcome = Outcome::Cancelled;
                }
            }
        }
        self.complete(this, outcome);
    }

    /// Stores the outcome's kind, closes the done list, leaves the registry and tells everyone
    /// waiting, in the order they asked (TASK-5, TASK-6). The caller holds a reference, so the
    /// registry's, dropped here, is never the last.
    // Forced: it is on every task's last step, and the compiler does not always inline it into
    // `run` on its own (PROFILING, "Code placement").
    #[inline(always)]
    fn complete(&self, this: &TaskRc, outcome: Outcome) {
        let before = self.state.transition_to_complete(outcome);
        trace::record(|| format!("task {} completed ({outcome:?})", self.id));
        if before.has_message() {
            self.lp.cancels().finish(self.id);
        }
        let (entries, report) = {
            let mut done = self.done.lock();
            done.closed = true;
            // Nobody is left to read the panic (TASK-8).
            let report = outcome == Outcome::Panicked && done.handles == 0;
            (std::mem::take(&mut done.entries), report)
        };
        if report {
            this.report_unretrieved_panic();
        }
        if bug::enabled(Bug::NameDroppedAtCompletion) && self.registry_key & NAMED != 0 {
            self.lp.registry().forget_task_name(self.id);
        }
        let registered = self.lp.registry().unregister(self.registry_key & !NAMED);
        entries.drain_in_order(|entry| self.dispatch(entry));
        drop(registered);
    }

    /// Ends a task that the closing loop will never run again: drops its future and done list.
    pub(crate) fn tear_down(this: &TaskRc) {
        if this.state.transition_to_torn_down() {
            this.cancel_body(None);
            this.lp.cancels().finish(this.id);
            let entries = {
                let mut done = this.done.lock();
                done.closed = true;
                std::mem::take(&mut done.entries)
            };
            // Wakers of tasks on other loops still hear about it; callbacks are not run on a
            // closed loop.
            entries.drain_in_order(|entry| match entry {
                DoneEntry::Wake(w) => crate::engine::contain::wake(w),
                other => crate::engine::contain::drop_value(other),
            });
        }
    }

    /// Queues the task on its loop, handing over the reference `this` holds. On the loop's own
    /// thread the loop comes from the thread's context, which spares cloning `this.lp` (its
    /// `Arc` count is one atomic increment and decrement) just to reach it while `this` moves.
    /// `try_`: a waker may be woken from a thread-local destructor, after the context is gone.
    fn schedule_owned(this: TaskRc) {
        // Only compared, never read: `this` moves into the queue.
        let mine: *const Scheduler = &*this.lp;
        let mut task = Some(this);
        super::current::try_with(|running| {
            let Some(lp) = running else { return };
            // A running loop cannot be closed (LOOP-6), so the item is never rejected and
            // dropped (possibly the cell's last reference) while the context is borrowed.
            if std::ptr::eq(&**lp, mine) {
                if let Some(t) = task.take() {
                    lp.schedule(Runnable::Task(t));
                }
            }
        });
        if let Some(this) = task {
            let lp = this.lp.clone();
            lp.schedule(Runnable::Task(this));
        }
    }
}

impl TaskRc {
    /// asyncio's "Task exception was never retrieved", to the task's own loop's handler
    /// (LOOP-13), with the panic. The task is complete: its body is no longer polled (R2).
    pub(crate) fn report_unretrieved_panic(&self) {
        let panic = match self.with_body(|body| body.error()) {
            Some(crate::error::TaskError::Panicked(p)) => Some(p),
            _ => None,
        };
        let incident = Incident::new(
            "Task exception was never retrieved: the task panicked and no handle observed it",
        )
        .task(self)
        .panic(panic);
        super::incident::deliver(self.lp.exception_handler(), incident);
    }
}

impl Drop for TaskCell {
    /// A named task's entry goes with its cell, so the name is there for as long as anything can
    /// ask for it (a handle, a report), also after completion. `lp` is still alive here: fields
    /// are dropped after this (and the body after the header).
    fn drop(&mut self) {
        if self.registry_key & NAMED != 0 {
            self.lp.registry().forget_task_name(self.id);
        }
    }
}

/// A done callback's item: its box boxed again, since the queue's items are one word (see
/// [`Runnable`]). Out of line and cold, so that `complete` stays small enough to inline into
/// `run` for every task, callbacks or not.
#[cold]
#[inline(never)]
fn schedule_call(lp: &Scheduler, f: Box<dyn FnOnce() + Send>) {
    lp.schedule(Runnable::Call(Box::new(f)));
}

impl Wake for TaskCell {
    type Body = Mutex<dyn Body>;

    /// The waker's own reference becomes the queue's, instead of a clone for the queue and a
    /// drop of the waker's.
    fn wake(this: ThinArc<TaskCell>) {
        let this = TaskRc(this);
        let cell: &TaskCell = &this;
        let (notify, before) = cell.state.transition_to_notified();
        match notify {
            Notify::Submit => {
                trace::record(|| format!("task {} woken, saw {before:?}: scheduled", cell.id));
                TaskCell::schedule_owned(this);
            }
            Notify::Nothing => {
                trace::record(|| format!("task {} woken, saw {before:?}: nothing to do", cell.id));
            }
        }
    }

    fn wake_by_ref(this: &TaskCell, to_owned: impl FnOnce() -> ThinArc<TaskCell>) {
        let (notify, before) = this.state.transition_to_notified();
        match notify {
            Notify::Submit => {
                trace::record(|| format!("task {} woken, saw {before:?}: scheduled", this.id));
                this.lp.schedule(Runnable::Task(TaskRc(to_owned())));
            }
            Notify::Nothing => {
                trace::record(|| format!("task {} woken, saw {before:?}: nothing to do", this.id));
            }
        }
    }
}
