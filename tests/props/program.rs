//! The program language: a task body is a list of steps and an ending; proptest generates whole
//! programs (the main task's body) bounded in depth and size.
//!
//! Every body in the tree runs at most once, as one task, so a task is named by its place in the
//! tree: the main task is `m`, the task spawned by step `i` of task `L` is `L.i`, and child `j` of
//! the gather at step `i` is `L.i.j`. A step inside a catch scope is named by its path: step `k`
//! of the scope at step `i` is `it<k>` in the scope's body and `ih<k>` in its handler, so the
//! task spawned there is `L.2t0` or `L.2h1`. Traces use these labels, which is what lets the
//! runtime, the reference model and CPython be compared line by line. Both runtimes also give
//! each task its label as its name, which is what `CurrentTask` reports.
//!
//! Handles are scoped like variables: a body sees the handles its parent could see when it was
//! spawned (or gathered), then its own spawns, in that order; a scope's body and its handler each
//! see the handles visible at the scope, then their own spawns, which are gone after it. Handle
//! `k` of a body is therefore handle `k` of each body below it, and a task can be awaited,
//! gathered and read by its spawner and by any task spawned after it, concurrently (TASK-13). A
//! task only ever waits on tasks created inside its own subtree or on handles of earlier steps of
//! its ancestors, so no program can wait on itself.
//!
//! Programs come in two languages ([`Lang`]): the reference model's, where only tasks that never
//! wait are cancelled and nothing catches a cancellation ([`program`]), and cancellation as
//! asyncio has it (specs/cancellation.md), for the CPython differential ([`cancel_program`]):
//! any task may be cancelled, also while it waits on another task or a gather, and the
//! cancellation travels down what it awaits (CANCEL-6); a [`Step::Catch`] scope is
//! `try: … except CancelledError: …`.

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
    /// Cancels the target (asyncio's `task.cancel()`), with the message `m<tag>` if one is given
    /// (`cancel(msg)`).
    Cancel(Target, Option<u8>),
    /// Records the target's `cancelling()`.
    Cancelling(Target),
    /// Calls the target's `uncancel()` and records what it returns.
    Uncancel(Target),
    /// `try: <body> except CancelledError: <handler>`, then what [`Scope::then`] says.
    Catch(Scope),
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

/// A generated `Target::Handle(NEWEST)` names the newest visible handle (after [`normalize`]:
/// its index).
pub const NEWEST: usize = usize::MAX;

/// What a step acts on: a visible handle (after [`normalize`]: a valid index), or the task
/// running the step (asyncio's `current_task()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Me,
    Handle(usize),
}

/// How a catch scope's handler ends, once its steps have run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// The cancellation is swallowed: the task goes on after the scope.
    Resume,
    /// Bare `raise`: the next scope out takes it, or the task ends cancelled. evloop:
    /// `Cancelled::raise`.
    Raise,
    /// Also `raise` in asyncio. evloop: the `Cancelled` is returned as a value up to the next
    /// scope out, or out of the task (`?` into its output), which ends it cancelled (CANCEL-8).
    Escape,
    /// The task ends at once with this ending: a fallback value, or a different failure.
    End(End),
}

/// A catch scope: asyncio's `try: … except CancelledError as c: …`, evloop's `catch_cancel`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub body: Vec<Step>,
    /// The handler's steps, run when the scope takes a cancellation: cleanup that may await.
    pub handler: Vec<Step>,
    pub then: Then,
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
    pub fn has_cross_thread(&self) -> bool {
        any_step(&self.steps, &mut |s| match s {
            Step::ToThread(_) | Step::ResolveFromThread(_) | Step::ResolveOrCancel(_) => true,
            Step::Spawn(b) => b.has_cross_thread(),
            Step::Gather(_, bs) => bs.iter().any(Body::has_cross_thread),
            _ => false,
        })
    }

    /// Number of bodies (tasks) in the tree.
    pub fn tasks(&self) -> usize {
        fn count(steps: &[Step]) -> usize {
            steps
                .iter()
                .map(|s| match s {
                    Step::Spawn(b) => b.tasks(),
                    Step::Gather(_, bs) => bs.iter().map(Body::tasks).sum(),
                    Step::Catch(sc) => count(&sc.body) + count(&sc.handler),
                    _ => 0,
                })
                .sum()
        }
        1 + count(&self.steps)
    }

    /// True when the program is written in the model's language ([`Lang::cancel`] off): no
    /// catch scope, `cancelling()`, `uncancel()`, message or self-cancel, and only tasks that
    /// never wait are cancelled. The reference model and the every-schedule properties check
    /// only such programs.
    pub fn in_model_language(&self) -> bool {
        fn walk(steps: &[Step]) -> bool {
            steps.iter().all(|s| match s {
                Step::Catch(_) | Step::Cancelling(_) | Step::Uncancel(_) => false,
                Step::Cancel(t, m) => *t != Target::Me && m.is_none(),
                Step::Spawn(b) => walk(&b.steps),
                Step::Gather(_, bs) => bs.iter().all(|b| walk(&b.steps)),
                _ => true,
            })
        }
        walk(&self.steps) && only_idle_targets(self.clone()) == *self
    }

    /// Every ending the task may reach on its own: its body's, and each scope's `Then::End`.
    pub fn ends(&self) -> Vec<End> {
        let mut ends = vec![self.end];
        any_step(&self.steps, &mut |s| {
            if let Step::Catch(Scope {
                then: Then::End(e), ..
            }) = s
            {
                ends.push(*e);
            }
            false
        });
        ends
    }
}

/// True when `f` holds for a step of `steps`, looking inside catch scopes (not into the bodies
/// of other tasks).
pub fn any_step(steps: &[Step], f: &mut dyn FnMut(&Step) -> bool) -> bool {
    steps.iter().any(|s| {
        f(s) || match s {
            Step::Catch(sc) => any_step(&sc.body, f) || any_step(&sc.handler, f),
            _ => false,
        }
    })
}

/// How many steps `steps` holds, counting the steps inside catch scopes: a step's number in
/// its task's body, in program order (pre-order), is what the interpreter tracks handles by.
pub fn size(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| match s {
            Step::Catch(sc) => 1 + size(&sc.body) + size(&sc.handler),
            _ => 1,
        })
        .sum()
}

/// What [`normalize`] knows about a spawned task.
struct Spawned {
    /// Its body may end with `Fail`: which of the fail-fast gather modes of [`Step::GatherTasks`]
    /// it may appear in is fixed by the first one (see `normalize`).
    fails: bool,
    fail_fast_mode: Option<Mode>,
}

/// Makes handle indices meaningful: `Await`, `GatherTasks`, `ReadResult` and a `Target::Handle`
/// refer to a visible handle (taken modulo the number visible), and `ReadResult` only reads a
/// task this body knows is done: one it awaited or settled-gathered at an earlier step of the
/// same scope body or handler, or before the scope (a cancellation may cut a scope's body short,
/// so what it awaited is not known done after it). Steps that cannot be made meaningful are
/// dropped.
///
/// One restriction comes from the translation, not from either runtime: in evloop `Fail` is a
/// value (`Ok(Err(tag))`), which a plain `gather` lists and `try_gather` fails on, while CPython
/// can only express both through one task that either returns `("err", tag)` or raises
/// `Fail(tag)`. So a spawned task that may end with `Fail` is gathered (as an existing task) in
/// plain or in fallible mode, not both; the oracle makes it return or raise accordingly. Settled
/// gathers, awaits and reads see `err tag` either way.
///
pub fn normalize(body: Body) -> Body {
    normalize_in(body, &[], &mut Vec::new())
}

/// Calls `f` on every step of the program, in every task and scope, in program order.
fn any_step_mut(body: &mut Body, f: &mut dyn FnMut(&mut Step)) {
    fn walk(steps: &mut [Step], f: &mut dyn FnMut(&mut Step)) {
        for s in steps {
            f(s);
            match s {
                Step::Spawn(b) => walk(&mut b.steps, f),
                Step::Gather(_, bs) => bs.iter_mut().for_each(|b| walk(&mut b.steps, f)),
                Step::Catch(sc) => {
                    walk(&mut sc.body, f);
                    walk(&mut sc.handler, f);
                }
                _ => {}
            }
        }
    }
    walk(&mut body.steps, f);
}

/// `inherited`: indices into `table` of the handles the body sees from its ancestors.
fn normalize_in(body: Body, inherited: &[usize], table: &mut Vec<Spawned>) -> Body {
    let mut visible = inherited.to_vec();
    // Whether this body knows handle k's task is done.
    let mut done = vec![false; visible.len()];
    let steps = normalize_steps(body.steps, &mut visible, &mut done, table);
    Body {
        steps,
        end: body.end,
    }
}

fn normalize_steps(
    input: Vec<Step>,
    visible: &mut Vec<usize>,
    done: &mut Vec<bool>,
    table: &mut Vec<Spawned>,
) -> Vec<Step> {
    let target = |t: Target, visible: &[usize]| match t {
        Target::Me => Some(Target::Me),
        Target::Handle(_) if visible.is_empty() => None,
        Target::Handle(NEWEST) => Some(Target::Handle(visible.len() - 1)),
        Target::Handle(i) => Some(Target::Handle(i % visible.len())),
    };
    let mut steps = Vec::new();
    for step in input {
        match step {
            Step::Spawn(b) => {
                let b = normalize_in(b, visible, table);
                table.push(Spawned {
                    fails: b.ends().iter().any(|e| matches!(e, End::Fail(_))),
                    fail_fast_mode: None,
                });
                visible.push(table.len() - 1);
                done.push(false);
                steps.push(Step::Spawn(b));
            }
            Step::Gather(mode, bs) => {
                let bs = bs
                    .into_iter()
                    .map(|b| normalize_in(b, visible, table))
                    .collect();
                steps.push(Step::Gather(mode, bs));
            }
            Step::Catch(sc) => {
                // Each part sees what is visible here, and its own spawns only inside it.
                let (mut v, mut d) = (visible.clone(), done.clone());
                let body = normalize_steps(sc.body, &mut v, &mut d, table);
                let (mut v, mut d) = (visible.clone(), done.clone());
                let handler = normalize_steps(sc.handler, &mut v, &mut d, table);
                steps.push(Step::Catch(Scope {
                    body,
                    handler,
                    then: sc.then,
                }));
            }
            Step::Await(i) if !visible.is_empty() => {
                let i = i % visible.len();
                done[i] = true;
                steps.push(Step::Await(i));
            }
            Step::Cancel(t, msg) => {
                if let Some(t) = target(t, visible) {
                    steps.push(Step::Cancel(t, msg));
                }
            }
            Step::Cancelling(t) => {
                if let Some(t) = target(t, visible) {
                    steps.push(Step::Cancelling(t));
                }
            }
            Step::Uncancel(t) => {
                if let Some(t) = target(t, visible) {
                    steps.push(Step::Uncancel(t));
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
            Step::Await(_) | Step::GatherTasks(..) | Step::ReadResult(_) => {}
            other => steps.push(other),
        }
    }
    steps
}

/// The model's language cancels only tasks that never wait on a task, a gather or a thread:
/// the model drops a cancelled task's future at its next step (TASK-7) and knows nothing of a
/// cancellation travelling down what a task awaits (CANCEL-6). Drops the other `Cancel` steps.
fn only_idle_targets(body: Body) -> Body {
    fn idle(b: &Body) -> bool {
        !any_step(&b.steps, &mut |s| {
            matches!(
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
    fn walk(steps: Vec<Step>, visible: &mut Vec<bool>) -> Vec<Step> {
        let mut out = Vec::new();
        for step in steps {
            match step {
                Step::Spawn(b) => {
                    let b = in_body(b, visible.clone());
                    visible.push(idle(&b));
                    out.push(Step::Spawn(b));
                }
                Step::Gather(mode, bs) => {
                    let bs = bs
                        .into_iter()
                        .map(|b| in_body(b, visible.clone()))
                        .collect();
                    out.push(Step::Gather(mode, bs));
                }
                Step::Catch(sc) => {
                    let body = walk(sc.body, &mut visible.clone());
                    let handler = walk(sc.handler, &mut visible.clone());
                    out.push(Step::Catch(Scope {
                        body,
                        handler,
                        then: sc.then,
                    }));
                }
                Step::Cancel(Target::Handle(h), _) if !visible[h] => {}
                other => out.push(other),
            }
        }
        out
    }
    fn in_body(b: Body, mut visible: Vec<bool>) -> Body {
        Body {
            steps: walk(b.steps, &mut visible),
            end: b.end,
        }
    }
    in_body(body, Vec::new())
}

/// True when `body`, or a body below it, uses inherited handle `k` (one it sees from its
/// ancestors): to await, gather or read it through a typed handle. Handle `k` is handle `k` all
/// the way down, so the interpreter gives a child a typed handle only for what it uses.
pub fn uses_handle(body: &Body, k: usize) -> bool {
    steps_use_handle(&body.steps, k)
}

/// [`uses_handle`] for a list of steps (handle `k` is visible in all of them).
pub fn steps_use_handle(steps: &[Step], k: usize) -> bool {
    any_step(steps, &mut |s| match s {
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

fn target_strategy() -> impl Strategy<Value = Target> {
    prop_oneof![
        5 => (0usize..4).prop_map(Target::Handle),
        1 => Just(Target::Me),
    ]
}

fn message_strategy() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![Just(None), (0u8..10).prop_map(Some)]
}

fn then_strategy() -> impl Strategy<Value = Then> {
    prop_oneof![
        3 => Just(Then::Resume),
        2 => Just(Then::Raise),
        2 => Just(Then::Escape),
        3 => end_strategy().prop_map(Then::End),
    ]
}

/// A catch scope: a body of `body_step`s, a handler of `handler_step`s (cleanup that awaits),
/// and how the handler ends.
fn scope_strategy(
    body_step: BoxedStrategy<Step>,
    handler_step: BoxedStrategy<Step>,
) -> BoxedStrategy<Step> {
    (
        prop::collection::vec(body_step, 1..4),
        prop::collection::vec(handler_step, 0..3),
        then_strategy(),
    )
        .prop_map(|(body, handler, then)| {
            Step::Catch(Scope {
                body,
                handler,
                then,
            })
        })
        .boxed()
}

/// Which language a generated program is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lang {
    /// Steps that involve another thread (`ToThread`, `ResolveFromThread`, `ResolveOrCancel`).
    pub cross_thread: bool,
    /// Cancellation as asyncio has it (specs/cancellation.md): catch scopes, any task cancelled
    /// (also one waiting on a task or a gather), messages, `Target::Me`, `cancelling()` and
    /// `uncancel()`. Without it, only tasks that never wait are cancelled, without a message, and
    /// no task catches: the language of the reference model (PROP-1) and of the every-schedule
    /// properties (PROP-3), which know nothing more.
    pub cancel: bool,
}

/// Steps that start no task and open no scope.
fn simple_step(lang: Lang) -> BoxedStrategy<Step> {
    let local = if lang.cancel {
        prop_oneof![
            // Small delays so that deadlines often coincide (equal deadlines fire in FIFO order).
            3 => (1u8..=4).prop_map(Step::Sleep),
            2 => Just(Step::Yield),
            1 => (0u8..10).prop_map(Step::CallSoon),
            3 => (0u8..10).prop_map(Step::Emit),
            1 => Just(Step::CurrentTask),
            // A leaf sees its ancestors' handles: awaiting one makes several tasks await one.
            1 => (0usize..4).prop_map(Step::Await),
            1 => target_strategy().prop_map(Step::Cancelling),
            1 => target_strategy().prop_map(Step::Uncancel),
        ]
        .boxed()
    } else {
        prop_oneof![
            3 => (1u8..=4).prop_map(Step::Sleep),
            2 => Just(Step::Yield),
            1 => (0u8..10).prop_map(Step::CallSoon),
            3 => (0u8..10).prop_map(Step::Emit),
            1 => Just(Step::CurrentTask),
            1 => (0usize..4).prop_map(Step::Await),
        ]
        .boxed()
    };
    if lang.cross_thread {
        prop_oneof![
            9 => local,
            1 => (0u8..10).prop_map(Step::ToThread),
            1 => (0u8..10).prop_map(Step::ResolveFromThread),
            1 => (0u8..10).prop_map(Step::ResolveOrCancel),
        ]
        .boxed()
    } else {
        local
    }
}

/// The steps of the innermost bodies: simple steps, and (with cancellation) scopes of them.
fn leaf_step(lang: Lang) -> BoxedStrategy<Step> {
    let simple = simple_step(lang);
    if !lang.cancel {
        return simple;
    }
    prop_oneof![
        3 => simple.clone(),
        1 => scope_strategy(simple.clone(), simple),
    ]
    .boxed()
}

fn step_strategy(inner: BoxedStrategy<Body>, lang: Lang) -> BoxedStrategy<Step> {
    let cancel = if lang.cancel {
        (target_strategy(), message_strategy())
            .prop_map(|(t, m)| Step::Cancel(t, m))
            .boxed()
    } else {
        (0usize..4)
            .prop_map(|h| Step::Cancel(Target::Handle(h), None))
            .boxed()
    };
    let plain = prop_oneof![
        4 => leaf_step(lang),
        3 => inner.clone().prop_map(Step::Spawn),
        3 => (0usize..4).prop_map(Step::Await),
        2 => cancel,
        1 => (mode_strategy(), prop::collection::vec(inner, 0..4))
            .prop_map(|(m, bs)| Step::Gather(m, bs)),
        2 => (mode_strategy(), prop::collection::vec(0usize..4, 1..4))
            .prop_map(|(m, idx)| Step::GatherTasks(m, idx)),
        // Kept only after an await of the same handle: generated often so that enough survive.
        3 => (0usize..4).prop_map(Step::ReadResult),
    ]
    .boxed();
    if !lang.cancel {
        return plain;
    }
    // A scope around any of these, or around a scope of leaf steps (nested scopes).
    let scoped_body = prop_oneof![4 => plain.clone(), 1 => leaf_step(lang)].boxed();
    prop_oneof![
        6 => plain,
        2 => scope_strategy(scoped_body, leaf_step(lang)),
    ]
    .boxed()
}

/// Bodies of tasks below the main one: up to 3 levels deep, at most 8 steps (or cancel groups)
/// a body and 4 children a gather.
pub fn body_strategy(lang: Lang) -> BoxedStrategy<Body> {
    let leaf = (prop::collection::vec(leaf_step(lang), 0..4), end_strategy())
        .prop_map(|(steps, end)| Body { steps, end });
    leaf.prop_recursive(3, 32, 4, move |inner| {
        (
            step_list(
                step_strategy(inner.clone(), lang),
                victim_group(inner, lang),
                lang,
                0..8,
            ),
            end_strategy(),
        )
            .prop_map(|(steps, end)| Body { steps, end })
    })
    .boxed()
}

/// A cancellation after a pause, so that the target has often started and is suspended
/// somewhere (a cancel right after a spawn lands before the task's first step), and sometimes
/// a second request at once, with its own message.
fn cancel_after_pause(t: Target) -> BoxedStrategy<Vec<Step>> {
    (
        prop_oneof![(1u8..=4).prop_map(Step::Sleep), Just(Step::Yield)],
        message_strategy(),
        prop::option::weighted(0.25, message_strategy()),
    )
        .prop_map(move |(pause, m, again)| {
            let mut steps = vec![pause, Step::Cancel(t, m)];
            if let Some(m2) = again {
                steps.push(Step::Cancel(t, m2));
            }
            steps
        })
        .boxed()
}

/// Cancels an existing task after a pause.
fn cancel_group() -> BoxedStrategy<Vec<Step>> {
    target_strategy().prop_flat_map(cancel_after_pause).boxed()
}

/// Spawns a task that waits inside catch scopes (on a sleep, another task, a gather), then
/// cancels it after a pause: the shapes of specs/cancellation.md, generated often.
fn victim_group(inner: BoxedStrategy<Body>, lang: Lang) -> BoxedStrategy<Vec<Step>> {
    let waits = prop_oneof![
        3 => simple_step(lang),
        2 => (0usize..4).prop_map(Step::Await),
        1 => (mode_strategy(), prop::collection::vec(inner, 1..3))
            .prop_map(|(m, bs)| Step::Gather(m, bs)),
        1 => (mode_strategy(), prop::collection::vec(0usize..4, 1..3))
            .prop_map(|(m, idx)| Step::GatherTasks(m, idx)),
    ]
    .boxed();
    let nested = scope_strategy(waits.clone(), leaf_step(lang));
    let scoped = scope_strategy(
        prop_oneof![4 => waits, 1 => nested].boxed(),
        leaf_step(lang),
    );
    let body = (
        prop::collection::vec(prop_oneof![3 => scoped, 1 => leaf_step(lang)], 1..3),
        end_strategy(),
    )
        .prop_map(|(steps, end)| Body { steps, end });
    (body, cancel_after_pause(Target::Handle(NEWEST)))
        .prop_map(|(b, cancel)| {
            let mut steps = vec![Step::Spawn(b)];
            steps.extend(cancel);
            steps
        })
        .boxed()
}

/// A body's steps: `len` single steps, or (with cancellation) cancel groups.
fn step_list(
    step: BoxedStrategy<Step>,
    victims: BoxedStrategy<Vec<Step>>,
    lang: Lang,
    len: std::ops::Range<usize>,
) -> BoxedStrategy<Vec<Step>> {
    if !lang.cancel {
        return prop::collection::vec(step, len).boxed();
    }
    let group = prop_oneof![
        8 => step.prop_map(|s| vec![s]),
        1 => cancel_group(),
        2 => victims,
    ];
    prop::collection::vec(group, len)
        .prop_map(|groups| groups.concat())
        .boxed()
}

/// A whole program in the model's language (no catch scopes; only tasks that never wait are
/// cancelled): the main task's body (2 to 9 steps, so there is always something going on),
/// normalized.
pub fn program(cross_thread: bool) -> BoxedStrategy<Body> {
    program_in(Lang {
        cross_thread,
        cancel: false,
    })
}

/// A whole program using cancellation as asyncio has it ([`Lang::cancel`]), for the CPython
/// differential (PROP-5, PROP-10): the main task's body (2 to 9 steps or cancel groups).
pub fn cancel_program() -> BoxedStrategy<Body> {
    program_in(Lang {
        cross_thread: false,
        cancel: true,
    })
}

fn program_in(lang: Lang) -> BoxedStrategy<Body> {
    let inner = body_strategy(lang);
    (
        step_list(
            step_strategy(inner.clone(), lang),
            victim_group(inner, lang),
            lang,
            2..10,
        ),
        end_strategy(),
    )
        .prop_map(move |(steps, end)| {
            let body = normalize(Body { steps, end });
            if lang.cancel {
                body
            } else {
                only_idle_targets(body)
            }
        })
        .boxed()
}

/// The program as JSON, for the CPython oracle.
pub fn to_json(body: &Body) -> String {
    let mut s = String::new();
    write_body(&mut s, body);
    s
}

fn write_body(s: &mut String, body: &Body) {
    s.push('[');
    write_steps(s, &body.steps);
    s.push(',');
    write_end(s, body.end);
    s.push(']');
}

fn write_end(s: &mut String, end: End) {
    match end {
        End::Return(v) => write!(s, "[\"ret\",{v}]").unwrap(),
        End::Fail(t) => write!(s, "[\"fail\",{t}]").unwrap(),
        End::Panic(t) => write!(s, "[\"panic\",{t}]").unwrap(),
    }
}

fn write_target(s: &mut String, t: Target) {
    match t {
        Target::Me => s.push_str("\"me\""),
        Target::Handle(h) => write!(s, "{h}").unwrap(),
    }
}

fn write_steps(s: &mut String, steps: &[Step]) {
    s.push('[');
    for (i, step) in steps.iter().enumerate() {
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
            Step::Cancel(t, msg) => {
                s.push_str("[\"cancel\",");
                write_target(s, *t);
                if let Some(m) = msg {
                    write!(s, ",{m}").unwrap();
                }
                s.push(']');
            }
            Step::Cancelling(t) | Step::Uncancel(t) => {
                let verb = if matches!(step, Step::Cancelling(_)) {
                    "cancelling"
                } else {
                    "uncancel"
                };
                write!(s, "[\"{verb}\",").unwrap();
                write_target(s, *t);
                s.push(']');
            }
            Step::Catch(sc) => {
                s.push_str("[\"catch\",");
                write_steps(s, &sc.body);
                s.push(',');
                write_steps(s, &sc.handler);
                s.push(',');
                match sc.then {
                    Then::Resume => s.push_str("[\"resume\"]"),
                    Then::Raise => s.push_str("[\"raise\"]"),
                    Then::Escape => s.push_str("[\"escape\"]"),
                    Then::End(e) => write_end(s, e),
                }
                s.push(']');
            }
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

fn end_of(v: &Json) -> Result<End, String> {
    let end = list(v)?;
    Ok(match word(end.first())? {
        "ret" => End::Return(num(end.get(1))?),
        "fail" => End::Fail(num(end.get(1))?),
        "panic" => End::Panic(num(end.get(1))?),
        other => return Err(format!("unknown ending {other}")),
    })
}

fn target_of(v: Option<&Json>) -> Result<Target, String> {
    match v {
        Some(Json::Str(s)) if s == "me" => Ok(Target::Me),
        _ => num(v).map(Target::Handle),
    }
}

fn body_of(v: &Json) -> Result<Body, String> {
    let parts = list(v)?;
    let [steps, end] = parts else {
        return Err("a body is [steps, end]".into());
    };
    Ok(Body {
        steps: steps_of(steps)?,
        end: end_of(end)?,
    })
}

fn steps_of(v: &Json) -> Result<Vec<Step>, String> {
    list(v)?
        .iter()
        .map(|s| {
            let s = list(s)?;
            Ok(match word(s.first())? {
                "sleep" => Step::Sleep(num(s.get(1))?),
                "yield" => Step::Yield,
                "spawn" => Step::Spawn(body_of(s.get(1).ok_or("spawn needs a body")?)?),
                "await" => Step::Await(num(s.get(1))?),
                "cancel" => Step::Cancel(
                    target_of(s.get(1))?,
                    s.get(2).map(|m| num(Some(m))).transpose()?,
                ),
                "cancelling" => Step::Cancelling(target_of(s.get(1))?),
                "uncancel" => Step::Uncancel(target_of(s.get(1))?),
                "catch" => {
                    let then = s.get(3).ok_or("catch needs an ending")?;
                    let then = match word(list(then)?.first())? {
                        "resume" => Then::Resume,
                        "raise" => Then::Raise,
                        "escape" => Then::Escape,
                        _ => Then::End(end_of(then)?),
                    };
                    Step::Catch(Scope {
                        body: steps_of(s.get(1).ok_or("catch needs a body")?)?,
                        handler: steps_of(s.get(2).ok_or("catch needs a handler")?)?,
                        then,
                    })
                }
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
        .collect()
}
