//! Choices drawn from the model checker's scheduler, so that a schedule (shuttle's seed or
//! schedule string) also fixes them: one replay covers thread interleavings and these choices.

/// Under shuttle, a number in `0..n` (n > 0) drawn from shuttle's deterministic, recorded random
/// source.
///
/// # Panics
/// On the other backends: std has no schedule to record the choice in, and loom explores only
/// threads. The message says how to build for it.
#[track_caller]
pub fn scheduler_choice(n: usize) -> usize {
    imp::scheduler_choice(n).expect(
        "evloop explore: joint mode draws its choices from shuttle's scheduler; build with \
         `--features shuttle` and call it inside a shuttle check (evloop_check::check)",
    )
}

#[cfg(all(feature = "shuttle", not(feature = "loom")))]
mod imp {
    use shuttle::rand::Rng;

    pub(super) fn scheduler_choice(n: usize) -> Option<usize> {
        Some(shuttle::rand::thread_rng().gen_range(0..n))
    }
}

#[cfg(not(all(feature = "shuttle", not(feature = "loom"))))]
mod imp {
    pub(super) fn scheduler_choice(_n: usize) -> Option<usize> {
        None
    }
}
