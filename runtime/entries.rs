//! An append-only list of waiters whose first entry is stored inline.
//!
//! Task done lists and `LoopFuture` waiter lists almost always hold exactly one entry (the one
//! task awaiting it, or gather's callback); keeping that one inline saves a heap allocation per
//! task or future. Entries are replaced in place (a waiter re-polled with a new waker, or gone)
//! and never removed, so indexes stay valid and the order of dispatch is the order of `push`.

/// See the module documentation.
pub(crate) struct Entries<E> {
    first: Option<E>,
    /// Boxed so that the usual empty overflow costs one pointer, not a `Vec`'s three words, in
    /// every task cell and future.
    #[allow(clippy::box_collection)]
    rest: Option<Box<Vec<E>>>,
}

impl<E> Default for Entries<E> {
    fn default() -> Self {
        Entries {
            first: None,
            rest: None,
        }
    }
}

impl<E> Entries<E> {
    /// Appends `entry`; returns its index for later replacement.
    #[inline]
    pub(crate) fn push(&mut self, entry: E) -> usize {
        // Nothing is ever removed, so an empty `first` means an empty list.
        if self.first.is_none() {
            self.first = Some(entry);
            0
        } else {
            self.push_rest(entry)
        }
    }

    /// Kept out of line so that `push` stays small enough to inline on the one-entry path.
    #[cold]
    fn push_rest(&mut self, entry: E) -> usize {
        let rest = self.rest.get_or_insert_with(Box::default);
        rest.push(entry);
        rest.len()
    }

    /// Hands every entry to `f` in the order they were added. Cheaper than `into_iter()` for the
    /// usual list of one: no chained iterator to build and drop, and no `Vec` iterator at all
    /// when nothing spilled past the inline entry.
    pub(crate) fn drain_in_order(self, mut f: impl FnMut(E)) {
        if let Some(first) = self.first {
            f(first);
            if let Some(rest) = self.rest {
                rest.into_iter().for_each(f);
            }
        }
    }

    /// The entries in the order they were added.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &E> {
        self.first
            .iter()
            .chain(self.rest.iter().flat_map(|r| r.iter()))
    }
}

impl<E> std::ops::Index<usize> for Entries<E> {
    type Output = E;
    fn index(&self, i: usize) -> &E {
        match i {
            0 => self.first.as_ref().expect("entry 0 exists"),
            _ => &self.rest.as_ref().expect("entry i exists")[i - 1],
        }
    }
}

impl<E> std::ops::IndexMut<usize> for Entries<E> {
    fn index_mut(&mut self, i: usize) -> &mut E {
        match i {
            0 => self.first.as_mut().expect("entry 0 exists"),
            _ => &mut self.rest.as_mut().expect("entry i exists")[i - 1],
        }
    }
}

impl<E> IntoIterator for Entries<E> {
    type Item = E;
    type IntoIter = std::iter::Chain<std::option::IntoIter<E>, std::vec::IntoIter<E>>;
    fn into_iter(self) -> Self::IntoIter {
        self.first
            .into_iter()
            .chain(self.rest.map(|r| *r).unwrap_or_default())
    }
}
