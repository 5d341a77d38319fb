//! loom: a timeout's cancellation racing the work's completion on another worker
//! (specs/timeouts.md).
#![cfg(feature = "loom")]

use evloop::{wait_for, Builder, TimeoutError};
use evloop_check::Options;
use std::time::Duration;

/// The work's last step and `wait_for`'s deadline come due in the same instant; with two
/// workers the work may complete while the deadline's cancellation is asked, before it, or
/// after it. In every interleaving `wait_for` agrees with the work's own ending: its value if
/// it returned one (a result that arrives with the timeout is not lost), `TimeoutError` if the
/// cancellation won.
/// Spec: TIMEOUT-3
#[test]
fn a_deadline_racing_the_works_completion_on_another_worker_never_loses_the_result() {
    Options::new().preemptions(2).check(|| {
        Builder::new().virtual_time(true).workers(2).run(async {
            let work = evloop::create_task(async {
                evloop::sleep(Duration::from_secs(1)).await;
                7
            });
            let w = work.task_ref();
            evloop::sleep(Duration::ZERO).await; // the work's timer is the older one
            let r = wait_for(work, Some(Duration::from_secs(1))).await;
            if w.cancelled() {
                assert_eq!(r, Err(TimeoutError));
            } else {
                assert_eq!(r, Ok(7), "the work returned a value and wait_for lost it");
            }
        });
    });
}
