//! Runs a program on evloop and records what can be observed: emits, callbacks, what each await,
//! gather, `result()` read, `current_task()`, `cancel`, `cancelling()` and `uncancel()` returned,
//! each cancellation a scope caught, each task's end or cancellation, each with the loop's virtual
//! time (ms).

use super::program::{size, uses_handle, Body, End, Mode, Step, Target, Then};
use evloop::{catch_cancel, Awaitable, Cancelled, GatherError, TaskError, TaskRef};
use evloop_model::sync::atomic::{AtomicBool, Ordering};
use evloop_model::sync::{Arc, Mutex};
use std::collections::HashMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::time::Duration;

/// What a task's future returns: `Err(Failure::Tag(tag))` is `End::Fail`.
pub type Out = Result<i64, Failure>;
type BoxFut = Pin<Box<dyn Future<Output = Out> + Send>>;

/// The observable trace, one line per event: `<ms> <event>`, and last a `result ...` line.
#[derive(Default)]
pub struct Recorder {
    lines: Mutex<Vec<String>>,
    stopped: AtomicBool,
    /// The labels of tasks evloop names itself (a gather's children), by task id.
    labels: Mutex<HashMap<u64, String>>,
}

impl Recorder {
    /// Notes that task `id` runs the body labelled `label`; a second, different label for the
    /// same task is recorded as an error line.
    fn label_task(&self, id: u64, label: &str) {
        let other = {
            let mut labels = self.labels.lock();
            match labels.get(&id) {
                Some(known) if known != label => Some(known.clone()),
                Some(_) => None,
                None => {
                    labels.insert(id, label.to_owned());
                    None
                }
            }
        };
        if let Some(other) = other {
            self.push(format!("{label} is task {id}, which is also {other}"));
        }
    }

    /// The label of a task: its name, which is its label for every task the program creates
    /// itself, or the label noted for it (a gather's child).
    fn label_of(&self, t: &TaskRef) -> String {
        let name = t.name();
        if !name.starts_with("Task-") {
            return name;
        }
        let labels = self.labels.lock();
        match labels.get(&t.id()) {
            Some(l) => l.clone(),
            None => format!("unlabelled {name}"),
        }
    }

    pub fn push(&self, event: String) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let mut lines = self.lines.lock();
        // Read under the lock so that line order and clock readings agree (PROP-4).
        let ms = evloop::get_running_loop()
            .map(|lp| lp.now().as_millis())
            .unwrap_or(u128::MAX);
        lines.push(format!("{ms} {event}"));
    }

    /// Everything after the main task's run is teardown, which asyncio does differently (and
    /// lazily, by garbage collection): it is not part of the trace.
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    fn finish(&self, result: String) -> Vec<String> {
        let mut lines = std::mem::take(&mut *self.lines.lock());
        lines.push(result);
        lines
    }
}

/// Marks panics raised by programs, so the panic hook can keep them quiet.
pub const PANIC_PREFIX: &str = "prog-panic:";

/// Starts the message of a property test's own failure, which the hook must not collect into
/// another run's trace (tests run in parallel, and a failure message quotes a whole trace).
pub const VERDICT_PREFIX: &str = "property failed: ";

/// Panics that were not the program's own: the runtime catches a panicking callback and carries
/// on, so without this a panic inside the runtime would leave no trace. Only panics raised while a
/// program runs are collected, never a test's own failure after a run.
///
/// Under shuttle every simulated thread of a run lives on the test's OS thread, so the collector
/// is per OS thread and exact. On real threads the workers are other OS threads, so it is
/// process-wide: a panic during a concurrently running test may be reported by another one, which
/// is fine, since any such panic is a failure.
mod collector {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    static GLOBAL: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static RUNNING: AtomicUsize = AtomicUsize::new(0);

    std::thread_local! {
        static LOCAL: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }

    /// A program is running; dropping the guard returns the panics collected meanwhile.
    pub(super) struct Running(());

    pub(super) fn enter() -> Running {
        if evloop_model::IS_MODEL {
            LOCAL.with(|l| *l.borrow_mut() = Some(Vec::new()));
        } else {
            RUNNING.fetch_add(1, Ordering::SeqCst);
        }
        Running(())
    }

    impl Running {
        pub(super) fn finish(self) -> Vec<String> {
            if evloop_model::IS_MODEL {
                LOCAL.with(|l| l.borrow_mut().take()).unwrap_or_default()
            } else {
                std::mem::take(&mut *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()))
            }
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            if evloop_model::IS_MODEL {
                LOCAL.with(|l| l.borrow_mut().take());
            } else {
                RUNNING.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    pub(super) fn collect(panic: String) {
        if evloop_model::IS_MODEL {
            let _ = LOCAL.try_with(|l| {
                if let Ok(mut l) = l.try_borrow_mut() {
                    if let Some(l) = l.as_mut() {
                        l.push(panic);
                    }
                }
            });
        } else if RUNNING.load(Ordering::SeqCst) > 0 {
            GLOBAL.lock().unwrap_or_else(|e| e.into_inner()).push(panic);
        }
    }
}

/// Keeps the program's own panics out of the test output (they are expected and recorded); other
/// panics still print, and are collected for the trace.
pub fn quiet_program_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.starts_with(PANIC_PREFIX) && !msg.starts_with(VERDICT_PREFIX) {
                let at = info.location().map(|l| l.to_string()).unwrap_or_default();
                let msg: String = msg.chars().take(300).collect();
                collector::collect(format!("{msg} (at {at})"));
            }
            if !msg.starts_with(PANIC_PREFIX) {
                default(info);
            }
        }));
    });
}

fn panic_tag(msg: &str) -> String {
    msg.strip_prefix(PANIC_PREFIX).unwrap_or(msg).to_owned()
}

/// What a task returns when its body's ending is `Fail(tag)`, or when a cancellation escapes
/// from it as a value (CANCEL-8: the task then ends cancelled and this is never seen).
#[derive(Clone, Debug)]
pub enum Failure {
    Tag(u8),
    Escaped(Cancelled),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Tag(t) => write!(f, "{t}"),
            Failure::Escaped(c) => write!(f, "an escaped {}", describe_cancelled(c)),
        }
    }
}

/// `cancelled`, or `cancelled(<message>)`.
pub fn describe_cancelled(c: &Cancelled) -> String {
    match c.message() {
        Some(m) => format!("cancelled({m})"),
        None => "cancelled".to_owned(),
    }
}

fn describe_task(r: &Result<Out, TaskError>) -> String {
    match r {
        Ok(Ok(v)) => format!("ok {v}"),
        Ok(Err(Failure::Tag(t))) => format!("err {t}"),
        Ok(Err(f)) => format!("output {f}"),
        Err(e) => describe_error(e),
    }
}

fn describe_item(r: &Result<Out, TaskError>) -> String {
    match r {
        Ok(Ok(v)) => format!("{v}"),
        other => describe_task(other),
    }
}

fn describe_error(e: &TaskError) -> String {
    match e {
        TaskError::Panicked(p) => format!("panic {}", panic_tag(p.message())),
        TaskError::Cancelled(c) => describe_cancelled(c),
        other => format!("failed: {other}"),
    }
}

/// Which handle a body holds: the `k`th it inherited, or the one its step `serial` spawned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum HandleId {
    Inherited(usize),
    Spawned(usize),
}

/// A handle as a body holds it: the task's label, a typed handle while this body (or a body it
/// starts) still awaits, gathers or reads it, and an untyped one for `cancel`, `cancelling`,
/// `uncancel` and `exception`.
pub struct Handle {
    id: HandleId,
    label: String,
    task: Option<evloop::Task<Out>>,
    r: TaskRef,
}

impl Handle {
    /// The typed handle for one use: moved out at its last use in this body, so that the last
    /// reader of a task moves its outcome out, and cloned before (TASK-13).
    fn typed(&mut self, last_use: bool) -> evloop::Task<Out> {
        let t = if last_use {
            self.task.take()
        } else {
            self.task.clone()
        };
        t.expect("a body holds a typed handle until its last use")
    }
}

/// For each handle a body holds, the number (in program order, [`program::size`]) of the step
/// of its last typed use, by the body or a body it starts. Only a step that is that last use
/// moves the typed handle out; a scope cut short by a cancellation leaves it unused.
fn last_uses(body: &Body, inherited: usize) -> HashMap<HandleId, usize> {
    let mut last = HashMap::new();
    let mut visible: Vec<HandleId> = (0..inherited).map(HandleId::Inherited).collect();
    walk_uses(&body.steps, 0, &mut visible, &mut last);
    last
}

fn walk_uses(
    steps: &[Step],
    first: usize,
    visible: &mut Vec<HandleId>,
    last: &mut HashMap<HandleId, usize>,
) {
    let mut serial = first;
    for step in steps {
        match step {
            Step::Await(h) | Step::ReadResult(h) => {
                last.insert(visible[*h], serial);
            }
            Step::GatherTasks(_, idx) => {
                for &h in idx {
                    last.insert(visible[h], serial);
                }
            }
            Step::Spawn(b) => {
                for (k, id) in visible.iter().enumerate() {
                    if uses_handle(b, k) {
                        last.insert(*id, serial);
                    }
                }
                visible.push(HandleId::Spawned(serial));
            }
            Step::Gather(_, bs) => {
                for (k, id) in visible.iter().enumerate() {
                    if bs.iter().any(|b| uses_handle(b, k)) {
                        last.insert(*id, serial);
                    }
                }
            }
            Step::Catch(sc) => {
                let n = visible.len();
                walk_uses(&sc.body, serial + 1, visible, last);
                visible.truncate(n);
                walk_uses(&sc.handler, serial + 1 + size(&sc.body), visible, last);
                visible.truncate(n);
            }
            _ => {}
        }
        serial += size(std::slice::from_ref(step));
    }
}

/// The handles a body started here inherits: typed ones for those it uses, moved out of the
/// handle `last_here` says this is the last use of.
fn inherit(
    handles: &mut [Handle],
    body: &Body,
    last_here: impl Fn(usize, &Handle) -> bool,
) -> Vec<Handle> {
    handles
        .iter_mut()
        .enumerate()
        .map(|(k, h)| {
            let task = uses_handle(body, k).then(|| {
                let last = last_here(k, h);
                h.typed(last)
            });
            Handle {
                id: HandleId::Inherited(k),
                label: h.label.clone(),
                task,
                r: h.r.clone(),
            }
        })
        .collect()
}

/// Awaits a gather of `items` in `mode` and describes its outcome; `started` sees its children
/// before it is awaited.
async fn gather_line<A>(mode: Mode, items: Vec<A>, started: impl FnOnce(&[TaskRef])) -> String
where
    A: Awaitable<Output = Out>,
{
    match mode {
        Mode::Plain => {
            let g = evloop::gather(items);
            started(g.children());
            match g.await {
                Ok(vs) => {
                    let items: Vec<String> =
                        vs.into_iter().map(|v| describe_item(&Ok(v))).collect();
                    format!("gather ok [{}]", items.join(", "))
                }
                Err(e) => format!("gather fail {}", describe_error(&e)),
            }
        }
        Mode::Fallible => {
            let g = evloop::try_gather(items);
            started(g.children());
            match g.await {
                Ok(vs) => {
                    let items: Vec<String> = vs.into_iter().map(|v| v.to_string()).collect();
                    format!("gather ok [{}]", items.join(", "))
                }
                Err(GatherError::Failed {
                    error: Failure::Tag(t),
                    ..
                }) => format!("gather fail err {t}"),
                Err(GatherError::Task { error, .. }) => {
                    format!("gather fail {}", describe_error(&error))
                }
                Err(e) => format!("gather fail {e}"),
            }
        }
        Mode::Settled => {
            let g = evloop::gather_settled(items);
            started(g.children());
            let rs = g.await;
            let items: Vec<String> = rs.iter().map(describe_item).collect();
            format!("gather settled [{}]", items.join(", "))
        }
    }
}

/// `result()` and `exception()` of a finished task, through both kinds of handle: the outcome,
/// and what is wrong if the three readings disagree.
fn read_line(t: &evloop::Task<Out>, r: &TaskRef) -> String {
    let describe_exception = |e: Result<Option<TaskError>, evloop::InvalidStateError>| match e {
        Ok(None) => "none".to_owned(),
        Ok(Some(e)) => describe_error(&e),
        Err(e) => format!("{e:?}"),
    };
    let (outcome, want) = match t.result() {
        Ok(r) => {
            let want = match &r {
                Ok(_) => "none".to_owned(),
                Err(e) => describe_error(e),
            };
            (describe_task(&r), want)
        }
        Err(e) => (format!("result() gave {e:?}"), "?".to_owned()),
    };
    let (typed, untyped) = (
        describe_exception(t.exception()),
        describe_exception(r.exception()),
    );
    if typed == want && untyped == want {
        outcome
    } else {
        format!("{outcome}, but Task::exception() says {typed} and TaskRef::exception() {untyped}")
    }
}

/// How a list of steps ended.
enum Flow {
    /// It ran to its end: the steps after it run.
    Next,
    /// A scope's handler ended the task with this ending.
    Ended(End),
    /// A handler let its cancellation escape as a value (`Then::Escape`): the next scope out
    /// takes it, or it ends the task cancelled (CANCEL-8).
    Escaped(Cancelled),
}

/// What every step of one task needs.
struct Ctx {
    label: String,
    rec: Arc<Recorder>,
    lp: evloop::EventLoop,
    /// The task itself, for `Target::Me`.
    me: TaskRef,
    last: HashMap<HandleId, usize>,
}

type StepsFut<'a> = Pin<Box<dyn Future<Output = Flow> + Send + 'a>>;

/// Runs `steps`, the first of which is step number `first` of the task's body; a task spawned
/// by step `i` is labelled `<prefix><i>`.
fn run_steps<'a>(
    cx: &'a Ctx,
    steps: &'a [Step],
    prefix: String,
    first: usize,
    handles: &'a mut Vec<Handle>,
) -> StepsFut<'a> {
    Box::pin(async move {
        let label = &cx.label;
        let rec = &cx.rec;
        let mut serial = first;
        for (i, step) in steps.iter().enumerate() {
            let here = serial;
            serial += size(std::slice::from_ref(step));
            let is_last = |h: &Handle| cx.last.get(&h.id) == Some(&here);
            match step {
                Step::Sleep(ms) => {
                    let before = cx.lp.now();
                    evloop::sleep(Duration::from_millis((*ms).into())).await;
                    let after = cx.lp.now();
                    if after < before + Duration::from_millis((*ms).into()) {
                        rec.push(format!(
                            "{label} woke early: slept {:?} of {ms}ms",
                            after - before
                        ));
                    }
                }
                Step::Yield => evloop::sleep(Duration::ZERO).await,
                Step::Spawn(b) => {
                    let l = format!("{prefix}{i}");
                    let theirs = inherit(handles, b, |_, h| is_last(h));
                    let t = evloop::create_task_named(
                        l.clone(),
                        task_future(b.clone(), l.clone(), rec.clone(), theirs),
                    );
                    let r = t.task_ref();
                    handles.push(Handle {
                        id: HandleId::Spawned(here),
                        label: l,
                        task: Some(t),
                        r,
                    });
                }
                Step::Await(h) => {
                    let hd = &mut handles[*h];
                    let r = if is_last(hd) {
                        hd.typed(true).await
                    } else {
                        // Through a reference: the handle stays for later uses.
                        let t = hd.task.as_ref().expect("used later");
                        t.await
                    };
                    rec.push(format!(
                        "{label} await {} -> {}",
                        handles[*h].label,
                        describe_task(&r)
                    ));
                }
                Step::Cancel(t, msg) => {
                    let (who, r) = target(cx, handles, *t);
                    let asked = match msg {
                        Some(m) => r.cancel_with(format!("m{m}")),
                        None => r.cancel(),
                    };
                    let m = msg.map(|m| format!(" m{m}")).unwrap_or_default();
                    rec.push(format!("{label} cancel {who}{m} -> {asked}"));
                }
                Step::Cancelling(t) => {
                    let (who, r) = target(cx, handles, *t);
                    rec.push(format!("{label} cancelling {who} -> {}", r.cancelling()));
                }
                Step::Uncancel(t) => {
                    let (who, r) = target(cx, handles, *t);
                    rec.push(format!("{label} uncancel {who} -> {}", r.uncancel()));
                }
                Step::Catch(sc) => {
                    let n = handles.len();
                    let inner = run_steps(cx, &sc.body, format!("{prefix}{i}t"), here + 1, handles);
                    let caught = match catch_cancel(inner).await {
                        Ok(Flow::Next) => None,
                        Ok(Flow::Ended(e)) => return Flow::Ended(e),
                        // `raise` from a scope inside: this one takes it, as asyncio's would.
                        Ok(Flow::Escaped(c)) | Err(c) => Some(c),
                    };
                    handles.truncate(n);
                    if let Some(c) = caught {
                        rec.push(format!("{label} caught {}", describe_cancelled(&c)));
                        let first = here + 1 + size(&sc.body);
                        let handler =
                            run_steps(cx, &sc.handler, format!("{prefix}{i}h"), first, handles)
                                .await;
                        handles.truncate(n);
                        match (handler, sc.then) {
                            // Another cancellation left the handler, or it ended the task.
                            (flow @ (Flow::Ended(_) | Flow::Escaped(_)), _) => return flow,
                            (Flow::Next, Then::Resume) => drop(c),
                            (Flow::Next, Then::Raise) => return c.raise().await,
                            (Flow::Next, Then::Escape) => return Flow::Escaped(c),
                            (Flow::Next, Then::End(e)) => return Flow::Ended(e),
                        }
                    }
                }
                Step::Gather(mode, bodies) => {
                    let n = bodies.len();
                    // The last child that uses each handle gets the body's own typed handle.
                    let last_child: Vec<Option<usize>> = (0..handles.len())
                        .map(|k| bodies.iter().rposition(|b| uses_handle(b, k)))
                        .collect();
                    let mut children: Vec<BoxFut> = Vec::with_capacity(n);
                    let mut labels = Vec::with_capacity(n);
                    for (j, b) in bodies.iter().enumerate() {
                        let l = format!("{prefix}{i}.{j}");
                        let theirs =
                            inherit(handles, b, |k, h| is_last(h) && last_child[k] == Some(j));
                        children.push(task_future(b.clone(), l.clone(), rec.clone(), theirs));
                        labels.push(l);
                    }
                    let line = gather_line(*mode, children, |kids| {
                        for (k, l) in kids.iter().zip(&labels) {
                            rec.label_task(k.id(), l);
                        }
                    })
                    .await;
                    rec.push(format!("{label} {line}"));
                }
                Step::GatherTasks(mode, idx) => {
                    let tasks: Vec<evloop::Task<Out>> = idx
                        .iter()
                        .enumerate()
                        .map(|(p, &h)| {
                            let last_here = is_last(&handles[h]) && !idx[p + 1..].contains(&h);
                            handles[h].typed(last_here)
                        })
                        .collect();
                    let line = gather_line(*mode, tasks, |_| {}).await;
                    rec.push(format!("{label} {line}"));
                }
                Step::ReadResult(h) => {
                    let last = is_last(&handles[*h]);
                    let hd = &mut handles[*h];
                    let t = hd.task.as_ref().expect("read while still held");
                    let line = read_line(t, &hd.r);
                    if last {
                        hd.task = None;
                    }
                    rec.push(format!("{label} read {} -> {line}", hd.label));
                }
                Step::CurrentTask => {
                    let who = match evloop::current_task() {
                        Some(t) => rec.label_of(&t),
                        None => "none".to_owned(),
                    };
                    rec.push(format!("{label} current {who}"));
                }
                Step::CallSoon(tag) => {
                    let r = rec.clone();
                    let tag = *tag;
                    cx.lp.call_soon(move || r.push(format!("cb {tag}")));
                }
                Step::Emit(tag) => rec.push(format!("{label} emit {tag}")),
                Step::ToThread(w) => {
                    let w = *w;
                    let r = evloop::to_thread(move || 2 * i64::from(w)).await;
                    let d = match r {
                        Ok(v) => format!("ok {v}"),
                        Err(e) => describe_error(&e),
                    };
                    rec.push(format!("{label} thread -> {d}"));
                }
                Step::ResolveFromThread(v) => {
                    let v = *v;
                    let fut = evloop::LoopFuture::<i64>::new();
                    let resolver = fut.resolver();
                    let _detached = evloop_model::thread::spawn("resolver".into(), move || {
                        let _ = resolver.resolve(i64::from(v));
                    });
                    let d = match fut.await {
                        Ok(v) => format!("ok {v}"),
                        Err(_) => "failed".to_owned(),
                    };
                    rec.push(format!("{label} resolved -> {d}"));
                }
                Step::ResolveOrCancel(v) => {
                    let v = *v;
                    let fut = evloop::LoopFuture::<i64>::new();
                    let resolver = fut.resolver();
                    // The thread reports whether its resolve won through a second future.
                    let report = evloop::LoopFuture::<bool>::new();
                    let reporter = report.resolver();
                    let _detached = evloop_model::thread::spawn("racer".into(), move || {
                        let won = resolver.resolve(i64::from(v)).is_ok();
                        let _ = reporter.resolve(won);
                    });
                    let cancel_won = fut.cancel();
                    let seen = fut.await;
                    let resolve_won = report.await.unwrap_or(false);
                    let line = match (cancel_won, resolve_won, &seen) {
                        (true, false, Err(e)) if e.is_cancelled() => "one winner".to_owned(),
                        (false, true, Ok(x)) if *x == i64::from(v) => "one winner".to_owned(),
                        _ => format!(
                            "cancel won: {cancel_won}, resolve won: {resolve_won}, awaited: {:?}",
                            seen.map_err(|e| e.to_string())
                        ),
                    };
                    rec.push(format!("{label} race -> {line}"));
                }
            }
        }
        Flow::Next
    })
}

/// The label and untyped handle of a step's target.
fn target(cx: &Ctx, handles: &[Handle], t: Target) -> (String, TaskRef) {
    match t {
        Target::Me => (cx.label.clone(), cx.me.clone()),
        Target::Handle(h) => (handles[h].label.clone(), handles[h].r.clone()),
    }
}

/// The future of the task running `body`, which sees the handles `inherited` from its ancestors.
/// Its steps run inside a catch scope, which records the task's cancellation before raising it
/// on (asyncio: `except CancelledError: record; raise`).
pub fn task_future(
    body: Body,
    label: String,
    rec: Arc<Recorder>,
    inherited: Vec<Handle>,
) -> BoxFut {
    Box::pin(async move {
        let lp = evloop::get_running_loop().expect("tasks run on a loop");
        let me = evloop::current_task().expect("a body runs as a task");
        if me.name().starts_with("Task-") {
            rec.label_task(me.id(), &label);
        }
        let cx = Ctx {
            last: last_uses(&body, inherited.len()),
            label,
            rec,
            lp,
            me,
        };
        let mut handles = inherited;
        let prefix = format!("{}.", cx.label);
        let flow = catch_cancel(run_steps(&cx, &body.steps, prefix, 0, &mut handles)).await;
        drop(handles);
        let end = match flow {
            Ok(Flow::Next) => body.end,
            Ok(Flow::Ended(e)) => e,
            Ok(Flow::Escaped(c)) => {
                cx.rec
                    .push(format!("{} {}", cx.label, describe_cancelled(&c)));
                // Out of the task as its output: it ends cancelled (CANCEL-8).
                return Err(Failure::Escaped(c));
            }
            Err(c) => {
                cx.rec
                    .push(format!("{} {}", cx.label, describe_cancelled(&c)));
                return c.raise().await;
            }
        };
        cx.rec.push(format!("{} end {}", cx.label, end.describe()));
        match end {
            End::Return(v) => Ok(i64::from(v)),
            End::Fail(t) => Err(Failure::Tag(t)),
            End::Panic(t) => panic!("{PANIC_PREFIX}{t}"),
        }
    })
}

/// Runs `program` as the main task on a fresh virtual-time loop with `workers` workers and
/// returns the trace.
pub fn run(program: &Body, workers: usize) -> Vec<String> {
    quiet_program_panics();
    let rec = Arc::new(Recorder::default());
    let running = collector::enter();
    let lp = evloop::Builder::new()
        .virtual_time(true)
        .workers(workers)
        .build();
    // Named, so that `current_task()` in it reports its label: run as itself (TASK-14).
    let main = lp.create_task_named(
        "m",
        task_future(program.clone(), "m".into(), rec.clone(), vec![]),
    );
    let outcome = catch_unwind(AssertUnwindSafe(|| lp.try_run_until_complete(main)));
    rec.stop();
    lp.close();
    for p in running.finish() {
        rec.lines.lock().push(format!("- unexpected panic: {p}"));
    }
    let result = match outcome {
        Ok(Ok(Ok(v))) => format!("result ok {v}"),
        Ok(Ok(Err(f))) => format!("result err {f}"),
        Ok(Err(evloop::RunError::Deadlock(_))) => "result deadlock".to_owned(),
        Ok(Err(evloop::RunError::Cancelled(c))) => format!("result {}", describe_cancelled(&c)),
        Ok(Err(e)) => format!("result error {e}"),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            if msg.starts_with(PANIC_PREFIX) {
                format!("result panic {}", panic_tag(&msg))
            } else {
                format!("result runtime panic: {msg}")
            }
        }
    };
    rec.finish(result)
}
