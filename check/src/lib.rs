//! evloop's model-check harness: the tests' entry point to loom and shuttle.
//!
//! Every model test calls [`check`] (or [`Options::check`]); it runs the body under the backend the
//! build selected (`--features loom`, `--features shuttle`, or once on real threads), and on a
//! failure prints the runtime's timeline of the failing schedule and one line that replays it
//! ([`report`]). Under shuttle the schedules come from evloop's own seeded schedulers
//! ([`explore`]), so that one short token replays one schedule.
//!
//! This crate is a dev-dependency of evloop, never a normal one: it is not in a user's dependency
//! graph (REPO-4), and its panic hook ([`report`]) is installed only by a check, on the test's
//! request. The runtime takes its world (sync, threads, clocks, task pointer, trace, injected
//! bugs) from `evloop-model`, which this crate drives.

#![deny(unsafe_code)]

pub mod check;
#[cfg(all(feature = "shuttle", not(feature = "loom")))]
pub mod explore;
pub mod report;

pub use check::{check, Options};
