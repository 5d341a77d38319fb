//! Choices drawn from the model checker's scheduler, so that a schedule (shuttle's seed or
//! schedule string) also fixes them: one replay covers thread interleavings and these choices.

/// Under shuttle, a number in `0..n` (n > 0) drawn from shuttle's deterministic, recorded random
/// source; on the other backends `None` (std has no schedule to record it in, and loom explores
/// only threads).
pub fn scheduler_choice(n: usize) -> Option<usize> {
    imp::scheduler_choice(n)
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
