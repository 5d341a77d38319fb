//! Generated whole programs on a single-worker loop must produce exactly the trace the reference
//! model computes (tests/props/model.rs), line for line, virtual timestamps included.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod props;

use props::{diff, interp, model, program};
use proptest::prelude::*;

proptest! {
    #![proptest_config(props::config(2000, "prop_model"))]

    /// Spec: PROP-1, LOOP-2, LOOP-3, TIME-1, TIME-2, TIME-3, TASK-1, TASK-7, GATHER-1, GATHER-4, GATHER-6
    #[test]
    fn single_worker_trace_matches_reference_model(prog in program::program(false)) {
        let got = interp::run(&prog, 1);
        let want = model::expected_trace(&prog);
        prop_assert!(got == want, "{}", diff("evloop", &got, "reference model", &want));
    }

    /// Spec: PROP-2, PROP-3
    #[test]
    fn reference_model_traces_satisfy_every_schedule_properties(prog in program::program(false)) {
        // The property checker and the model are written independently; each checks the other.
        let want = model::expected_trace(&prog);
        if let Err(e) = props::every::check(&prog, &want) {
            return Err(TestCaseError::fail(format!("{e}\n{}", props::show(&want))));
        }
    }
}
