//! Runs a program on evloop and records what can be observed: emits, callbacks, what each await,
//! gather, `result()` read and `current_task()` returned, each task's end or cancellation, each
//! with the loop's virtual time (ms).

use super::program::{uses_handle, Body, End, Mode, Step};
use evloop::{Awaitable, GatherError, TaskError, TaskRef};
use evloop_model::sync::atomic::{AtomicBool, Ordering};
use evloop_model::sync::{Arc, Mutex};
use std::collections::HashMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::time::Duration;

/// What a task's future returns: `Err(tag)` is `End::Fail`.
pub type Out = Result<i64, u8>;
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

fn describe_task(r: &Result<Out, TaskError>) -> String {
    match r {
        Ok(Ok(v)) => format!("ok {v}"),
        Ok(Err(t)) => format!("err {t}"),
        Err(TaskError::Panicked(p)) => format!("panic {}", panic_tag(p.message())),
        Err(_) => "cancelled".to_owned(),
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
        _ => "cancelled".to_owned(),
    }
}

/// Records "cancelled" if the task's future is dropped before it reached its end.
struct CancelGuard {
    rec: Arc<Recorder>,
    label: String,
    armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            self.rec.push(format!("{} cancelled", self.label));
        }
    }
}

/// A handle as a body holds it: the task's label, a typed handle while this body (or a body it
/// starts) still awaits, gathers or reads it, and an untyped one for `cancel` and `exception`.
pub struct Handle {
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

/// For each handle a body sees, the step of its last typed use, by the body or a body it starts.
fn last_uses(body: &Body, inherited: usize) -> Vec<Option<usize>> {
    let mut visible = inherited;
    let mut last = vec![None; inherited];
    for (i, step) in body.steps.iter().enumerate() {
        match step {
            Step::Await(h) | Step::ReadResult(h) => last[*h] = Some(i),
            Step::GatherTasks(_, idx) => idx.iter().for_each(|&h| last[h] = Some(i)),
            Step::Spawn(b) => {
                for (k, l) in last.iter_mut().enumerate().take(visible) {
                    if uses_handle(b, k) {
                        *l = Some(i);
                    }
                }
                visible += 1;
                last.push(None);
            }
            Step::Gather(_, bs) => {
                for (k, l) in last.iter_mut().enumerate().take(visible) {
                    if bs.iter().any(|b| uses_handle(b, k)) {
                        *l = Some(i);
                    }
                }
            }
            _ => {}
        }
    }
    last
}

/// The handles a body started at step `i` inherits: typed ones for those it uses.
fn inherit(handles: &mut [Handle], body: &Body, last_here: impl Fn(usize) -> bool) -> Vec<Handle> {
    handles
        .iter_mut()
        .enumerate()
        .map(|(k, h)| Handle {
            label: h.label.clone(),
            task: uses_handle(body, k).then(|| h.typed(last_here(k))),
            r: h.r.clone(),
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
                Err(GatherError::Failed { error, .. }) => format!("gather fail err {error}"),
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

/// The future of the task running `body`, which sees the handles `inherited` from its ancestors.
pub fn task_future(
    body: Body,
    label: String,
    rec: Arc<Recorder>,
    inherited: Vec<Handle>,
) -> BoxFut {
    Box::pin(async move {
        let mut guard = CancelGuard {
            rec: rec.clone(),
            label: label.clone(),
            armed: true,
        };
        let lp = evloop::get_running_loop().expect("tasks run on a loop");
        let me = evloop::current_task().expect("a body runs as a task");
        if me.name().starts_with("Task-") {
            rec.label_task(me.id(), &label);
        }
        drop(me);
        let last = last_uses(&body, inherited.len());
        let is_last = |h: usize, i: usize| last[h] == Some(i);
        let mut handles = inherited;
        for (i, step) in body.steps.into_iter().enumerate() {
            match step {
                Step::Sleep(ms) => {
                    let before = lp.now();
                    evloop::sleep(Duration::from_millis(ms.into())).await;
                    let after = lp.now();
                    if after < before + Duration::from_millis(ms.into()) {
                        rec.push(format!(
                            "{label} woke early: slept {:?} of {ms}ms",
                            after - before
                        ));
                    }
                }
                Step::Yield => evloop::sleep(Duration::ZERO).await,
                Step::Spawn(b) => {
                    let l = format!("{label}.{i}");
                    let theirs = inherit(&mut handles, &b, |k| is_last(k, i));
                    let t = evloop::create_task_named(
                        l.clone(),
                        task_future(b, l.clone(), rec.clone(), theirs),
                    );
                    let r = t.task_ref();
                    handles.push(Handle {
                        label: l,
                        task: Some(t),
                        r,
                    });
                }
                Step::Await(h) => {
                    let r = if is_last(h, i) {
                        handles[h].typed(true).await
                    } else {
                        // Through a reference: the handle stays for later uses.
                        let t = handles[h].task.as_ref().expect("used later");
                        t.await
                    };
                    rec.push(format!(
                        "{label} await {} -> {}",
                        handles[h].label,
                        describe_task(&r)
                    ));
                }
                Step::Cancel(h) => {
                    let asked = handles[h].r.cancel();
                    rec.push(format!("{label} cancel {} -> {asked}", handles[h].label));
                }
                Step::Gather(mode, bodies) => {
                    let n = bodies.len();
                    // The last child that uses each handle gets the body's own typed handle.
                    let last_child: Vec<Option<usize>> = (0..handles.len())
                        .map(|k| bodies.iter().rposition(|b| uses_handle(b, k)))
                        .collect();
                    let mut children: Vec<BoxFut> = Vec::with_capacity(n);
                    let mut labels = Vec::with_capacity(n);
                    for (j, b) in bodies.into_iter().enumerate() {
                        let l = format!("{label}.{i}.{j}");
                        let theirs = inherit(&mut handles, &b, |k| {
                            is_last(k, i) && last_child[k] == Some(j)
                        });
                        children.push(task_future(b, l.clone(), rec.clone(), theirs));
                        labels.push(l);
                    }
                    let line = gather_line(mode, children, |kids| {
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
                            let last_here = is_last(h, i) && !idx[p + 1..].contains(&h);
                            handles[h].typed(last_here)
                        })
                        .collect();
                    let line = gather_line(mode, tasks, |_| {}).await;
                    rec.push(format!("{label} {line}"));
                }
                Step::ReadResult(h) => {
                    let hd = &mut handles[h];
                    let t = hd.task.as_ref().expect("read while still held");
                    let line = read_line(t, &hd.r);
                    if is_last(h, i) {
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
                    lp.call_soon(move || r.push(format!("cb {tag}")));
                }
                Step::Emit(tag) => rec.push(format!("{label} emit {tag}")),
                Step::ToThread(w) => {
                    let r = evloop::to_thread(move || 2 * i64::from(w)).await;
                    let d = match r {
                        Ok(v) => format!("ok {v}"),
                        Err(e) => describe_error(&e),
                    };
                    rec.push(format!("{label} thread -> {d}"));
                }
                Step::ResolveFromThread(v) => {
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
        guard.armed = false;
        rec.push(format!("{label} end {}", body.end.describe()));
        match body.end {
            End::Return(v) => Ok(i64::from(v)),
            End::Fail(t) => Err(t),
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
        Ok(Ok(Err(t))) => format!("result err {t}"),
        Ok(Err(evloop::RunError::Deadlock(_))) => "result deadlock".to_owned(),
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
