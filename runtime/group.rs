//! `TaskGroup`: tasks scoped to a block that waits for all of them, where the first failure
//! cancels the rest (asyncio 3.11's `taskgroups.py`; specs/taskgroup.md, GROUP-1..10).
//!
//! `task_group(|g| async move { … })` is asyncio's `async with TaskGroup() as g: …`: the body runs
//! inside the awaiting task (the *parent*), and the returned future is `__aexit__` as well:
//!
//! ```text
//!   body runs ──► returns Ok(r) ──────────────────────┐
//!        │        returns Err(e), panics ──► abort ───┤  (abort: cancel every unfinished child)
//!        │        is cancelled (caught here) ─► abort ┤
//!        │                                            ▼
//!   a child panics (its done entry, via call_soon):   wait until no child is left; a
//!     abort, and cancel the parent once               cancellation meanwhile: abort (if not yet)
//!     (`parent_cancel_requested`), so that the        │
//!     body stops at its await                         ▼
//!                                      uncancel the parent's own request; then, in asyncio's order:
//!                                      the body's panic again; the cancellation, if it came from
//!                                      outside and nothing failed; GroupError (children's panics
//!                                      in the order seen, the body's Err last); Ok(r)
//! ```
//!
//! Who touches what: the group's state is behind one lock, taken by the parent's polls, by
//! `create_task` (any task or thread holding the handle) and by each child's done entry; tasks
//! are cancelled, woken and spawned after it is let go (LOCK-1). A child's place is held under
//! the lock before the child is spawned, so the group cannot finish in between (GROUP-7).

use crate::engine::cancel;
use crate::engine::cell::{DoneEntry, TaskCell};
use crate::engine::current;
use crate::engine::incident::{self, Incident};
use crate::engine::ready::{Sink, SinkRc};
use crate::engine::scheduler::Scheduler;
use crate::error::{Cancelled, LoopError, TaskError};
use crate::task::{Task, TaskRef};
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use evloop_model::trace;
use pin_project_lite::pin_project;
use std::any::Any;
use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Runs `body` with a [`TaskGroup`] (asyncio's `async with asyncio.TaskGroup() as g:`) and
/// resolves once the body has ended and every task created in the group has finished.
///
/// - The body ends normally (`Ok(r)`): the group waits for its tasks, and resolves with `Ok(r)`
///   unless one of them failed.
/// - A task panics (asyncio: raises): every other unfinished task of the group is cancelled,
///   and so is the body, at the await where it is suspended (the parent task is cancelled once,
///   and the group takes that request back at the end); once every task has finished, the
///   group resolves with [`GroupError`] holding each failure.
/// - The body returns `Err(e)` or is cancelled: the group's tasks are cancelled and awaited
///   first. `Err(e)` comes back inside the [`GroupError`], after the tasks' failures; a
///   cancellation from outside is raised again at this await once the tasks are done (a
///   `catch_cancel` around it takes it), unless a task failed.
/// - The body panics: the tasks are cancelled and awaited, then the panic goes on.
///
/// No task outlives its group: however the body ends, the group waits for every task to
/// finish, cleanup after a caught cancellation included. A task's `Err` output is a value, not
/// a failure: to fail the group, a task panics (`.expect(...)`) or the body returns `Err`.
///
/// ```
/// use std::time::Duration;
/// let total = evloop::Builder::new().virtual_time(true).run(async {
///     evloop::task_group(|g| async move {
///         let a = g.create_task(async { evloop::sleep(Duration::from_secs(1)).await; 1 });
///         let b = g.create_task(async { evloop::sleep(Duration::from_secs(2)).await; 2 });
///         Ok::<_, std::convert::Infallible>((a, b))
///     })
///     .await
///     // Both finished: the group awaited them.
///     .map(|(mut a, mut b)| (a.try_result(), b.try_result()))
/// });
/// let (a, b) = total.unwrap();
/// assert_eq!(a.unwrap().unwrap() + b.unwrap().unwrap(), 3);
/// ```
///
/// Dropping the returned future before it resolves (a `select!` that goes another way) cancels
/// the group's tasks but cannot wait for them: prefer evloop's cancellation, which the group
/// takes like a catch scope and waits through.
///
/// # Panics
/// When first polled outside a task (asyncio: `RuntimeError: TaskGroup cannot determine the
/// parent task`).
#[track_caller]
pub fn task_group<F, Fut, R, E>(body: F) -> TaskGroupScope<F, Fut, R, E>
where
    F: FnOnce(TaskGroup) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    TaskGroupScope {
        stage: Stage::Start { body: Some(body) },
        group: None,
        end: None,
        propagate: None,
        waited: false,
        at: Location::caller(),
        _output: PhantomData,
    }
}

/// A handle to a running task group, for creating tasks in it (asyncio's `TaskGroup`). Cheap
/// to clone; tasks of the group may hold one and create siblings.
///
/// ```
/// evloop::run(async {
///     evloop::task_group(|g| async move {
///         let g2 = g.clone();
///         g.create_task(async move {
///             g2.create_task(async { "a sibling, created by a child" });
///         });
///         Ok::<_, ()>(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Clone)]
pub struct TaskGroup {
    sink: SinkRc,
}

/// Why [`TaskGroup::try_create_task`] made no task (asyncio's `RuntimeError`s).
///
/// ```
/// evloop::run(async {
///     let mut kept = None;
///     evloop::task_group(|g| {
///         kept = Some(g.clone());
///         async { Ok::<_, ()>(()) }
///     })
///     .await
///     .unwrap();
///     let err = kept.unwrap().try_create_task(async {}).unwrap_err();
///     assert_eq!(err, evloop::GroupClosed::Finished);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupClosed {
    /// The group has finished: its body ended and its last task finished.
    Finished,
    /// The group is cancelling its tasks (a task failed, or the body failed or was cancelled).
    ShuttingDown,
    /// The loop is closed.
    LoopClosed,
}

impl fmt::Display for GroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupClosed::Finished => {
                "the task group is finished (asyncio: RuntimeError: TaskGroup is finished): \
                 create tasks in it only while its body or its tasks run"
            }
            GroupClosed::ShuttingDown => {
                "the task group is shutting down (asyncio: RuntimeError: TaskGroup is shutting \
                 down): a task failed or the body ended early, and the group is cancelling its \
                 tasks; no new task can join it"
            }
            GroupClosed::LoopClosed => {
                "the task group's event loop is closed: no task can be created on it"
            }
        })
    }
}

impl Error for GroupClosed {}

/// Every failure of a task group (asyncio's `ExceptionGroup('unhandled errors in a
/// TaskGroup', …)`): each task's failure in the order the group saw them, then the body's `Err`.
///
/// ```
/// use evloop::GroupFailure;
/// let err = evloop::run(async {
///     evloop::task_group(|g| async move {
///         g.create_task(async { panic!("child broke") });
///         evloop::sleep(std::time::Duration::ZERO).await;
///         Ok::<(), String>(())
///     })
///     .await
///     .unwrap_err()
/// });
/// assert_eq!(err.failures().len(), 1);
/// match &err.failures()[0] {
///     GroupFailure::Task { error, .. } => assert!(error.is_panic()),
///     other => panic!("{other:?}"),
/// }
/// assert!(err.to_string().starts_with("unhandled errors in a TaskGroup (1 sub-exception)"));
/// ```
#[derive(Debug)]
pub struct GroupError<E> {
    failures: Vec<GroupFailure<E>>,
}

/// One failure inside a [`GroupError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum GroupFailure<E> {
    /// A task of the group failed (it panicked).
    Task {
        /// The task.
        task: TaskRef,
        /// How it failed.
        error: TaskError,
    },
    /// The body returned `Err`.
    Body(E),
}

impl<E> GroupError<E> {
    /// The failures, tasks' first (in the order the group saw them), the body's last.
    ///
    /// ```
    /// let err = evloop::run(async {
    ///     evloop::task_group(|_g| async { Err::<(), _>("bad input") }).await.unwrap_err()
    /// });
    /// assert!(matches!(err.failures(), [evloop::GroupFailure::Body("bad input")]));
    /// ```
    pub fn failures(&self) -> &[GroupFailure<E>] {
        &self.failures
    }

    /// The failures, to own.
    ///
    /// ```
    /// let err = evloop::run(async {
    ///     evloop::task_group(|_g| async { Err::<(), _>(String::from("no")) }).await.unwrap_err()
    /// });
    /// let mut all = err.into_failures();
    /// let Some(evloop::GroupFailure::Body(e)) = all.pop() else { unreachable!() };
    /// assert_eq!(e, "no");
    /// ```
    pub fn into_failures(self) -> Vec<GroupFailure<E>> {
        self.failures
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.failures.len();
        write!(
            f,
            "unhandled errors in a TaskGroup ({n} sub-exception{})",
            if n == 1 { "" } else { "s" }
        )?;
        for failure in &self.failures {
            match failure {
                GroupFailure::Task { task, error } => write!(f, "; {}: {error}", task.name())?,
                GroupFailure::Body(e) => write!(f, "; the body: {e}")?,
            }
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> Error for GroupError<E> {}

struct Shared {
    lp: Arc<Scheduler>,
    parent: TaskRef,
    state: Mutex<State>,
}

struct State {
    /// The body has ended (asyncio's `_exiting`).
    exiting: bool,
    /// The group cancels its tasks (asyncio's `_aborting`).
    aborting: bool,
    /// The group waited for its last task (create_task: "finished").
    finished: bool,
    /// The group's future was dropped before it finished: nobody reads the failures.
    abandoned: bool,
    /// The group cancelled its parent, and must take that request back (asyncio's
    /// `_parent_cancel_requested`).
    parent_cancel_requested: bool,
    /// Each task by its index, until it finishes; `None` for a place held while it is spawned.
    tasks: Vec<Option<TaskRef>>,
    /// Tasks not finished, places held included (asyncio's `len(_tasks)`).
    unfinished: usize,
    failures: Vec<(TaskRef, TaskError)>,
    /// The parent, waiting for the last task (asyncio's `_on_completed_fut`).
    waker: Option<Waker>,
}

fn shared_of(sink: &SinkRc) -> &Shared {
    sink.as_any()
        .downcast_ref()
        .expect("a task group's sink is its own")
}

impl Shared {
    /// asyncio's `_abort`, under the lock: the tasks to cancel once it is let go.
    fn abort(st: &mut State) -> Vec<TaskRef> {
        st.aborting = true;
        st.tasks.iter().flatten().cloned().collect()
    }
}

/// Cancels what `abort` collected, outside the group's lock, in creation order.
fn cancel_all(tasks: Vec<TaskRef>) {
    for t in tasks {
        if !t.done() {
            t.cancel();
        }
    }
}

impl Sink for Shared {
    /// asyncio's `_on_task_done`, run through `call_soon` once task `index` has finished.
    fn deliver(&self, index: u32) {
        let Some(task) = self.state.lock().tasks[index as usize].clone() else {
            return;
        };
        // Read before the group's lock: the task's own locks are taken here.
        let failure = if task.cancelled() {
            None
        } else {
            task.exception().ok().flatten()
        };
        let mut report = None;
        let mut to_cancel = Vec::new();
        let mut cancel_parent = false;
        let woken = {
            let mut st = self.state.lock();
            st.tasks[index as usize] = None;
            st.unfinished -= 1;
            let woken = if st.unfinished == 0 {
                st.waker.take()
            } else {
                None
            };
            if let Some(error) = failure {
                trace::record(|| format!("task group: task {} failed", task.id()));
                st.failures.push((task.clone(), error.clone()));
                if st.abandoned || self.parent.done() {
                    report = Some(error);
                } else if !st.aborting && !st.parent_cancel_requested {
                    to_cancel = Shared::abort(&mut st);
                    st.parent_cancel_requested = true;
                    cancel_parent = true;
                }
            }
            woken
        };
        if let Some(w) = woken {
            crate::engine::contain::wake(w);
        }
        cancel_all(to_cancel);
        if cancel_parent {
            // The body stops at its await (asyncio: `self._parent_task.cancel()`).
            self.parent.cancel();
        }
        if let Some(error) = report {
            let panic = match error {
                TaskError::Panicked(p) => Some(p),
                _ => None,
            };
            incident::report(
                Incident::new(format!(
                    "Task {} has errored out but its parent task {} is already completed",
                    task.name(),
                    self.parent.name()
                ))
                .task_ref(Some(task.cell().clone()))
                .panic(panic),
            );
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl TaskGroup {
    /// Creates a task in the group (asyncio's `TaskGroup.create_task`): like
    /// [`create_task`](crate::create_task), and the group will wait for it, cancel it if another
    /// task fails, and count its panic as the group's failure.
    ///
    /// ```
    /// evloop::run(async {
    ///     let out = evloop::task_group(|g| async move {
    ///         let t = g.create_task(async { 40 + 2 });
    ///         Ok::<_, ()>(t.await.unwrap())
    ///     })
    ///     .await;
    ///     assert_eq!(out.unwrap(), 42);
    /// });
    /// ```
    ///
    /// # Panics
    /// When the group has finished or is shutting down (asyncio raises `RuntimeError`), or its
    /// loop is closed; [`TaskGroup::try_create_task`] returns these as [`GroupClosed`].
    #[track_caller]
    pub fn create_task<F>(&self, fut: F) -> Task<F::Output>
    where
        F: IntoFuture,
        F::IntoFuture: Send + 'static,
        F::Output: Send + 'static,
    {
        crate::error::or_panic(self.spawn(fut.into_future(), None, Location::caller()))
    }

    /// [`TaskGroup::create_task`] with a name (asyncio's `name=`).
    ///
    /// ```
    /// evloop::run(async {
    ///     evloop::task_group(|g| async move {
    ///         let t = g.create_task_named("fetch", async {});
    ///         assert_eq!(t.name(), "fetch");
    ///         Ok::<_, ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn create_task_named<F>(&self, name: impl Into<String>, fut: F) -> Task<F::Output>
    where
        F: IntoFuture,
        F::IntoFuture: Send + 'static,
        F::Output: Send + 'static,
    {
        let name = Some(name.into().into_boxed_str());
        crate::error::or_panic(self.spawn(fut.into_future(), name, Location::caller()))
    }

    /// [`TaskGroup::create_task`], returning [`GroupClosed`] instead of panicking.
    ///
    /// ```
    /// evloop::run(async {
    ///     let r = evloop::task_group(|g| async move {
    ///         g.create_task(async { panic!("boom") });
    ///         evloop::sleep(std::time::Duration::from_secs(1)).await; // cancelled by the failure
    ///         Ok::<_, ()>(())
    ///     });
    ///     assert!(r.await.is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn try_create_task<F>(&self, fut: F) -> Result<Task<F::Output>, GroupClosed>
    where
        F: IntoFuture,
        F::IntoFuture: Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn(fut.into_future(), None, Location::caller())
    }

    fn spawn<F>(
        &self,
        fut: F,
        name: Option<Box<str>>,
        at: &'static Location<'static>,
    ) -> Result<Task<F::Output>, GroupClosed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = shared_of(&self.sink);
        let orphan_bug = bug::enabled(Bug::TaskgroupOrphan);
        let index = {
            let mut st = shared.state.lock();
            if st.finished || (st.exiting && st.unfinished == 0) {
                return Err(GroupClosed::Finished);
            }
            if st.aborting {
                return Err(GroupClosed::ShuttingDown);
            }
            if orphan_bug {
                // Injected: no place held while the task is spawned; it is added afterwards
                // without looking at the group again.
                None
            } else {
                // The place is held, so the group cannot finish before the task joins it.
                st.tasks.push(None);
                st.unfinished += 1;
                Some(st.tasks.len() - 1)
            }
        };
        let cell = match Scheduler::spawn_cell(&shared.lp, fut, name, at) {
            Ok(cell) => cell,
            Err(e) => {
                let woken = {
                    let mut st = shared.state.lock();
                    match index {
                        // The place held stays empty: no task will finish there.
                        Some(_) => {
                            st.unfinished -= 1;
                            if st.unfinished == 0 {
                                st.waker.take()
                            } else {
                                None
                            }
                        }
                        None => None,
                    }
                };
                if let Some(w) = woken {
                    crate::engine::contain::wake(w);
                }
                debug_assert_eq!(e, LoopError::Closed);
                return Err(GroupClosed::LoopClosed);
            }
        };
        // The group reads every task's outcome (asyncio's `_on_task_done` calls `exception()`):
        // a panic is never "unretrieved" even when the caller dropped the handle (TASK-8).
        cell.done.lock().retrieved = true;
        let task = TaskRef::from_cell(cell.clone());
        let (index, aborting) = {
            let mut st = shared.state.lock();
            let i = match index {
                Some(i) => i,
                None => {
                    st.tasks.push(None);
                    st.unfinished += 1;
                    st.tasks.len() - 1
                }
            };
            st.tasks[i] = Some(task.clone());
            (i, st.aborting)
        };
        let index = u32::try_from(index).expect("more than 2^32 tasks in one task group");
        TaskCell::add_done_entry(&cell, DoneEntry::Gather(self.sink.clone(), index));
        if aborting {
            // The group began to abort while the task was spawned: it is cancelled like the
            // others.
            task.cancel();
        }
        Ok(Task::from_cell(cell))
    }
}

impl fmt::Debug for TaskGroup {
    /// asyncio's repr: `TaskGroup(tasks=2 errors=1 cancelling)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = shared_of(&self.sink).state.lock();
        let mut info = Vec::new();
        if st.unfinished > 0 {
            info.push(format!("tasks={}", st.unfinished));
        }
        if !st.failures.is_empty() {
            info.push(format!("errors={}", st.failures.len()));
        }
        if st.aborting {
            info.push("cancelling".to_owned());
        } else if !st.finished {
            info.push("entered".to_owned());
        }
        write!(f, "TaskGroup({})", info.join(" "))
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<F, Fut> {
        Start { body: Option<F> },
        Body { #[pin] fut: Fut },
        Exit,
        /// A cancellation is raised at this await: the next scope out takes it.
        Raising { cancelled: Cancelled },
        Done,
    }
}

/// How the body ended.
enum End<R, E> {
    Returned(Result<R, E>),
    Cancelled(Cancelled),
    Panicked(Box<dyn Any + Send>),
}

pin_project! {
    /// The future [`task_group`] returns: the group's body, then its wait for its tasks.
    #[must_use = "futures do nothing unless awaited"]
    pub struct TaskGroupScope<F, Fut, R, E> {
        #[pin]
        stage: Stage<F, Fut>,
        group: Option<TaskGroup>,
        end: Option<End<R, E>>,
        // A cancellation to raise at the end (asyncio's `propagate_cancellation_error`).
        propagate: Option<Cancelled>,
        // The group has suspended waiting for its tasks: a cancellation delivered now landed
        // at that await.
        waited: bool,
        at: &'static Location<'static>,
        _output: PhantomData<fn() -> (R, E)>,
    }

    impl<F, Fut, R, E> PinnedDrop for TaskGroupScope<F, Fut, R, E> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(g) = this.group.take() {
                let shared = shared_of(&g.sink);
                let to_cancel = {
                    let mut st = shared.state.lock();
                    if st.finished {
                        Vec::new()
                    } else {
                        st.abandoned = true;
                        Shared::abort(&mut st)
                    }
                };
                cancel_all(to_cancel);
            }
        }
    }
}

impl<F, Fut, R, E> Future for TaskGroupScope<F, Fut, R, E>
where
    F: FnOnce(TaskGroup) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    type Output = Result<R, GroupError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.stage.as_mut().project() {
                StageProj::Start { body } => {
                    // asyncio's `__aenter__`.
                    let (Some(lp), Some(parent)) = (
                        current::scheduler(),
                        crate::task::try_current_task().ok().flatten(),
                    ) else {
                        panic!(
                            "a task group was awaited outside a task (asyncio: RuntimeError: \
                             TaskGroup cannot determine the parent task): await it inside a \
                             task, e.g. in `evloop::run(...)`"
                        );
                    };
                    let group = TaskGroup {
                        sink: Arc::new(Box::new(Shared {
                            lp,
                            parent,
                            state: Mutex::new(State {
                                exiting: false,
                                aborting: false,
                                finished: false,
                                abandoned: false,
                                parent_cancel_requested: false,
                                tasks: Vec::new(),
                                unfinished: 0,
                                failures: Vec::new(),
                                waker: None,
                            }),
                        })),
                    };
                    *this.group = Some(group.clone());
                    let body = body.take().expect("a task group's body is called once");
                    let fut = body(group);
                    this.stage.set(Stage::Body { fut });
                }
                StageProj::Body { fut } => {
                    let polled = catch_unwind(AssertUnwindSafe(|| fut.poll(cx)));
                    let end = match polled {
                        Ok(Poll::Pending) => match cancel::take() {
                            // The body is dropped where it stopped, as by a catch scope
                            // (CANCEL-5), and the group's tasks are cancelled.
                            Some(c) => End::Cancelled(c),
                            None => return Poll::Pending,
                        },
                        Ok(Poll::Ready(out)) => End::Returned(out),
                        Err(payload) => End::Panicked(payload),
                    };
                    // The body's destructors run here, before the exit (asyncio: the body's
                    // `finally` blocks run before `__aexit__`).
                    this.stage.set(Stage::Exit);
                    let group = this.group.as_ref().expect("entered");
                    let shared = shared_of(&group.sink);
                    let to_cancel = {
                        let mut st = shared.state.lock();
                        st.exiting = true;
                        let failed = !matches!(end, End::Returned(Ok(_)));
                        if failed && !st.aborting {
                            Shared::abort(&mut st)
                        } else {
                            Vec::new()
                        }
                    };
                    cancel_all(to_cancel);
                    if let End::Cancelled(c) = &end {
                        *this.propagate = Some(c.clone());
                    }
                    *this.end = Some(end);
                }
                StageProj::Exit => {
                    let group = this.group.as_ref().expect("entered");
                    let shared = shared_of(&group.sink);
                    let unfinished = shared.state.lock().unfinished;
                    if cancel::in_flight() && (*this.waited || unfinished > 0) {
                        // Landed at the group's wait for its tasks (asyncio: `await
                        // self._on_completed_fut` raised CancelledError).
                        if let Some(c) = cancel::take() {
                            let to_cancel = {
                                let mut st = shared.state.lock();
                                if st.aborting {
                                    Vec::new()
                                } else {
                                    *this.propagate = Some(c.clone());
                                    Shared::abort(&mut st)
                                }
                            };
                            cancel_all(to_cancel);
                            drop(c);
                        }
                    }
                    // Cloned before the lock: a foreign waker's clone is user code (LOCK-1).
                    let waker = cx.waker().clone();
                    let (failures, parent_cancel_requested, stale) = {
                        let mut st = shared.state.lock();
                        if st.unfinished > 0 {
                            let stale = st.waker.replace(waker);
                            drop(st);
                            drop(stale);
                            *this.waited = true;
                            return Poll::Pending;
                        }
                        st.finished = true;
                        (
                            std::mem::take(&mut st.failures),
                            st.parent_cancel_requested,
                            st.waker.take(),
                        )
                    };
                    drop(stale);
                    drop(waker);
                    if parent_cancel_requested && shared.parent.uncancel() == 0 {
                        // Only the group's own request was there: not a cancellation to pass on.
                        *this.propagate = None;
                    }
                    let end = this.end.take().expect("the body has ended");
                    this.stage.set(Stage::Done);
                    *this.group = None;
                    let mut failures: Vec<GroupFailure<E>> = failures
                        .into_iter()
                        .map(|(task, error)| GroupFailure::Task { task, error })
                        .collect();
                    // asyncio's `__aexit__`, in its order.
                    let raised = match end {
                        // Like asyncio's base errors: the body's panic first, and on.
                        End::Panicked(payload) => resume_unwind(payload),
                        // A cancellation from outside, when nothing failed.
                        _ if this.propagate.is_some() && failures.is_empty() => {
                            this.propagate.take()
                        }
                        End::Returned(Err(e)) => {
                            failures.push(GroupFailure::Body(e));
                            None
                        }
                        End::Returned(Ok(r)) if failures.is_empty() => return Poll::Ready(Ok(r)),
                        End::Returned(Ok(_)) => None,
                        // With no failure to report, `__aexit__` returns None and the body's own
                        // CancelledError goes on.
                        End::Cancelled(c) if failures.is_empty() => Some(c),
                        End::Cancelled(_) => None,
                    };
                    if let Some(c) = raised {
                        this.stage.set(Stage::Raising { cancelled: c });
                        continue;
                    }
                    *this.propagate = None;
                    return Poll::Ready(Err(GroupError { failures }));
                }
                StageProj::Raising { cancelled } => {
                    cancel::raise(cancelled.message_arc());
                    return Poll::Pending;
                }
                StageProj::Done => panic!("a task group was polled after it completed"),
            }
        }
    }
}

impl<F, Fut, R, E> fmt::Debug for TaskGroupScope<F, Fut, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.group {
            Some(g) => fmt::Debug::fmt(g, f),
            None => f.write_str("TaskGroup(not entered)"),
        }
    }
}
