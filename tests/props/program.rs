//! The program language: a task body is a list of steps and an ending; proptest generates whole
//! programs (the main task's body) bounded in depth and size.
//!
//! Every body in the tree runs at most once, as one task, so a task is named by its place in the
//! tree: the main task is `m`, the task spawned by step `i` of task `L` is `L.i`, and child `j` of
//! the gather at step `i` is `L.i.j`. Traces use these labels, which is what lets the runtime, the
//! reference model and CPython be compared line by line.

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
    /// Awaits the handle of the n-th `Spawn` of this body (after [`normalize`]: a valid index of a
    /// handle not awaited before).
    Await(usize),
    /// Cancels the n-th spawned task (after [`normalize`]: only tasks whose body is cancellable).
    Cancel(usize),
    Gather(Mode, Vec<Body>),
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

/// Makes handle indices meaningful: `Await`/`Cancel` refer to an earlier `Spawn` of the same body
/// (taken modulo the number of spawns so far), each handle is awaited at most once, and only
/// cancellable bodies are cancelled. Steps that cannot be made meaningful are dropped.
pub fn normalize(body: Body) -> Body {
    let mut spawned: Vec<(bool, bool)> = Vec::new(); // (cancellable, awaited)
    let mut steps = Vec::new();
    for step in body.steps {
        match step {
            Step::Spawn(b) => {
                let b = normalize(b);
                spawned.push((b.cancellable(), false));
                steps.push(Step::Spawn(b));
            }
            Step::Gather(mode, bs) => {
                steps.push(Step::Gather(mode, bs.into_iter().map(normalize).collect()));
            }
            Step::Await(i) => {
                if spawned.is_empty() {
                    continue;
                }
                let i = i % spawned.len();
                if spawned[i].1 {
                    continue;
                }
                spawned[i].1 = true;
                steps.push(Step::Await(i));
            }
            Step::Cancel(i) => {
                if spawned.is_empty() {
                    continue;
                }
                let i = i % spawned.len();
                if !spawned[i].0 {
                    continue;
                }
                steps.push(Step::Cancel(i));
            }
            other => steps.push(other),
        }
    }
    Body {
        steps,
        end: body.end,
    }
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
            Step::Gather(mode, bs) => {
                let m = match mode {
                    Mode::Plain => "plain",
                    Mode::Settled => "settled",
                    Mode::Fallible => "fallible",
                };
                write!(s, "[\"gather\",\"{m}\",[").unwrap();
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
    body_of(&v)
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
                "gather" => {
                    let mode = match word(s.get(1))? {
                        "plain" => Mode::Plain,
                        "settled" => Mode::Settled,
                        "fallible" => Mode::Fallible,
                        other => return Err(format!("unknown gather mode {other}")),
                    };
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
    Ok(normalize(Body { steps, end }))
}
