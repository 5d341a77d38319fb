//! Generated whole programs on several workers, and with cross-thread steps (`to_thread`, a
//! future resolved from another thread, a resolve racing a cancel), on real OS threads: the
//! schedule is not fixed, so each trace is checked against the properties that hold in every
//! schedule (tests/props/every.rs). The same programs run under shuttle in
//! tests/shuttle_props.rs.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod props;

use props::{every, interp, program, run_property, show};

fn verdict(prog: &program::Body, workers: usize) -> Option<String> {
    let trace = interp::run(prog, workers);
    every::check(prog, &trace)
        .err()
        .map(|e| format!("workers({workers}): {e}\ntrace:\n{}", show(&trace)))
}

/// Spec: PROP-3, PROP-4, THREAD-1
#[test]
fn every_schedule_properties_hold_with_many_workers() {
    run_property(
        500,
        "prop_threads",
        (program::program(false), 2usize..=4),
        verdict,
    );
}

/// Spec: PROP-3, PROP-4, THREAD-4, TIME-4
#[test]
fn every_schedule_properties_hold_with_cross_thread_steps() {
    run_property(
        500,
        "prop_threads",
        (program::program(true), 1usize..=4),
        verdict,
    );
}
