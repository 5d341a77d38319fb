//! The deliberate differences from CPython's asyncio that the whole-program property tests ran
//! into (specs/differences.md), pinned down one by one: what evloop does instead.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

fn log() -> (
    Arc<Mutex<Vec<String>>>,
    impl Fn(&str) + Clone + Send + Sync + 'static,
) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    (lines, move |s: &str| {
        sink.lock().unwrap().push(s.to_owned())
    })
}

/// Spec: DIFF-1, TIME-2
#[test]
fn equal_deadlines_fire_in_creation_order() {
    // The shape the CPython differential found: timer A (t=0 + 4 ms) is created before timer B
    // (t=2 + 2 ms); both are due at 4 ms. CPython's heap may fire B first; evloop fires A first.
    let (lines, push) = log();
    evloop::Builder::new().virtual_time(true).run(async move {
        let p = push.clone();
        let a = evloop::create_task(async move {
            evloop::sleep(Duration::from_millis(4)).await;
            p("A");
        });
        evloop::sleep(Duration::from_millis(2)).await;
        evloop::sleep(Duration::from_millis(2)).await;
        push("B");
        a.await.unwrap();
    });
    assert_eq!(*lines.lock().unwrap(), ["A", "B"]);
}

/// Spec: DIFF-2, TASK-9
#[test]
fn cancelling_a_task_that_awaits_another_does_not_cancel_the_awaited_task() {
    // asyncio's Task.cancel() also cancels the future the task waits on, here the child task.
    // evloop drops the parent's future, and with it the child's handle, which does not cancel it.
    let (lines, push) = log();
    evloop::Builder::new().virtual_time(true).run(async move {
        let p = push.clone();
        let parent = evloop::create_task(async move {
            let q = p.clone();
            let child = evloop::create_task(async move {
                evloop::sleep(Duration::from_millis(5)).await;
                q("child finished");
            });
            let _ = child.await;
            p("parent resumed");
        });
        evloop::sleep(Duration::from_millis(1)).await;
        assert!(parent.cancel());
        assert!(parent.await.unwrap_err().is_cancelled());
        evloop::sleep(Duration::from_millis(10)).await;
        push("main done");
    });
    assert_eq!(*lines.lock().unwrap(), ["child finished", "main done"]);
}

/// Spec: DIFF-3, TASK-7
#[test]
fn a_cancelled_task_cannot_intercept_its_cancellation() {
    // asyncio throws CancelledError into the coroutine, which may catch it and go on (even await
    // again). evloop drops the future at its next step: only destructors run, synchronously, in
    // the same loop turn as asyncio's `except CancelledError` block would.
    struct OnDrop<F: FnMut()>(F);
    impl<F: FnMut()> Drop for OnDrop<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let (lines, push) = log();
    evloop::Builder::new().virtual_time(true).run(async move {
        let p = push.clone();
        let t = evloop::create_task(async move {
            let q = p.clone();
            let _guard = OnDrop(move || q("dropped"));
            evloop::sleep(Duration::from_secs(60)).await;
            p("never");
        });
        evloop::sleep(Duration::ZERO).await;
        t.cancel();
        push("cancel asked");
        assert!(t.await.unwrap_err().is_cancelled());
    });
    assert_eq!(*lines.lock().unwrap(), ["cancel asked", "dropped"]);
}
