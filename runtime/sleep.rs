//! `sleep`: suspend the current task for a while (asyncio's `asyncio.sleep`).
//!
//! `sleep(d)` registers a timer at `now + d` when first polled; the timer fires in a turn whose
//! clock reading is at or past the deadline (TIME-1), and the task resumes in the turn after
//! (asyncio's `call_later` + `_set_result_unless_cancelled` + wakeup). `sleep(ZERO)` yields exactly
//! one loop turn (TIME-3), asyncio's bare `yield`. Dropping a pending `Sleep` cancels its timer.
//! A delay too long for the clock (`Duration::MAX`) sleeps until cancelled (TIME-5).

use crate::engine::cancel;
use crate::engine::current;
use crate::engine::scheduler::Scheduler;
use crate::error::LoopError;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::Arc;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Suspends the current task for at least `delay` on the loop's clock. A `delay` the clock cannot
/// reach (past about 584 years, e.g. `Duration::MAX`) suspends it until it is cancelled, like
/// asyncio's `sleep(float('inf'))`.
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let lp = evloop::get_running_loop().unwrap();
///     let start = lp.now();
///     evloop::sleep(Duration::from_millis(250)).await;
///     assert!(lp.now() - start >= Duration::from_millis(250));
/// });
/// ```
#[track_caller]
pub fn sleep(delay: Duration) -> Sleep {
    Sleep {
        delay,
        state: SleepState::Unpolled,
        created_at: Location::caller(),
    }
}

/// The future returned by [`sleep`].
///
/// ```
/// use std::time::Duration;
/// evloop::Builder::new().virtual_time(true).run(async {
///     let lp = evloop::get_running_loop().unwrap();
///     // Like asyncio's `sleep()` coroutine, the timer starts when first awaited, not when made.
///     let nap = evloop::sleep(Duration::from_secs(1));
///     evloop::sleep(Duration::from_secs(5)).await;
///     let before = lp.now();
///     nap.await;
///     assert!(lp.now() - before >= Duration::from_secs(1));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Sleep {
    delay: Duration,
    state: SleepState,
    created_at: &'static Location<'static>,
}

enum SleepState {
    Unpolled,
    /// `sleep(ZERO)`: yielded once already.
    Yielded,
    /// The timer is armed in `lp`'s table at `slot`. The loop is held so that a `Sleep` dropped
    /// outside it (a task torn down by `close`) can still cancel its timer.
    Waiting {
        lp: Arc<Scheduler>,
        slot: u32,
    },
    /// Polled on a closed loop: no timer will ever end it.
    Never,
    Done,
}

impl std::fmt::Debug for SleepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SleepState::Unpolled => "Unpolled",
            SleepState::Yielded => "Yielded",
            SleepState::Waiting { .. } => "Waiting",
            SleepState::Never => "Never",
            SleepState::Done => "Done",
        })
    }
}

fn running_inner() -> Arc<Scheduler> {
    match current::scheduler() {
        Some(lp) => lp,
        None => panic!("{}", LoopError::NoRunningLoop),
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &self.state {
            SleepState::Unpolled if self.delay.is_zero() => {
                // TIME-3: one trip through the ready queue, like asyncio's `__sleep0`.
                cx.waker().wake_by_ref();
                self.state = SleepState::Yielded;
                Poll::Pending
            }
            SleepState::Unpolled => {
                let lp = running_inner();
                // Saturates: a deadline past the clock's range is a timer that never fires, so
                // the task sleeps until cancelled (TIME-5).
                let deadline = lp.now().saturating_add(self.delay);
                self.state = match lp.sleep_timer(deadline, cx.waker().clone(), self.created_at) {
                    Some(slot) => SleepState::Waiting { lp, slot },
                    None => SleepState::Never,
                };
                Poll::Pending
            }
            // CANCEL-2: with a cancellation in flight the sleep does not end; the cancellation
            // lands here. Looked at only where the sleep would end: arming it takes nothing.
            SleepState::Yielded | SleepState::Waiting { .. } if cancel::in_flight() => {
                Poll::Pending
            }
            SleepState::Yielded => {
                self.state = SleepState::Done;
                Poll::Ready(())
            }
            SleepState::Waiting { lp, slot } => {
                let ran = if bug::enabled(Bug::SleepWakerRace) {
                    // Injected: "has it run?" and "wake me" under two locks; a timer that runs in
                    // between wakes the waker it was armed with, not this one.
                    lp.sleep_ran_then_set_waker(*slot, cx.waker())
                } else {
                    lp.sleep_ran_or_set_waker(*slot, cx.waker())
                };
                if ran {
                    self.state = SleepState::Done;
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
            SleepState::Never => Poll::Pending,
            SleepState::Done => Poll::Ready(()),
        }
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        if let SleepState::Waiting { lp, slot } = &self.state {
            lp.cancel_sleep(*slot);
        }
    }
}
