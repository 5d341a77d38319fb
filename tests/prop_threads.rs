//! Generated whole programs on several workers, and with cross-thread steps (`to_thread`, a
//! future resolved from another thread), on real OS threads: the schedule is not fixed, so each
//! trace is checked against the properties that hold in every schedule (tests/props/every.rs).
//! The same programs run under shuttle in tests/shuttle_props.rs.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod props;

use props::{interp, program, show};
use proptest::prelude::*;

fn check(prog: &program::Body, workers: usize) -> Result<(), TestCaseError> {
    let trace = interp::run(prog, workers);
    props::every::check(prog, &trace).map_err(|e| {
        TestCaseError::fail(format!("workers({workers}): {e}\ntrace:\n{}", show(&trace)))
    })
}

proptest! {
    #![proptest_config(props::config(500, "prop_threads"))]

    /// Spec: PROP-3, PROP-4, THREAD-1
    #[test]
    fn every_schedule_properties_hold_with_many_workers(
        prog in program::program(false),
        workers in 2usize..=4,
    ) {
        check(&prog, workers)?;
    }

    /// Spec: PROP-3, PROP-4, THREAD-4, TIME-4
    #[test]
    fn every_schedule_properties_hold_with_cross_thread_steps(
        prog in program::program(true),
        workers in 1usize..=4,
    ) {
        check(&prog, workers)?;
    }
}
