//! An append-only list of waiters that holds a single entry inline.
//!
//! Task done lists almost always hold exactly one entry (the one task awaiting it, or gather's
//! callback); keeping that one inline saves a heap allocation per task. Entries are replaced in place (a waiter re-polled with a new waker, or gone)
//! and never removed, so indexes stay valid and the order of dispatch is the order of `push`.

/// See the module documentation.
///
/// One enum rather than an inline `Option<E>` beside a boxed overflow: the list's own tag then
/// fits in the niche of `E`'s (a `DoneEntry` has spare tag values), so the list is the size of
/// one entry, not that plus a pointer — in every task cell. Once a second entry comes, the first
/// moves into the `Vec` with it (indexes are unchanged: entry `i` is `v[i]`).
#[derive(Default)]
pub(crate) enum Entries<E> {
    #[default]
    Empty,
    One(E),
    /// Boxed so that this variant fits beside the entry's niche.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<E>>),
}

impl<E> Entries<E> {
    /// Appends `entry`; returns its index for later replacement.
    #[inline]
    pub(crate) fn push(&mut self, entry: E) -> usize {
        if let Entries::Empty = self {
            // `Empty` owns nothing: forgetting it spares the out-of-line drop glue a plain
            // assignment calls (it decodes the tag from the entry's niche; callgrind, gather).
            std::mem::forget(std::mem::replace(self, Entries::One(entry)));
            0
        } else {
            self.push_rest(entry)
        }
    }

    /// Kept out of line so that `push` stays small enough to inline on the one-entry path.
    #[cold]
    fn push_rest(&mut self, entry: E) -> usize {
        if let Entries::Many(v) = self {
            v.push(entry);
            return v.len() - 1;
        }
        let Entries::One(first) = std::mem::take(self) else {
            unreachable!("push_rest is only called on a non-empty list")
        };
        *self = Entries::Many(Box::new(vec![first, entry]));
        1
    }

    /// Hands every entry to `f` in the order they were added. Cheaper than `into_iter()` for the
    /// usual list of one: no `Vec` iterator when nothing spilled past the first entry.
    pub(crate) fn drain_in_order(self, mut f: impl FnMut(E)) {
        match self {
            Entries::Empty => {}
            Entries::One(e) => f(e),
            Entries::Many(v) => v.into_iter().for_each(f),
        }
    }

    /// The entries in the order they were added.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, E> {
        match self {
            Entries::Empty => [].iter(),
            Entries::One(e) => std::slice::from_ref(e).iter(),
            Entries::Many(v) => v.iter(),
        }
    }
}

impl<E> std::ops::Index<usize> for Entries<E> {
    type Output = E;
    fn index(&self, i: usize) -> &E {
        match (self, i) {
            (Entries::One(e), 0) => e,
            (Entries::Many(v), _) => &v[i],
            _ => panic!("entry {i} does not exist"),
        }
    }
}

impl<E> std::ops::IndexMut<usize> for Entries<E> {
    fn index_mut(&mut self, i: usize) -> &mut E {
        match (self, i) {
            (Entries::One(e), 0) => e,
            (Entries::Many(v), _) => &mut v[i],
            _ => panic!("entry {i} does not exist"),
        }
    }
}
