//! The TASK-10 witness: a `!Unpin` future that checks it is never moved from its first poll until
//! it is dropped, shared by the plain and the loom checks (`#[path]`-included by both).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What a [`StaysPut`] future saw of its own address. Plain std atomics: a record for the test,
/// not part of what the model checker explores.
#[derive(Default)]
pub struct Witness {
    polls: std::sync::atomic::AtomicUsize,
    moved_between_polls: std::sync::atomic::AtomicUsize,
    drops: std::sync::atomic::AtomicUsize,
    moved_before_drop: std::sync::atomic::AtomicUsize,
}

impl Witness {
    pub fn assert_in_place_and_dropped_once(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        assert!(self.polls.load(SeqCst) >= 1, "the future was never polled");
        assert_eq!(
            self.moved_between_polls.load(SeqCst),
            0,
            "TASK-10 violated: the future was polled at another address than before"
        );
        assert_eq!(
            self.moved_before_drop.load(SeqCst),
            0,
            "TASK-10 violated: the future was moved after its first poll and dropped elsewhere"
        );
        assert_eq!(
            self.drops.load(SeqCst),
            1,
            "TASK-10 violated: the future was not dropped exactly once"
        );
    }
}

/// A `!Unpin` future that records where it was first polled, and checks at every later poll and
/// in its destructor that it is still there. Waits for `inner`, then returns or panics.
pub struct StaysPut {
    /// In a `RefCell` so that a shared reference, which `Pin<&mut Self>` gives, can poll it.
    inner: std::cell::RefCell<Pin<Box<dyn Future<Output = ()> + Send>>>,
    panic_at_end: bool,
    first_at: std::cell::Cell<usize>,
    witness: std::sync::Arc<Witness>,
    _pinned: std::marker::PhantomPinned,
}

impl StaysPut {
    pub fn new(
        inner: impl Future<Output = ()> + Send + 'static,
        panic_at_end: bool,
        witness: &std::sync::Arc<Witness>,
    ) -> Self {
        StaysPut {
            inner: std::cell::RefCell::new(Box::pin(inner)),
            panic_at_end,
            first_at: std::cell::Cell::new(0),
            witness: witness.clone(),
            _pinned: std::marker::PhantomPinned,
        }
    }
}

impl Future for StaysPut {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        use std::sync::atomic::Ordering::SeqCst;
        let me = self.as_ref().get_ref();
        let here = me as *const StaysPut as usize;
        me.witness.polls.fetch_add(1, SeqCst);
        match me.first_at.get() {
            0 => me.first_at.set(here),
            first if first != here => {
                me.witness.moved_between_polls.fetch_add(1, SeqCst);
            }
            _ => {}
        }
        let polled = me.inner.borrow_mut().as_mut().poll(cx);
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) if me.panic_at_end => panic!("the pinned future panics"),
            Poll::Ready(()) => Poll::Ready(()),
        }
    }
}

impl Drop for StaysPut {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::SeqCst;
        let here = self as *const StaysPut as usize;
        let first = self.first_at.get();
        if first != 0 && first != here {
            self.witness.moved_before_drop.fetch_add(1, SeqCst);
        }
        self.witness.drops.fetch_add(1, SeqCst);
    }
}
