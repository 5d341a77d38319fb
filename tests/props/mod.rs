//! Whole-program property tests, shared by `tests/prop_*.rs` and `tests/shuttle_props.rs`.
//!
//! - [`program`]: the program language and its proptest strategies;
//! - [`interp`]: runs a program on evloop and records the observable trace;
//! - [`model`]: the reference model, computing the exact single-worker trace;
//! - [`oracle`]: the same program run by CPython's asyncio on a virtual-time loop;
//! - [`every`]: what must hold in every schedule (many workers, cross-thread steps).

#![allow(dead_code)]

pub mod every;
pub mod interp;
pub mod model;
pub mod oracle;
pub mod program;

/// proptest settings for a property test file: a fixed number of cases, so CI stays bounded
/// (`PROPTEST_CASES` still overrides it), and failures persisted in
/// `proptest-regressions/<file>.txt`, committed so every later run retries them first
/// (`PROPTEST_DISABLE_FAILURE_PERSISTENCE` turns that off, e.g. while a bug is injected).
pub fn config(cases: u32, file: &'static str) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence};
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
    Config {
        cases,
        failure_persistence: persistence,
        ..defaults
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
