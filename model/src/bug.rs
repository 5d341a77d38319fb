//! Injected bugs: switches that make the runtime wrong on purpose, so that each model check can be
//! shown to fail.
//!
//! The switches exist only under the model backends. In the std build [`enabled`] is a constant
//! `false` and every injected branch folds away. Under loom or shuttle a switch is read at run time,
//! so one test binary covers every bug without rebuilding the dependency graph: either from the
//! environment (`EVLOOP_BUG=lost_wakeup`) or, inside a test, with [`inject`].

use std::fmt;

/// A known bug the runtime can be made to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bug {
    /// A wake that arrives while the task is being polled is ignored.
    LostWakeup,
    /// A wake re-queues the task without checking that it is already queued.
    DoublePoll,
    /// A worker decides to park on a stale "queue empty" reading, without re-checking under the lock.
    ParkRace,
    /// gather returns results in completion order instead of argument order.
    GatherOrder,
    /// A future both cancelled and completed delivers both outcomes.
    CancelRace,
    /// A timer fires one tick (1 ms) before its deadline.
    EarlyTimer,
    /// A wake that arrives after the task completed re-queues it.
    WakeAfterComplete,
    /// `close` asks whether the loop is running and closes it in two steps, so a run can start
    /// in between.
    CloseRace,
    /// A `sleep` polled again asks whether its timer ran and leaves its waker in two steps, so a
    /// timer running in between wakes the waker it was armed with.
    SleepWakerRace,
    /// Cross-thread work (a resolver, a `to_thread` job) stops counting as in flight before its
    /// wake is queued, so a virtual clock can see "nothing ready, nothing in flight" in between.
    InflightEndEarly,
    /// The last cross-thread work to end does not wake parked workers, so a loop that waits only
    /// for it never decides again.
    SilentInflightEnd,
    /// With several workers, a worker that stops in the middle of the chunk of entries it took
    /// leaves the rest of the chunk in its own buffer, which is dropped when it returns.
    StopDropsChunk,
    /// A parked worker that wakes does not take back the wakeup sent to it, so producers go on
    /// believing one is on its way and notify nobody.
    StaleWakeup,
    /// A task's future is dropped on cancellation or tear-down after being moved out of its cell
    /// (the stage taken into a local with `mem::replace`), instead of in place.
    MovePinnedFuture,
    /// A queue getter (or putter) woken and then dropped before it ran does not pass its wake-up
    /// on, so the item (or room) it was woken for waits while the next waiter sleeps.
    QueueDroppedWakeup,
    /// A priority queue orders its items by `Ord` alone, forgetting the order in which equal
    /// items were put, so they come out in the heap's arbitrary order.
    PriorityTiesUnordered,
    /// Dropping a task's one-word pointer does not give back the reference count it owns, so
    /// the task's allocation is never freed.
    ThinRcLeak,
    /// Dropping a task's waker (without waking it) does not give back the reference count it
    /// owns, so the task's allocation is never freed.
    WakerLeak,
    /// A named task's name leaves the loop's name table when the task completes, not when its
    /// cell is dropped, so a handle that outlives the task shows `Task-<id>` instead.
    NameDroppedAtCompletion,
    /// With several workers, `schedule` reads how many workers are parked before it pushes to the
    /// inbox instead of after, so workers that park in between are never notified of the item.
    InboxParkedReadEarly,
    /// With several workers, a virtual clock's "nothing ready, nothing in flight" does not look at
    /// the producers' inbox again, so the wake of cross-thread work that ended while the worker
    /// decided is taken for a deadlock (or a reason to jump the clock).
    InflightInboxUnchecked,
    /// With several workers, a run returns without waiting for its other workers to leave it, so
    /// one may still be running an entry of the run after `run_until_complete` has returned.
    RunLeavesWorkersBehind,
    /// A task's reader moves the output out even when other handles will read it too, so a later
    /// reader finds nothing.
    SharedOutcomeTakenEarly,
    /// `stop()` on a loop that is not running is forgotten instead of kept for its next run.
    StopLost,
    /// A free `Lock` is taken by a newcomer even while the waiter a release woke has yet to run
    /// (barging), and the overtaken waiter waits again at the back of the line.
    LockUnfair,
    /// A `Lock` waiter woken by a release and dropped (cancelled) before it ran does not pass
    /// the wake-up on, so the free lock sits unused while the next waiter sleeps.
    LockCancelledWaiterSwallowsWake,
    /// An `Event` waiter that let its lock go to clone its waker registers without looking at
    /// the flag again, so a `set` in between leaves it waiting for good.
    EventLostWaiter,
    /// A `Semaphore` waiter handed a permit and dropped before it ran gives two permits back,
    /// so more tasks hold the semaphore than it has permits.
    SemaphoreOverRelease,
    /// A `Condition` waiter notified and dropped (cancelled) before it took the lock again does
    /// not pass the notification on, so the next waiter sleeps through it.
    ConditionLostNotify,
    /// A task dropped (cancelled) while inside a `Barrier` is not counted out, so a draining
    /// barrier never opens for its next round.
    BarrierCancelledWaiterCounted,
    /// A cancellation is never handed down to the task the cancelled one awaits (neither by
    /// `cancel()` nor in the delivery step): the awaited task runs on, and the awaiting one
    /// is dropped at once.
    CancelNotHandedDown,
    /// A catch scope looks for a cancellation only before it polls its inner future, so one
    /// raised during that poll (the awaited task ended cancelled) goes past it.
    ScopeMissesCancel,
    /// `cancel()` reads the request count and writes it back in two steps, so two cancels at once
    /// count one request.
    CancelCountLost,
    /// `wait` leaves its waker after adding its done entries, without looking at its state
    /// again, so a completion delivered on another worker in between wakes nobody.
    WaitLostCompletion,
    /// `as_completed`'s `next()` finds the queue empty and leaves its waker under a second hold
    /// of the lock without looking again, so a completion queued in between wakes nobody.
    AsCompletedLostWakeup,
    /// A `TaskGroup`'s `create_task` checks that the group is open and adds the new child in two
    /// steps without holding its place, so a group that ends in between leaves the child running
    /// after it (an orphan).
    TaskgroupOrphan,
    /// `wait_for` reports a timeout once its deadline has cancelled the work, without looking
    /// at whether the work returned a value first, which is lost.
    WaitForLostResult,
}

impl Bug {
    /// Every bug, in the order the bug-injection report lists them.
    pub const ALL: [Bug; 37] = [
        Bug::LostWakeup,
        Bug::DoublePoll,
        Bug::ParkRace,
        Bug::GatherOrder,
        Bug::CancelRace,
        Bug::EarlyTimer,
        Bug::WakeAfterComplete,
        Bug::CloseRace,
        Bug::SleepWakerRace,
        Bug::InflightEndEarly,
        Bug::SilentInflightEnd,
        Bug::StopDropsChunk,
        Bug::StaleWakeup,
        Bug::MovePinnedFuture,
        Bug::QueueDroppedWakeup,
        Bug::ThinRcLeak,
        Bug::WakerLeak,
        Bug::NameDroppedAtCompletion,
        Bug::InboxParkedReadEarly,
        Bug::InflightInboxUnchecked,
        Bug::RunLeavesWorkersBehind,
        Bug::SharedOutcomeTakenEarly,
        Bug::StopLost,
        Bug::LockUnfair,
        Bug::LockCancelledWaiterSwallowsWake,
        Bug::EventLostWaiter,
        Bug::SemaphoreOverRelease,
        Bug::ConditionLostNotify,
        Bug::BarrierCancelledWaiterCounted,
        Bug::CancelNotHandedDown,
        Bug::ScopeMissesCancel,
        Bug::CancelCountLost,
        Bug::WaitLostCompletion,
        Bug::AsCompletedLostWakeup,
        Bug::TaskgroupOrphan,
        Bug::WaitForLostResult,
        Bug::PriorityTiesUnordered,
    ];

    /// The switch's name, as `EVLOOP_BUG` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Bug::LostWakeup => "lost_wakeup",
            Bug::DoublePoll => "double_poll",
            Bug::ParkRace => "park_race",
            Bug::GatherOrder => "gather_order",
            Bug::CancelRace => "cancel_race",
            Bug::EarlyTimer => "early_timer",
            Bug::WakeAfterComplete => "wake_after_complete",
            Bug::CloseRace => "close_race",
            Bug::SleepWakerRace => "sleep_waker_race",
            Bug::InflightEndEarly => "inflight_end_early",
            Bug::SilentInflightEnd => "silent_inflight_end",
            Bug::StopDropsChunk => "stop_drops_chunk",
            Bug::StaleWakeup => "stale_wakeup",
            Bug::MovePinnedFuture => "move_pinned_future",
            Bug::QueueDroppedWakeup => "queue_dropped_wakeup",
            Bug::ThinRcLeak => "thin_rc_leak",
            Bug::WakerLeak => "waker_leak",
            Bug::NameDroppedAtCompletion => "name_dropped_at_completion",
            Bug::InboxParkedReadEarly => "inbox_parked_read_early",
            Bug::InflightInboxUnchecked => "inflight_inbox_unchecked",
            Bug::RunLeavesWorkersBehind => "run_leaves_workers_behind",
            Bug::SharedOutcomeTakenEarly => "shared_outcome_taken_early",
            Bug::StopLost => "stop_lost",
            Bug::LockUnfair => "lock_unfair",
            Bug::LockCancelledWaiterSwallowsWake => "lock_cancelled_waiter_swallows_wake",
            Bug::EventLostWaiter => "event_lost_waiter",
            Bug::SemaphoreOverRelease => "semaphore_over_release",
            Bug::ConditionLostNotify => "condition_lost_notify",
            Bug::BarrierCancelledWaiterCounted => "barrier_cancelled_waiter_counted",
            Bug::CancelNotHandedDown => "cancel_not_handed_down",
            Bug::ScopeMissesCancel => "scope_misses_cancel",
            Bug::CancelCountLost => "cancel_count_lost",
            Bug::WaitLostCompletion => "wait_lost_completion",
            Bug::AsCompletedLostWakeup => "as_completed_lost_wakeup",
            Bug::TaskgroupOrphan => "taskgroup_orphan",
            Bug::WaitForLostResult => "wait_for_lost_result",
            Bug::PriorityTiesUnordered => "priority_ties_unordered",
        }
    }

    /// Parses a switch name.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Is `bug` switched on? Always `false` in the std build.
#[inline(always)]
pub fn enabled(bug: Bug) -> bool {
    imp::enabled(bug)
}

/// Runs `f` with `bug` switched on for this OS thread (loom and shuttle run every simulated thread
/// of one check on the OS thread that called the check). In the std build the switch stays off:
/// production code has no injected branches to turn on.
pub fn inject<R>(bug: Bug, f: impl FnOnce() -> R) -> R {
    imp::inject(bug, f)
}

/// The bug the environment asks for (`EVLOOP_BUG`), if any.
pub fn from_env() -> Option<Bug> {
    std::env::var("EVLOOP_BUG")
        .ok()
        .and_then(|s| Bug::from_name(s.trim()))
}

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod imp {
    use super::Bug;

    #[inline(always)]
    pub(super) fn enabled(_bug: Bug) -> bool {
        false
    }

    pub(super) fn inject<R>(_bug: Bug, f: impl FnOnce() -> R) -> R {
        f()
    }
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod imp {
    use super::Bug;
    use std::cell::Cell;

    std::thread_local! {
        // Some(..) once decided for this OS thread: the override from `inject`, else the env var.
        static ACTIVE: Cell<Option<Option<Bug>>> = const { Cell::new(None) };
    }

    pub(super) fn enabled(bug: Bug) -> bool {
        ACTIVE.with(|a| {
            let active = match a.get() {
                Some(active) => active,
                None => {
                    let active = super::from_env();
                    a.set(Some(active));
                    active
                }
            };
            active == Some(bug)
        })
    }

    pub(super) fn inject<R>(bug: Bug, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Option<Bug>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                ACTIVE.with(|a| a.set(self.0));
            }
        }
        let _restore = Restore(ACTIVE.with(|a| a.replace(Some(Some(bug)))));
        f()
    }
}
