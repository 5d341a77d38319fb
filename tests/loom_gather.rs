//! loom: gather across workers, and a loop future completed from another thread racing a cancel.
#![cfg(feature = "loom")]

use evloop::{Builder, FutureError, LoopFuture};
use evloop_check::check;
use evloop_model::sync::atomic::{AtomicUsize, Ordering};
use evloop_model::sync::{Arc, Mutex};
use evloop_model::thread;
use std::time::Duration;

/// Children of one gather run on two workers and finish in either order: the results come back
/// in argument order and the gather resolves exactly once.
/// Spec: GATHER-1, THREAD-1
#[test]
fn gather_on_two_workers_returns_results_in_argument_order() {
    check(|| {
        let out = Builder::new().virtual_time(true).workers(2).run(async {
            let slow = async {
                evloop::sleep(Duration::ZERO).await;
                0u8
            };
            let fast = async { 1u8 };
            let a: std::pin::Pin<Box<dyn std::future::Future<Output = u8> + Send>> = Box::pin(slow);
            let b: std::pin::Pin<Box<dyn std::future::Future<Output = u8> + Send>> = Box::pin(fast);
            evloop::gather([a, b]).await.unwrap()
        });
        assert_eq!(out, vec![0, 1], "GATHER-1: results in argument order");
    });
}

/// A loop future is completed from another thread while a task awaits it, and a cancel from the
/// loop races that completion: exactly one of them wins, and the awaiter, `result()` and every
/// done callback see that same single outcome.
/// Spec: FUT-1, FUT-2, FUT-3, FUT-4
#[test]
fn cancel_racing_completion_from_another_thread_has_exactly_one_outcome() {
    check(|| {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let callbacks = Arc::new(AtomicUsize::new(0));
        let (s, c) = (seen.clone(), callbacks.clone());
        let (resolved, cancelled, awaited, result) =
            Builder::new().virtual_time(true).run(async move {
                let fut = LoopFuture::<u32>::new();
                fut.add_done_callback(move |out| {
                    c.fetch_add(1, Ordering::SeqCst);
                    s.lock().push(describe(&out));
                });
                let resolver = fut.resolver();
                let helper = thread::spawn("resolver".into(), move || resolver.resolve(9).is_ok());
                let waiter = {
                    let fut = fut.clone();
                    evloop::create_task(async move { describe(&fut.await) })
                };
                let cancelled = fut.cancel();
                let awaited = waiter.await.unwrap();
                let resolved = helper.join().unwrap();
                // Let the done callback's turn come.
                evloop::sleep(Duration::ZERO).await;
                (
                    resolved,
                    cancelled,
                    awaited,
                    describe(&fut.result().unwrap()),
                )
            });
        assert!(
            resolved != cancelled,
            "FUT-2 violated: resolve succeeded: {resolved}, cancel succeeded: {cancelled}"
        );
        assert_eq!(
            awaited, result,
            "the awaiter saw another outcome than result()"
        );
        assert_eq!(
            callbacks.load(Ordering::SeqCst),
            1,
            "FUT-3: one done callback call"
        );
        assert_eq!(*seen.lock(), vec![result]);
    });
}

fn describe(out: &Result<u32, FutureError>) -> String {
    match out {
        Ok(v) => format!("value {v}"),
        Err(e) if e.is_cancelled() => "cancelled".to_owned(),
        Err(e) => format!("error {e}"),
    }
}
