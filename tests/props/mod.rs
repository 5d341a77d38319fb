//! Whole-program property tests, shared by `tests/prop_*.rs` and `tests/shuttle_props.rs`.
//!
//! - [`program`]: the program language and its proptest strategies;
//! - [`interp`]: runs a program on evloop and records the observable trace;
//! - [`model`]: the reference model, computing the exact single-worker trace;
//! - [`oracle`]: the same program run by CPython's asyncio on a virtual-time loop;
//! - [`every`]: what must hold in every schedule (many workers, cross-thread steps);
//! - [`minimize`]: structural minimization of a failing program, after proptest's shrinking.

#![allow(dead_code)]

pub mod every;
pub mod interp;
pub mod minimize;
pub mod model;
pub mod oracle;
pub mod program;

/// proptest settings for a property test file: a fixed number of cases, so CI stays bounded
/// (`PROPTEST_CASES` still overrides it), and failures persisted in
/// `proptest-regressions/<file>.txt`, committed so every later run retries them first
/// (`PROPTEST_DISABLE_FAILURE_PERSISTENCE` turns that off, e.g. while a bug is injected).
/// Programs are drawn with the XorShift generator (`PROPTEST_RNG_ALGORITHM` still overrides it):
/// in a debug build ChaCha's rounds took most of the differential's time, and the seeds only
/// need to vary, not to be unpredictable. Persisted seeds name their generator, so older ones
/// still replay.
pub fn config(cases: u32, file: &'static str) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence, RngAlgorithm};
    let defaults = Config::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        defaults.cases
    } else {
        cases
    };
    let persistence = if std::env::var_os("PROPTEST_DISABLE_FAILURE_PERSISTENCE").is_some() {
        None
    } else {
        let path: &'static str =
            Box::leak(format!("proptest-regressions/{file}.txt").into_boxed_str());
        Some(Box::new(FileFailurePersistence::Direct(path))
            as Box<dyn proptest::test_runner::FailurePersistence>)
    };
    let rng_algorithm = if std::env::var_os("PROPTEST_RNG_ALGORITHM").is_some() {
        defaults.rng_algorithm
    } else {
        RngAlgorithm::XorShift
    };
    Config {
        cases,
        failure_persistence: persistence,
        rng_algorithm,
        ..defaults
    }
}

/// Runs a property over `cases` generated `(program, workers)` pairs. `verdict` says why a pair
/// fails, or `None`. A failure is shrunk by proptest, then minimized structurally with the
/// worker count kept, and reported with the command that replays the minimal program.
pub fn run_property(
    cases: u32,
    file: &'static str,
    strategy: impl proptest::strategy::Strategy<Value = (program::Body, usize)>,
    verdict: impl Fn(&program::Body, usize) -> Option<String>,
) {
    use proptest::test_runner::{TestCaseError, TestError, TestRunner};
    let mut runner = TestRunner::new(config(cases, file));
    let result = runner.run(&strategy, |(prog, workers)| match verdict(&prog, workers) {
        None => Ok(()),
        Some(why) => Err(TestCaseError::fail(why)),
    });
    match result {
        Ok(()) => {}
        Err(TestError::Abort(why)) => panic!("property test aborted: {why}"),
        Err(TestError::Fail(why, (prog, workers))) => {
            let small = minimize::minimize(&prog, &mut |p| verdict(p, workers).is_some(), 3000);
            let (small, why) = match verdict(&small, workers) {
                Some(small_why) => (small, small_why),
                // Not reproduced (a schedule-dependent failure): report proptest's program.
                None => (prog, why.to_string()),
            };
            panic!(
                "{}{why}\nminimal failing program (tasks: {}, workers: {workers}):\n{small:#?}\n\
                 replay: EVLOOP_PROP_PROGRAM='{}' cargo test --test prop_model -- --ignored \
                 --exact replay_program_from_env --nocapture\n",
                interp::VERDICT_PREFIX,
                small.tasks(),
                program::to_json(&small)
            );
        }
    }
}

/// A trace printed for a failure report, one numbered line each.
pub fn show(trace: &[String]) -> String {
    trace
        .iter()
        .enumerate()
        .map(|(i, l)| format!("  {i:3}: {l}\n"))
        .collect()
}

/// Where two traces first differ, with both in full.
pub fn diff(left_name: &str, left: &[String], right_name: &str, right: &[String]) -> String {
    let first = left
        .iter()
        .zip(right)
        .position(|(a, b)| a != b)
        .unwrap_or(left.len().min(right.len()));
    format!(
        "traces differ at line {first}\n--- {left_name}\n{}--- {right_name}\n{}",
        show(left),
        show(right)
    )
}
