//! CPython's asyncio as the oracle: generated programs, translated to asyncio and run on a
//! virtual-time loop by `python3` (tests/props/oracle.py), must produce exactly the single-worker
//! evloop trace, virtual timestamps included.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod props;

use props::{diff, interp, oracle, program, run_property};
use proptest::prelude::*;
use std::io::Write;

/// The oldest CPython whose traces the differential was checked against, and the one CI must have.
const CI_PYTHON: (u32, u32) = (3, 11);

/// What the differential does about its oracle (PROP-8).
#[derive(Debug, PartialEq)]
enum Oracle {
    Run,
    /// Outside CI: said loudly, then the test passes, so a machine without python3 can still run
    /// the suite.
    Skip(String),
    /// Under CI the oracle is part of what a green run promises: without it the run fails.
    Fail(String),
}

/// `ci`: the value of `CI` (CI services set `CI=true`); `found`: the version of the python3 that
/// would run the oracle, `None` when there is no usable one. Values are passed in rather than read
/// here so that the test of this decision needs no change to the process environment.
fn oracle_decision(ci: Option<&str>, found: Option<&str>) -> Oracle {
    let under_ci = ci.is_some_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
    });
    let (want_major, want_minor) = CI_PYTHON;
    let required = format!(
        "python3 {want_major}.{want_minor}+ is required under CI (CI={}) to run the CPython \
         differential (PROP-5): install it (e.g. `apt-get install -y python3`) or set \
         EVLOOP_PYTHON to one",
        ci.unwrap_or_default()
    );
    match found {
        None if under_ci => Oracle::Fail(format!("no usable python3 found; {required}")),
        None => Oracle::Skip(
            "SKIPPED single_worker_trace_matches_cpython_asyncio: no python3 (>= 3.8) found; \
             install it or set EVLOOP_PYTHON to run the CPython differential"
                .to_owned(),
        ),
        Some(v) if under_ci && !at_least(v, CI_PYTHON) => {
            Oracle::Fail(format!("found python3 {v}; {required}"))
        }
        Some(_) => Oracle::Run,
    }
}

/// True when version `v` ("3.11.7") is at least `major.minor`; false when it does not parse.
fn at_least(v: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = v.trim().split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(b))) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// Spec: PROP-5, PROP-1, PROP-9, PROP-8
#[test]
fn single_worker_trace_matches_cpython_asyncio() {
    let found = oracle::available();
    let version = match oracle_decision(std::env::var("CI").ok().as_deref(), found.as_deref()) {
        Oracle::Run => found.expect("decided to run with a python3 found"),
        Oracle::Skip(why) => {
            // Straight to stderr, past libtest's output capture: a skip must be seen, not hidden
            // behind "ok".
            let _ = writeln!(std::io::stderr(), "{why}");
            return;
        }
        Oracle::Fail(why) => panic!("{why}"),
    };
    println!("CPython oracle: python {version}");
    run_property(
        1000,
        "prop_cpython",
        (program::program(false), Just(1)),
        |prog, _| {
            let got = interp::run(prog, 1);
            let want = oracle::trace(prog);
            (got != want).then(|| diff("evloop", &got, "CPython asyncio", &want))
        },
    );
}

/// Spec: PROP-8
#[test]
fn a_missing_oracle_is_a_loud_skip_outside_ci_and_a_failure_under_ci() {
    let fails_saying_required = |d: Oracle| match d {
        Oracle::Fail(why) => assert!(why.contains("python3 3.11+ is required"), "{why}"),
        other => panic!("expected a failure, got {other:?}"),
    };
    for ci in [Some("true"), Some("1"), Some("TRUE"), Some("yes")] {
        fails_saying_required(oracle_decision(ci, None));
        fails_saying_required(oracle_decision(ci, Some("3.10.12")));
        fails_saying_required(oracle_decision(ci, Some("garbage")));
        assert_eq!(oracle_decision(ci, Some("3.11.7")), Oracle::Run);
        assert_eq!(oracle_decision(ci, Some("3.13.0")), Oracle::Run);
    }
    for ci in [None, Some(""), Some("false"), Some("0")] {
        match oracle_decision(ci, None) {
            Oracle::Skip(why) => assert!(why.starts_with("SKIPPED"), "{why}"),
            other => panic!("CI={ci:?}: expected a skip, got {other:?}"),
        }
        // Outside CI any python3 the oracle accepts runs it.
        assert_eq!(oracle_decision(ci, Some("3.8.10")), Oracle::Run);
    }
}

/// Spec: PROP-8
#[test]
fn ci_checks_for_python3_before_it_runs_any_test() {
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    let check = ci
        .find("python3 3.11+ is required")
        .expect(".ci/run must fail with `python3 3.11+ is required` when it has none");
    let tests = ci
        .find("scripts/test-all")
        .expect(".ci/run runs scripts/test-all");
    assert!(
        check < tests,
        ".ci/run must check for python3 before the tests"
    );
}
