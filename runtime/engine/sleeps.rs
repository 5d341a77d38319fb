//! The `sleep` timers' slots: each pending `Sleep` owns one, the timers' entry names it, and
//! whichever side is left frees it (TIME-1, TIME-3; the `Sleep` future is `crate::sleep`).

use super::timers::Due;
use std::panic::Location;
use std::task::Waker;
use std::time::Duration;

/// The loop's table of `sleep` timers: a sleep needs no allocation of its own, only a slot here,
/// under the `sched` lock.
///
/// ```text
///   Armed ── fire() (its queued timer runs) ──► Ran ── ran() (the Sleep sees it) ──► free
///     └───── cancel() (the Sleep is dropped) ─► Cancelled ── release() (its entry or queued
///                                                            timer is dropped or runs) ──► free
/// ```
/// Each slot is freed by exactly one side: by the `Sleep` once the timer ran, by the timer's entry
/// (in a bucket or on the ready queue) once the `Sleep` is gone.
pub(super) struct Sleeps {
    slots: Vec<SleepSlotState>,
    /// What `describe` reports for slot `i`, kept apart from `slots`: the state that the timer
    /// and the `Sleep` read (a cache miss for most sleeps when 100 000 are pending) is then 24
    /// bytes a slot instead of 48, half the lines to miss on (cachegrind, `timers_real` with a
    /// 2 MB last level: 75 000 → 37 500 misses in each of the two reads).
    info: Vec<SleepInfo>,
    /// Head of the free list (`NONE` when empty).
    free: u32,
}

const NONE: u32 = u32::MAX;

impl Default for Sleeps {
    fn default() -> Sleeps {
        Sleeps {
            slots: Vec::new(),
            info: Vec::new(),
            free: NONE,
        }
    }
}

struct SleepInfo {
    when: Duration,
    at: &'static Location<'static>,
}

enum SleepSlotState {
    Free { next: u32 },
    Armed(Waker),
    Ran,
    Cancelled,
}

impl Sleeps {
    pub(super) fn arm(
        &mut self,
        when: Duration,
        waker: Waker,
        at: &'static Location<'static>,
    ) -> u32 {
        let state = SleepSlotState::Armed(waker);
        let info = SleepInfo { when, at };
        if self.free == NONE {
            let i = u32::try_from(self.slots.len()).expect("fewer than 4 billion sleeps");
            self.slots.push(state);
            self.info.push(info);
            i
        } else {
            let i = self.free;
            let s = &mut self.slots[i as usize];
            match *s {
                SleepSlotState::Free { next } => self.free = next,
                _ => unreachable!("the free list holds free slots"),
            }
            *s = state;
            self.info[i as usize] = info;
            i
        }
    }

    pub(super) fn free_slot(&mut self, i: u32) {
        self.slots[i as usize] = SleepSlotState::Free { next: self.free };
        self.free = i;
    }

    pub(super) fn is_cancelled(&self, due: &Due) -> bool {
        match due {
            Due::Handle(h) => h.is_cancelled(),
            Due::Sleep(i) => matches!(self.slots[*i as usize], SleepSlotState::Cancelled),
        }
    }

    /// A cancelled entry leaves the timers: a sleep's slot is freed (its `Sleep` is gone).
    pub(super) fn release(&mut self, due: Due) {
        if let Due::Sleep(i) = due {
            self.free_slot(i);
        }
    }

    pub(super) fn fire(&mut self, i: u32) -> Option<Waker> {
        let s = &mut self.slots[i as usize];
        match std::mem::replace(s, SleepSlotState::Ran) {
            SleepSlotState::Armed(w) => Some(w),
            SleepSlotState::Cancelled => {
                self.free_slot(i);
                None
            }
            SleepSlotState::Ran | SleepSlotState::Free { .. } => {
                unreachable!("a sleep timer runs once, while its slot is held")
            }
        }
    }

    pub(super) fn ran(&mut self, i: u32) -> bool {
        let ran = matches!(self.slots[i as usize], SleepSlotState::Ran);
        if ran {
            self.free_slot(i);
        }
        ran
    }

    pub(super) fn armed(&self, i: u32) -> bool {
        matches!(self.slots[i as usize], SleepSlotState::Armed(_))
    }

    pub(super) fn wakes(&self, i: u32, waker: &Waker) -> bool {
        matches!(&self.slots[i as usize], SleepSlotState::Armed(w) if w.will_wake(waker))
    }

    /// Replaces an armed slot's waker; returns the old one (to drop outside the lock).
    pub(super) fn set_waker(&mut self, i: u32, waker: Waker) -> Option<Waker> {
        match &mut self.slots[i as usize] {
            SleepSlotState::Armed(w) => Some(std::mem::replace(w, waker)),
            _ => unreachable!("only an armed sleep's waker is set"),
        }
    }

    pub(super) fn cancel(&mut self, i: u32) -> Option<Waker> {
        let s = &mut self.slots[i as usize];
        match std::mem::replace(s, SleepSlotState::Cancelled) {
            SleepSlotState::Armed(w) => Some(w),
            SleepSlotState::Ran => {
                self.free_slot(i);
                None
            }
            SleepSlotState::Cancelled | SleepSlotState::Free { .. } => {
                unreachable!("a Sleep cancels its slot once, while it holds it")
            }
        }
    }

    pub(super) fn drain(&mut self) -> Vec<Waker> {
        self.free = NONE;
        self.info.clear();
        self.slots
            .drain(..)
            .filter_map(|s| match s {
                SleepSlotState::Armed(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    pub(super) fn describe(&self, i: u32) -> String {
        let s = &self.info[i as usize];
        format!("timer at {:?} (created at {})", s.when, s.at)
    }
}
