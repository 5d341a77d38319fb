//! Loop futures: asyncio's low-level `Future` and its cross-thread resolver (specs/futures.md).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{vloop, vrun, yield_now, Trace};
use evloop::{FutureError, InvalidStateError, LoopFuture, RunError, TaskError};

/// Spec: FUT-1
#[test]
fn every_waiter_of_a_loop_future_gets_its_outcome() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let fut = LoopFuture::<String>::new();
        assert!(!fut.done());
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let (f, t) = (fut.clone(), t.clone());
                evloop::create_task(async move {
                    let v = f.await.unwrap();
                    t.push(format!("waiter {i} got {v}"));
                })
            })
            .collect();
        yield_now().await;
        fut.set_result("x".into()).unwrap();
        for w in waiters {
            w.await.unwrap();
        }
        assert!(fut.done() && !fut.cancelled());
        assert_eq!(
            fut.clone().await.unwrap(),
            "x",
            "awaiting a done future returns at once"
        );

        let failed = LoopFuture::<u8>::new();
        failed.set_error("disk full").unwrap();
        match failed.clone().await {
            Err(FutureError::Failed(e)) => assert_eq!(e.to_string(), "disk full"),
            other => panic!("expected the error, got {other:?}"),
        }

        let cancelled = LoopFuture::<u8>::new();
        let c = cancelled.clone();
        let waiter = evloop::create_task(c);
        yield_now().await;
        assert!(cancelled.cancel());
        assert!(cancelled.cancelled());
        // The waiter's body returns the cancellation it received: as in asyncio, where the
        // `CancelledError` propagates out of the coroutine, the waiter ends cancelled (CANCEL-8).
        assert!(matches!(waiter.await, Err(TaskError::Cancelled(_))));
    });
    assert_eq!(
        trace.get(),
        ["waiter 0 got x", "waiter 1 got x", "waiter 2 got x"]
    );
}

/// Spec: FUT-2, ERR-6
#[test]
fn a_loop_future_is_completed_once_and_a_second_completion_is_invalid_state() {
    vrun(async {
        let fut = LoopFuture::<u8>::new();
        assert_eq!(fut.result().unwrap_err(), InvalidStateError::NotDone);
        fut.set_result(1).unwrap();
        assert_eq!(fut.set_result(2), Err(InvalidStateError::AlreadyDone));
        assert_eq!(fut.set_error("late"), Err(InvalidStateError::AlreadyDone));
        assert!(!fut.cancel(), "cancel returns false once done");
        assert_eq!(fut.result().unwrap().unwrap(), 1);
        assert_eq!(fut.await.unwrap(), 1);

        let fut = LoopFuture::<u8>::new();
        assert!(fut.cancel());
        assert!(!fut.cancel());
        assert_eq!(fut.set_result(3), Err(InvalidStateError::AlreadyDone));
        assert!(fut.result().unwrap().unwrap_err().is_cancelled());
    });
    let msg = InvalidStateError::AlreadyDone.to_string();
    assert!(msg.contains("exactly once"), "{msg}");
}

/// Spec: FUT-3
#[test]
fn loop_future_done_callbacks_run_via_call_soon_in_order_never_inline() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let fut = LoopFuture::<u8>::new();
        for name in ["cb1", "cb2"] {
            let t = t.clone();
            fut.add_done_callback(move |out| t.push(format!("{name}: {}", out.unwrap())));
        }
        fut.set_result(4).unwrap();
        t.push("set_result returned");
        let t3 = t.clone();
        fut.add_done_callback(move |out| t3.push(format!("cb3: {}", out.unwrap())));
        t.push("cb3 added to a done future");
        yield_now().await;
        t.push("one turn later");
    });
    assert_eq!(
        trace.get(),
        [
            "set_result returned",
            "cb3 added to a done future",
            "cb1: 4",
            "cb2: 4",
            "cb3: 4",
            "one turn later"
        ]
    );
}

/// Spec: FUT-4, LOOP-5
#[test]
fn a_resolver_completes_the_future_from_another_thread() {
    let out = vrun(async {
        let fut = LoopFuture::<Vec<u8>>::new();
        let r = fut.resolver();
        let h = std::thread::spawn(move || r.resolve(vec![1, 2, 3]).unwrap());
        let v = fut.await.unwrap();
        h.join().unwrap();
        v
    });
    assert_eq!(out, [1, 2, 3]);

    let err = vrun(async {
        let fut = LoopFuture::<u8>::new();
        let r = fut.resolver();
        std::thread::spawn(move || r.fail("remote failure").unwrap())
            .join()
            .unwrap();
        fut.await.unwrap_err().to_string()
    });
    assert!(err.contains("remote failure"), "{err}");
}

/// Spec: FUT-4, LOOP-8
#[test]
fn a_resolver_dropped_unused_leaves_the_future_pending_and_the_deadlock_is_reported() {
    let lp = vloop();
    let err = lp
        .try_run_until_complete(async {
            let fut = LoopFuture::<u8>::new();
            let r = fut.resolver();
            std::thread::spawn(move || drop(r)).join().unwrap();
            fut.await
        })
        .unwrap_err();
    assert!(matches!(err, RunError::Deadlock(_)), "{err:?}");
    lp.close();
}

/// A value that holds the next future of a chain, like a hand-off message.
#[derive(Clone)]
struct Link(Option<LoopFuture<Link>>);

/// Spec: FUT-5
#[test]
fn dropping_a_long_chain_of_done_futures_does_not_overflow_the_stack() {
    // A small stack, so that a drop recursing once per link would overflow long before the end
    // of the chain; the bounded drop needs only a few dozen nested cells whatever its length.
    let runner = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            vrun(async {
                let head = LoopFuture::<Link>::new();
                let mut tail = head.clone();
                for _ in 0..100_000 {
                    let next = LoopFuture::new();
                    tail.set_result(Link(Some(next.clone()))).unwrap();
                    tail = next;
                }
                tail.set_result(Link(None)).unwrap();
                drop(tail);
                let second = head.result().unwrap().unwrap().0;
                assert!(second.is_some_and(|f| f.done()));
                // The last handle of the head: the whole chain goes with it.
                drop(head);
                // And the thread keeps dropping normally afterwards.
                let again = LoopFuture::<Link>::new();
                again.set_result(Link(None)).unwrap();
            })
        })
        .unwrap();
    runner.join().unwrap();
}

/// Spec: FUT-6, FUT-3
#[test]
fn waiters_that_went_away_leave_their_slots_to_later_ones_in_order() {
    use std::future::{poll_fn, Future, IntoFuture};
    use std::pin::Pin;
    use std::task::Poll;

    // Polls a clone once (registering this task as a waiter) and drops it: a waiter gone away.
    async fn wait_briefly(fut: &LoopFuture<u8>) {
        let mut clone = fut.clone().into_future();
        poll_fn(|cx| {
            assert!(Pin::new(&mut clone).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
    }

    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let fut = LoopFuture::<u8>::new();
        let waiter = |name: &'static str| {
            let (f, t) = (fut.clone(), t.clone());
            evloop::create_task(async move {
                f.await.unwrap();
                t.push(name);
            })
        };
        let callback = |name: &'static str| {
            let t = t.clone();
            fut.add_done_callback(move |_| t.push(name));
        };
        let a = waiter("waiter a");
        yield_now().await;
        // A slot freed between two live entries, then taken by a later waiter: that waiter still
        // comes after the callback added before it.
        let mut gone = fut.clone().into_future();
        poll_fn(|cx| {
            assert!(Pin::new(&mut gone).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        callback("callback 1");
        drop(gone);
        let b = waiter("waiter b");
        yield_now().await;
        callback("callback 2");
        // Many short-lived waiters one after another: one slot between them, not one each.
        for _ in 0..1000 {
            wait_briefly(&fut).await;
        }
        assert_eq!(format!("{fut:?}"), "LoopFuture(pending, 5 waiter slots)");
        fut.set_result(1).unwrap();
        a.await.unwrap();
        b.await.unwrap();
        yield_now().await;
    });
    assert_eq!(
        trace.get(),
        ["waiter a", "callback 1", "waiter b", "callback 2"]
    );
}
