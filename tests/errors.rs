//! Misuse gets a typed error (from the `try_` functions) or a panic whose message says what to do
//! (specs/errors.md).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{vloop, vrun, yield_now};
use evloop::{EventLoop, LoopError, LoopFuture, RunError, TaskError};
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

struct NoopWaker;

impl std::task::Wake for NoopWaker {
    fn wake(self: std::sync::Arc<Self>) {}
}

fn message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => (*p.downcast::<&str>().unwrap()).to_owned(),
    }
}

fn panic_message(f: impl FnOnce()) -> String {
    message(catch_unwind(AssertUnwindSafe(f)).unwrap_err())
}

/// Spec: ERR-1
#[test]
fn no_running_loop_is_a_typed_error_or_a_message_that_says_what_to_do() {
    assert_eq!(
        evloop::get_running_loop().unwrap_err(),
        LoopError::NoRunningLoop
    );
    assert_eq!(
        evloop::try_create_task(async {}).unwrap_err(),
        LoopError::NoRunningLoop
    );
    let hint = "call this inside `evloop::run(...)`";
    assert!(LoopError::NoRunningLoop.to_string().contains(hint));
    for msg in [
        panic_message(|| drop(evloop::create_task(async {}))),
        panic_message(|| drop(evloop::ensure_future(async {}))),
        panic_message(|| drop(LoopFuture::<u8>::new())),
        panic_message(|| drop(evloop::to_thread(|| 1))),
        panic_message(|| drop(evloop::gather([async {}]))),
        panic_message(|| {
            // `sleep` looks for the loop at its first poll.
            let waker = std::task::Waker::from(std::sync::Arc::new(NoopWaker));
            let mut cx = std::task::Context::from_waker(&waker);
            let mut s = Box::pin(evloop::sleep(Duration::from_secs(1)));
            let _ = s.as_mut().poll(&mut cx);
        }),
    ] {
        assert!(
            msg.contains("no event loop is running on this thread"),
            "{msg}"
        );
        assert!(msg.contains(hint), "{msg}");
    }
}

/// Spec: ERR-2
#[test]
fn run_until_complete_inside_a_running_loop_is_refused() {
    let lp = vloop();
    let other = vloop();
    let (me, o) = (lp.clone(), other.clone());
    lp.run_until_complete(async move {
        let err = me.try_run_until_complete(async {}).unwrap_err();
        assert!(matches!(err, RunError::Loop(LoopError::AlreadyRunning)));
        let err = o.try_run_until_complete(async {}).unwrap_err();
        assert!(matches!(err, RunError::Loop(LoopError::AnotherLoopRunning)));
        let msg = panic_message(|| me.run_until_complete(async {}));
        assert!(
            msg.contains("already running") && msg.contains("`await`"),
            "{msg}"
        );
        let msg = panic_message(|| o.run_until_complete(async {}));
        assert!(msg.contains("another event loop"), "{msg}");
    });
    assert!(
        !lp.is_running(),
        "the refused calls did not disturb the running loop"
    );
    lp.close();
    other.close();
}

/// Spec: ERR-2
#[test]
fn run_until_complete_of_a_loop_running_on_another_thread_is_refused() {
    let lp = vloop();
    let gate = lp.create_future::<()>();
    let resolver = gate.resolver();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let remote = lp.clone();
    let runner = std::thread::spawn(move || {
        remote.run_until_complete(async move {
            started_tx.send(()).unwrap();
            gate.await.unwrap();
        })
    });
    started_rx.recv().unwrap();
    let err = lp.try_run_until_complete(async {}).unwrap_err();
    assert!(matches!(err, RunError::Loop(LoopError::AlreadyRunning)));
    resolver.resolve(()).unwrap();
    runner.join().unwrap();
    lp.close();
}

/// Spec: ERR-3
#[test]
fn a_closed_loop_refuses_work() {
    let lp = vloop();
    lp.close();
    let err = lp.try_run_until_complete(async {}).unwrap_err();
    assert!(matches!(err, RunError::Loop(LoopError::Closed)));
    assert_eq!(lp.try_create_task(async {}).unwrap_err(), LoopError::Closed);
    for msg in [
        panic_message(|| lp.run_until_complete(async {})),
        panic_message(|| drop(lp.create_task(async {}))),
        panic_message(|| drop(lp.call_soon(|| {}))),
        panic_message(|| drop(lp.call_later(Duration::from_secs(1), || {}))),
    ] {
        assert!(msg.contains("the event loop is closed"), "{msg}");
        assert!(msg.contains("create a new one"), "{msg}");
    }
}

/// Spec: ERR-4
#[test]
fn closing_a_running_loop_is_refused() {
    let lp = vloop();
    let me = lp.clone();
    lp.run_until_complete(async move {
        assert_eq!(me.try_close(), Err(LoopError::CloseWhileRunning));
        let msg = panic_message(|| me.close());
        assert!(msg.contains("cannot close a running event loop"), "{msg}");
        assert!(!me.is_closed());
        yield_now().await;
    });
    assert_eq!(lp.try_close(), Ok(()));
    assert!(lp.is_closed());
}

/// Spec: ERR-5
#[test]
fn awaiting_a_cancelled_task_gives_the_cancelled_error() {
    vrun(async {
        let task = evloop::create_task(evloop::sleep(Duration::from_secs(5)));
        task.cancel();
        let err = task.await.unwrap_err();
        assert!(matches!(err, TaskError::Cancelled(_)));
        assert_eq!(err.to_string(), "the task was cancelled");
    });

    // The main task itself cancelled: asyncio raises CancelledError from run_until_complete.
    let lp = vloop();
    let err = lp
        .try_run_until_complete(async {
            let lp = evloop::get_running_loop().unwrap();
            let me = lp.pending_tasks().into_iter().next().unwrap();
            assert!(me.cancel());
            evloop::sleep(Duration::from_secs(1)).await;
            unreachable!("cancelled at the suspension point");
        })
        .unwrap_err();
    assert!(matches!(err, RunError::Cancelled(_)));
    let msg = panic_message(|| {
        lp.run_until_complete(async {
            let lp = evloop::get_running_loop().unwrap();
            lp.pending_tasks()[0].cancel();
            yield_now().await;
        })
    });
    assert!(
        msg.contains("cancelled") && msg.contains("try_run_until_complete"),
        "{msg}"
    );
    lp.close();
}

/// Spec: ERR-6
#[test]
fn a_task_result_is_absent_until_done_and_taken_once() {
    vrun(async {
        let mut task = evloop::create_task(async { 3 });
        assert!(
            task.try_result().is_none(),
            "not done yet (asyncio: InvalidStateError)"
        );
        task.task_ref().wait().await;
        assert_eq!(task.try_result().unwrap().unwrap(), 3);
        assert!(task.try_result().is_none(), "the output moves out once");
    });
}

/// Spec: ERR-7
#[test]
fn a_panic_in_the_main_future_is_reraised_and_the_loop_stays_usable() {
    let lp: EventLoop = vloop();
    let msg = panic_message(|| {
        lp.run_until_complete(async {
            yield_now().await;
            panic!("main exploded");
        })
    });
    assert_eq!(msg, "main exploded");
    assert!(!lp.is_running() && !lp.is_closed());
    assert_eq!(lp.run_until_complete(async { 1 }), 1);
    lp.close();
}

/// Spec: ERR-8
#[test]
fn too_many_workers_is_refused_at_the_builder_with_the_limit_named() {
    let msg = |n: usize| {
        let payload = std::panic::catch_unwind(|| evloop::Builder::new().workers(n))
            .expect_err("refused at the builder");
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    let huge = msg(usize::MAX);
    assert!(huge.contains("at most 1024"), "{huge}");
    assert!(huge.contains("to_thread"), "{huge}");
    assert!(msg(0).contains("at least one worker"));
    // The limit itself is fine.
    let _ = evloop::Builder::new().workers(evloop::Builder::MAX_WORKERS);
}
