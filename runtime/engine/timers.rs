//! The pending timers: due callbacks in deadline order, equal deadlines in the order they were
//! scheduled (TIME-2).
//!
//! ```text
//!   base ms   base+1    base+2          base+WINDOW-1 │ far: BTreeMap<ms, Bucket>
//!  ┌────────┬────────┬────────┬─ … ─┬────────┐        │ (later deadlines, moved into the
//!  │bucket 0│bucket 1│bucket 2│     │        │        │  window as `base` catches up)
//!  └────────┴────────┴────────┴─ … ─┴────────┘        │
//! ```
//!
//! Timers are grouped by the millisecond of their deadline: bucket `i` of the window holds the
//! deadlines in millisecond `base + i` (bucket 0 also any earlier ones, which are due already), and
//! deadlines at or past `base + WINDOW` wait in `far`. A bucket is in exact `(deadline, seq)` order
//! whenever it is read: appends that arrive out of order mark it unsorted, and it is sorted once
//! before its first entry is looked at; bucket 0, the one being read turn after turn, takes a late
//! arrival at its sorted place instead. Every deadline in a bucket is below every deadline in the
//! next one, so reading buckets front to back is the exact order.
//!
//! A deadline past the clock's range (see [`NEVER`]) never comes due: such timers wait apart, in
//! `never`, where no turn looks and from where no virtual clock can be offered their deadline
//! (TIME-5).
//!
//! Why not one binary heap: with 100 000 timers each pop sifted through 17 levels of a 3 MB heap
//! (a quarter of the cycles of the timer benchmark); here a push is an append and a pop takes the
//! front of a small, contiguous bucket.

use super::sleeps::Sleeps;
use crate::engine::callback::HandleCell;
use evloop_model::sync::Arc;
use std::collections::{BTreeMap, VecDeque};
use std::panic::Location;
use std::task::Waker;
use std::time::Duration;

const NANOS_PER_BUCKET: u64 = 1_000_000;
/// A deadline at or past the end of the clock's range: the clock counts nanoseconds since the
/// loop was created in a `u64` (about 584 years), so it never reads this. `sleep(Duration::MAX)`
/// and `call_later(Duration::MAX, f)` land here: timers that never fire, like asyncio's
/// `call_later(float('inf'), f)` (TIME-5).
const NEVER: u64 = u64::MAX;
/// `never` is swept of cancelled entries when it has doubled since the last sweep, but not below
/// this length.
const NEVER_SWEEP_MIN: usize = 64;
/// Buckets in the window: deadlines up to about 4 s ahead of `base` are pushed without a lookup.
const WINDOW: u64 = 4096;

/// What a timer does when it comes due.
pub(crate) enum Due {
    /// Run a `call_later` / `call_at` callback.
    Handle(Arc<HandleCell>),
    /// Wake a `sleep`: the slot in [`Sleeps`] that holds its waker.
    Sleep(u32),
}

struct Entry {
    /// Nanoseconds since the clock's epoch, below `NEVER`.
    deadline: u64,
    seq: u64,
    due: Due,
}

impl Entry {
    /// `(deadline, seq)` as one integer, so sorting a bucket compares once per pair.
    fn key(&self) -> u128 {
        (u128::from(self.deadline) << 64) | u128::from(self.seq)
    }
}

#[derive(Default)]
struct Bucket {
    entries: VecDeque<Entry>,
    /// Set by an append that came after a later key; cleared by `sort`.
    unsorted: bool,
}

impl Bucket {
    /// `read`: this bucket is the one being read (bucket 0), so keep it sorted now rather than
    /// re-sorting it every turn.
    fn push(&mut self, e: Entry, read: bool) {
        match self.entries.back() {
            Some(last) if last.key() > e.key() => {
                if read && !self.unsorted {
                    let at = self.entries.partition_point(|x| x.key() < e.key());
                    self.entries.insert(at, e);
                } else {
                    self.unsorted = true;
                    self.entries.push_back(e);
                }
            }
            _ => self.entries.push_back(e),
        }
    }

    fn sort(&mut self) {
        if self.unsorted {
            // Keys are unique (seq), so an unstable sort gives the one exact order.
            self.entries
                .make_contiguous()
                .sort_unstable_by_key(Entry::key);
            self.unsorted = false;
        }
    }

    /// Drops cancelled entries at the front (asyncio does this first in `_run_once`) and returns
    /// the first live deadline. A cancelled handle has already dropped its callback, so dropping
    /// it here runs no user code.
    fn first_live(&mut self, len: &mut usize, sleeps: &mut Sleeps) -> Option<u64> {
        self.sort();
        while let Some(e) = self.entries.front() {
            if !sleeps.is_cancelled(&e.due) {
                return Some(e.deadline);
            }
            let e = self.entries.pop_front().expect("looked at");
            sleeps.release(e.due);
            *len -= 1;
        }
        None
    }

    /// Moves every live entry with `deadline <= now` to `out`, in order; drops cancelled ones.
    fn pop_due(
        &mut self,
        now: u64,
        len: &mut usize,
        sleeps: &mut Sleeps,
        out: &mut impl FnMut(Due),
    ) -> usize {
        self.sort();
        let mut n = 0;
        while let Some(e) = self.entries.front() {
            if e.deadline > now {
                break;
            }
            let e = self.entries.pop_front().expect("looked at");
            *len -= 1;
            if sleeps.is_cancelled(&e.due) {
                sleeps.release(e.due);
            } else {
                out(e.due);
                n += 1;
            }
        }
        n
    }

    /// Adds every entry of `other` (a bucket that moved in from `far`); returns the buffer left
    /// over.
    fn merge(&mut self, mut other: Bucket) -> VecDeque<Entry> {
        if self.entries.is_empty() {
            std::mem::swap(self, &mut other);
        } else {
            self.entries.extend(other.entries.drain(..));
            self.unsorted = true;
        }
        other.entries
    }
}

/// What a `Sleep` polled again must do (see [`Timers::sleep_poll`]).
pub(crate) enum SleepPoll {
    Ran,
    Waiting,
    NeedsWaker,
}

#[derive(Default)]
pub(crate) struct Timers {
    /// Bucket `i` holds the deadlines in millisecond `base + i`; bucket 0 also the earlier ones.
    /// Never longer than `WINDOW`.
    window: VecDeque<Bucket>,
    base: u64,
    /// Buckets at or past `base + WINDOW`, by millisecond.
    far: BTreeMap<u64, Bucket>,
    /// Entries in `window` and `far`, live or cancelled (not those in `never`).
    len: usize,
    /// Timers at `NEVER`, in no order: none ever fires, so each leaves only when cancelled (and
    /// swept) or when the loop closes.
    never: Vec<Due>,
    /// `never`'s length when the next sweep of cancelled entries is due.
    never_sweep_at: usize,
    next_seq: u64,
    /// Buffers of emptied buckets, for the next buckets to fill: freeing each one makes glibc
    /// consolidate its fastbins (the freed tasks and handles) at every bucket (PROFILING, "Code
    /// placement"). The price: the peak's bucket buffers stay for the loop's lifetime.
    spare: Vec<VecDeque<Entry>>,
    sleeps: Sleeps,
}

fn recycle(spare: &mut Vec<VecDeque<Entry>>, buf: VecDeque<Entry>) {
    debug_assert!(buf.is_empty());
    if buf.capacity() > 0 {
        spare.push(buf);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Timers {
    pub(crate) fn push(&mut self, deadline: Duration, handle: Arc<HandleCell>) {
        self.push_due(deadline, Due::Handle(handle));
    }

    /// Arms a `sleep`'s timer; the slot is the `Sleep`'s to ask about (`sleep_*`).
    pub(crate) fn push_sleep(
        &mut self,
        deadline: Duration,
        waker: Waker,
        at: &'static Location<'static>,
    ) -> u32 {
        let slot = self.sleeps.arm(deadline, waker, at);
        self.push_due(deadline, Due::Sleep(slot));
        slot
    }

    fn push_due(&mut self, deadline: Duration, due: Due) {
        let deadline = nanos(deadline);
        if deadline == NEVER {
            return self.push_never(due);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.len += 1;
        let e = Entry { deadline, seq, due };
        let i = (deadline / NANOS_PER_BUCKET).saturating_sub(self.base);
        if i < WINDOW {
            let i = i as usize;
            if self.window.len() <= i {
                self.window.resize_with(i + 1, Bucket::default);
            }
            let b = &mut self.window[i];
            if b.entries.capacity() == 0 {
                b.entries = self.spare.pop().unwrap_or_default();
            }
            b.push(e, i == 0);
        } else {
            let b = self.far.entry(self.base + i).or_default();
            if b.entries.capacity() == 0 {
                b.entries = self.spare.pop().unwrap_or_default();
            }
            b.push(e, false);
        }
    }

    /// A timer that never fires. No turn reaches `never` to drop what is cancelled there, so a
    /// loop that keeps arming and cancelling such timers would grow it without bound: it is swept
    /// whenever it has doubled since the last sweep, which costs O(1) a push, amortized. Dropping
    /// a cancelled entry runs no user code (its callback or waker is gone already).
    fn push_never(&mut self, due: Due) {
        if self.never.len() >= self.never_sweep_at.max(NEVER_SWEEP_MIN) {
            let mut i = 0;
            while i < self.never.len() {
                if self.sleeps.is_cancelled(&self.never[i]) {
                    let dead = self.never.swap_remove(i);
                    self.sleeps.release(dead);
                } else {
                    i += 1;
                }
            }
            self.never_sweep_at = self.never.len() * 2;
        }
        self.never.push(due);
    }

    /// Timers in `never`, cancelled ones not yet swept included.
    pub(crate) fn never_len(&self) -> usize {
        self.never.len()
    }

    /// True when no timer that can come due, live or cancelled, is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The earliest live deadline; never one at `NEVER`, so a virtual clock is never moved to
    /// the end of its range (TIME-5).
    // Out of line: its loops stay out of `decide()`, which every turn runs, timers or not.
    #[inline(never)]
    pub(crate) fn next_deadline(&mut self) -> Option<Duration> {
        if self.len == 0 {
            return None;
        }
        let len = &mut self.len;
        let sleeps = &mut self.sleeps;
        for b in self.window.iter_mut() {
            if b.entries.is_empty() {
                continue;
            }
            if let Some(d) = b.first_live(len, sleeps) {
                return Some(Duration::from_nanos(d));
            }
        }
        while let Some(mut first) = self.far.first_entry() {
            if let Some(d) = first.get_mut().first_live(len, sleeps) {
                return Some(Duration::from_nanos(d));
            }
            recycle(&mut self.spare, first.remove().entries);
        }
        None
    }

    /// Moves every live timer with `deadline <= now` to `out`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Duration, mut out: impl FnMut(Due)) -> usize {
        let now = nanos(now);
        let now_ms = now / NANOS_PER_BUCKET;
        let mut n = 0;
        loop {
            for (i, b) in self.window.iter_mut().enumerate() {
                // Bucket 0 always: it holds deadlines before `base` too, and `base` may be ahead
                // of this reading (another worker read the clock a little later).
                if i > 0 && self.base + i as u64 > now_ms {
                    break;
                }
                if !b.entries.is_empty() {
                    n += b.pop_due(now, &mut self.len, &mut self.sleeps, &mut out);
                }
            }
            if !self.advance(now_ms) {
                return n;
            }
        }
    }

    /// Moves `base` up to `now_ms` (every bucket before it was emptied by `pop_due`) and brings
    /// the buckets of `far` that now fall inside the window into it. True when one of them holds
    /// deadlines at or before `now_ms`, which the caller must still pop.
    fn advance(&mut self, now_ms: u64) -> bool {
        if now_ms <= self.base {
            return false;
        }
        let k = (now_ms - self.base).min(self.window.len() as u64) as usize;
        for b in self.window.drain(..k) {
            recycle(&mut self.spare, b.entries);
        }
        self.base = now_ms;
        let mut due = false;
        while let Some(first) = self.far.first_entry() {
            let ms = *first.key();
            if ms >= self.base + WINDOW {
                break;
            }
            let bucket = first.remove();
            due |= ms <= now_ms;
            let i = ms.saturating_sub(self.base) as usize;
            if self.window.len() <= i {
                self.window.resize_with(i + 1, Bucket::default);
            }
            let left = self.window[i].merge(bucket);
            recycle(&mut self.spare, left);
        }
        due
    }

    /// Empties everything (the loop is closing): the callbacks' handles, to cancel, and every
    /// armed sleep's waker, to drop outside the lock. Sleep slots are not used after this.
    pub(crate) fn drain(&mut self) -> (Vec<Arc<HandleCell>>, Vec<Waker>) {
        self.len = 0;
        let mut handles: Vec<_> = self
            .never
            .drain(..)
            .filter_map(|due| match due {
                Due::Handle(h) => Some(h),
                Due::Sleep(_) => None,
            })
            .collect();
        let far = std::mem::take(&mut self.far);
        for mut b in self.window.drain(..).chain(far.into_values()) {
            handles.extend(b.entries.drain(..).filter_map(|e| match e.due {
                Due::Handle(h) => Some(h),
                Due::Sleep(_) => None,
            }));
            recycle(&mut self.spare, b.entries);
        }
        (handles, self.sleeps.drain())
    }

    /// A queued sleep timer runs: its waker, unless the `Sleep` is gone.
    pub(crate) fn fire_sleep(&mut self, slot: u32) -> Option<Waker> {
        self.sleeps.fire(slot)
    }

    /// For a `Sleep` polled again: whether its timer ran (its slot is then freed), else whether
    /// the waker it holds already wakes `waker`'s task. Clones nothing: a new waker is cloned by
    /// the caller outside the lock and handed to [`Timers::sleep_set_waker`] (LOCK-1).
    pub(crate) fn sleep_poll(&mut self, slot: u32, waker: &Waker) -> SleepPoll {
        if self.sleeps.ran(slot) {
            SleepPoll::Ran
        } else if self.sleeps.wakes(slot, waker) {
            SleepPoll::Waiting
        } else {
            SleepPoll::NeedsWaker
        }
    }

    /// Gives an armed sleep `waker`; returns the waker it replaced, to drop outside the lock. If
    /// the timer ran in the meantime, the slot is freed and `waker` handed back as `Err`.
    pub(crate) fn sleep_set_waker(
        &mut self,
        slot: u32,
        waker: Waker,
    ) -> Result<Option<Waker>, Waker> {
        if self.sleeps.ran(slot) {
            Err(waker)
        } else {
            Ok(self.sleeps.set_waker(slot, waker))
        }
    }

    /// The first half of a correct poll, for the injected `SleepWakerRace`.
    pub(crate) fn sleep_ran(&mut self, slot: u32) -> bool {
        self.sleeps.ran(slot)
    }

    /// The second half for the injected `SleepWakerRace`: sets the waker without looking whether
    /// the timer ran since the first half. Returns whatever waker is left over.
    pub(crate) fn sleep_set_waker_unchecked(&mut self, slot: u32, waker: Waker) -> Option<Waker> {
        if self.sleeps.armed(slot) {
            self.sleeps.set_waker(slot, waker)
        } else {
            Some(waker)
        }
    }

    /// The `Sleep` is dropped before it saw its timer run: returns the waker to drop outside the
    /// lock.
    pub(crate) fn cancel_sleep(&mut self, slot: u32) -> Option<Waker> {
        self.sleeps.cancel(slot)
    }

    pub(crate) fn describe_sleep(&self, slot: u32) -> String {
        self.sleeps.describe(slot)
    }
}
