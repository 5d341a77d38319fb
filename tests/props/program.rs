//! The program language: a task body is a list of steps and an ending; proptest generates whole
//! programs (the main task's body) bounded in depth and size.
//!
//! Every body in the tree runs at most once, as one task, so a task is named by its place in the
//! tree: the main task is `m`, the task spawned by step `i` of task `L` is `L.i`, and child `j` of
//! the gather at step `i` is `L.i.j`. Traces use these labels, which is what lets the runtime, the
//! reference model and CPython be compared line by line. Both runtimes also give each task its
//! label as its name, which is what `CurrentTask` reports.
//!
//! Handles are scoped like variables: a body sees the handles its parent could see when it was
//! spawned (or gathered), then its own spawns, in that order. Handle `k` of a body is therefore
//! handle `k` of each body below it, and a task can be awaited, gathered and read by its spawner
//! and by any task spawned after it, concurrently (TASK-13). A task only ever waits on tasks
//! created inside its own subtree or on handles of earlier steps of its ancestors, so no program
//! can wait on itself.

use proptest::prelude::*;
use std::fmt::Write as _;

/// How a gather treats its children's failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `evloop::gather`: a panic or cancellation fails it at once; an `Err` is just a value.
    Plain,
    /// `evloop::gather_settled` / `return_exceptions=True`: every outcome in its place.
    Settled,
    /// `evloop::try_gather`: the first `Err`, panic or cancellation fails it at once.
    Fallible,
}

/// How a body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Return(u8),
    /// Returns `Err(tag)` (Python: raises `Fail(tag)`).
    Fail(u8),
    /// Panics (Python: raises `Panic(tag)`).
    Panic(u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Sleep(u8),
    /// `sleep(0)`: one trip through the ready queue.
    Yield,
    Spawn(Body),
    /// Awaits visible handle n (after [`normalize`]: a valid index), however many times it was
    /// awaited, gathered or read before, here or in other tasks (TASK-13).
    Await(usize),
    /// Cancels visible handle n (after [`normalize`]: only tasks whose body is cancellable).
    Cancel(usize),
    /// Gathers fresh bodies, each started as a task by the gather.
    Gather(Mode, Vec<Body>),
    /// Gathers existing tasks: visible handles, in this order, the same one possibly more than
    /// once (GATHER-8; after [`normalize`]: at least one valid index).
    GatherTasks(Mode, Vec<usize>),
    /// Reads visible handle n's outcome with `result()` and `exception()` (asyncio's
    /// `t.result()` / `t.exception()`; after [`normalize`]: only a task this body knows is done,
    /// because it awaited it, or gathered it in settled mode, at an earlier step).
    ReadResult(usize),
    /// Records the label of `current_task()` (asyncio: `current_task().get_name()`).
    CurrentTask,
    CallSoon(u8),
    Emit(u8),
    /// `to_thread(move || 2 * w)`, awaited.
    ToThread(u8),
    /// A `LoopFuture` resolved with `v` by another thread, awaited.
    ResolveFromThread(u8),
    /// Another thread resolves a `LoopFuture` with `v` while this task cancels it: exactly one of
    /// the two must win, and the awaited outcome must be the winner's (FUT-2).
    ResolveOrCancel(u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    pub steps: Vec<Step>,
    pub end: End,
}

impl End {
    /// The line a task records just before it ends, and how an awaiter sees it.
    pub fn describe(self) -> String {
        match self {
            End::Return(v) => format!("ok {v}"),
            End::Fail(t) => format!("err {t}"),
            End::Panic(t) => format!("panic {t}"),
        }
    }
}

impl Body {
    /// A body that can be the target of `Cancel`: it never waits on another task, a gather or a
    /// thread. Cancelling a task that awaits is where evloop and asyncio differ on purpose (asyncio
    /// cancels the awaited task too; evloop drops the handle, which does not cancel it — see
    /// specs/differences.md), so generated programs only cancel tasks whose difference cannot show.
    pub fn cancellable(&self) -> bool {
        self.steps.iter().all(|s| {
            !matches!(
                s,
                Step::Await(_)
                    | Step::Gather(..)
                    | Step::GatherTasks(..)
                    | Step::ToThread(_)
                    | Step::ResolveFromThread(_)
                    | Step::ResolveOrCancel(_)
            )
        })
    }

    pub fn has_cross_thread(&self) -> bool {
        self.steps.iter().any(|s| match s {
            Step::ToThread(_) | Step::ResolveFromThread(_) | Step::ResolveOrCancel(_) => true,
            Step::Spawn(b) => b.has_cross_thread(),
            Step::Gather(_, bs) => bs.iter().any(Body::has_cross_thread),
            _ => false,
        })
    }

    /// Number of bodies (tasks) in the tree.
    pub fn tasks(&self) -> usize {
        1 + self
            .steps
            .iter()
            .map(|s| match s {
                Step::Spawn(b) => b.tasks(),
                Step::Gather(_, bs) => bs.iter().map(Body::tasks).sum(),
                _ => 0,
            })
            .sum::<usize>()
    }
}

/// What [`normalize`] knows about a spawned task.
struct Spawned {
    cancellable: bool,
    /// Its body ends with `Fail`: which of the fail-fast gather modes of [`Step::GatherTasks`] it
    /// may appear in is fixed by the first one (see `normalize`).
    fails: bool,
    fail_fast_mode: Option<Mode>,
}

/// Makes handle indices meaningful: `Await`, `Cancel`, `GatherTasks` and `ReadResult` refer to a
/// visible handle (taken modulo the number visible), only cancellable bodies are cancelled, and
/// `ReadResult` only reads a task this body has awaited or settled-gathered before. Steps that
/// cannot be made meaningful are dropped.
///
/// One restriction comes from the translation, not from either runtime: in evloop `Fail` is a
/// value (`Ok(Err(tag))`), which a plain `gather` lists and `try_gather` fails on, while CPython
/// can only express both through one task that either returns `("err", tag)` or raises
/// `Fail(tag)`. So a spawned task ending with `Fail` is gathered (as an existing task) in plain or
/// in fallible mode, not both; the oracle makes it return or raise accordingly. Settled gathers,
/// awaits and reads see `err tag` either way.
pub fn normalize(body: Body) -> Body {
    normalize_in(body, &[], &mut Vec::new())
}

/// `inherited`: indices into `table` of the handles the body sees from its ancestors.
fn normalize_in(body: Body, inherited: &[usize], table: &mut Vec<Spawned>) -> Body {
    let mut visible = inherited.to_vec();
    // Whether this body knows handle k's task is done.
    let mut done = vec![false; visible.len()];
    let mut steps = Vec::new();
    for step in body.steps {
        match step {
            Step::Spawn(b) => {
                let b = normalize_in(b, &visible, table);
                table.push(Spawned {
                    cancellable: b.cancellable(),
                    fails: matches!(b.end, End::Fail(_)),
                    fail_fast_mode: None,
                });
                visible.push(table.len() - 1);
                done.push(false);
                steps.push(Step::Spawn(b));
            }
            Step::Gather(mode, bs) => {
                let bs = bs
                    .into_iter()
                    .map(|b| normalize_in(b, &visible, table))
                    .collect();
                steps.push(Step::Gather(mode, bs));
            }
            Step::Await(i) if !visible.is_empty() => {
                let i = i % visible.len();
                done[i] = true;
                steps.push(Step::Await(i));
            }
            Step::Cancel(i) if !visible.is_empty() => {
                let i = i % visible.len();
                if table[visible[i]].cancellable {
                    steps.push(Step::Cancel(i));
                }
            }
            Step::GatherTasks(mode, idx) if !visible.is_empty() => {
                let mut kept = Vec::new();
                for i in idx {
                    let i = i % visible.len();
                    let s = &mut table[visible[i]];
                    if s.fails && mode != Mode::Settled {
                        match s.fail_fast_mode {
                            Some(m) if m != mode => continue,
                            _ => s.fail_fast_mode = Some(mode),
                        }
                    }
                    kept.push(i);
                }
                if kept.is_empty() {
                    continue;
                }
                if mode == Mode::Settled {
                    for &i in &kept {
                        done[i] = true;
                    }
                }
                steps.push(Step::GatherTasks(mode, kept));
            }
            Step::ReadResult(i) if !visible.is_empty() => {
                let i = i % visible.len();
                if done[i] {
                    steps.push(Step::ReadResult(i));
                }
            }
            Step::Await(_) | Step::Cancel(_) | Step::GatherTasks(..) | Step::ReadResult(_) => {}
            other => steps.push(other),
        }
    }
    Body {
        steps,
        end: body.end,
    }
}

/// True when `body`, or a body below it, uses inherited handle `k` (one it sees from its
/// ancestors): to await, gather or read it through a typed handle. Handle `k` is handle `k` all
/// the way down, so the interpreter gives a child a typed handle only for what it uses.
pub fn uses_handle(body: &Body, k: usize) -> bool {
    body.steps.iter().any(|s| match s {
        Step::Await(h) | Step::ReadResult(h) => *h == k,
        Step::GatherTasks(_, idx) => idx.contains(&k),
        Step::Spawn(b) => uses_handle(b, k),
        Step::Gather(_, bs) => bs.iter().any(|b| uses_handle(b, k)),
        _ => false,
    })
}

fn end_strategy() -> impl Strategy<Value = End> {
    prop_oneof![
        6 => (0u8..10).prop_map(End::Return),
        2 => (0u8..10).prop_map(End::Fail),
        1 => (0u8..10).prop_map(End::Panic),
    ]
}

fn mode_strategy() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Plain), Just(Mode::Settled), Just(Mode::Fallible)]
}

fn leaf_step(cross_thread: bool) -> BoxedStrategy<Step> {
    let local = prop_oneof![
        // Small delays so that deadlines often coincide (equal deadlines fire in FIFO order).
        3 => (1u8..=4).prop_map(Step::Sleep),
        2 => Just(Step::Yield),
        1 => (0u8..10).prop_map(Step::CallSoon),
        3 => (0u8..10).prop_map(Step::Emit),
        1 => Just(Step::CurrentTask),
        // A leaf sees its ancestors' handles: awaiting one makes several tasks await one task.
        1 => (0usize..4).prop_map(Step::Await),
    ];
    if cross_thread {
        prop_oneof![
            9 => local,
            1 => (0u8..10).prop_map(Step::ToThread),
            1 => (0u8..10).prop_map(Step::ResolveFromThread),
            1 => (0u8..10).prop_map(Step::ResolveOrCancel),
        ]
        .boxed()
    } else {
        local.boxed()
    }
}

fn step_strategy(inner: BoxedStrategy<Body>, cross_thread: bool) -> BoxedStrategy<Step> {
    prop_oneof![
        4 => leaf_step(cross_thread),
        3 => inner.clone().prop_map(Step::Spawn),
        3 => (0usize..4).prop_map(Step::Await),
        2 => (0usize..4).prop_map(Step::Cancel),
        1 => (mode_strategy(), prop::collection::vec(inner, 0..4))
            .prop_map(|(m, bs)| Step::Gather(m, bs)),
        2 => (mode_strategy(), prop::collection::vec(0usize..4, 1..4))
            .prop_map(|(m, idx)| Step::GatherTasks(m, idx)),
        // Kept only after an await of the same handle: generated often so that enough survive.
        3 => (0usize..4).prop_map(Step::ReadResult),
    ]
    .boxed()
}

/// Bodies of tasks below the main one: up to 3 levels deep, at most 8 steps a body and 4
/// children a gather.
pub fn body_strategy(cross_thread: bool) -> BoxedStrategy<Body> {
    let leaf = (
        prop::collection::vec(leaf_step(cross_thread), 0..4),
        end_strategy(),
    )
        .prop_map(|(steps, end)| Body { steps, end });
    leaf.prop_recursive(3, 32, 4, move |inner| {
        (
            prop::collection::vec(step_strategy(inner, cross_thread), 0..8),
            end_strategy(),
        )
            .prop_map(|(steps, end)| Body { steps, end })
    })
    .boxed()
}

/// A whole program: the main task's body (2 to 9 steps, so there is always something going
/// on), normalized.
pub fn program(cross_thread: bool) -> impl Strategy<Value = Body> {
    (
        prop::collection::vec(
            step_strategy(body_strategy(cross_thread), cross_thread),
            2..10,
        ),
        end_strategy(),
    )
        .prop_map(|(steps, end)| normalize(Body { steps, end }))
}

/// The program as JSON, for the CPython oracle.
pub fn to_json(body: &Body) -> String {
    let mut s = String::new();
    write_body(&mut s, body);
    s
}

fn write_body(s: &mut String, body: &Body) {
    s.push_str("[[");
    for (i, step) in body.steps.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match step {
            Step::Sleep(ms) => write!(s, "[\"sleep\",{ms}]").unwrap(),
            Step::Yield => s.push_str("[\"yield\"]"),
            Step::Spawn(b) => {
                s.push_str("[\"spawn\",");
                write_body(s, b);
                s.push(']');
            }
            Step::Await(h) => write!(s, "[\"await\",{h}]").unwrap(),
            Step::Cancel(h) => write!(s, "[\"cancel\",{h}]").unwrap(),
            Step::GatherTasks(mode, idx) => {
                let idx: Vec<String> = idx.iter().map(usize::to_string).collect();
                write!(
                    s,
                    "[\"gathertasks\",\"{}\",[{}]]",
                    mode_name(*mode),
                    idx.join(",")
                )
                .unwrap();
            }
            Step::ReadResult(h) => write!(s, "[\"read\",{h}]").unwrap(),
            Step::CurrentTask => s.push_str("[\"current\"]"),
            Step::Gather(mode, bs) => {
                write!(s, "[\"gather\",\"{}\",[", mode_name(*mode)).unwrap();
                for (j, b) in bs.iter().enumerate() {
                    if j > 0 {
                        s.push(',');
                    }
                    write_body(s, b);
                }
                s.push_str("]]");
            }
            Step::CallSoon(t) => write!(s, "[\"soon\",{t}]").unwrap(),
            Step::Emit(t) => write!(s, "[\"emit\",{t}]").unwrap(),
            Step::ToThread(w) => write!(s, "[\"thread\",{w}]").unwrap(),
            Step::ResolveFromThread(v) => write!(s, "[\"resolve\",{v}]").unwrap(),
            Step::ResolveOrCancel(v) => write!(s, "[\"race\",{v}]").unwrap(),
        }
    }
    s.push_str("],");
    match body.end {
        End::Return(v) => write!(s, "[\"ret\",{v}]").unwrap(),
        End::Fail(t) => write!(s, "[\"fail\",{t}]").unwrap(),
        End::Panic(t) => write!(s, "[\"panic\",{t}]").unwrap(),
    }
    s.push(']');
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Plain => "plain",
        Mode::Settled => "settled",
        Mode::Fallible => "fallible",
    }
}

fn mode_of(v: Option<&Json>) -> Result<Mode, String> {
    Ok(match word(v)? {
        "plain" => Mode::Plain,
        "settled" => Mode::Settled,
        "fallible" => Mode::Fallible,
        other => return Err(format!("unknown gather mode {other}")),
    })
}

/// Parses what [`to_json`] wrote (for replaying a printed failing program).
pub fn from_json(text: &str) -> Result<Body, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing input at byte {}", p.i));
    }
    // Normalized as a whole: a nested body's indices depend on the handles it inherits.
    body_of(&v).map(normalize)
}

enum Json {
    Num(u64),
    Str(String),
    List(Vec<Json>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::List(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::List(items));
                        }
                        _ => return Err(format!("expected , or ] at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => {
                let start = self.i + 1;
                let len = self.s[start..]
                    .iter()
                    .position(|&c| c == b'"')
                    .ok_or("unterminated string")?;
                self.i = start + len + 1;
                Ok(Json::Str(
                    String::from_utf8_lossy(&self.s[start..start + len]).into_owned(),
                ))
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
                digits.parse().map(Json::Num).map_err(|e| e.to_string())
            }
            _ => Err(format!("unexpected input at byte {}", self.i)),
        }
    }
}

fn list(v: &Json) -> Result<&[Json], String> {
    match v {
        Json::List(items) => Ok(items),
        _ => Err("expected a list".into()),
    }
}

fn num<T: TryFrom<u64>>(v: Option<&Json>) -> Result<T, String> {
    match v {
        Some(Json::Num(n)) => T::try_from(*n).map_err(|_| format!("{n} is out of range")),
        _ => Err("expected a number".into()),
    }
}

fn word(v: Option<&Json>) -> Result<&str, String> {
    match v {
        Some(Json::Str(s)) => Ok(s),
        _ => Err("expected a string".into()),
    }
}

fn body_of(v: &Json) -> Result<Body, String> {
    let parts = list(v)?;
    let [steps, end] = parts else {
        return Err("a body is [steps, end]".into());
    };
    let end = list(end)?;
    let end = match word(end.first())? {
        "ret" => End::Return(num(end.get(1))?),
        "fail" => End::Fail(num(end.get(1))?),
        "panic" => End::Panic(num(end.get(1))?),
        other => return Err(format!("unknown ending {other}")),
    };
    let steps = list(steps)?
        .iter()
        .map(|s| {
            let s = list(s)?;
            Ok(match word(s.first())? {
                "sleep" => Step::Sleep(num(s.get(1))?),
                "yield" => Step::Yield,
                "spawn" => Step::Spawn(body_of(s.get(1).ok_or("spawn needs a body")?)?),
                "await" => Step::Await(num(s.get(1))?),
                "cancel" => Step::Cancel(num(s.get(1))?),
                "gathertasks" => {
                    let idx = list(s.get(2).ok_or("gathertasks needs handles")?)?
                        .iter()
                        .map(|i| num(Some(i)))
                        .collect::<Result<_, _>>()?;
                    Step::GatherTasks(mode_of(s.get(1))?, idx)
                }
                "read" => Step::ReadResult(num(s.get(1))?),
                "current" => Step::CurrentTask,
                "gather" => {
                    let mode = mode_of(s.get(1))?;
                    let bodies = list(s.get(2).ok_or("gather needs bodies")?)?
                        .iter()
                        .map(body_of)
                        .collect::<Result<_, _>>()?;
                    Step::Gather(mode, bodies)
                }
                "soon" => Step::CallSoon(num(s.get(1))?),
                "emit" => Step::Emit(num(s.get(1))?),
                "thread" => Step::ToThread(num(s.get(1))?),
                "resolve" => Step::ResolveFromThread(num(s.get(1))?),
                "race" => Step::ResolveOrCancel(num(s.get(1))?),
                other => return Err(format!("unknown step {other}")),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Body { steps, end })
}
