//! Generated whole programs on a single-worker loop must produce exactly the trace the reference
//! model computes (tests/props/model.rs), line for line, virtual timestamps included.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod props;

use props::{diff, every, interp, model, program, run_property, show};
use proptest::prelude::*;

/// Spec: PROP-1, LOOP-2, LOOP-3, TIME-1, TIME-2, TIME-3, TASK-1, TASK-7, GATHER-1, GATHER-4, GATHER-6, DIFF-1
#[test]
fn single_worker_trace_matches_reference_model() {
    run_property(
        2000,
        "prop_model",
        (program::program(false), Just(1)),
        |prog, _| {
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

proptest! {
    #![proptest_config(props::config(500, "prop_model"))]

    /// Spec: PROP-7
    #[test]
    fn printed_programs_parse_back_to_themselves(prog in program::program(true)) {
        let json = program::to_json(&prog);
        prop_assert_eq!(program::from_json(&json), Ok(prog));
    }
}

/// Runs the program in `EVLOOP_PROP_PROGRAM` (JSON, as a failure prints it) against the model,
/// CPython (if present) and one to four workers, printing the single-worker trace.
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
    if !prog.has_cross_thread() {
        let want = model::expected_trace(&prog);
        assert!(
            got == want,
            "{}",
            diff("evloop", &got, "reference model", &want)
        );
        if props::oracle::available().is_some() {
            let py = props::oracle::trace(&prog);
            assert!(
                got == py,
                "{}",
                diff("evloop", &got, "CPython asyncio", &py)
            );
        }
    }
    for workers in 1..=4 {
        let trace = interp::run(&prog, workers);
        if let Err(e) = every::check(&prog, &trace) {
            panic!("workers({workers}): {e}\n{}", show(&trace));
        }
    }
}
