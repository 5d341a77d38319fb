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

/// Spec: DIFF-4, GATHER-2
#[test]
fn gathering_existing_tasks_wraps_each_in_a_new_task() {
    // asyncio's `gather(t)` uses the task `t` itself; evloop's `gather` takes futures and makes
    // each a new task, so a `Task` handle passed in is awaited by a wrapper task: one more loop
    // turn before the gather resolves, once the child had to wait. The same program in CPython
    // 3.11 logs: tick 0, child runs, tick 1, child ends, tick 2, tick 3, main resumed, tick 4, ...
    let (lines, push) = log();
    evloop::Builder::new().virtual_time(true).run(async move {
        let p = push.clone();
        let ticker = evloop::create_task(async move {
            for i in 0..6 {
                p(&format!("tick {i}"));
                evloop::sleep(Duration::ZERO).await;
            }
        });
        let q = push.clone();
        let child = evloop::create_task(async move {
            q("child runs");
            evloop::sleep(Duration::ZERO).await;
            q("child ends");
            1
        });
        let r = evloop::gather([child]).await.unwrap();
        push(&format!("main resumed {r:?}"));
        ticker.await.unwrap();
    });
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "tick 0",
            "child runs",
            "tick 1",
            "child ends",
            "tick 2",
            "tick 3",
            "tick 4",
            "main resumed [Ok(1)]",
            "tick 5"
        ]
    );
}

/// Spec: DIFF-5, GATHER-2
#[test]
fn a_cancelled_task_handle_in_a_gather_is_a_value_not_a_failure() {
    // asyncio: `await gather(t)` with `t` cancelled raises CancelledError. evloop wraps the handle
    // in a new task (DIFF-4) whose output is the handle's `Result`, so the cancellation arrives as
    // a value and the gather succeeds.
    let out = evloop::Builder::new().virtual_time(true).run(async {
        let t = evloop::create_task(async {
            evloop::sleep(Duration::from_secs(1)).await;
            1
        });
        evloop::sleep(Duration::ZERO).await;
        assert!(t.cancel());
        evloop::gather([t]).await
    });
    let values = out.expect("the gather itself does not fail");
    assert!(values[0].as_ref().unwrap_err().is_cancelled());
}
