//! [`WaitList`]: the one list of waiters every primitive keeps — a task's done list, a
//! [`LoopFuture`](crate::LoopFuture)'s waiters and callbacks, a [`Queue`](crate::Queue)'s getters,
//! putters and joiners, a gather's and a `to_thread` job's awaiting task.
//!
//! What every user of it relies on:
//! - **Order.** Entries are visited in the order they were added ([`WaitList::drain_in_order`],
//!   [`WaitList::pop_front_where`]); [`WaitList::move_to_back`] gives an entry a new place at the
//!   back, as if it had been added now (FUT-3, TASK-6, QUEUE-3).
//! - **Stable keys.** [`WaitList::push`] returns a key that names the entry until it is removed,
//!   so a waiter polled again replaces its own entry in place.
//! - **No garbage.** A waiter that goes away removes its entry and its slot is reused by a later
//!   one, so a list holds as many slots as it has entries at once, never one per waiter it ever had
//!   (FUT-6, TASK-11, QUEUE-4). A list whose last entry goes returns to the empty state and frees
//!   what it had allocated.
//! - **Nothing runs inside.** The list never wakes, clones or drops a waker or calls a callback on
//!   its own: every entry it gives up ([`WaitList::replace`], [`WaitList::remove`], the drains) is
//!   handed back to the caller, who holds the primitive's lock and must let it go before waking or
//!   dropping what it got (the runtime's rule: no user code under a runtime lock).
//!
//! The usual list holds one entry (the one task awaiting a task, a future, a gather), so that one
//! lives inline: a list of zero or one entries costs no allocation and is the size of one entry
//! (the variant's tag sits in a niche of the entry's own). From the second entry on, entries live
//! in a slab with a free list, and their order in a queue of `(slot, stamp)` records: a record
//! whose slot has been freed or moved since (its stamp changed) is skipped, and stale records are
//! dropped once they outnumber live entries, so every operation is O(1) amortized.

use std::collections::VecDeque;

/// See the module documentation.
#[derive(Default)]
pub(crate) enum WaitList<E> {
    #[default]
    Empty,
    /// Key 0.
    One(E),
    /// Boxed so that this variant fits beside the entry's niche.
    Many(Box<Many<E>>),
}

pub(crate) struct Many<E> {
    slots: Vec<Slot<E>>,
    /// Freed slots, reused before `slots` grows (the most recently freed first).
    free: Vec<u32>,
    /// `(slot, stamp)` in order of addition; a record is current while its slot holds an entry
    /// with that stamp.
    order: VecDeque<(u32, u32)>,
    live: usize,
}

struct Slot<E> {
    /// Bumped whenever the slot's entry is removed or moved to the back, which makes every
    /// older order record of the slot stale.
    stamp: u32,
    entry: Option<E>,
}

impl<E> Many<E> {
    fn current(&self, (i, stamp): (u32, u32)) -> bool {
        let slot = &self.slots[i as usize];
        slot.stamp == stamp && slot.entry.is_some()
    }

    /// Drops stale order records once they outnumber the live entries.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.live + 8 {
            let slots = &self.slots;
            self.order.retain(|&(i, s)| {
                slots[i as usize].stamp == s && slots[i as usize].entry.is_some()
            });
        }
    }

    fn slot(&mut self, key: u32) -> &mut Slot<E> {
        match self.slots.get_mut(key as usize) {
            Some(slot) if slot.entry.is_some() => slot,
            _ => panic!("waiter key {key} names no entry"),
        }
    }
}

impl<E> WaitList<E> {
    /// Adds `entry` at the back; returns its key.
    #[inline]
    pub(crate) fn push(&mut self, entry: E) -> u32 {
        if let WaitList::Empty = self {
            // `Empty` owns nothing: forgetting it spares the drop glue a plain assignment runs.
            std::mem::forget(std::mem::replace(self, WaitList::One(entry)));
            0
        } else {
            self.push_rest(entry)
        }
    }

    /// Kept out of line so that `push` stays small enough to inline on the one-entry path.
    #[cold]
    fn push_rest(&mut self, entry: E) -> u32 {
        if let WaitList::One(_) = self {
            let WaitList::One(first) = std::mem::take(self) else {
                unreachable!("matched above")
            };
            *self = WaitList::Many(Box::new(Many {
                slots: vec![Slot {
                    stamp: 0,
                    entry: Some(first),
                }],
                free: Vec::new(),
                order: VecDeque::from([(0, 0)]),
                live: 1,
            }));
        }
        let WaitList::Many(m) = self else {
            unreachable!("push_rest is only called on a non-empty list")
        };
        let key = match m.free.pop() {
            Some(i) => {
                m.slots[i as usize].entry = Some(entry);
                i
            }
            None => {
                let i = u32::try_from(m.slots.len())
                    .ok()
                    .filter(|&i| i != u32::MAX)
                    .expect("more than 2^32 - 1 waiters in one list");
                m.slots.push(Slot {
                    stamp: 0,
                    entry: Some(entry),
                });
                i
            }
        };
        let stamp = m.slots[key as usize].stamp;
        m.order.push_back((key, stamp));
        m.live += 1;
        m.compact();
        key
    }

    /// The entry named by `key`.
    pub(crate) fn get(&self, key: u32) -> &E {
        match self {
            WaitList::One(e) if key == 0 => e,
            WaitList::Many(m) => match m.slots.get(key as usize).and_then(|s| s.entry.as_ref()) {
                Some(e) => e,
                None => panic!("waiter key {key} names no entry"),
            },
            _ => panic!("waiter key {key} names no entry"),
        }
    }

    /// The entry named by `key`, to change in place.
    pub(crate) fn get_mut(&mut self, key: u32) -> &mut E {
        match self {
            WaitList::One(e) if key == 0 => e,
            WaitList::Many(m) => m.slot(key).entry.as_mut().expect("checked by slot()"),
            _ => panic!("waiter key {key} names no entry"),
        }
    }

    /// Replaces the entry named by `key`, keeping its place; returns the old one (the caller drops
    /// it after letting go of its lock).
    #[must_use = "the old entry is the caller's to drop outside its lock"]
    pub(crate) fn replace(&mut self, key: u32, entry: E) -> E {
        std::mem::replace(self.get_mut(key), entry)
    }

    /// Removes the entry named by `key` and frees its slot for a later `push`; returns the entry
    /// (the caller drops it after letting go of its lock).
    #[must_use = "the removed entry is the caller's to drop outside its lock"]
    pub(crate) fn remove(&mut self, key: u32) -> E {
        match self {
            WaitList::One(_) if key == 0 => {
                let WaitList::One(e) = std::mem::take(self) else {
                    unreachable!("matched above")
                };
                e
            }
            WaitList::Many(m) => {
                let slot = m.slot(key);
                let e = slot.entry.take().expect("checked by slot()");
                slot.stamp = slot.stamp.wrapping_add(1);
                m.free.push(key);
                m.live -= 1;
                if m.live == 0 {
                    // Nobody holds a key any more: start again from the inline state, and give
                    // the slab back.
                    *self = WaitList::Empty;
                } else {
                    m.compact();
                }
                e
            }
            _ => panic!("waiter key {key} names no entry"),
        }
    }

    /// Gives the entry named by `key` a new place at the back, as if added now.
    pub(crate) fn move_to_back(&mut self, key: u32) {
        match self {
            WaitList::One(_) if key == 0 => {}
            WaitList::Many(m) => {
                let slot = m.slot(key);
                slot.stamp = slot.stamp.wrapping_add(1);
                let stamp = slot.stamp;
                m.order.push_back((key, stamp));
                m.compact();
            }
            _ => panic!("waiter key {key} names no entry"),
        }
    }

    /// The key of the first entry, in order, for which `pred` holds. Every entry before it leaves
    /// the order with it: they are still in the list (their keys stay valid, `remove` and
    /// `drain_in_order` still reach them), but `pop_front_where` will not see them again until
    /// they are moved to the back. That is a queue's `_wakeup_next`: the woken waiter is no
    /// longer waiting, and one that was woken before it is not waiting either.
    pub(crate) fn pop_front_where(&mut self, mut pred: impl FnMut(&E) -> bool) -> Option<u32> {
        match self {
            WaitList::Empty => None,
            WaitList::One(e) => pred(e).then_some(0),
            WaitList::Many(m) => {
                while let Some(record) = m.order.pop_front() {
                    if m.current(record) {
                        let e = m.slots[record.0 as usize].entry.as_ref().expect("current");
                        if pred(e) {
                            return Some(record.0);
                        }
                    }
                }
                None
            }
        }
    }

    /// Hands every entry to `f` in the order of addition (then any that `pop_front_where` took out
    /// of the order, by slot). The list is consumed: take it out of its lock first.
    pub(crate) fn drain_in_order(self, mut f: impl FnMut(E)) {
        match self {
            WaitList::Empty => {}
            WaitList::One(e) => f(e),
            WaitList::Many(m) => m.drain_in_order(f),
        }
    }

    /// Entries in the list.
    pub(crate) fn len(&self) -> usize {
        match self {
            WaitList::Empty => 0,
            WaitList::One(_) => 1,
            WaitList::Many(m) => m.live,
        }
    }

    /// Slots held, live or free: what the list costs, for tests that it holds no garbage.
    pub(crate) fn slots(&self) -> usize {
        match self {
            WaitList::Empty => 0,
            WaitList::One(_) => 1,
            WaitList::Many(m) => m.slots.len(),
        }
    }

    /// The entries, in no particular order (diagnostics).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&E)) {
        match self {
            WaitList::Empty => {}
            WaitList::One(e) => f(e),
            WaitList::Many(m) => m.slots.iter().filter_map(|s| s.entry.as_ref()).for_each(f),
        }
    }
}

impl<E> Many<E> {
    #[cold]
    fn drain_in_order(mut self, mut f: impl FnMut(E)) {
        let order = std::mem::take(&mut self.order);
        for (i, stamp) in order {
            let slot = &mut self.slots[i as usize];
            if slot.stamp == stamp {
                if let Some(e) = slot.entry.take() {
                    f(e);
                }
            }
        }
        for slot in self.slots {
            if let Some(e) = slot.entry {
                f(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WaitList;

    fn drained(list: WaitList<&'static str>) -> Vec<&'static str> {
        let mut out = Vec::new();
        list.drain_in_order(|e| out.push(e));
        out
    }

    #[test]
    fn entries_come_out_in_the_order_they_were_added_across_slot_reuse() {
        let mut l = WaitList::default();
        let a = l.push("a");
        let b = l.push("b");
        let _ = l.remove(a);
        l.push("c"); // reuses a's slot, but comes after b
        assert_eq!(l.slots(), 2);
        l.move_to_back(b);
        assert_eq!(drained(l), ["c", "b"]);
    }

    #[test]
    fn waiters_that_go_away_leave_no_slots_behind() {
        let mut l = WaitList::default();
        let keep = l.push("keep");
        for _ in 0..10_000 {
            let k = l.push("brief");
            let _ = l.remove(k);
        }
        assert_eq!(l.slots(), 2);
        assert_eq!(l.len(), 1);
        let _ = l.remove(keep);
        assert!(
            matches!(l, WaitList::Empty),
            "an emptied list gives its slab back"
        );
    }

    #[test]
    fn pop_front_where_skips_taken_entries_until_moved_back() {
        let mut l = WaitList::default();
        let a = l.push(("a", false));
        let b = l.push(("b", false));
        let first = l.pop_front_where(|e| !e.1).unwrap();
        assert_eq!(first, a);
        l.get_mut(a).1 = true;
        assert_eq!(l.pop_front_where(|e| !e.1), Some(b));
        l.get_mut(b).1 = true;
        assert_eq!(l.pop_front_where(|e| !e.1), None);
        l.get_mut(a).1 = false;
        l.move_to_back(a);
        assert_eq!(l.pop_front_where(|e| !e.1), Some(a));
        // Taken out of the order, still drained.
        let mut out = Vec::new();
        l.drain_in_order(|e| out.push(e.0));
        out.sort_unstable();
        assert_eq!(out, ["a", "b"]);
    }
}
