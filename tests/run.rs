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

/// Spec: RUN-2, CANCEL-5
#[test]
fn run_shutdown_lets_leftovers_catch_the_cancellation_and_clean_up_with_awaits() {
    use std::sync::{Arc, Mutex};
    let log: Arc<Mutex<Vec<&str>>> = Arc::default();
    let l = log.clone();
    let out = evloop::Builder::new().virtual_time(true).run(async move {
        let l2 = l.clone();
        drop(evloop::create_task(async move {
            if evloop::catch_cancel(std::future::pending::<()>())
                .await
                .is_err()
            {
                l2.lock().unwrap().push("caught");
                evloop::sleep(Duration::from_secs(2)).await;
                l2.lock().unwrap().push("cleaned up");
            }
        }));
        evloop::sleep(Duration::ZERO).await;
        "main"
    });
    assert_eq!(out, "main");
    assert_eq!(*log.lock().unwrap(), ["caught", "cleaned up"]);
}

/// Spec: RUN-4
#[test]
fn run_shutdown_reports_a_leftover_that_never_finishes_after_its_timeout() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    let at = Arc::new(Mutex::new(String::new()));
    let at2 = at.clone();
    let out = evloop::Builder::new()
        .virtual_time(true)
        .shutdown_timeout(Duration::from_secs(30))
        .run(async move {
            let lp = evloop::get_running_loop().unwrap();
            lp.set_exception_handler(Some(move |ctx: &evloop::ExceptionContext| {
                let task = ctx.task().map(|t| (t.name(), t.created_at().to_string()));
                s.lock().unwrap().push(format!("{ctx} {task:?}"));
            }));
            let stubborn = evloop::create_task_named("stubborn", async {
                loop {
                    // Catches every cancellation and carries on.
                    let _ = evloop::catch_cancel(evloop::sleep(Duration::from_secs(3600))).await;
                }
            });
            *at2.lock().unwrap() = stubborn.task_ref().created_at().to_string();
            evloop::sleep(Duration::ZERO).await;
            evloop::get_running_loop().unwrap().time()
        });
    let seen = seen.lock().unwrap();
    let at = at.lock().unwrap();
    assert!(
        seen.iter().any(|m| m.contains("did not finish within 30s")
            && m.contains("stubborn")
            && m.contains(&*at)),
        "{seen:?}"
    );
    assert!(out < 1.0);
}
