//! `run`: asyncio.run — a fresh loop per call, shut down cleanly (specs/loop.md, RUN-*).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{vrun, DropGuard, Trace};
use evloop::{EventLoop, LoopError, RunError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Spec: RUN-1
#[test]
fn run_uses_a_fresh_loop_each_call_returns_the_output_and_closes_it() {
    let first: EventLoop = vrun(async { evloop::get_running_loop().unwrap() });
    let second: EventLoop = vrun(async { evloop::get_running_loop().unwrap() });
    assert!(!first.same_loop(&second));
    assert!(first.is_closed() && second.is_closed());
    assert!(!first.is_running());

    // The thread's current loop is restored afterwards.
    let mine = evloop::new_event_loop();
    evloop::set_event_loop(Some(mine.clone()));
    assert_eq!(evloop::run(async { 6 * 7 }), 42);
    assert!(evloop::get_event_loop().same_loop(&mine));
    evloop::set_event_loop(None);
    mine.close();
}

/// Spec: RUN-1, ERR-2
#[test]
fn run_refuses_to_start_inside_a_running_loop() {
    vrun(async {
        let err = evloop::try_run(async {}).unwrap_err();
        assert!(matches!(err, RunError::Loop(LoopError::AnotherLoopRunning)));
        let r = catch_unwind(|| evloop::run(async {}));
        let msg = *r.unwrap_err().downcast::<String>().unwrap();
        assert!(
            msg.contains("another event loop is already running"),
            "{msg}"
        );
    });
}

/// Spec: RUN-1, ERR-7
#[test]
fn run_reraises_a_panic_from_main_and_still_closes_the_loop() {
    let trace = Trace::new();
    let t = trace.clone();
    let r = catch_unwind(AssertUnwindSafe(|| {
        vrun(async move {
            let t2 = t.clone();
            drop(evloop::create_task(async move {
                let _g = DropGuard(t2, "pending task dropped");
                evloop::sleep(Duration::from_secs(60)).await;
            }));
            evloop::sleep(Duration::ZERO).await;
            panic!("main failed");
        })
    }));
    assert_eq!(*r.unwrap_err().downcast::<&str>().unwrap(), "main failed");
    assert_eq!(trace.get(), ["pending task dropped"]);
}

/// Spec: RUN-2
#[test]
fn run_cancels_pending_tasks_lets_them_finish_cancelling_then_closes() {
    let trace = Trace::new();
    let t = trace.clone();
    let (lp, refs) = vrun(async move {
        let mut refs = Vec::new();
        for name in ["a", "b"] {
            let t2 = t.clone();
            let task = evloop::create_task_named(name, async move {
                let _g = DropGuard(
                    t2.clone(),
                    if name == "a" {
                        "a dropped"
                    } else {
                        "b dropped"
                    },
                );
                evloop::sleep(Duration::from_secs(3600)).await;
            });
            let t3 = t.clone();
            task.add_done_callback(move |r| {
                t3.push(format!(
                    "{} done callback, cancelled: {}",
                    r.name(),
                    r.cancelled()
                ))
            });
            refs.push(task.task_ref());
        }
        evloop::sleep(Duration::from_secs(1)).await;
        t.push("main returns");
        (evloop::get_running_loop().unwrap(), refs)
    });
    assert_eq!(
        trace.get(),
        [
            "main returns",
            "a dropped",
            "b dropped",
            "a done callback, cancelled: true",
            "b done callback, cancelled: true"
        ]
    );
    assert!(refs.iter().all(|r| r.cancelled()));
    assert!(lp.is_closed());
}
