//! No user code under a runtime lock (LOCK-1), and the debug-build guard that turns a re-entrant
//! runtime lock into a panic naming the lock (LOCK-2).
//!
//! The LOCK-1 tests build the situation the rule exists for: a pending future that task A has
//! polled (so it holds A's waker) is handed to task B, and A ends with a value whose `Drop` calls
//! back into the primitive. When B polls the future, B's waker replaces A's, and A's waker is the
//! last reference to A: A's value is dropped right there. If that happened under the primitive's
//! lock, the call back would lock it again — a hang in a release build, LOCK-2's panic in a debug
//! one (and B would end panicked). With the rule kept, B ends normally and the call back ran.

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{vrun, yield_now, Trace};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

/// Calls back into the runtime when dropped.
struct CallsBack(Option<Box<dyn FnOnce() + Send>>);

impl Drop for CallsBack {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

type Slot<F> = Arc<Mutex<Option<Pin<Box<F>>>>>;

/// Task A polls `fut` once and hands it over, ending with a value whose drop runs `call_back`;
/// then task B awaits `fut`, and `finish` completes it. Returns what B's await gave.
async fn hand_over<F>(
    fut: F,
    call_back: impl FnOnce() + Send + 'static,
    finish: impl FnOnce() + Send + 'static,
) -> Result<F::Output, evloop::TaskError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let slot: Slot<F> = Arc::new(Mutex::new(None));
    let a = {
        let slot = slot.clone();
        evloop::create_task(async move {
            let mut fut = Box::pin(fut);
            poll_fn(|cx| {
                assert!(fut.as_mut().poll(cx).is_pending(), "the future must wait");
                Poll::Ready(())
            })
            .await;
            *slot.lock().unwrap() = Some(fut);
            CallsBack(Some(Box::new(call_back)))
        })
    };
    a.task_ref().wait().await;
    // A's value now lives only as long as A's waker inside `fut`.
    drop(a);
    let b = evloop::create_task(async move {
        let fut = slot.lock().unwrap().take().expect("handed over");
        fut.await
    });
    yield_now().await; // B polls: its waker replaces A's, the last reference to A
    finish();
    b.await
}

/// Spec: LOCK-1
#[test]
fn a_sleep_handed_to_another_task_drops_the_old_waker_outside_the_loops_lock() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        let r = hand_over(
            evloop::sleep(Duration::from_secs(1)),
            move || {
                lp.call_soon(t.pusher("A's value dropped: the loop took its call"));
            },
            || {},
        )
        .await;
        assert!(r.is_ok(), "B's await of the sleep failed: {r:?}");
        yield_now().await;
    });
    assert_eq!(trace.get(), ["A's value dropped: the loop took its call"]);
}

/// Spec: LOCK-1
#[test]
fn a_loop_future_handed_to_another_task_drops_the_old_waker_outside_its_lock() {
    vrun(async move {
        let fut = evloop::LoopFuture::<u8>::new();
        let (looks, sets) = (fut.clone(), fut.clone());
        let r = hand_over(
            std::future::IntoFuture::into_future(fut),
            move || {
                assert!(
                    !looks.done(),
                    "A's value is dropped before the result is set"
                )
            },
            move || sets.set_result(7).unwrap(),
        )
        .await;
        assert_eq!(r.unwrap().unwrap(), 7);
    });
}

/// Spec: LOCK-1
#[test]
fn a_queue_get_handed_to_another_task_drops_the_old_waker_outside_the_queues_lock() {
    vrun(async move {
        let q: &'static evloop::Queue<u8> = Box::leak(Box::new(evloop::Queue::new()));
        let r = hand_over(
            q.get(),
            move || assert_eq!(q.qsize(), 0),
            move || q.put_nowait(3).unwrap(),
        )
        .await;
        assert_eq!(r.unwrap(), 3);
    });
}

/// The synchronization primitives' futures, handed over as above. The call back records that it
/// ran to its end: under the primitive's lock it would panic (LOCK-2) inside the drop, which the
/// runtime contains and reports, so only the missing record would show it.
/// Spec: LOCK-1
#[test]
fn a_lock_acquire_handed_to_another_task_drops_the_old_waker_outside_the_locks_lock() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lock: &'static evloop::Lock = Box::leak(Box::new(evloop::Lock::new()));
        let guard = lock.acquire().await;
        let r = hand_over(
            lock.acquire(),
            move || t.push(format!("A's value dropped, lock held: {}", lock.locked())),
            move || drop(guard),
        )
        .await;
        drop(r.unwrap());
        assert!(!lock.locked());
    });
    assert_eq!(trace.get(), ["A's value dropped, lock held: true"]);
}

/// Spec: LOCK-1
#[test]
fn a_semaphore_acquire_handed_to_another_task_drops_the_old_waker_outside_its_lock() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let sem: &'static evloop::Semaphore = Box::leak(Box::new(evloop::Semaphore::new(1)));
        let permit = sem.acquire().await;
        let r = hand_over(
            sem.acquire(),
            move || t.push(format!("A's value dropped, locked: {}", sem.locked())),
            move || drop(permit),
        )
        .await;
        drop(r.unwrap());
        assert!(!sem.locked());
    });
    assert_eq!(trace.get(), ["A's value dropped, locked: true"]);
}

/// Spec: LOCK-1
#[test]
fn an_event_wait_handed_to_another_task_drops_the_old_waker_outside_the_events_lock() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let e: &'static evloop::Event = Box::leak(Box::new(evloop::Event::new()));
        let r = hand_over(
            e.wait(),
            move || t.push(format!("A's value dropped, set: {}", e.is_set())),
            move || e.set(),
        )
        .await;
        assert!(r.is_ok());
    });
    assert_eq!(trace.get(), ["A's value dropped, set: false"]);
}

/// Spec: LOCK-1
#[test]
fn a_condition_wait_handed_to_another_task_drops_the_old_waker_outside_the_conditions_lock() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let cond: &'static evloop::Condition = Box::leak(Box::new(evloop::Condition::new()));
        let guard = cond.acquire().await;
        let r = hand_over(
            cond.wait(guard),
            // Takes the condition's waiter list's lock, and the lock's own.
            move || t.push(format!("A's value dropped: {cond:?}")),
            move || {
                let _notifier = evloop::create_task(async move {
                    let g = cond.acquire().await;
                    cond.notify(&g, 1);
                });
            },
        )
        .await;
        drop(r.unwrap());
        assert!(!cond.locked());
    });
    assert_eq!(
        trace.get(),
        ["A's value dropped: Condition(unlocked, waiters=1)"]
    );
}

/// Spec: LOCK-1
#[test]
fn a_barrier_wait_handed_to_another_task_drops_the_old_waker_outside_the_barriers_lock() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let b: &'static evloop::Barrier = Box::leak(Box::new(evloop::Barrier::new(2)));
        let r = hand_over(
            b.wait(),
            move || t.push(format!("A's value dropped: {b:?}")),
            move || {
                let _partner = evloop::create_task(async move { b.wait().await.unwrap() });
            },
        )
        .await;
        assert_eq!(r.unwrap(), Ok(0));
    });
    assert_eq!(
        trace.get(),
        ["A's value dropped: Barrier(filling, waiters=1/2)"]
    );
}

/// Spec: LOCK-1
#[test]
fn a_task_handle_handed_to_another_task_drops_the_old_waker_outside_the_tasks_lock() {
    vrun(async move {
        let gate = evloop::LoopFuture::<()>::new();
        let opener = gate.clone();
        let x = evloop::create_task(async move { gate.await.unwrap() });
        let watch = x.task_ref();
        let r = hand_over(
            std::future::IntoFuture::into_future(x),
            // Takes the awaited task's done-list lock.
            move || watch.add_done_callback(|_| {}),
            move || opener.set_result(()).unwrap(),
        )
        .await;
        assert!(r.unwrap().is_ok());
    });
}

/// Spec: LOCK-1
#[test]
fn a_tasks_wait_handed_to_another_task_drops_the_old_waker_outside_the_tasks_lock() {
    vrun(async move {
        let gate = evloop::LoopFuture::<()>::new();
        let opener = gate.clone();
        let x = evloop::create_task(async move { gate.await.unwrap() }).task_ref();
        let watch = x.clone();
        let r = hand_over(
            x.wait(),
            move || watch.add_done_callback(|_| {}),
            move || opener.set_result(()).unwrap(),
        )
        .await;
        assert!(r.is_ok());
    });
}

/// Spec: LOCK-2
#[cfg(debug_assertions)]
#[test]
fn a_runtime_lock_taken_again_on_the_same_thread_panics_naming_the_lock() {
    let m = evloop_model::sync::Mutex::new(5u32);
    let held = m.lock();
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(m.lock());
    }));
    drop(held);
    let payload = again.expect_err("locking a held lock again must panic, not hang");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains("re-entrant lock"), "{msg}");
    assert!(
        msg.contains("Mutex<u32>"),
        "the message names the lock: {msg}"
    );
    // Let go, the lock is free again, and another thread may hold it meanwhile.
    drop(m.lock());
    std::thread::scope(|s| {
        let g = m.lock();
        s.spawn(|| drop(m.try_lock())).join().unwrap();
        drop(g);
    });
}
