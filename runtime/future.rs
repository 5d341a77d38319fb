//! [`LoopFuture`]: asyncio's low-level `Future` — a promise bound to a loop, completed once with a
//! value or an error, or cancelled; awaited by any number of waiters, each of which gets a clone
//! of the outcome; done callbacks scheduled with `call_soon`.
//!
//! ```text
//!   PENDING ── set_result / set_error / cancel ──► DONE (final; a second completion is refused:
//!                                                        InvalidStateError, FUT-2)
//! ```
//!
//! It can be completed from any thread. A [`Resolver`] is the `Send` half to hand to another
//! thread: while one is alive, a virtual clock knows a result may still arrive and does not jump.
//!
//! Over 500 lines: `LoopFuture`, its `Resolver` and the bounded drop of long chains of outcomes
//! (FUT-5) belong together; a third of the file is the public items' runnable examples.

use crate::engine::cancel;
use crate::engine::current;
use crate::engine::ready::Runnable;
use crate::engine::scheduler::Scheduler;
use crate::error::{Cancelled, FutureError, InvalidStateError, LoopError, Message, SharedError};
use crate::waiters::WaitList;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use evloop_model::trace;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

type Outcome<T> = Result<T, FutureError>;

struct FutureCell<T> {
    lp: Arc<Scheduler>,
    state: Mutex<FutState<T>>,
    /// `drop_outcome::<T>`, taken where `T: 'static` is known (construction): `Drop` cannot ask
    /// for that bound, and the bounded drop needs it to park an outcome on the thread-local list.
    /// `None` when `T` has no drop glue: such a value cannot hold another future, so its outcome
    /// is dropped the ordinary way, at no cost.
    drop_outcome: Option<fn(&mut Option<Outcome<T>>)>,
}

impl<T> Drop for FutureCell<T> {
    fn drop(&mut self) {
        if let Some(bounded) = self.drop_outcome {
            let slot = &mut self.state.get_mut().outcome;
            if slot.is_some() {
                bounded(slot);
            }
        }
    }
}

/// How many future cells may be dropping inside one another on a thread before the next one's
/// outcome is parked instead: enough that ordinary nesting never parks, few enough that the
/// frames of that many nested drops fit any thread's stack.
const NESTED_DROPS: u32 = 32;

/// Set in `DROP_DEPTH` while outcomes are parked, so the outermost drop knows to empty the list
/// without touching it (or its thread-local) in the usual case.
const PARKED_FLAG: u32 = 1 << 31;

evloop_model::thread_local! {
    /// Future cells dropping inside one another on this thread, plus `PARKED_FLAG`. A plain
    /// `Cell` without drop glue: reading it needs no destructor registration.
    static DROP_DEPTH: Cell<u32> = const { Cell::new(0) };
    static PARKED: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Drops a done future's outcome without unbounded recursion. A value may hold the next future
/// (a chain of hand-offs), whose last handle going drops that future's value, and so on: dropped
/// naively, a chain of a million finished futures overflows the stack. Past `NESTED_DROPS`
/// nested cells the outcome is parked on a thread-local list, and the outermost drop empties
/// that list in a loop, so the depth stays bounded whatever the chain's length (FUT-5).
///
/// Dropped in place, and the depth word touched by two small inlined accesses: the outcome is
/// dropped once per future, so moving it around or a big frame would show in every hand-off.
fn drop_outcome<T: 'static>(slot: &mut Option<Outcome<T>>) {
    let entered = DROP_DEPTH.with(|cell| {
        let word = cell.get();
        if word & !PARKED_FLAG >= NESTED_DROPS {
            return false;
        }
        cell.set(word + 1);
        true
    });
    if !entered {
        if let Some(out) = slot.take() {
            park(Box::new(out));
        }
        DROP_DEPTH.with(|cell| cell.set(cell.get() | PARKED_FLAG));
        return;
    }
    // Leaves the depth even if a value's own drop panics, so the thread keeps dropping (and
    // emptying the parked list) normally afterwards.
    struct Leave;
    impl Drop for Leave {
        #[inline]
        fn drop(&mut self) {
            DROP_DEPTH.with(|cell| {
                let word = cell.get();
                if word == PARKED_FLAG | 1 {
                    drop_parked(cell);
                }
                cell.set(cell.get() - 1);
            });
        }
    }
    let _leave = Leave;
    *slot = None;
}

#[cold]
fn park(out: Box<dyn Any>) {
    PARKED.with(|p| p.borrow_mut().push(out));
}

/// Run by the outermost drop, at depth 1: each parked outcome nests at most `NESTED_DROPS` cells
/// deep again and parks the rest on this same list.
#[cold]
fn drop_parked(cell: &Cell<u32>) {
    cell.set(1);
    loop {
        // Popped before dropping: the drop pushes onto the same list.
        let next = PARKED.with(|p| p.borrow_mut().pop());
        match next {
            Some(parked) => drop(parked),
            None => break,
        }
    }
    // A long chain grew the list: give its memory back rather than keep it for the thread's life.
    PARKED.with(|p| *p.borrow_mut() = Vec::new());
    cell.set(1);
}

struct FutState<T> {
    outcome: Option<Outcome<T>>,
    /// Waiters and done callbacks, dispatched in the order they were added (FUT-3); a handle that
    /// goes away removes its own (FUT-6).
    entries: WaitList<Entry<T>>,
}

enum Entry<T> {
    Wake(Waker),
    Call(Callback<T>),
}

type Callback<T> = Box<dyn FnOnce(Outcome<T>) + Send>;

/// A loop-bound promise (asyncio's `Future`). Clone it to hand it to several waiters.
///
/// ```
/// evloop::run(async {
///     let fut = evloop::LoopFuture::<u32>::new();
///     let setter = fut.clone();
///     evloop::get_running_loop().unwrap().call_soon(move || {
///         setter.set_result(7).unwrap();
///     });
///     assert_eq!(fut.await.unwrap(), 7);
/// });
/// ```
pub struct LoopFuture<T> {
    cell: Arc<FutureCell<T>>,
}

impl<T: Clone + Send + 'static> LoopFuture<T> {
    /// A pending future on the running loop.
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<i32>::new();
    ///     assert!(!fut.done());
    /// });
    /// // Outside a running loop there is no loop to bind to: use `EventLoop::create_future`.
    /// assert!(std::panic::catch_unwind(evloop::LoopFuture::<i32>::new).is_err());
    /// ```
    ///
    /// # Panics
    /// When no loop is running on this thread (use `EventLoop::create_future` instead).
    #[track_caller]
    pub fn new() -> Self {
        // Borrow the running loop rather than clone its handle: this runs once per future.
        match current::scheduler() {
            Some(inner) => LoopFuture::new_on(inner),
            None => panic!("{}", LoopError::NoRunningLoop),
        }
    }

    pub(crate) fn new_on(lp: Arc<Scheduler>) -> Self {
        LoopFuture {
            cell: Arc::new(FutureCell {
                lp,
                state: Mutex::new(FutState {
                    outcome: None,
                    entries: WaitList::default(),
                }),
                drop_outcome: if std::mem::needs_drop::<T>() {
                    Some(drop_outcome::<T>)
                } else {
                    None
                },
            }),
        }
    }

    /// Completes the future with `value` (asyncio's `set_result`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::new();
    ///     fut.set_result("first").unwrap();
    ///     // A future is completed once (asyncio raises InvalidStateError).
    ///     assert_eq!(fut.set_result("second"), Err(evloop::InvalidStateError::AlreadyDone));
    ///     assert_eq!(fut.await.unwrap(), "first");
    /// });
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError> {
        self.complete(Ok(value))
    }

    /// Completes the future with an error (asyncio's `set_exception`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     fut.set_error("connection reset").unwrap();
    ///     let err = fut.await.unwrap_err();
    ///     assert!(!err.is_cancelled());
    ///     assert_eq!(err.to_string(), "the future failed: connection reset");
    /// });
    /// ```
    pub fn set_error(
        &self,
        error: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Result<(), InvalidStateError> {
        self.complete(Err(FutureError::Failed(SharedError::new(error))))
    }

    /// Cancels the future; false if it was already done (asyncio's `Future.cancel`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     assert!(fut.cancel());
    ///     assert!(!fut.cancel()); // already done
    ///     assert!(fut.cancelled());
    ///     assert!(fut.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.complete(Err(FutureError::Cancelled(Cancelled::default())))
            .is_ok()
    }

    /// [`LoopFuture::cancel`] with a message for its awaiters (asyncio's `cancel(msg)`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     assert!(fut.cancel_with("gave up"));
    ///     assert_eq!(fut.await.unwrap_err().to_string(), "the future was cancelled: gave up");
    /// });
    /// ```
    pub fn cancel_with(&self, message: impl Into<String>) -> bool {
        let c = Cancelled::new(Some(Message::new(message.into())));
        self.complete(Err(FutureError::Cancelled(c))).is_ok()
    }

    /// `cancel` or `cancel_with`, for a cancellation that is passed on with its message (a
    /// gather cancelling its children, CANCEL-4).
    pub(crate) fn cancel_message(&self, message: Option<Message>) -> bool {
        self.complete(Err(FutureError::Cancelled(Cancelled::new(message))))
            .is_ok()
    }

    /// True once completed or cancelled.
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     assert!(!fut.done());
    ///     fut.set_result(1).unwrap();
    ///     assert!(fut.done());
    /// });
    /// ```
    pub fn done(&self) -> bool {
        self.cell.state.lock().outcome.is_some()
    }

    /// True once cancelled.
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     fut.set_result(1).unwrap();
    ///     assert!(!fut.cancel()); // too late: it has a result
    ///     assert!(fut.done() && !fut.cancelled());
    /// });
    /// ```
    pub fn cancelled(&self) -> bool {
        matches!(
            self.cell.state.lock().outcome,
            Some(Err(FutureError::Cancelled(_)))
        )
    }

    /// The outcome, or `InvalidStateError::NotDone` (asyncio's `Future.result()`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     assert_eq!(fut.result().unwrap_err(), evloop::InvalidStateError::NotDone);
    ///     fut.set_result(9).unwrap();
    ///     assert_eq!(fut.result().unwrap().unwrap(), 9);
    ///     assert_eq!(fut.result().unwrap().unwrap(), 9); // asking again is fine
    /// });
    /// ```
    pub fn result(&self) -> Result<Outcome<T>, InvalidStateError> {
        self.cell
            .state
            .lock()
            .outcome
            .clone()
            .ok_or(InvalidStateError::NotDone)
    }

    /// Calls `f` with the outcome via `call_soon` once the future is done; at once (still via
    /// `call_soon`) if it already is (FUT-3).
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     let seen = evloop::LoopFuture::<u32>::new();
    ///     let s = seen.clone();
    ///     fut.add_done_callback(move |out| s.set_result(out.unwrap() * 10).unwrap());
    ///     fut.set_result(3).unwrap();
    ///     assert!(!seen.done()); // never inline: the callback goes through call_soon
    ///     assert_eq!(seen.await.unwrap(), 30);
    /// });
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(Outcome<T>) + Send + 'static) {
        let mut st = self.cell.state.lock();
        match &st.outcome {
            Some(out) => {
                let out = out.clone();
                drop(st);
                self.cell.lp.schedule(Runnable::call(move || f(out)));
            }
            None => {
                st.entries.push(Entry::Call(Box::new(f)));
            }
        }
    }

    /// A `Send` handle that completes this future from another thread. While it is alive, a
    /// virtual clock waits for it instead of jumping ahead (TIME-4).
    ///
    /// ```
    /// evloop::Builder::new().virtual_time(true).run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     let resolver = fut.resolver();
    ///     // Any thread may complete it; here a pool thread does.
    ///     let job = evloop::to_thread(move || resolver.resolve(7).unwrap());
    ///     assert_eq!(fut.await.unwrap(), 7);
    ///     job.await.unwrap();
    /// });
    /// ```
    pub fn resolver(&self) -> Resolver<T> {
        self.cell.lp.inflight_begin();
        Resolver {
            fut: LoopFuture {
                cell: self.cell.clone(),
            },
            finished: false,
        }
    }

    fn complete(&self, outcome: Outcome<T>) -> Result<(), InvalidStateError> {
        let entries = {
            let mut st = self.cell.state.lock();
            if st.outcome.is_some() && !bug::enabled(Bug::CancelRace) {
                return Err(InvalidStateError::AlreadyDone);
            }
            let kind = if outcome.is_ok() {
                "result"
            } else {
                "error/cancel"
            };
            trace::record(|| format!("loop future completed with {kind}"));
            // Moved, not cloned: waiters clone the stored outcome when polled, so only done
            // callbacks (below) need a copy of their own.
            st.outcome = Some(outcome);
            std::mem::take(&mut st.entries)
        };
        let mut for_calls: Option<Outcome<T>> = None;
        entries.drain_in_order(|entry| match entry {
            Entry::Wake(w) => crate::engine::contain::wake(w),
            Entry::Call(f) => {
                let out = for_calls
                    .get_or_insert_with(|| {
                        let st = self.cell.state.lock();
                        st.outcome.clone().expect("stored above, never taken")
                    })
                    .clone();
                self.cell.lp.schedule(Runnable::call(move || f(out)));
            }
        });
        Ok(())
    }
}

impl<T: Clone + Send + 'static> Default for LoopFuture<T> {
    #[track_caller]
    fn default() -> Self {
        LoopFuture::new()
    }
}

impl<T> Clone for LoopFuture<T> {
    fn clone(&self) -> Self {
        LoopFuture {
            cell: self.cell.clone(),
        }
    }
}

impl<T> LoopFuture<T> {
    /// True when both handles name the same future.
    ///
    /// ```
    /// evloop::run(async {
    ///     let a = evloop::LoopFuture::<u8>::new();
    ///     assert!(evloop::LoopFuture::ptr_eq(&a, &a.clone()));
    ///     assert!(!evloop::LoopFuture::ptr_eq(&a, &evloop::LoopFuture::new()));
    /// });
    /// ```
    pub fn ptr_eq(a: &LoopFuture<T>, b: &LoopFuture<T>) -> bool {
        Arc::ptr_eq(&a.cell, &b.cell)
    }
}

impl<T: Clone + Send + 'static> IntoFuture for LoopFuture<T> {
    type Output = Outcome<T>;
    type IntoFuture = FutureWait<T>;

    /// Awaiting the future (asyncio's `await fut`).
    fn into_future(self) -> FutureWait<T> {
        FutureWait {
            fut: self,
            index: None,
        }
    }
}

impl<T: Clone + Send + 'static> IntoFuture for &LoopFuture<T> {
    type Output = Outcome<T>;
    type IntoFuture = FutureWait<T>;

    /// Awaiting the future through a reference: the handle is kept.
    fn into_future(self) -> FutureWait<T> {
        self.clone().into_future()
    }
}

/// A cancelled future's cancellation, as the awaiting task's (CANCEL-8).
fn adopt<T>(out: Outcome<T>) -> Outcome<T> {
    match out {
        Err(FutureError::Cancelled(c)) => Err(FutureError::Cancelled(cancel::adopt(&c))),
        other => other,
    }
}

/// The future that awaits a [`LoopFuture`] (what `fut.await` runs): one waiter among any number.
///
/// ```
/// evloop::run(async {
///     let fut = evloop::LoopFuture::<u8>::new();
///     fut.set_result(3).unwrap();
///     let wait: evloop::FutureWait<u8> = std::future::IntoFuture::into_future(fut);
///     assert_eq!(wait.await.unwrap(), 3);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct FutureWait<T> {
    fut: LoopFuture<T>,
    /// This waiter's key in the entry list, while it waits.
    index: Option<u32>,
}

impl<T> fmt::Debug for FutureWait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureWait")
            .field("waiting", &self.index.is_some())
            .finish()
    }
}

impl<T: Clone + Send + 'static> Future for FutureWait<T> {
    type Output = Outcome<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
        // `FutureWait` is `Unpin`; splitting the borrow lets the lock guard and the index live
        // side by side without an extra reference count on the cell.
        let this = self.get_mut();
        if cancel::in_flight() {
            // CANCEL-6, as asyncio's `Task.cancel` cancels the future the task awaits: the
            // future ends cancelled, and the cancellation lands at this await (CANCEL-2).
            if cancel::delivering() {
                let message = cancel::message();
                this.fut
                    .complete(Err(FutureError::Cancelled(Cancelled::new(message))))
                    .ok();
            }
            return Poll::Pending;
        }
        let st = this.fut.cell.state.lock();
        if let Some(out) = &st.outcome {
            // `complete()` took every entry when it stored the outcome: nothing is left for
            // `drop` to clear, so it need not lock.
            this.index = None;
            return Poll::Ready(adopt(out.clone()));
        }
        if let Some(i) = this.index {
            if matches!(st.entries.get(i), Entry::Wake(w) if w.will_wake(cx.waker())) {
                // Polled again by the task that registered: its waker is already there.
                return Poll::Pending;
            }
        }
        drop(st);
        // Cloned, and the one it replaces dropped, outside the lock: a foreign waker's clone and
        // drop are user code (LOCK-1).
        let waker = Entry::Wake(cx.waker().clone());
        let mut st = this.fut.cell.state.lock();
        if let Some(out) = &st.outcome {
            this.index = None;
            let out = out.clone();
            drop(st);
            crate::engine::contain::drop_value(waker);
            return Poll::Ready(adopt(out));
        }
        let stale = match this.index {
            Some(i) => Some(st.entries.replace(i, waker)),
            None => {
                this.index = Some(st.entries.push(waker));
                None
            }
        };
        drop(st);
        crate::engine::contain::drop_value(stale);
        Poll::Pending
    }
}

impl<T> Drop for FutureWait<T> {
    fn drop(&mut self) {
        if let Some(i) = self.index {
            let mut st = self.fut.cell.state.lock();
            // FUT-6: a waiter that goes away gives its place back. A done future gave every
            // entry out when it completed.
            let gone = st.outcome.is_none().then(|| st.entries.remove(i));
            drop(st);
            crate::engine::contain::drop_value(gone);
        }
    }
}

impl<T> fmt::Debug for LoopFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.cell.state.lock();
        let state = match &st.outcome {
            None => {
                // The slots show that waiters which went away leave no garbage behind (FUT-6).
                let slots = st.entries.slots();
                return write!(f, "LoopFuture(pending, {slots} waiter slots)");
            }
            Some(Ok(_)) => "finished",
            Some(Err(FutureError::Cancelled(_))) => "cancelled",
            Some(Err(_)) => "failed",
        };
        write!(f, "LoopFuture({state})")
    }
}

/// The `Send` completing half of a [`LoopFuture`], for another thread.
///
/// ```
/// evloop::run(async {
///     let fut = evloop::LoopFuture::<String>::new();
///     let resolver = fut.resolver();
///     // Any thread will do; a thread-pool job is one.
///     let job = evloop::to_thread(move || resolver.resolve("from a thread".into()).unwrap());
///     assert_eq!(fut.await.unwrap(), "from a thread");
///     job.await.unwrap();
/// });
/// ```
pub struct Resolver<T> {
    fut: LoopFuture<T>,
    finished: bool,
}

impl<T: Clone + Send + 'static> Resolver<T> {
    /// Completes the future with `value`.
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     let resolver = fut.resolver();
    ///     fut.cancel();
    ///     // A cancelled future stays cancelled.
    ///     assert_eq!(resolver.resolve(1), Err(evloop::InvalidStateError::AlreadyDone));
    ///     assert!(fut.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn resolve(mut self, value: T) -> Result<(), InvalidStateError> {
        self.finish_early_if_injected();
        let r = self.fut.set_result(value);
        self.finish();
        r
    }

    /// Completes the future with an error.
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     let resolver = fut.resolver();
    ///     let job = evloop::to_thread(move || resolver.fail("no route to host").unwrap());
    ///     let err = fut.await.unwrap_err();
    ///     assert_eq!(err.to_string(), "the future failed: no route to host");
    ///     job.await.unwrap();
    /// });
    /// ```
    pub fn fail(
        mut self,
        error: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Result<(), InvalidStateError> {
        self.finish_early_if_injected();
        let r = self.fut.set_error(error);
        self.finish();
        r
    }

    /// Cancels the future; false if it was already done.
    ///
    /// ```
    /// evloop::run(async {
    ///     let fut = evloop::LoopFuture::<u32>::new();
    ///     let resolver = fut.resolver();
    ///     let job = evloop::to_thread(move || resolver.cancel());
    ///     assert!(fut.await.unwrap_err().is_cancelled());
    ///     assert!(job.await.unwrap()); // it was not done before
    /// });
    /// ```
    pub fn cancel(mut self) -> bool {
        self.finish_early_if_injected();
        let r = self.fut.cancel();
        self.finish();
        r
    }
}

impl<T> Resolver<T> {
    /// Injected (`InflightEndEarly`): the count is released before the wake is queued.
    fn finish_early_if_injected(&mut self) {
        if bug::enabled(Bug::InflightEndEarly) {
            self.finish();
        }
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.fut.cell.lp.inflight_end();
        }
    }
}

impl<T> Drop for Resolver<T> {
    fn drop(&mut self) {
        // Dropped unused: the future stays pending, but the loop no longer waits for this thread.
        self.finish();
    }
}

impl<T> fmt::Debug for Resolver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}
