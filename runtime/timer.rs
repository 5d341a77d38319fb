//! The timer heap: due callbacks in deadline order, equal deadlines in the order they were
//! scheduled (TIME-2).

use crate::handle::HandleCell;
use evloop_model::sync::Arc;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

struct Entry {
    deadline: Duration,
    seq: u64,
    handle: Arc<HandleCell>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
}

impl Timers {
    pub(crate) fn push(&mut self, deadline: Duration, handle: Arc<HandleCell>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry {
            deadline,
            seq,
            handle,
        }));
    }

    /// Drops cancelled timers at the front (asyncio does this first in `_run_once`), so the next
    /// deadline is a live one. A cancelled handle has already dropped its callback, so dropping it
    /// here runs no user code.
    // Out of line: inlined, its loop sits in `decide()`, which every turn runs, and costs the
    // timer-free turn a few instructions (callgrind: yield_loop 456 -> 460 per yield).
    #[inline(never)]
    fn prune(&mut self) {
        while let Some(Reverse(e)) = self.heap.peek() {
            if !e.handle.is_cancelled() {
                break;
            }
            self.heap.pop();
        }
    }

    /// True when no timer, live or cancelled, is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Duration> {
        self.prune();
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }

    /// Moves every live timer with `deadline <= now` to `out`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Duration, mut out: impl FnMut(Arc<HandleCell>)) -> usize {
        let mut n = 0;
        loop {
            self.prune();
            match self.heap.peek() {
                Some(Reverse(e)) if e.deadline <= now => {
                    let Reverse(e) = self.heap.pop().expect("peeked");
                    out(e.handle);
                    n += 1;
                }
                _ => return n,
            }
        }
    }

    pub(crate) fn drain(&mut self) -> Vec<Arc<HandleCell>> {
        self.heap.drain().map(|Reverse(e)| e.handle).collect()
    }
}
