//! An append-only list of waiters whose first entry is stored inline.
//!
//! Task done lists and `LoopFuture` waiter lists almost always hold exactly one entry (the one
//! task awaiting it, or gather's callback); keeping that one inline saves a heap allocation per
//! task or future. Entries are replaced in place (a waiter re-polled with a new waker, or gone)
//! and never removed, so indexes stay valid and the order of dispatch is the order of `push`.

/// See the module documentation.
pub(crate) struct Entries<E> {
    first: Option<E>,
    rest: Vec<E>,
}

impl<E> Default for Entries<E> {
    fn default() -> Self {
        Entries {
            first: None,
            rest: Vec::new(),
        }
    }
}

impl<E> Entries<E> {
    /// Appends `entry`; returns its index for later replacement.
    pub(crate) fn push(&mut self, entry: E) -> usize {
        // Nothing is ever removed, so an empty `first` means an empty list.
        if self.first.is_none() {
            self.first = Some(entry);
            0
        } else {
            self.rest.push(entry);
            self.rest.len()
        }
    }

    /// Hands every entry to `f` in the order they were added. Cheaper than `into_iter()` for the
    /// usual list of one: no chained iterator to build and drop, and no `Vec` iterator at all
    /// when nothing spilled past the inline entry.
    pub(crate) fn drain_in_order(self, mut f: impl FnMut(E)) {
        if let Some(first) = self.first {
            f(first);
            if !self.rest.is_empty() {
                self.rest.into_iter().for_each(f);
            }
        }
    }

    /// The entries in the order they were added.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &E> {
        self.first.iter().chain(&self.rest)
    }
}

impl<E> std::ops::Index<usize> for Entries<E> {
    type Output = E;
    fn index(&self, i: usize) -> &E {
        match i {
            0 => self.first.as_ref().expect("entry 0 exists"),
            _ => &self.rest[i - 1],
        }
    }
}

impl<E> std::ops::IndexMut<usize> for Entries<E> {
    fn index_mut(&mut self, i: usize) -> &mut E {
        match i {
            0 => self.first.as_mut().expect("entry 0 exists"),
            _ => &mut self.rest[i - 1],
        }
    }
}

impl<E> IntoIterator for Entries<E> {
    type Item = E;
    type IntoIter = std::iter::Chain<std::option::IntoIter<E>, std::vec::IntoIter<E>>;
    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}
