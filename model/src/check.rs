//! One entry point for every model test: [`check`] runs a body under whichever backend the build
//! selected.
//!
//! - std: once, on real threads, so each model test doubles as a smoke test;
//! - loom: every interleaving within `LOOM_MAX_PREEMPTIONS` (default [`DEFAULT_PREEMPTIONS`]);
//! - shuttle: `EVLOOP_ITERATIONS` random schedules (default [`DEFAULT_ITERATIONS`]).

/// loom's preemption bound when `LOOM_MAX_PREEMPTIONS` is not set (tokio's CI uses 2 as well).
pub const DEFAULT_PREEMPTIONS: usize = 2;

/// shuttle schedules per test when `EVLOOP_ITERATIONS` is not set.
pub const DEFAULT_ITERATIONS: usize = 1000;

/// Runs `body` under the selected backend.
pub fn check<F>(body: F)
where
    F: Fn() + Send + Sync + 'static,
{
    imp::check(body)
}

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod imp {
    pub(super) fn check<F: Fn() + Send + Sync + 'static>(body: F) {
        crate::trace::reset();
        body();
    }
}

#[cfg(feature = "loom")]
mod imp {
    pub(super) fn check<F: Fn() + Send + Sync + 'static>(body: F) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(super::DEFAULT_PREEMPTIONS);
        }
        builder.check(move || {
            crate::trace::reset();
            body();
        });
    }
}

#[cfg(all(feature = "shuttle", not(feature = "loom")))]
mod imp {
    pub(super) fn check<F: Fn() + Send + Sync + 'static>(body: F) {
        let iterations = std::env::var("EVLOOP_ITERATIONS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(super::DEFAULT_ITERATIONS);
        shuttle::check_random(
            move || {
                crate::trace::reset();
                body();
            },
            iterations,
        );
    }
}
