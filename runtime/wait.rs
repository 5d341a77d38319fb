//! `wait`: wait for tasks until one finishes, one fails, or all finish, with an optional
//! timeout, and return which are done and which are not (asyncio's `asyncio.wait`,
//! `tasks._wait`; specs/wait.md, WAIT-1..7).
//!
//! Built the way asyncio builds it, so that it resumes in the same loop turn:
//!
//! ```text
//!   a task completes ──(call_soon)──► its done entry runs: one fewer left; the condition holds?
//!                                       └─► the waiter is released: the awaiting task is woken
//!   the timeout's timer (call_later) ──► the waiter is released
//!   the awaiting task runs (the turn after the release) ──► (done, pending), in argument order
//! ```
//!
//! Waiting cancels nothing: neither the timeout nor a cancellation of the awaiting task touches
//! the tasks waited for. The done entries are taken back when the wait ends or is dropped
//! (asyncio's `remove_done_callback` in `_wait`'s `finally`).

use crate::engine::callback::{Callback, HandleCell};
use crate::engine::cancel;
use crate::engine::cell::{DoneEntry, TaskCell};
use crate::engine::current;
use crate::engine::ready::{Sink, SinkRc};
use crate::error::LoopError;
use crate::task::{Task, TaskRef};
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use std::any::Any;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

mod sealed {
    pub trait Sealed {}
}

/// A task as [`wait`] and [`as_completed`](crate::as_completed) take it: a [`Task`] or a
/// [`TaskRef`], owned or borrowed. They are handed back as given, so a typed task can be
/// awaited for its output afterwards. Implemented by evloop only.
///
/// ```
/// evloop::run(async {
///     let t = evloop::create_task(async { 1 });
///     let r = evloop::create_task(async { "two" }).task_ref();
///     // Borrowed: the handles stay with the caller.
///     let (done, _) = evloop::wait([&r], evloop::ReturnWhen::AllCompleted, None).await;
///     assert_eq!(done.len(), 1);
///     let (done, _) = evloop::wait([&t], evloop::ReturnWhen::AllCompleted, None).await;
///     assert!(done[0].done());
///     assert_eq!(t.await.unwrap(), 1);
/// });
/// ```
pub trait Waitable: sealed::Sealed + Send {
    #[doc(hidden)]
    fn task_ref(&self) -> TaskRef;
}

impl<T> sealed::Sealed for Task<T> {}
impl<T: Send + 'static> Waitable for Task<T> {
    fn task_ref(&self) -> TaskRef {
        Task::task_ref(self)
    }
}

impl sealed::Sealed for TaskRef {}
impl Waitable for TaskRef {
    fn task_ref(&self) -> TaskRef {
        self.clone()
    }
}

impl<T> sealed::Sealed for &Task<T> {}
impl<T: Send + 'static> Waitable for &Task<T> {
    fn task_ref(&self) -> TaskRef {
        Task::task_ref(self)
    }
}

impl sealed::Sealed for &TaskRef {}
impl Waitable for &TaskRef {
    fn task_ref(&self) -> TaskRef {
        (*self).clone()
    }
}

/// When [`wait`] returns (asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
///
/// ```
/// assert_eq!(evloop::ReturnWhen::default(), evloop::ReturnWhen::AllCompleted); // asyncio's default
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnWhen {
    /// As soon as any task finishes, however it finishes (or at the timeout).
    FirstCompleted,
    /// As soon as any task panics (asyncio: raises an exception), or when all have finished (or
    /// at the timeout). A cancelled task is not a failure here, nor is a task that returns an
    /// `Err` value: what counts is what [`TaskRef::exception`] reports besides a cancellation.
    FirstException,
    /// When every task has finished (or at the timeout).
    #[default]
    AllCompleted,
}

/// Waits for `tasks` until `return_when` holds or `timeout` passes, and returns
/// `(done, pending)`: the tasks that had finished when the waiting task resumed, and the others,
/// each in argument order (asyncio returns two sets; a task given twice counts once and comes
/// back once, at its first place). The tasks are handed back as given (owned or borrowed), so a
/// typed [`Task`] can then be awaited for its output.
///
/// Nothing is cancelled: tasks still running at the timeout are returned in `pending` and keep
/// running, and cancelling the task that awaits the wait cancels only that task (asyncio).
/// Without a timeout, waiting for a task that never finishes waits for ever.
///
/// ```
/// use evloop::ReturnWhen;
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let nap = |s| evloop::create_task(evloop::sleep(Duration::from_secs(s)));
///     let tasks = vec![nap(3), nap(1), nap(2)];
///     let (done, pending) = evloop::wait(tasks, ReturnWhen::FirstCompleted, None).await;
///     assert_eq!((done.len(), pending.len()), (1, 2));
///     // A timeout returns what is still running, still running.
///     let (done, pending) =
///         evloop::wait(pending, ReturnWhen::AllCompleted, Some(Duration::from_millis(1500))).await;
///     assert_eq!((done.len(), pending.len()), (1, 1));
///     assert!(!pending[0].done());
///     pending[0].task_ref().wait().await;
/// });
/// ```
///
/// # Panics
/// When `tasks` is empty (asyncio: `ValueError`), here at the call; when awaited outside a
/// running loop, or with a task of another loop.
#[track_caller]
pub fn wait<I, W>(tasks: I, return_when: ReturnWhen, timeout: Option<Duration>) -> Wait<W>
where
    I: IntoIterator<Item = W>,
    W: Waitable,
{
    let (items, refs) = distinct(tasks);
    if items.is_empty() {
        panic!(
            "evloop::wait was given no tasks (asyncio: ValueError: Set of Tasks/Futures is \
             empty.): pass at least one task"
        );
    }
    Wait {
        items,
        refs,
        return_when,
        timeout,
        at: Location::caller(),
        armed: None,
    }
}

/// The tasks in argument order, each task once (asyncio makes a set of them), with their refs.
pub(crate) fn distinct<I, W>(tasks: I) -> (Vec<W>, Vec<TaskRef>)
where
    I: IntoIterator<Item = W>,
    W: Waitable,
{
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    let mut refs = Vec::new();
    for w in tasks {
        let r = w.task_ref();
        if seen.insert(r.clone()) {
            items.push(w);
            refs.push(r);
        }
    }
    (items, refs)
}

/// The running loop, checked to be every task's loop.
#[track_caller]
pub(crate) fn loop_of(refs: &[TaskRef]) -> Arc<crate::engine::scheduler::Scheduler> {
    let Some(lp) = current::scheduler() else {
        panic!("{}", LoopError::NoRunningLoop)
    };
    if refs.iter().any(|r| !std::ptr::eq(&*r.cell().lp, &*lp)) {
        panic!("{}", LoopError::OtherLoop);
    }
    lp
}

/// Adds `sink`'s entry `index` to each task's done list (through `call_soon`, as asyncio's
/// `add_done_callback`); the keys to take them back with.
pub(crate) fn watch(refs: &[TaskRef], sink: &SinkRc) -> Vec<Option<u32>> {
    refs.iter()
        .enumerate()
        .map(|(i, r)| {
            let index = u32::try_from(i).expect("more than 2^32 tasks in one wait");
            TaskCell::add_done_entry_keyed(r.cell(), DoneEntry::Gather(sink.clone(), index))
        })
        .collect()
}

/// Takes back the done entries [`watch`] added (asyncio's `remove_done_callback`).
pub(crate) fn unwatch(refs: &[TaskRef], keys: &mut [Option<u32>]) {
    for (r, key) in refs.iter().zip(keys) {
        if let Some(k) = key.take() {
            TaskCell::remove_done_entry(r.cell(), k);
        }
    }
}

/// A timer on `lp` that runs `f` after `delay` (asyncio's `loop.call_later`).
pub(crate) fn timer(
    lp: &crate::engine::scheduler::Scheduler,
    delay: Duration,
    at: &'static Location<'static>,
    f: impl FnOnce() + Send + 'static,
) -> Arc<HandleCell> {
    let when = lp.now().saturating_add(delay);
    let cell = HandleCell::new(Callback::Call(Box::new(f)), Some(when), at);
    lp.add_timer(when, cell.clone());
    cell
}

struct Shared {
    refs: Vec<TaskRef>,
    return_when: ReturnWhen,
    state: Mutex<State>,
}

struct State {
    /// Tasks whose completion has not been delivered (asyncio's `counter`).
    remaining: usize,
    /// The waiter is done (asyncio's `waiter.set_result`): by a completion, the timeout, or the
    /// wait going away.
    released: bool,
    /// The awaiting task, woken once at the release.
    waker: Option<Waker>,
}

impl Shared {
    /// Releases the waiter (asyncio's `_release_waiter`); the waker to wake outside the lock.
    fn release(&self, st: &mut State) -> Option<Waker> {
        if st.released {
            return None;
        }
        st.released = true;
        st.waker.take()
    }

    fn release_now(&self) {
        let woken = {
            let mut st = self.state.lock();
            self.release(&mut st)
        };
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
    }
}

impl Sink for Shared {
    /// asyncio's `_on_completion`, run through `call_soon` once task `index` has finished.
    fn deliver(&self, index: u32) {
        let failed = self.refs[index as usize].panicked();
        let woken = {
            let mut st = self.state.lock();
            st.remaining = st.remaining.saturating_sub(1);
            let holds = st.remaining == 0
                || self.return_when == ReturnWhen::FirstCompleted
                || (self.return_when == ReturnWhen::FirstException && failed);
            if holds {
                self.release(&mut st)
            } else {
                None
            }
        };
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn shared_of(sink: &SinkRc) -> &Shared {
    sink.as_any()
        .downcast_ref()
        .expect("a wait's sink is its own")
}

/// What an awaited [`Wait`] has set up: its done entries and its timer.
struct Armed {
    sink: SinkRc,
    keys: Vec<Option<u32>>,
    timer: Option<Arc<HandleCell>>,
}

/// The future [`wait`] returns: `(done, pending)`.
///
/// ```
/// use evloop::ReturnWhen;
/// evloop::run(async {
///     let t = evloop::create_task(async { 7 });
///     let w: evloop::Wait<_> = evloop::wait([t], ReturnWhen::AllCompleted, None);
///     let (mut done, pending) = w.await;
///     assert!(pending.is_empty());
///     assert_eq!(done.pop().unwrap().await.unwrap(), 7);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<W> {
    items: Vec<W>,
    refs: Vec<TaskRef>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
    at: &'static Location<'static>,
    armed: Option<Armed>,
}

impl<W> Unpin for Wait<W> {}

impl<W: Waitable> Wait<W> {
    /// asyncio's `_wait` up to `await waiter`: the waiter, the done callbacks, the timer.
    fn arm(&mut self, waker: &Waker) -> Armed {
        let lp = loop_of(&self.refs);
        // The waker is in place before any done entry can run (they may run at once on another
        // worker): a release never finds the waiter without one.
        let early = bug::enabled(Bug::WaitLostCompletion);
        let sink: SinkRc = Arc::new(Box::new(Shared {
            refs: self.refs.clone(),
            return_when: self.return_when,
            state: Mutex::new(State {
                remaining: self.refs.len(),
                released: false,
                waker: (!early).then(|| waker.clone()),
            }),
        }));
        let keys = watch(&self.refs, &sink);
        if early {
            // Injected: the waker is left after the done entries were added, without looking
            // at the state again, so a completion delivered in between woke nobody.
            let w = waker.clone();
            let old = shared_of(&sink).state.lock().waker.replace(w);
            drop(old);
        }
        let timer = self.timeout.map(|d| {
            let s = sink.clone();
            timer(&lp, d, self.at, move || shared_of(&s).release_now())
        });
        Armed { sink, keys, timer }
    }
}

impl<W> Wait<W> {
    /// Ends the wait: takes back what it set up (asyncio's `finally` in `_wait`).
    fn disarm(&mut self) {
        if let Some(mut armed) = self.armed.take() {
            let stale = {
                let shared = shared_of(&armed.sink);
                let mut st = shared.state.lock();
                st.released = true;
                st.waker.take()
            };
            drop(stale);
            if let Some(t) = armed.timer.take() {
                t.cancel();
            }
            unwatch(&self.refs, &mut armed.keys);
        }
    }
}

impl<W: Waitable> Future for Wait<W> {
    type Output = (Vec<W>, Vec<W>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if cancel::in_flight() {
            // CANCEL-2: the cancellation lands here; the tasks waited for are not touched.
            return Poll::Pending;
        }
        let Some(armed) = &self.armed else {
            let armed = self.arm(cx.waker());
            self.armed = Some(armed);
            return Poll::Pending;
        };
        let shared = shared_of(&armed.sink);
        {
            let st = shared.state.lock();
            if !st.released {
                if st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    return Poll::Pending;
                }
                drop(st);
                // Cloned, and the one it replaces dropped, outside the lock (LOCK-1).
                let waker = cx.waker().clone();
                let mut st = shared.state.lock();
                if !st.released {
                    let stale = st.waker.replace(waker);
                    drop(st);
                    drop(stale);
                    return Poll::Pending;
                }
            }
        }
        self.disarm();
        let refs = std::mem::take(&mut self.refs);
        let mut done = Vec::new();
        let mut pending = Vec::new();
        for (w, r) in std::mem::take(&mut self.items).into_iter().zip(&refs) {
            if r.done() {
                done.push(w);
            } else {
                pending.push(w);
            }
        }
        Poll::Ready((done, pending))
    }
}

impl<W> Drop for Wait<W> {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl<W> fmt::Debug for Wait<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("tasks", &self.refs.len())
            .field("return_when", &self.return_when)
            .field("timeout", &self.timeout)
            .finish()
    }
}
