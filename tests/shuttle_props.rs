//! The generated whole programs of tests/prop_threads.rs under shuttle: each program runs with
//! `workers(2..=4)` (and cross-thread steps) inside `evloop_model::check::check`, which explores
//! random schedules; every schedule must satisfy the every-schedule properties
//! (tests/props/every.rs). A failure prints the shrunk program (proptest) and the failing schedule
//! (shuttle); together they replay it.
//!
//! Budget: `EVLOOP_ITERATIONS` schedules per program (default here [`SCHEDULES`]) times the case
//! counts below.
#![cfg(feature = "shuttle")]

mod props;

use props::{diff, interp, model, program, show};
use proptest::prelude::*;
use std::sync::Arc;

/// Schedules per generated program when `EVLOOP_ITERATIONS` is not set.
const SCHEDULES: &str = "50";

fn check_all_schedules(prog: &program::Body, workers: usize) {
    if std::env::var_os("EVLOOP_ITERATIONS").is_none() {
        std::env::set_var("EVLOOP_ITERATIONS", SCHEDULES);
    }
    let prog = Arc::new(prog.clone());
    let json = program::to_json(&prog);
    evloop_model::check::check(move || {
        let trace = interp::run(&prog, workers);
        if let Err(e) = props::every::check(&prog, &trace) {
            let bug = evloop_model::bug::from_env()
                .map(|b| format!("EVLOOP_BUG={b} "))
                .unwrap_or_default();
            panic!(
                "workers({workers}): {e}\ntrace:\n{}replay this program (shuttle's failing \
                 schedule is printed above):\n  {bug}EVLOOP_PROP_PROGRAM='{json}' \
                 EVLOOP_PROP_WORKERS={workers} cargo test --profile model --features shuttle \
                 --test shuttle_props -- --ignored --exact replay_program_from_env\n",
                show(&trace)
            );
        }
    });
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
        if std::env::var_os("EVLOOP_ITERATIONS").is_none() {
            std::env::set_var("EVLOOP_ITERATIONS", SCHEDULES);
        }
        let want = model::expected_trace(&prog);
        let prog = Arc::new(prog);
        evloop_model::check::check(move || {
            let got = interp::run(&prog, 1);
            assert!(got == want, "{}", diff("evloop", &got, "reference model", &want));
        });
    }

    /// Spec: PROP-6, PROP-3, PROP-4, THREAD-1, TASK-3, TASK-4, GATHER-1, TIME-1
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
