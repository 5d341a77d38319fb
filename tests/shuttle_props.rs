//! The generated whole programs of tests/prop_threads.rs under shuttle: each program runs with
//! `workers(2..=4)` (and with cross-thread steps) inside `evloop_check::check`, which explores
//! random and PCT schedules; every schedule must satisfy the every-schedule properties
//! (tests/props/every.rs), and on one worker without threads the trace must be the model's. A
//! failure prints the shrunk program (proptest, also as JSON), the harness's report with its replay
//! token, and the command that replays both together.
//!
//! Budget: [`SCHEDULES`] schedules per scheduler per program (`EVLOOP_ITERATIONS` overrides it)
//! times the case counts below.
#![cfg(feature = "shuttle")]

mod props;

use evloop_check::check::Options;
use props::interp::VERDICT_PREFIX;
use props::{diff, every, interp, model, program, show};
use proptest::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// shuttle schedules per scheduler (random, then PCT) per generated program, unless
/// `EVLOOP_ITERATIONS` says otherwise.
const SCHEDULES: u64 = 50;

fn check_all_schedules(prog: &program::Body, workers: usize) {
    interp::quiet_program_panics();
    let shared = Arc::new(prog.clone());
    let checked = catch_unwind(AssertUnwindSafe(|| {
        Options::new().iterations(SCHEDULES).check(move || {
            let trace = interp::run(&shared, workers);
            if let Err(e) = every::check(&shared, &trace) {
                panic!(
                    "{VERDICT_PREFIX}workers({workers}): {e}\ntrace:\n{}",
                    show(&trace)
                );
            }
        })
    }));
    if let Err(payload) = checked {
        // Any failure, a violated property or one shuttle found itself (a deadlock): name the
        // program, so that it replays on the schedule the harness printed.
        let why = evloop_check::report::payload_message(&*payload);
        let why = why.strip_prefix(VERDICT_PREFIX).unwrap_or(&why);
        let bug = evloop_model::bug::from_env()
            .map(|b| format!("EVLOOP_BUG={b} "))
            .unwrap_or_default();
        // The harness printed the failing schedule's token just before re-raising; a shuttle
        // deadlock it did not see leaves none, and then the whole budget is replayed.
        let schedule = evloop_check::report::take_last_schedule()
            .map(|t| format!("EVLOOP_REPLAY='{t}' "))
            .unwrap_or_default();
        panic!(
            "{VERDICT_PREFIX}{why}\nreplay this program on the failing schedule:\n  \
             {bug}EVLOOP_PROP_PROGRAM='{}' EVLOOP_PROP_WORKERS={workers} {schedule}cargo test \
             --profile model --features shuttle --test shuttle_props -- --ignored --exact \
             replay_program_from_env\n",
            program::to_json(prog)
        );
    }
}

/// Runs the program in `EVLOOP_PROP_PROGRAM` (JSON, as a failure prints it) on
/// `EVLOOP_PROP_WORKERS` workers under shuttle.
///
/// Spec: PROP-7
#[test]
#[ignore = "replays a printed failure: set EVLOOP_PROP_PROGRAM and EVLOOP_PROP_WORKERS"]
fn replay_program_from_env() {
    let json = std::env::var("EVLOOP_PROP_PROGRAM").expect("set EVLOOP_PROP_PROGRAM");
    let workers = std::env::var("EVLOOP_PROP_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let prog = program::from_json(&json).expect("EVLOOP_PROP_PROGRAM is a printed program");
    check_all_schedules(&prog, workers);
}

proptest! {
    #![proptest_config(props::config(100, "shuttle_props"))]

    /// Spec: PROP-6, PROP-1
    #[test]
    fn shuttle_single_worker_trace_matches_reference_model(prog in program::program(false)) {
        // One worker and no other thread: one possible trace, the model's, under the model
        // backend's sync primitives as well.
        interp::quiet_program_panics();
        let want = model::expected_trace(&prog);
        let prog = Arc::new(prog);
        Options::new().iterations(SCHEDULES).check(move || {
            let got = interp::run(&prog, 1);
            assert!(
                got == want,
                "{VERDICT_PREFIX}{}",
                diff("evloop", &got, "reference model", &want)
            );
        });
    }

    /// Spec: PROP-6, PROP-3, PROP-4, PROP-9, THREAD-1, TASK-3, TASK-4, GATHER-1, TIME-1
    #[test]
    fn shuttle_every_schedule_properties_hold_with_many_workers(
        prog in program::program(false),
        workers in 2usize..=4,
    ) {
        check_all_schedules(&prog, workers);
    }

    /// Spec: PROP-6, PROP-3, PROP-4, THREAD-4, TIME-4, LOOP-5
    #[test]
    fn shuttle_every_schedule_properties_hold_with_cross_thread_steps(
        prog in program::program(true),
        workers in 1usize..=3,
    ) {
        check_all_schedules(&prog, workers);
    }
}
