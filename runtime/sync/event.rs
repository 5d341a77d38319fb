//! [`Event`]: asyncio's `Event` — a flag tasks wait on; setting it wakes every task waiting at
//! that moment (SYNC-4, SYNC-5).
//!
//! ## Waiters and generations
//!
//! A `set` that changes the flag takes the whole waiter list out of the lock and wakes every
//! entry once it is let go (LOCK-1), and starts a new generation. A waiting future remembers the
//! generation it registered in: a later generation means its entry was taken by a `set`, so it
//! is done — even if the flag was cleared again before it ran (asyncio: its future was given a
//! result) — and it has no entry left to remove. A future dropped in its own generation removes
//! its entry; nothing is passed on, since a `set` wakes everyone.
//!
//! A waiter that finds the flag clear lets the lock go to clone its task's waker and then looks
//! at the flag again before it registers: a `set` in between would otherwise find nobody to wake
//! and leave it waiting for good (the `event_lost_waiter` bug skips that second look).

use super::drop_waker;
use crate::waiters::WaitList;
use evloop_model::bug::{self, Bug};
use evloop_model::sync::{Arc, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A flag tasks wait on (asyncio's `Event`): [`wait`](Event::wait) returns once it is set;
/// [`set`](Event::set) wakes every task waiting; [`clear`](Event::clear) makes later waits wait
/// again. Cloning gives another handle to the same event.
///
/// ```
/// evloop::run(async {
///     let ready = evloop::Event::new();
///     let waiters: Vec<_> = (0..3)
///         .map(|i| {
///             let ready = ready.clone();
///             evloop::create_task(async move {
///                 ready.wait().await;
///                 i
///             })
///         })
///         .collect();
///     evloop::sleep(std::time::Duration::ZERO).await; // all three wait
///     ready.set(); // wakes all of them
///     for (i, w) in waiters.into_iter().enumerate() {
///         assert_eq!(w.await.unwrap(), i);
///     }
/// });
/// ```
#[derive(Clone)]
pub struct Event {
    shared: Arc<Mutex<State>>,
}

struct State {
    value: bool,
    /// Bumped by every `set` that wakes the list (see the module documentation).
    generation: u64,
    waiters: WaitList<Waker>,
}

impl Event {
    /// A clear event (asyncio's `Event()`). It needs no running loop.
    ///
    /// ```
    /// assert!(!evloop::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event {
            shared: Arc::new(Mutex::new(State {
                value: false,
                generation: 0,
                waiters: WaitList::default(),
            })),
        }
    }

    /// True while the flag is set (asyncio's `is_set()`).
    ///
    /// ```
    /// let e = evloop::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.shared.lock().value
    }

    /// Sets the flag and wakes every task waiting for it, in the order they started waiting
    /// (asyncio's `set()`). Each of them returns from its wait even if the flag is cleared
    /// before it runs. Setting a set event does nothing.
    ///
    /// ```
    /// evloop::run(async {
    ///     let e = evloop::Event::new();
    ///     let w = {
    ///         let e = e.clone();
    ///         evloop::create_task(async move { e.wait().await })
    ///     };
    ///     evloop::sleep(std::time::Duration::ZERO).await;
    ///     e.set();
    ///     e.clear(); // too late to hold `w` back: it was woken by the set
    ///     w.await.unwrap();
    /// });
    /// ```
    pub fn set(&self) {
        let mut st = self.shared.lock();
        if st.value {
            return;
        }
        st.value = true;
        st.generation = st.generation.wrapping_add(1);
        let waiters = std::mem::take(&mut st.waiters);
        drop(st);
        waiters.drain_in_order(crate::engine::contain::wake);
    }

    /// Clears the flag (asyncio's `clear()`): later waits wait for the next `set`.
    ///
    /// ```
    /// let e = evloop::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.shared.lock().value = false;
    }

    /// Waits until the flag is set (asyncio's `await event.wait()`); at once, without yielding,
    /// if it is set now.
    ///
    /// ```
    /// evloop::run(async {
    ///     let e = evloop::Event::new();
    ///     e.set();
    ///     e.wait().await; // returns at once
    /// });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            slot: None,
        }
    }
}

impl Default for Event {
    /// [`Event::new`].
    ///
    /// ```
    /// assert!(!evloop::Event::default().is_set());
    /// ```
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    /// asyncio's repr: `[unset, waiters:1]`, as `Event(unset, waiters=1)`.
    ///
    /// ```
    /// let e = evloop::Event::new();
    /// assert_eq!(format!("{e:?}"), "Event(unset, waiters=0)");
    /// e.set();
    /// assert_eq!(format!("{e:?}"), "Event(set, waiters=0)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        let value = if st.value { "set" } else { "unset" };
        write!(f, "Event({value}, waiters={})", st.waiters.len())
    }
}

/// The future of [`Event::wait`]: done once the event has been set.
///
/// ```
/// evloop::run(async {
///     let e = evloop::Event::new();
///     e.set();
///     let wait: evloop::EventWait<'_> = e.wait();
///     wait.await;
/// });
/// ```
#[must_use = "a wait does nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    /// `(entry, generation)` while registered.
    slot: Option<(u32, u64)>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if crate::engine::cancel::in_flight() {
            // CANCEL-2: a cancellation lands at this await, which takes nothing.
            return Poll::Pending;
        }
        let this = self.get_mut();
        // Cloned with the lock let go (LOCK-1); the flag is looked at again after.
        let mut waker: Option<Waker> = None;
        loop {
            let mut st = this.event.shared.lock();
            let ready = match this.slot {
                // Taken out by a `set`: woken, whatever the flag says now.
                Some((_, g)) => g != st.generation,
                None => st.value && !(waker.is_some() && bug::enabled(Bug::EventLostWaiter)),
            };
            if ready {
                this.slot = None;
                drop(st);
                drop_waker(waker);
                return Poll::Ready(());
            }
            if let Some((k, _)) = this.slot {
                if waker.is_none() && st.waiters.get(k).will_wake(cx.waker()) {
                    return Poll::Pending;
                }
            }
            match waker.take() {
                None => {
                    drop(st);
                    waker = Some(cx.waker().clone());
                }
                Some(w) => {
                    let old = match this.slot {
                        Some((k, _)) => Some(st.waiters.replace(k, w)),
                        None => {
                            this.slot = Some((st.waiters.push(w), st.generation));
                            None
                        }
                    };
                    drop(st);
                    drop_waker(old);
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some((k, g)) = self.slot {
            let mut st = self.event.shared.lock();
            let gone = (st.generation == g).then(|| st.waiters.remove(k));
            drop(st);
            drop_waker(gone);
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.slot.is_some() {
            "EventWait(waiting)"
        } else {
            "EventWait"
        })
    }
}
