//! A loop's configuration, fixed when it is built.

use super::choices::ExplorerRc;
use std::fmt;
use std::time::Duration;

/// How a loop is set up (`crate::Builder` makes one).
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) virtual_time: bool,
    pub(crate) debug: bool,
    pub(crate) slow_callback_duration: Duration,
    pub(crate) max_threads: usize,
    /// How long `run`'s shutdown waits for the leftovers it cancelled to finish (RUN-4), on the
    /// loop's clock.
    pub(crate) shutdown_timeout: Duration,
    /// Set only by `explore`: the turn's open choices go to it instead of FIFO (`choices`).
    pub(crate) explore: Option<ExplorerRc>,
}

/// `run`'s default bound on its shutdown (RUN-4): long enough for cleanup that awaits a network
/// round trip or two, short enough that a leftover that never finishes is reported while
/// someone is still watching.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 1,
            virtual_time: false,
            debug: false,
            // asyncio's `loop.slow_callback_duration`.
            slow_callback_duration: Duration::from_millis(100),
            // asyncio's default executor: min(32, cpu_count + 4).
            max_threads: 8,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            explore: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("workers", &self.workers)
            .field("virtual_time", &self.virtual_time)
            .field("debug", &self.debug)
            .field("slow_callback_duration", &self.slow_callback_duration)
            .field("max_threads", &self.max_threads)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("explored", &self.explore.is_some())
            .finish()
    }
}
