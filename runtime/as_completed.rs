//! `as_completed`: tasks handed back one at a time, in the order they finish (asyncio's
//! `asyncio.as_completed`; specs/wait.md, ASCOMPLETED-1..4).
//!
//! asyncio's generator keeps a queue: each task's done callback (run through `call_soon`) puts
//! the task in it, and each awaitable the generator yields takes one out; a timeout puts one
//! "timed out" marker in for every task not yet finished. [`AsCompleted`] keeps the same queue,
//! so `next().await` resumes in the same loop turn as asyncio's `await next_one`:
//!
//! ```text
//!   a task completes ──(call_soon)──► queued: Some(index) ──► `next()` returns the task
//!   the timeout's timer ─────────────► queued: None for each task left ──► `next()` returns
//!                                                                          Err(TimeoutError)
//! ```

use crate::engine::callback::HandleCell;
use crate::engine::cancel;
use crate::engine::ready::{Sink, SinkRc};
use crate::error::TimeoutError;
use crate::task::TaskRef;
use crate::wait::{distinct, loop_of, timer, unwatch, watch, Waitable};
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Hands `tasks` back in the order they finish, one per [`AsCompleted::next`]: each
/// `next().await` gives `Some(Ok(task))` for the next task to finish (the task itself, to await
/// for its output), and after the last one `None`. With a timeout, once it has passed, every
/// `next()` left gives `Some(Err(TimeoutError))` instead (asyncio's `TimeoutError`, raised by
/// each remaining awaitable); the tasks keep running. A task given twice comes back once.
///
/// asyncio 3.11 yields awaitables of each result (`for f in as_completed(fs): await f`); the
/// Rust shape is a loop over `next()`:
///
/// ```
/// use std::time::Duration;
/// let order = evloop::Builder::new().virtual_time(true).run(async {
///     let nap = |s: u64| evloop::create_task(async move {
///         evloop::sleep(Duration::from_secs(s)).await;
///         s
///     });
///     let mut ac = evloop::as_completed(vec![nap(3), nap(1), nap(2)], None);
///     let mut order = Vec::new();
///     while let Some(t) = ac.next().await {
///         order.push(t.unwrap().await.unwrap()); // finished: its output is there at once
///     }
///     order
/// });
/// assert_eq!(order, [1, 2, 3]);
/// ```
///
/// Setting up (the done callbacks and the timer) happens at the first `next()`, as asyncio's
/// generator body runs at its first iteration.
///
/// # Panics
/// At the first `next()`, outside a running loop or with a task of another loop.
#[track_caller]
pub fn as_completed<I, W>(tasks: I, timeout: Option<Duration>) -> AsCompleted<W>
where
    I: IntoIterator<Item = W>,
    W: Waitable,
{
    let (items, refs) = distinct(tasks);
    AsCompleted {
        items: items.into_iter().map(Some).collect(),
        refs,
        timeout,
        at: Location::caller(),
        given: 0,
        armed: None,
    }
}

/// The iterator-like value [`as_completed`] returns; see there.
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let slow = evloop::create_task(evloop::sleep(Duration::from_secs(10)));
///     let mut ac = evloop::as_completed([&slow], Some(Duration::from_secs(1)));
///     assert_eq!(ac.len(), 1);
///     assert!(ac.next().await.unwrap().is_err()); // timed out
///     assert!(ac.next().await.is_none());
///     assert!(!slow.done()); // still running: nothing was cancelled
///     slow.cancel();
/// });
/// ```
pub struct AsCompleted<W> {
    items: Vec<Option<W>>,
    refs: Vec<TaskRef>,
    timeout: Option<Duration>,
    at: &'static Location<'static>,
    /// Items handed out so far; `items.len()` in all.
    given: usize,
    armed: Option<Armed>,
}

struct Armed {
    sink: SinkRc,
    timer: Option<Arc<HandleCell>>,
}

struct Shared {
    refs: Vec<TaskRef>,
    state: Mutex<State>,
}

struct State {
    /// Tasks not yet finished nor timed out (asyncio's `todo`).
    todo: usize,
    /// Which task finished, in order; `None` for a timeout (asyncio's `done` queue).
    queue: VecDeque<Option<u32>>,
    /// Each task's done entry, until it runs or the timeout takes it back.
    keys: Vec<Option<u32>>,
    /// The task waiting in `next()`.
    waker: Option<Waker>,
    /// The timeout has passed: later completions are not queued.
    timed_out: bool,
}

impl Sink for Shared {
    /// asyncio's `_on_completion`.
    fn deliver(&self, index: u32) {
        let woken = {
            let mut st = self.state.lock();
            if st.timed_out {
                // `_on_timeout` was here first: it queued this task's timeout.
                return;
            }
            st.keys[index as usize] = None;
            st.todo = st.todo.saturating_sub(1);
            st.queue.push_back(Some(index));
            st.waker.take()
        };
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Shared {
    /// asyncio's `_on_timeout`: one timeout for every task left, whose done entries are taken
    /// back.
    fn time_out(&self) {
        let (mut keys, woken) = {
            let mut st = self.state.lock();
            st.timed_out = true;
            for _ in 0..st.todo {
                st.queue.push_back(None);
            }
            st.todo = 0;
            (std::mem::take(&mut st.keys), st.waker.take())
        };
        unwatch(&self.refs, &mut keys);
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
    }
}

fn shared_of(sink: &SinkRc) -> &Shared {
    sink.as_any()
        .downcast_ref()
        .expect("an as_completed sink is its own")
}

impl<W: Waitable> AsCompleted<W> {
    /// The next task to finish: `Some(Ok(task))`, `Some(Err(TimeoutError))` once the timeout
    /// has passed, `None` when every task has been handed back or timed out.
    ///
    /// ```
    /// evloop::run(async {
    ///     let t = evloop::create_task(async { 5 });
    ///     let mut ac = evloop::as_completed([t], None);
    ///     let first = ac.next().await.unwrap().unwrap();
    ///     assert_eq!(first.await.unwrap(), 5);
    ///     assert!(ac.next().await.is_none());
    /// });
    /// ```
    ///
    /// # Panics
    /// The first time, outside a running loop or with a task of another loop.
    #[track_caller]
    // A future, not an item, so `Iterator` cannot be implemented; `next` is the name a
    // `while let Some(t) = ac.next().await` loop reads best with (as async streams have it).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Next<'_, W> {
        if self.armed.is_none() && self.given < self.items.len() {
            self.armed = Some(self.arm());
        }
        Next { ac: self }
    }

    /// How many tasks are left to hand back (or to time out).
    ///
    /// ```
    /// evloop::run(async {
    ///     let tasks = [evloop::create_task(async {}), evloop::create_task(async {})];
    ///     let mut ac = evloop::as_completed(tasks.iter(), None);
    ///     assert_eq!(ac.len(), 2);
    ///     ac.next().await;
    ///     assert_eq!(ac.len(), 1);
    ///     ac.next().await;
    ///     assert!(ac.is_empty());
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.items.len() - self.given
    }

    /// True when every task has been handed back or timed out.
    ///
    /// ```
    /// evloop::run(async {
    ///     let ac = evloop::as_completed(Vec::<evloop::TaskRef>::new(), None);
    ///     assert!(ac.is_empty()); // asyncio allows an empty as_completed too
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[track_caller]
    fn arm(&mut self) -> Armed {
        let lp = loop_of(&self.refs);
        let sink: SinkRc = Arc::new(Box::new(Shared {
            refs: self.refs.clone(),
            state: Mutex::new(State {
                todo: self.refs.len(),
                queue: VecDeque::new(),
                keys: Vec::new(),
                waker: None,
                timed_out: false,
            }),
        }));
        let shared = shared_of(&sink);
        // The keys go in under the lock, before any entry can run on another worker and look
        // for its own.
        let mut st = shared.state.lock();
        st.keys = watch(&self.refs, &sink);
        drop(st);
        let timer = self.timeout.map(|d| {
            let s = sink.clone();
            timer(&lp, d, self.at, move || shared_of(&s).time_out())
        });
        Armed { sink, timer }
    }
}

impl<W> Drop for AsCompleted<W> {
    fn drop(&mut self) {
        if let Some(mut armed) = self.armed.take() {
            if let Some(t) = armed.timer.take() {
                t.cancel();
            }
            let (mut keys, stale) = {
                let mut st = shared_of(&armed.sink).state.lock();
                st.timed_out = true;
                (std::mem::take(&mut st.keys), st.waker.take())
            };
            drop(stale);
            unwatch(&self.refs, &mut keys);
        }
    }
}

impl<W> fmt::Debug for AsCompleted<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("tasks", &self.items.len())
            .field("handed_back", &self.given)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The future [`AsCompleted::next`] returns.
///
/// ```
/// evloop::run(async {
///     let mut ac = evloop::as_completed([evloop::create_task(async {})], None);
///     let next: evloop::Next<'_, _> = ac.next();
///     assert!(next.await.unwrap().is_ok());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Next<'a, W> {
    ac: &'a mut AsCompleted<W>,
}

impl<W: Waitable> Future for Next<'_, W> {
    type Output = Option<Result<W, TimeoutError>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if cancel::in_flight() {
            // CANCEL-2: the cancellation lands here; nothing is taken from the queue.
            return Poll::Pending;
        }
        let ac = &mut *self.ac;
        if ac.given == ac.items.len() {
            return Poll::Ready(None);
        }
        let armed = ac.armed.as_ref().expect("`next()` arms the first time");
        let shared = shared_of(&armed.sink);
        // Cloned before the lock: a foreign waker's clone is user code (LOCK-1).
        let waker = cx.waker().clone();
        let (front, stale) = if bug::enabled(Bug::AsCompletedLostWakeup) {
            // Injected: looks at the queue and leaves the waker under two holds of the lock.
            let front = shared.state.lock().queue.pop_front();
            match front {
                Some(front) => (Some(front), None),
                None => (None, shared.state.lock().waker.replace(waker)),
            }
        } else {
            let mut st = shared.state.lock();
            match st.queue.pop_front() {
                Some(front) => (Some(front), None),
                None => (None, st.waker.replace(waker)),
            }
        };
        drop(stale);
        match front {
            None => Poll::Pending,
            Some(front) => {
                ac.given += 1;
                Poll::Ready(Some(match front {
                    Some(i) => Ok(ac.items[i as usize]
                        .take()
                        .expect("a task comes out of as_completed once")),
                    None => Err(TimeoutError),
                }))
            }
        }
    }
}

impl<W> Drop for Next<'_, W> {
    fn drop(&mut self) {
        if let Some(armed) = &self.ac.armed {
            // A `next()` that goes away stops waiting: a later completion wakes nobody.
            let stale = shared_of(&armed.sink).state.lock().waker.take();
            drop(stale);
        }
    }
}

impl<W> fmt::Debug for Next<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").field("ac", &self.ac).finish()
    }
}
