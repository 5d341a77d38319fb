//! `gather`: run awaitables concurrently, each as its own task, and collect their results in
//! argument order (asyncio's `asyncio.gather`).
//!
//! It is built the way asyncio builds it: every child is a task started in argument order
//! (GATHER-2); each child's completion reaches the gather through a done callback scheduled with
//! `call_soon`; the awaiting task is woken when the outcome is decided. So a gather resolves in the
//! same loop turn as asyncio's would.
//!
//! | variant          | a child fails (panic, cancel, `Err`)                     | output                       |
//! |------------------|-----------------------------------------------------------|------------------------------|
//! | [`gather`]       | the gather resolves with that error at once; siblings keep running (GATHER-4) | `Result<Vec<T>, TaskError>` |
//! | [`try_gather`]   | same, for children returning `Result<T, E>`               | `Result<Vec<T>, GatherError<E>>` |
//! | [`gather_settled`] | nothing special: every outcome is kept in place (`return_exceptions=True`) | `Vec<Result<T, TaskError>>` |
//!
//! Dropping (or cancelling the task awaiting) a gather that has not resolved cancels every child
//! that is not done (GATHER-5). Once it has resolved, dropping it cancels nothing.
//!
//! Over 500 lines: three public variants and the `gather!` macro's support share one engine
//! (`Core`), and every public item carries a runnable example.

use crate::awaitable::{Attach, Awaitable, Canceller, Child, Mapped};
use crate::engine::cancel;
use crate::engine::current;
use crate::engine::ready::{Sink, SinkRc};
use crate::error::{or_panic, Cancelled, GatherError, LoopError, Message, TaskError};
use crate::task::TaskRef;
use crate::waiters::WaitList;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use evloop_model::trace;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// When the gather's outcome is decided.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Policy {
    /// At the first failed child, or when all have finished.
    FirstFailure,
    /// When all have finished.
    Settled,
}

struct Shared<T> {
    /// The tasks among the children, in argument order: what `children()` shows and `cancel()`
    /// cancels. A task passed twice is here twice.
    tasks: Vec<TaskRef>,
    /// How to cancel the children that are not tasks (loop futures), outside the gather's lock:
    /// cancelling a loop future wakes its waiters, which may be any executor's.
    others: Vec<Canceller>,
    policy: Policy,
    is_failure: fn(&T) -> bool,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// Each child, in argument order, until its outcome is read.
    pending: Vec<Option<Child<T>>>,
    slots: Vec<Option<Result<T, TaskError>>>,
    /// Completion order, kept only while the injected `gather_order` bug is on.
    arrivals: Vec<usize>,
    remaining: usize,
    /// Index of the child whose failure decided the outcome.
    failed: Option<usize>,
    decided: bool,
    taken: bool,
    /// `cancel()` cancelled some child (asyncio's `_cancel_requested`): once every child has
    /// finished without one failing, the gather ends cancelled whatever they did (GATHER-10).
    cancel_requested: bool,
    /// The message `cancel_requested` came with.
    cancel_message: Option<Message>,
    /// The task awaiting the gather (one at a time: a gather is not `Clone`), woken once the
    /// outcome is decided.
    waiters: WaitList<Waker>,
}

impl<T: Send + 'static> Sink for Shared<T> {
    fn deliver(&self, index: u32) {
        let index = index as usize;
        // Read outside the lock: a child's outcome is read through its own locks.
        let child = self.state.lock().pending[index].take();
        let out = child
            .and_then(Child::read)
            .unwrap_or(Err(TaskError::Cancelled(Cancelled::new(None))));
        let mut late = None;
        let woken = {
            let mut st = self.state.lock();
            let failure = match &out {
                Ok(v) => (self.is_failure)(v),
                Err(_) => true,
            };
            trace::record(|| format!("gather child {index} done (failure: {failure})"));
            st.remaining -= 1;
            if st.taken {
                // GATHER-4: a sibling finishing after the gather returned its output has
                // nowhere to go (the slots were moved out); drop it outside the lock.
                late = Some(out);
            } else {
                st.slots[index] = Some(out);
            }
            if bug::enabled(Bug::GatherOrder) {
                st.arrivals.push(index);
            }
            let first_failure = failure && self.policy == Policy::FirstFailure;
            if st.decided {
                WaitList::Empty
            } else if first_failure || st.remaining == 0 {
                st.decided = true;
                if first_failure {
                    st.failed = Some(index);
                }
                std::mem::take(&mut st.waiters)
            } else {
                WaitList::Empty
            }
        };
        woken.drain_in_order(crate::engine::contain::wake);
        crate::engine::contain::drop_value(late);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The engine behind every gather variant: children, their slots, and when to resolve.
struct Core<T: Send + 'static> {
    sink: SinkRc,
    /// The awaiting task's key in the gather's waiter list, once it has waited.
    key: Option<u32>,
    /// The awaiting task's cancellation was handed to the gather here (CANCEL-6).
    handed: bool,
    /// Where `cancel` of the awaiting task finds this gather while it waits (CANCEL-6).
    registration: Option<cancel::Awaiting>,
    _output: std::marker::PhantomData<fn() -> T>,
}

impl<T: Send + 'static> Core<T> {
    /// Attaches to every awaitable, in argument order: coroutines become tasks here (GATHER-2),
    /// tasks and loop futures are used as themselves (TASK-14).
    #[track_caller]
    fn start<I, A>(items: I, policy: Policy, is_failure: fn(&T) -> bool) -> Core<T>
    where
        I: IntoIterator<Item = A>,
        A: Awaitable<Output = T>,
    {
        let at = Location::caller();
        let lp = match current::scheduler() {
            Some(lp) => lp,
            None => panic!("{}", LoopError::NoRunningLoop),
        };
        let children: Vec<Child<T>> = items
            .into_iter()
            .map(|a| or_panic(a.into_child(Attach::new(&lp, at))))
            .collect();
        Core::from_children(children, policy, is_failure)
    }

    fn from_children(
        children: Vec<Child<T>>,
        policy: Policy,
        is_failure: fn(&T) -> bool,
    ) -> Core<T> {
        let n = children.len();
        let mut tasks = Vec::with_capacity(n);
        let mut others = Vec::new();
        for child in &children {
            match child.task() {
                Some(t) => tasks.push(t),
                None => others.push(child.canceller()),
            }
        }
        let sink: SinkRc = Arc::new(Box::new(Shared {
            tasks,
            others,
            policy,
            is_failure,
            state: Mutex::new(State {
                pending: Vec::new(),
                slots: (0..n).map(|_| None).collect(),
                arrivals: Vec::new(),
                remaining: n,
                failed: None,
                decided: n == 0,
                taken: false,
                cancel_requested: false,
                cancel_message: None,
                waiters: WaitList::default(),
            }),
        }));
        // Registered once the children are in place, under the gather's lock: a child already
        // done delivers through `call_soon`, and with several workers that item may run at once
        // on another one, whose `deliver` then waits for this lock. Registering runs no user code.
        {
            let mut st = shared_of::<T>(&sink).state.lock();
            st.pending = children.into_iter().map(Some).collect();
            for (index, child) in st.pending.iter().enumerate() {
                let index = u32::try_from(index).expect("more than 2^32 children in one gather");
                if let Some(child) = child {
                    child.deliver_to(&sink, index);
                }
            }
        }
        Core {
            sink,
            key: None,
            handed: false,
            registration: None,
            _output: std::marker::PhantomData,
        }
    }

    /// `Ready(state)` once the outcome is decided; the caller builds its output from the slots.
    fn poll_decided(&mut self, cx: &mut Context<'_>) -> Poll<TakenState<T>> {
        let in_flight = cancel::in_flight();
        if in_flight
            && cancel::delivering()
            && self.key.is_some()
            && shared_of::<T>(&self.sink).cancel_requested(cancel::message())
        {
            // CANCEL-6: asyncio's `Task.cancel` cancels the gather its task awaits; the task
            // waits for the children to finish cancelling (GATHER-10).
            cancel::handed_down();
            self.handed = true;
        }
        if in_flight {
            // CANCEL-2: lands here, or waits for the children (handed down above).
            return Poll::Pending;
        }
        let Core { sink, key, .. } = self;
        let shared = shared_of::<T>(sink);
        let mut st = shared.state.lock();
        assert!(
            !st.taken,
            "a gather was polled after it returned its output"
        );
        if !st.decided {
            if key.is_some_and(|k| st.waiters.get(k).will_wake(cx.waker())) {
                return Poll::Pending;
            }
            drop(st);
            // Cloned, and the one it replaces dropped, outside the lock (LOCK-1).
            let waker = cx.waker().clone();
            st = shared.state.lock();
            if !st.decided {
                let stale = match *key {
                    Some(k) => Some(st.waiters.replace(k, waker)),
                    None => {
                        *key = Some(st.waiters.push(waker));
                        None
                    }
                };
                drop(st);
                crate::engine::contain::drop_value(stale);
                if self.registration.is_none() {
                    let sink = self.sink.clone();
                    let canceller: cancel::Canceller = Arc::new(Box::new(move |message| {
                        shared_of::<T>(&sink).cancel_requested(message)
                    }));
                    self.registration = cancel::await_cancellable(canceller);
                }
                return Poll::Pending;
            }
            // Decided while the lock was let go: the waker is not needed.
            drop(st);
            crate::engine::contain::drop_value(waker);
            st = shared.state.lock();
        }
        st.taken = true;
        let mut slots = std::mem::take(&mut st.slots);
        let message = st.cancel_message.clone();
        if bug::enabled(Bug::GatherOrder) {
            // Injected: results in completion order instead of argument order.
            let mut reordered: Vec<_> = st.arrivals.iter().map(|&i| slots[i].take()).collect();
            reordered.extend(slots.into_iter().filter(Option::is_some));
            slots = reordered;
        }
        Poll::Ready(TakenState {
            slots,
            failed: st.failed,
            cancelled: st.cancel_requested && st.failed.is_none(),
            message,
        })
    }
}

impl<T: Send + 'static> Core<T> {
    fn children(&self) -> &[TaskRef] {
        &shared_of::<T>(&self.sink).tasks
    }

    /// Cancels every child that has not finished: each variant's `cancel`. Asks every child,
    /// not only up to the first that was still running. A gather whose outcome is decided is
    /// done: it cancels nothing and says so (asyncio's `_GatheringFuture.cancel` returns False
    /// once done, GATHER-9).
    fn cancel(&self) -> bool {
        shared_of::<T>(&self.sink).cancel_requested(None)
    }

    /// The outcome is a cancellation that the awaiting task receives as its own (raised at
    /// the await, CANCEL-6): its cancellation was handed to the gather, or the gather was
    /// cancelled and no child failed (GATHER-10; asyncio propagates the cancellation then
    /// "regardless of return_exceptions").
    fn raises(&mut self, st: &TakenState<T>) -> bool {
        if let Some(r) = self.registration.take() {
            cancel::forget_awaited(r);
        }
        let passed = self.handed || cancel::passed_in();
        if cancel::passed_in() {
            cancel::use_passed();
        }
        let child_cancelled = st
            .failed
            .is_some_and(|i| matches!(st.slots[i], Some(Err(TaskError::Cancelled(_)))));
        let raises = st.cancelled || (passed && child_cancelled);
        if raises {
            cancel::raise(st.message.clone());
        }
        raises
    }

    /// Each variant's `Debug`, under the variant's name.
    fn fmt_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("children", &self.children().len())
            .finish()
    }
}

fn shared_of<T: Send + 'static>(sink: &SinkRc) -> &Shared<T> {
    sink.as_any()
        .downcast_ref()
        .expect("a gather's sink holds its own output type")
}

struct TakenState<T> {
    slots: Vec<Option<Result<T, TaskError>>>,
    failed: Option<usize>,
    /// Cancelled by `cancel()`, with no child failing (GATHER-10).
    cancelled: bool,
    /// The message of the cancellation the gather was cancelled with.
    message: Option<Message>,
}

impl<T: Send + 'static> Drop for Core<T> {
    fn drop(&mut self) {
        if let Some(r) = self.registration.take() {
            cancel::forget_awaited(r);
        }
        let shared = shared_of::<T>(&self.sink);
        if !shared.state.lock().decided {
            // GATHER-5: the gather is abandoned before its outcome: cancel the children.
            shared.cancel_children();
        }
    }
}

impl<T> Shared<T> {
    /// asyncio's `_GatheringFuture.cancel(msg)`: cancels every unfinished child; if any took it,
    /// the gather's outcome will be a cancellation (GATHER-10). False once decided (GATHER-9).
    fn cancel_requested(&self, message: Option<Message>) -> bool {
        if self.state.lock().decided {
            return false;
        }
        let any = self.cancel_children_with(message.clone());
        if any {
            let mut st = self.state.lock();
            st.cancel_requested = true;
            st.cancel_message = message;
        }
        any
    }

    /// Asks every child to cancel; true if any was still running.
    fn cancel_children(&self) -> bool {
        self.cancel_children_with(None)
    }

    fn cancel_children_with(&self, message: Option<Message>) -> bool {
        let mut any = false;
        for t in &self.tasks {
            any |= crate::engine::cell::TaskCell::cancel(t.cell(), message.clone());
        }
        for c in &self.others {
            any |= c(message.clone());
        }
        any
    }
}

/// The future returned by [`gather`].
///
/// ```
/// use std::time::Duration;
/// // Dropping a gather before it resolves cancels its children (GATHER-5).
/// evloop::Builder::new().virtual_time(true).run(async {
///     let g = evloop::gather([evloop::sleep(Duration::from_secs(3600))]);
///     let child = g.children()[0].clone();
///     drop(g);
///     child.wait().await;
///     assert!(child.cancelled());
/// });
/// ```
#[must_use = "futures do nothing unless awaited; the children run anyway, as tasks"]
pub struct Gather<T: Send + 'static> {
    core: Core<T>,
}

/// Runs every future concurrently, each as a task started in argument order, and resolves with
/// their outputs in argument order, whatever order they finish in (GATHER-1). If a child panics or
/// is cancelled, resolves at once with that error while the other children keep running
/// (GATHER-4). An empty gather resolves at once with an empty `Vec` (GATHER-3).
///
/// ```
/// use std::time::Duration;
/// let out = evloop::Builder::new().virtual_time(true).run(async {
///     evloop::gather([3u64, 1, 2].map(|n| async move {
///         evloop::sleep(Duration::from_secs(n)).await;
///         n
///     }))
///     .await
///     .unwrap()
/// });
/// assert_eq!(out, vec![3, 1, 2]);
/// ```
///
/// # Panics
/// When no loop is running on this thread.
#[track_caller]
pub fn gather<I, A>(items: I) -> Gather<A::Output>
where
    I: IntoIterator<Item = A>,
    A: Awaitable,
{
    Gather {
        core: Core::start(items, Policy::FirstFailure, |_| false),
    }
}

impl<T: Send + 'static> Gather<T> {
    /// Cancels every child that has not finished; the gather then resolves with
    /// `Err(TaskError::Cancelled)` when the first cancelled child reports in.
    ///
    /// ```
    /// use std::time::Duration;
    /// evloop::Builder::new().virtual_time(true).run(async {
    ///     let g = evloop::gather([1u64, 2].map(|n| evloop::sleep(Duration::from_secs(n))));
    ///     assert!(g.cancel());
    ///     assert!(g.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.core.cancel()
    }

    /// Handles to the children, in argument order.
    ///
    /// ```
    /// evloop::run(async {
    ///     let g = evloop::gather([1, 2].map(|n| async move { n }));
    ///     let kids = g.children().to_vec();
    ///     assert!(kids[0].id() < kids[1].id()); // created in argument order
    ///     assert_eq!(g.await.unwrap(), [1, 2]);
    ///     assert!(kids.iter().all(|k| k.done()));
    /// });
    /// ```
    pub fn children(&self) -> &[TaskRef] {
        self.core.children()
    }
}

impl<T: Send + 'static> Future for Gather<T> {
    type Output = Result<Vec<T>, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let st = std::task::ready!(self.core.poll_decided(cx));
        if self.core.raises(&st) {
            // Raised at this await (CANCEL-6, GATHER-10): the awaiting task's catch scope takes
            // it, or the task ends cancelled.
            return Poll::Pending;
        }
        if let Some(i) = st.failed {
            let mut slots = st.slots;
            let err = match slots[i].take() {
                Some(Err(e)) => e,
                _ => unreachable!("the failed child's slot holds its error"),
            };
            // CANCEL-7, CANCEL-8: a child cancelled by someone else is a value the awaiting
            // task may catch, and counts against it if it escapes.
            return Poll::Ready(Err(cancel::adopt_error(err)));
        }
        Poll::Ready(Ok(st
            .slots
            .into_iter()
            .map(|s| match s {
                Some(Ok(v)) => v,
                _ => unreachable!("a gather that did not fail has every result"),
            })
            .collect()))
    }
}

impl<T: Send + 'static> fmt::Debug for Gather<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_as("Gather", f)
    }
}

/// The future returned by [`try_gather`].
///
/// ```
/// use evloop::GatherError;
/// let r = evloop::run(async {
///     let parse = |s: &'static str| async move { s.parse::<i32>().map_err(|e| e.to_string()) };
///     evloop::try_gather([parse("1"), parse("x"), parse("3")]).await
/// });
/// assert!(matches!(r, Err(GatherError::Failed { index: 1, .. })));
/// ```
#[must_use = "futures do nothing unless awaited; the children run anyway, as tasks"]
pub struct TryGather<T: Send + 'static, E: Send + 'static> {
    core: Core<Result<T, E>>,
}

/// [`gather`] for children that return `Result<T, E>`: the first `Err` (or panic, or cancel)
/// resolves the gather at once with that error and the child's index, while the other children
/// keep running — they are tasks, unlike the futures of `futures::try_join_all` (GATHER-4).
///
/// ```
/// let r = evloop::run(async {
///     evloop::try_gather(vec![
///         Box::pin(async { Ok(1) }) as std::pin::Pin<Box<dyn std::future::Future<Output = Result<i32, String>> + Send>>,
///         Box::pin(async { Err("no".to_string()) }),
///     ])
///     .await
/// });
/// assert!(matches!(r, Err(evloop::GatherError::Failed { index: 1, .. })));
/// ```
#[track_caller]
pub fn try_gather<I, A, T, E>(items: I) -> TryGather<T, E>
where
    I: IntoIterator<Item = A>,
    A: Awaitable<Output = Result<T, E>>,
    T: Send + 'static,
    E: Send + 'static,
{
    TryGather {
        core: Core::start(items, Policy::FirstFailure, Result::is_err),
    }
}

impl<T: Send + 'static, E: Send + 'static> TryGather<T, E> {
    /// See [`Gather::cancel`].
    ///
    /// ```
    /// use evloop::GatherError;
    /// evloop::run(async {
    ///     let g = evloop::try_gather([1, 2].map(|n| async move { Ok::<_, String>(n) }));
    ///     assert!(g.cancel()); // before either child started
    ///     match g.await {
    ///         Err(GatherError::Task { error, .. }) => assert!(error.is_cancelled()),
    ///         other => panic!("expected a cancelled child, got {other:?}"),
    ///     }
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.core.cancel()
    }

    /// Handles to the children, in argument order.
    ///
    /// ```
    /// evloop::run(async {
    ///     let g = evloop::try_gather([1, 2].map(|n| async move { Ok::<_, String>(n) }));
    ///     let kids = g.children().to_vec();
    ///     assert_eq!(g.await.unwrap(), [1, 2]);
    ///     assert!(kids.iter().all(|k| k.done() && !k.cancelled()));
    /// });
    /// ```
    pub fn children(&self) -> &[TaskRef] {
        self.core.children()
    }
}

impl<T: Send + 'static, E: Send + 'static> Future for TryGather<T, E> {
    type Output = Result<Vec<T>, GatherError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let st = std::task::ready!(self.core.poll_decided(cx));
        if self.core.raises(&st) {
            // Raised at this await (CANCEL-6, GATHER-10): the awaiting task's catch scope takes
            // it, or the task ends cancelled.
            return Poll::Pending;
        }
        let mut slots = st.slots;
        if let Some(index) = st.failed {
            return Poll::Ready(Err(match slots[index].take() {
                Some(Ok(Err(error))) => GatherError::Failed { index, error },
                Some(Err(error)) => GatherError::Task {
                    index,
                    error: cancel::adopt_error(error),
                },
                _ => unreachable!("the failed child's slot holds its error"),
            }));
        }
        Poll::Ready(Ok(slots
            .into_iter()
            .map(|s| match s {
                Some(Ok(Ok(v))) => v,
                _ => unreachable!("a gather that did not fail has every result"),
            })
            .collect()))
    }
}

impl<T: Send + 'static, E: Send + 'static> fmt::Debug for TryGather<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_as("TryGather", f)
    }
}

/// The future returned by [`gather_settled`].
///
/// ```
/// let out = evloop::run(async {
///     let div = |a: i32, b: i32| async move { a / b }; // panics when b == 0
///     evloop::gather_settled([div(6, 3), div(1, 0), div(8, 2)]).await
/// });
/// // Every outcome in its place; the panic did not stop the others.
/// assert_eq!(*out[0].as_ref().unwrap(), 2);
/// assert!(out[1].as_ref().unwrap_err().is_panic());
/// assert_eq!(*out[2].as_ref().unwrap(), 4);
/// ```
#[must_use = "futures do nothing unless awaited; the children run anyway, as tasks"]
pub struct GatherSettled<T: Send + 'static> {
    core: Core<T>,
}

/// [`gather`] that waits for every child and returns each outcome in its place (asyncio's
/// `gather(..., return_exceptions=True)`, GATHER-6).
///
/// ```
/// let outcomes = evloop::run(async {
///     evloop::gather_settled(vec![
///         Box::pin(async { 1 }) as std::pin::Pin<Box<dyn std::future::Future<Output = i32> + Send>>,
///         Box::pin(async { panic!("boom") }),
///     ])
///     .await
/// });
/// assert_eq!(*outcomes[0].as_ref().unwrap(), 1);
/// assert!(outcomes[1].as_ref().unwrap_err().is_panic());
/// ```
#[track_caller]
pub fn gather_settled<I, A>(items: I) -> GatherSettled<A::Output>
where
    I: IntoIterator<Item = A>,
    A: Awaitable,
{
    GatherSettled {
        core: Core::start(items, Policy::Settled, |_| false),
    }
}

impl<T: Send + 'static> GatherSettled<T> {
    /// Cancels every child that has not finished. Once they have all finished, awaiting the
    /// gather raises the cancellation, whatever the children did with theirs (asyncio
    /// propagates a gather's cancellation "regardless of return_exceptions", GATHER-10): a
    /// [`catch_cancel`](crate::catch_cancel) scope around the await takes it.
    ///
    /// ```
    /// use std::time::Duration;
    /// evloop::Builder::new().virtual_time(true).run(async {
    ///     let naps = [1u64, 2].map(|n| evloop::sleep(Duration::from_secs(n)));
    ///     let g = evloop::gather_settled(naps);
    ///     let kids = g.children().to_vec();
    ///     assert!(g.cancel());
    ///     assert!(evloop::catch_cancel(g).await.is_err());
    ///     assert!(kids.iter().all(|k| k.cancelled()));
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.core.cancel()
    }

    /// Handles to the children, in argument order.
    ///
    /// ```
    /// evloop::run(async {
    ///     let g = evloop::gather_settled([1, 2].map(|n| async move { n }));
    ///     let first = g.children()[0].clone();
    ///     assert!(!first.done()); // children start when the caller yields
    ///     g.await;
    ///     assert!(first.done());
    /// });
    /// ```
    pub fn children(&self) -> &[TaskRef] {
        self.core.children()
    }
}

impl<T: Send + 'static> Future for GatherSettled<T> {
    type Output = Vec<Result<T, TaskError>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let st = std::task::ready!(self.core.poll_decided(cx));
        if self.core.raises(&st) {
            // Raised at this await (CANCEL-6, GATHER-10): the awaiting task's catch scope takes
            // it, or the task ends cancelled.
            return Poll::Pending;
        }
        Poll::Ready(
            st.slots
                .into_iter()
                .map(|s| s.expect("a settled gather has every outcome"))
                .collect(),
        )
    }
}

impl<T: Send + 'static> fmt::Debug for GatherSettled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_as("GatherSettled", f)
    }
}

/// Gathers futures of different output types into a tuple, with [`gather`]'s semantics.
///
/// ```
/// let (a, b) = evloop::run(async {
///     evloop::gather!(async { 1u8 }, async { "two" }).await.unwrap()
/// });
/// assert_eq!((a, b), (1, "two"));
/// ```
#[macro_export]
macro_rules! gather {
    ($($fut:expr),+ $(,)?) => {
        $crate::__private::GatherTuple::gather_tuple(($($fut,)+))
    };
}

/// Support for [`gather!`]; not a public API.
#[doc(hidden)]
pub trait GatherTuple {
    type Output;
    fn gather_tuple(self) -> Pin<Box<dyn Future<Output = Result<Self::Output, TaskError>> + Send>>;
}

type AnyBox = Box<dyn Any + Send>;

fn boxed<T: Send + 'static>(v: T) -> AnyBox {
    Box::new(v)
}

fn unerase<T: 'static>(v: Option<AnyBox>) -> T {
    *v.and_then(|b| b.downcast::<T>().ok())
        .expect("gather! keeps each output's type in its position")
}

/// The running loop and the macro's call site, for attaching each element.
#[track_caller]
fn attach_point() -> (
    evloop_model::sync::Arc<crate::engine::scheduler::Scheduler>,
    &'static Location<'static>,
) {
    match current::scheduler() {
        Some(lp) => (lp, Location::caller()),
        None => panic!("{}", LoopError::NoRunningLoop),
    }
}

macro_rules! impl_gather_tuple {
    ($($T:ident $i:tt),+) => {
        impl<$($T),+> GatherTuple for ($($T,)+)
        where
            $($T: Awaitable,)+
        {
            type Output = ($($T::Output,)+);

            #[track_caller]
            fn gather_tuple(
                self,
            ) -> Pin<Box<dyn Future<Output = Result<Self::Output, TaskError>> + Send>> {
                // Each element is attached as itself (a task or future is not wrapped, TASK-14)
                // and seen through its output's `Any` box.
                let (lp, at) = attach_point();
                let children = vec![$(Mapped::child(
                    or_panic(self.$i.into_child(Attach::new(&lp, at))),
                    boxed::<$T::Output>,
                )),+];
                let g = Gather {
                    core: Core::from_children(children, Policy::FirstFailure, |_| false),
                };
                Box::pin(async move {
                    let mut it = g.await?.into_iter();
                    Ok(($(unerase::<$T::Output>(it.next()),)+))
                })
            }
        }
    };
}

impl_gather_tuple!(A 0);
impl_gather_tuple!(A 0, B 1);
impl_gather_tuple!(A 0, B 1, C 2);
impl_gather_tuple!(A 0, B 1, C 2, D 3);
impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4);
impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
