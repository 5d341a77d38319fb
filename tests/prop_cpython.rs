//! CPython's asyncio as the oracle: generated programs, translated to asyncio and run on a
//! virtual-time loop by `python3` (tests/props/oracle.py), must produce exactly the single-worker
//! evloop trace, virtual timestamps included.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod props;

use props::{diff, interp, oracle, program};
use proptest::prelude::*;
use std::sync::OnceLock;

/// True when python3 can be used; says once, loudly, when it cannot.
fn python() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| match oracle::available() {
        Some(version) => {
            println!("CPython oracle: python {version}");
            true
        }
        None => {
            println!(
                "SKIPPED single_worker_trace_matches_cpython_asyncio: no python3 (>= 3.8) found; \
                 install it or set EVLOOP_PYTHON to run the CPython differential"
            );
            false
        }
    })
}

proptest! {
    #![proptest_config(props::config(1000, "prop_cpython"))]

    /// Spec: PROP-5, PROP-1
    #[test]
    fn single_worker_trace_matches_cpython_asyncio(prog in program::program(false)) {
        if !python() {
            return Ok(());
        }
        let got = interp::run(&prog, 1);
        let want = oracle::trace(&prog);
        prop_assert!(got == want, "{}", diff("evloop", &got, "CPython asyncio", &want));
    }
}
