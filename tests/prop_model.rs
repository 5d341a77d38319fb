//! Generated whole programs on a single-worker loop must produce exactly the trace the reference
//! model computes (tests/props/model.rs), line for line, virtual timestamps included.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod props;

use props::{diff, every, interp, model, program, run_property, show};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Spec: PROP-1, PROP-9, LOOP-2, LOOP-3, TIME-1, TIME-2, TIME-3, TASK-1, TASK-7, GATHER-1, GATHER-4, GATHER-6, DIFF-1
#[test]
fn single_worker_trace_matches_reference_model() {
    run_property(
        2000,
        "prop_model",
        (program::program(false), Just(1)),
        |prog, _| {
            if !prog.in_model_language() {
                return Some(format!("generated outside the model's language: {prog:?}"));
            }
            let got = interp::run(prog, 1);
            let want = model::expected_trace(prog);
            (got != want).then(|| diff("evloop", &got, "reference model", &want))
        },
    );
}

/// Spec: PROP-2, PROP-3
#[test]
fn reference_model_traces_satisfy_every_schedule_properties() {
    // The property checker and the model are written independently; each checks the other.
    run_property(
        500,
        "prop_model",
        (program::program(false), Just(1)),
        |prog, _| {
            let want = model::expected_trace(prog);
            every::check(prog, &want)
                .err()
                .map(|e| format!("{e}\n{}", show(&want)))
        },
    );
}

/// Which shared-task constructs `body` uses (PROP-9), given how many handles it inherits.
fn shared_constructs(body: &program::Body, inherited: usize, seen: &mut BTreeSet<&'static str>) {
    use program::{Mode, Step};
    let mut awaited = vec![false; inherited];
    for step in &body.steps {
        match step {
            Step::Spawn(b) => {
                shared_constructs(b, awaited.len(), seen);
                awaited.push(false);
            }
            Step::Gather(_, bs) => bs
                .iter()
                .for_each(|b| shared_constructs(b, awaited.len(), seen)),
            Step::Await(h) => {
                if *h < inherited {
                    seen.insert("an await of a handle spawned by an ancestor");
                }
                if awaited[*h] {
                    seen.insert("a second await of one handle");
                }
                awaited[*h] = true;
            }
            Step::GatherTasks(mode, idx) => {
                seen.insert(match mode {
                    Mode::Plain => "a plain gather of existing tasks",
                    Mode::Settled => "a settled gather of existing tasks",
                    Mode::Fallible => "a fallible gather of existing tasks",
                });
                if (1..idx.len()).any(|p| idx[..p].contains(&idx[p])) {
                    seen.insert("a gather given one task twice");
                }
                if idx.iter().any(|&h| awaited[h]) {
                    seen.insert("a gather of a task awaited before");
                }
            }
            Step::ReadResult(_) => {
                seen.insert("a result() read");
            }
            Step::CurrentTask => {
                seen.insert("a current_task() call");
            }
            _ => {}
        }
    }
}

/// The generator keeps producing what issue 14 made possible, and those programs reach every
/// outcome: a deterministic sample of programs must contain each construct, and their traces each
/// kind of line. Without this, narrowing the generator would quietly shrink what PROP-1 and PROP-5
/// check.
///
/// Spec: PROP-9
#[test]
fn generated_programs_await_gather_and_read_tasks_as_shared_futures() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = program::program(false);
    let mut seen = BTreeSet::new();
    let mut lines = BTreeSet::new();
    for _ in 0..1000 {
        let prog = strategy.new_tree(&mut runner).unwrap().current();
        shared_constructs(&prog, 0, &mut seen);
        for line in interp::run(&prog, 1) {
            let event: Vec<&str> = line.split(' ').skip(2).collect();
            let kind = match event.as_slice() {
                ["await", .., "cancelled"] => "an await of a cancelled task",
                ["read", _, "->", "ok", _] => "a read of a value",
                ["read", _, "->", "err", _] => "a read of an Err",
                ["read", _, "->", "panic", _] => "a read of a panic",
                ["read", _, "->", "cancelled"] => "a read of a cancellation",
                ["gather", "fail", "cancelled"] => "a gather failed by a cancelled child",
                ["gather", "settled", ..] if line.contains("cancelled") => {
                    "a settled gather listing a cancellation"
                }
                ["current", who] if line.split(' ').nth(1) == Some(who) => {
                    "current_task() naming the running task"
                }
                _ => continue,
            };
            lines.insert(kind);
        }
    }
    let constructs = [
        "an await of a handle spawned by an ancestor",
        "a second await of one handle",
        "a plain gather of existing tasks",
        "a settled gather of existing tasks",
        "a fallible gather of existing tasks",
        "a gather given one task twice",
        "a gather of a task awaited before",
        "a result() read",
        "a current_task() call",
    ];
    let outcomes = [
        "an await of a cancelled task",
        "a read of a value",
        "a read of an Err",
        "a read of a panic",
        "a read of a cancellation",
        "a gather failed by a cancelled child",
        "a settled gather listing a cancellation",
        "current_task() naming the running task",
    ];
    let missing: Vec<&&str> = constructs
        .iter()
        .filter(|c| !seen.contains(*c))
        .chain(outcomes.iter().filter(|c| !lines.contains(*c)))
        .collect();
    assert!(
        missing.is_empty(),
        "1000 generated programs never had: {missing:?}"
    );
}

proptest! {
    #![proptest_config(props::config(500, "prop_model"))]

    /// Spec: PROP-7
    #[test]
    fn printed_programs_parse_back_to_themselves(
        prog in prop_oneof![program::program(true), program::cancel_program()]
    ) {
        let json = program::to_json(&prog);
        prop_assert_eq!(program::from_json(&json), Ok(prog));
    }
}

/// Runs the program in `EVLOOP_PROP_PROGRAM` (JSON, as a failure prints it) against the model,
/// CPython (if present) and one to four workers, printing the single-worker trace. A program
/// using cancellation beyond the model's language (PROP-10) is checked against CPython only.
///
/// Spec: PROP-7
#[test]
#[ignore = "replays a printed program: set EVLOOP_PROP_PROGRAM"]
fn replay_program_from_env() {
    let json = std::env::var("EVLOOP_PROP_PROGRAM").expect("set EVLOOP_PROP_PROGRAM");
    let prog = program::from_json(&json).expect("EVLOOP_PROP_PROGRAM is a printed program");
    println!("program: {prog:#?}");
    let got = interp::run(&prog, 1);
    println!("evloop, 1 worker:\n{}", show(&got));
    let modelled = prog.in_model_language();
    if !prog.has_cross_thread() {
        if modelled {
            let want = model::expected_trace(&prog);
            assert!(
                got == want,
                "{}",
                diff("evloop", &got, "reference model", &want)
            );
        }
        if props::oracle::available().is_some() {
            let py = props::oracle::trace(&prog);
            assert!(
                got == py,
                "{}",
                diff("evloop", &got, "CPython asyncio", &py)
            );
        }
    }
    for workers in (1..=4).filter(|_| modelled) {
        let trace = interp::run(&prog, workers);
        if let Err(e) = every::check(&prog, &trace) {
            panic!("workers({workers}): {e}\n{}", show(&trace));
        }
    }
}
