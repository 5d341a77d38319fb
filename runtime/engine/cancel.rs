//! How a cancellation reaches the code of the task it is for (specs/cancellation.md).
//!
//! asyncio throws `CancelledError` into the coroutine at the `await` where it is suspended. A Rust
//! future cannot be thrown into, so a cancelled task that has started is polled once more with the
//! cancellation *in flight* in its step (`Run::Deliver`, CANCEL-2):
//!
//! ```text
//!   step begins DELIVERING ──► an await that can pass it on (another task, a gather, a loop
//!        │                      future) cancels what it awaits: HANDED (the task waits on; CANCEL-6)
//!        │
//!        ├──────────────────► every other evloop await returns Pending, taking nothing
//!        │                      (`in_flight`); the innermost catch scope around it takes the
//!        │                      cancellation: TAKEN (CANCEL-5)
//!        ▼
//!   step ends still DELIVERING or RAISING: no scope took it — the future is dropped and the task
//!   ends cancelled, as without any scope (TASK-7)
//! ```
//!
//! A step can also *raise* one (`RAISING`): an await whose task's own cancellation was handed to
//! the task it awaited, and that task ended cancelled (CANCEL-6), or `Cancelled::raise`. Scopes
//! take a raised cancellation as they take a delivered one.
//!
//! The mode and the flags live in the step's thread-local context (`current::Step`), so that a
//! step that is not cancelled pays one load of them when it ends. The loop's [`CancelTable`] keeps
//! what only cancelled tasks need: `cancel_with`'s message and how many [`Cancelled`] values
//! handed to each task are alive (CANCEL-8).

use super::current;
use super::scheduler::Scheduler;
use crate::error::{Cancelled, Holder, Message, TaskError};
use evloop_model::sync::{Arc, Mutex};
use std::collections::HashMap;

/// The step's mode (`current::Step::flags & MODE`).
pub(crate) const MODE: u32 = 0b111;
/// The runner put the task's cancellation in flight: it may be taken or handed down.
pub(crate) const DELIVERING: u32 = 1;
/// An await raised a cancellation in this step: it may be taken, not handed down.
pub(crate) const RAISING: u32 = 2;
/// A catch scope took the cancellation in flight.
pub(crate) const TAKEN: u32 = 3;
/// An await handed the cancellation in flight to what it awaits.
pub(crate) const HANDED: u32 = 4;
/// The task's state had `PASSED`: its cancellation was handed to what it awaits.
pub(crate) const PASSED_IN: u32 = 1 << 3;
/// An await completed that `PASSED` was about: the runner clears it.
pub(crate) const PASSED_USED: u32 = 1 << 4;
/// `Step::hint` names the task the step ended up awaiting.
pub(crate) const HINT: u32 = 1 << 5;
/// A `Cancelled` counting against the task was made in the step.
pub(crate) const TOKENS: u32 = 1 << 6;
/// With `HINT`, the flags' upper bits hold the registry key of the task the step ended up
/// awaiting, its low 24 bits: a hint, checked before use, so a key past 2^24 only makes the
/// check fail (the cancellation is then handed down at the task's next step).
const HINT_SHIFT: u32 = 8;
const FLAG_BITS: u32 = (1 << HINT_SHIFT) - 1;

/// The step's flags, read once by an await that looks at several of them.
#[inline]
pub(crate) fn flags() -> u32 {
    current::flags()
}

/// [`in_flight`] of flags read with [`flags`].
#[inline]
pub(crate) fn is_in_flight(flags: u32) -> bool {
    matches!(flags & MODE, DELIVERING | RAISING)
}

/// The hint `flags` carry, if any (the runner's side of [`hint`]).
pub(crate) fn hint_of(flags: u32) -> Option<u32> {
    (flags & HINT != 0).then_some(flags >> HINT_SHIFT)
}

/// A cancellation is in flight in this step: every evloop await returns `Pending` without taking
/// anything (an item, a lock, a timer's end), so that the cancellation lands where the task was
/// suspended (CANCEL-2).
#[inline]
pub(crate) fn in_flight() -> bool {
    is_in_flight(current::flags())
}

/// The task's own cancellation is being delivered: an await that can cancel what it awaits
/// hands it down instead (CANCEL-6).
pub(crate) fn delivering() -> bool {
    current::flags() & MODE == DELIVERING
}

/// The message of the cancellation in flight.
pub(crate) fn message() -> Option<Message> {
    current::message()
}

/// The await handed the cancellation in flight down: the task keeps waiting.
pub(crate) fn handed_down() {
    current::update(|f| *f = (*f & !MODE) | HANDED);
}

/// Raises a cancellation at the await that calls this (it then returns `Pending`): the
/// innermost catch scope around it takes it; without one the task ends cancelled.
pub(crate) fn raise(message: Option<Message>) {
    let mut raised = false;
    current::update(|f| {
        if !matches!(*f & MODE, DELIVERING | RAISING) {
            *f = (*f & !MODE) | RAISING;
            raised = true;
        }
    });
    if raised {
        current::set_message(message);
    }
}

/// A catch scope takes the cancellation in flight, if there is one (CANCEL-5): the value it
/// hands the code around it, counting against the task.
pub(crate) fn take() -> Option<Cancelled> {
    let mut took = false;
    current::update(|f| {
        if matches!(*f & MODE, DELIVERING | RAISING) {
            *f = (*f & !MODE) | TAKEN;
            took = true;
        }
    });
    took.then(|| owned(current::take_message()))
}

/// The task's cancellation was handed to what it awaits, and this step is the first since
/// (CANCEL-6).
pub(crate) fn passed_in() -> bool {
    current::flags() & PASSED_IN != 0
}

/// [`passed_in`] of flags read with [`flags`].
#[inline]
pub(crate) fn was_passed(flags: u32) -> bool {
    flags & PASSED_IN != 0
}

/// An await that `passed_in` was about has completed.
pub(crate) fn use_passed() {
    current::update(|f| *f = (*f & !PASSED_IN) | PASSED_USED);
}

/// The step ended up awaiting the task at registry key `key` (CANCEL-6).
pub(crate) fn hint(key: u32) {
    current::update(|f| *f = (*f & FLAG_BITS) | HINT | (key << HINT_SHIFT));
}

/// A cancellation with `message` counting against the current task (none outside a step).
pub(crate) fn owned(message: Option<Message>) -> Cancelled {
    let Some((_, id)) = current::task() else {
        return Cancelled::new(message);
    };
    let Some(lp) = current::scheduler() else {
        return Cancelled::new(message);
    };
    lp.cancels().hold_new(id, message.clone());
    current::update(|f| *f |= TOKENS);
    Cancelled::owned(message, Box::new(Owner { lp, id }))
}

/// `c` as the current task's: a cancellation that reaches a task as a value (an awaited task's,
/// a gather child's) escapes from it if it is returned (CANCEL-8).
pub(crate) fn adopt(c: &Cancelled) -> Cancelled {
    owned(c.message_arc())
}

/// [`adopt`] for the cancellation inside an error, if it is one.
pub(crate) fn adopt_error(e: TaskError) -> TaskError {
    match e {
        TaskError::Cancelled(c) => TaskError::Cancelled(adopt(&c)),
        other => other,
    }
}

/// The task a `Cancelled` counts against.
struct Owner {
    lp: Arc<Scheduler>,
    id: u64,
}

impl Holder for Owner {
    fn hold(&self) {
        self.lp.cancels().hold(self.id);
    }
    fn release(&self) {
        self.lp.cancels().release(self.id);
    }
}

/// What only cancelled tasks need, by task id: kept off the task cell, which every task pays
/// for. A task has an entry only while its state word has `MESSAGE`.
#[derive(Default)]
pub(crate) struct CancelTable {
    map: Mutex<HashMap<u64, Entry>>,
    /// What each parked task awaits that is neither a task nor a leaf (a gather), by the
    /// awaiting task's id: where `cancel` hands its cancellation down (CANCEL-6).
    awaited: Mutex<HashMap<u64, Canceller>>,
}

/// Cancels an awaited gather with a message; true if it took the cancellation.
pub(crate) type Canceller = Arc<Box<dyn Fn(Option<Message>) -> bool + Send + Sync>>;

/// Records, for the task whose step runs here, what it now awaits (CANCEL-6); returns the
/// registration to give back with [`forget_awaited`] when the await ends.
pub(crate) fn await_cancellable(canceller: Canceller) -> Option<Awaiting> {
    let (_, id) = current::task()?;
    let lp = current::scheduler()?;
    let old = lp.cancels().awaited.lock().insert(id, canceller.clone());
    drop(old);
    Some(Awaiting { lp, id, canceller })
}

/// A registration made by [`await_cancellable`].
pub(crate) struct Awaiting {
    lp: Arc<Scheduler>,
    id: u64,
    canceller: Canceller,
}

/// The await registered with [`await_cancellable`] has ended. Another await of the same task
/// may have registered since (two gathers in one `join!`): only this one's entry goes.
pub(crate) fn forget_awaited(registration: Awaiting) {
    let Awaiting { lp, id, canceller } = registration;
    let gone = {
        let mut map = lp.cancels().awaited.lock();
        match map.get(&id) {
            Some(c) if Arc::ptr_eq(c, &canceller) => map.remove(&id),
            _ => None,
        }
    };
    drop(gone);
}

#[derive(Default)]
pub(crate) struct Entry {
    /// The last `cancel_with`'s message (asyncio's `_cancel_message`; a plain `cancel()` clears
    /// it).
    pub(crate) message: Option<Message>,
    /// Live `Cancelled` values counting against the task (CANCEL-8).
    pub(crate) held: u32,
    /// The message of the last of them made.
    pub(crate) held_message: Option<Message>,
}

impl CancelTable {
    /// Records the message of a cancellation request. The old one is dropped after the lock: it
    /// is a plain string, but nothing is dropped under a runtime lock on principle (LOCK-1).
    pub(crate) fn set_message(&self, id: u64, message: Option<Message>) {
        let old = {
            let mut map = self.map.lock();
            std::mem::replace(&mut map.entry(id).or_default().message, message)
        };
        drop(old);
    }

    /// The message of the task's last cancellation request.
    pub(crate) fn message(&self, id: u64) -> Option<Message> {
        self.map.lock().get(&id).and_then(|e| e.message.clone())
    }

    /// A new `Cancelled` counts against the task.
    fn hold_new(&self, id: u64, message: Option<Message>) {
        let old = {
            let mut map = self.map.lock();
            let e = map.entry(id).or_default();
            e.held += 1;
            std::mem::replace(&mut e.held_message, message)
        };
        drop(old);
    }

    /// A copy of one counts too; nothing once the task has finished (its entry is gone).
    fn hold(&self, id: u64) {
        if let Some(e) = self.map.lock().get_mut(&id) {
            e.held += 1;
        }
    }

    fn release(&self, id: u64) {
        if let Some(e) = self.map.lock().get_mut(&id) {
            e.held = e.held.saturating_sub(1);
        }
    }

    /// What task `id` awaits, if it registered something to hand a cancellation to.
    pub(crate) fn awaited(&self, id: u64) -> Option<Canceller> {
        self.awaited.lock().get(&id).cloned()
    }

    /// Whether a `Cancelled` handed to the task is alive, and its message (CANCEL-8).
    pub(crate) fn escaped(&self, id: u64) -> Option<Option<Message>> {
        let map = self.map.lock();
        let e = map.get(&id)?;
        (e.held > 0).then(|| e.held_message.clone())
    }

    /// The task has completed: its entry goes.
    pub(crate) fn finish(&self, id: u64) {
        let gone = self.map.lock().remove(&id);
        drop(gone);
    }
}
