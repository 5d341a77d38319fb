//! gather: children as tasks, results in argument order, failure, cancellation, the settled
//! variant and the tuple macro (specs/gather.md).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{vrun, yield_now, DropGuard, Trace};
use evloop::{GatherError, TaskError};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn sleeper(trace: &Trace, name: &'static str, secs: u64) -> impl Future<Output = &'static str> {
    let t = trace.clone();
    async move {
        t.push(format!("{name} starts"));
        evloop::sleep(Duration::from_secs(secs)).await;
        t.push(format!("{name} ends"));
        name
    }
}

/// Spec: GATHER-1, GATHER-2
#[test]
fn gather_results_follow_argument_order() {
    let trace = Trace::new();
    let t = trace.clone();
    let out = vrun(async move {
        evloop::gather([
            sleeper(&t, "slow", 3),
            sleeper(&t, "fast", 1),
            sleeper(&t, "mid", 2),
        ])
        .await
        .unwrap()
    });
    assert_eq!(out, ["slow", "fast", "mid"]);
    assert_eq!(
        trace.get(),
        [
            "slow starts",
            "fast starts",
            "mid starts",
            "fast ends",
            "mid ends",
            "slow ends"
        ]
    );
}

/// Spec: GATHER-2
#[test]
fn gather_starts_children_in_argument_order() {
    // The seed document's three coroutines: with Python 3.6's set-based gather "coroutine2" could
    // print first; here (as in modern asyncio) they start in the order given.
    let trace = Trace::new();
    let t = trace.clone();
    let out = vrun(async move {
        let t = t.clone();
        evloop::gather(["coroutine1", "coroutine2", "coroutine3"].map(|name| {
            let t = t.clone();
            async move {
                t.push(name);
                name
            }
        }))
        .await
        .unwrap()
    });
    assert_eq!(out, ["coroutine1", "coroutine2", "coroutine3"]);
    assert_eq!(trace.get(), ["coroutine1", "coroutine2", "coroutine3"]);
}

/// Spec: GATHER-3
#[test]
fn an_empty_gather_completes_at_once() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        evloop::get_running_loop()
            .unwrap()
            .call_soon(t.pusher("callback (runs only when main yields)"));
        let none: Vec<u8> = evloop::gather(Vec::<BoxFut<u8>>::new()).await.unwrap();
        assert!(none.is_empty());
        let settled = evloop::gather_settled(Vec::<BoxFut<u8>>::new()).await;
        assert!(settled.is_empty());
        let tried = evloop::try_gather(Vec::<BoxFut<Result<u8, ()>>>::new()).await;
        assert!(tried.unwrap().is_empty());
        t.push("empty gathers returned without yielding");
        yield_now().await;
    });
    assert_eq!(
        trace.get(),
        [
            "empty gathers returned without yielding",
            "callback (runs only when main yields)"
        ]
    );
}

/// Spec: GATHER-4
#[test]
fn the_first_failure_propagates_at_once_while_siblings_keep_running() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = evloop::get_running_loop().unwrap();
        let t1 = t.clone();
        let children: Vec<BoxFut<u8>> = vec![
            Box::pin(async move {
                evloop::sleep(Duration::from_secs(1)).await;
                panic!("child 0 failed");
            }),
            Box::pin(async move {
                evloop::sleep(Duration::from_secs(5)).await;
                t1.push("sibling finished at 5 s");
                1
            }),
        ];
        let err = evloop::gather(children).await.unwrap_err();
        assert!(matches!(&err, TaskError::Panicked(p) if p.message() == "child 0 failed"));
        t.push(format!("gather failed at {} s", lp.time()));
        evloop::sleep(Duration::from_secs(10)).await;
    });
    assert_eq!(
        trace.get(),
        ["gather failed at 1 s", "sibling finished at 5 s"]
    );
}

/// Spec: GATHER-4
#[test]
fn try_gather_propagates_the_first_err_with_its_index_while_siblings_keep_running() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let t1 = t.clone();
        let children: Vec<BoxFut<Result<u8, String>>> = vec![
            Box::pin(async { Ok(0) }),
            Box::pin(async move {
                evloop::sleep(Duration::from_secs(3)).await;
                t1.push("sibling finished");
                Ok(1)
            }),
            Box::pin(async {
                evloop::sleep(Duration::from_secs(1)).await;
                Err("child 2 said no".to_string())
            }),
        ];
        match evloop::try_gather(children).await {
            Err(GatherError::Failed { index, error }) => {
                t.push(format!("failed: child {index}: {error}"))
            }
            other => panic!("expected the child's Err, got {other:?}"),
        }
        evloop::sleep(Duration::from_secs(5)).await;

        // A cancelled child is a failure too.
        let g = evloop::gather([evloop::sleep(Duration::from_secs(60))]);
        g.children()[0].cancel();
        assert!(g.await.unwrap_err().is_cancelled());
    });
    assert_eq!(
        trace.get(),
        ["failed: child 2: child 2 said no", "sibling finished"]
    );
}

/// Spec: GATHER-5
#[test]
fn dropping_an_unresolved_gather_cancels_its_children() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let children: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let t = t.clone();
                async move {
                    let _g = DropGuard(t.clone(), name);
                    evloop::sleep(Duration::from_secs(3600)).await;
                }
            })
            .collect();
        let g = evloop::gather(children);
        let refs = g.children().to_vec();
        yield_now().await;
        drop(g);
        for r in &refs {
            r.wait().await;
            assert!(r.cancelled());
        }
        t.push("children cancelled");
    });
    assert_eq!(trace.get(), ["a", "b", "children cancelled"]);
}

/// Spec: GATHER-5
#[test]
fn cancelling_the_task_awaiting_a_gather_cancels_its_children() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let t1 = t.clone();
        let outer = evloop::create_task(async move {
            let t2 = t1.clone();
            let child = async move {
                let _g = DropGuard(t2, "child dropped");
                evloop::sleep(Duration::from_secs(3600)).await;
            };
            let done = evloop::sleep(Duration::from_secs(1));
            evloop::gather!(child, done).await.ok();
            t1.push("outer resumed (must not happen)");
        });
        yield_now().await;
        yield_now().await;
        assert!(outer.cancel());
        assert!(outer.await.unwrap_err().is_cancelled());
        // The child is cancelled at its next step, a turn later.
        yield_now().await;
        yield_now().await;
        t.push("outer cancelled");
    });
    assert_eq!(trace.get(), ["child dropped", "outer cancelled"]);

    // Gather::cancel cancels the children directly, and a resolved gather cancels nothing.
    vrun(async {
        let g = evloop::gather([evloop::sleep(Duration::from_secs(60))]);
        assert!(g.cancel());
        assert!(g.await.unwrap_err().is_cancelled());

        let slow = evloop::create_task(evloop::sleep(Duration::from_secs(2)));
        let children: Vec<BoxFut<u8>> = vec![
            Box::pin(async { panic!("resolves the gather") }),
            Box::pin(async {
                evloop::sleep(Duration::from_secs(1)).await;
                1
            }),
        ];
        let g = evloop::gather(children);
        let sibling = g.children()[1].clone();
        assert!(g.await.is_err());
        sibling.wait().await;
        assert!(
            !sibling.cancelled(),
            "GATHER-4: a resolved gather leaves siblings running"
        );
        slow.await.unwrap();
    });
}

/// Spec: GATHER-6
#[test]
fn gather_settled_returns_every_outcome_in_its_place() {
    let out = vrun(async {
        let children: Vec<BoxFut<u8>> = vec![
            Box::pin(async {
                evloop::sleep(Duration::from_secs(2)).await;
                0
            }),
            Box::pin(async { panic!("child 1") }),
            Box::pin(evloop::sleep(Duration::from_secs(60)).then_value(2)),
            Box::pin(async { 3 }),
        ];
        let g = evloop::gather_settled(children);
        g.children()[2].cancel();
        g.await
    });
    assert_eq!(out.len(), 4);
    assert_eq!(*out[0].as_ref().unwrap(), 0);
    assert!(matches!(&out[1], Err(TaskError::Panicked(p)) if p.message() == "child 1"));
    assert!(out[2].as_ref().unwrap_err().is_cancelled());
    assert_eq!(*out[3].as_ref().unwrap(), 3);
}

trait ThenValue: Future + Sized {
    fn then_value<T>(self, v: T) -> impl Future<Output = T> {
        async move {
            self.await;
            v
        }
    }
}
impl<F: Future> ThenValue for F {}

/// Spec: GATHER-7
#[test]
fn the_gather_macro_returns_a_tuple_of_mixed_types_in_argument_order() {
    let trace = Trace::new();
    let t = trace.clone();
    let (a, b, c) = vrun(async move {
        evloop::gather!(
            sleeper(&t, "text", 2),
            async {
                evloop::sleep(Duration::from_secs(1)).await;
                42u64
            },
            async { vec![1u8, 2] },
        )
        .await
        .unwrap()
    });
    assert_eq!((a, b, c), ("text", 42, vec![1, 2]));
    assert_eq!(trace.get(), ["text starts", "text ends"]);

    let err = vrun(async {
        evloop::gather!(async { 1 }, async { panic!("second") }, async { "third" })
            .await
            .unwrap_err()
    });
    assert!(err.is_panic());
}

/// Spec: GATHER-8, GATHER-2
#[test]
fn gathering_existing_tasks_uses_them_as_themselves_in_asyncios_turns() {
    // The same program in CPython 3.11 logs: tick 0, child runs, tick 1, child ends, tick 2,
    // tick 3, main resumed [1], tick 4, tick 5: the child's completion reaches the gather through
    // its own done callback, with no wrapper task in between.
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let p = t.clone();
        let ticker = evloop::create_task(async move {
            for i in 0..6 {
                p.push(format!("tick {i}"));
                yield_now().await;
            }
        });
        let q = t.clone();
        let child = evloop::create_task(async move {
            q.push("child runs");
            yield_now().await;
            q.push("child ends");
            1
        });
        let r = evloop::gather([child]).await.unwrap();
        t.push(format!("main resumed {r:?}"));
        ticker.await.unwrap();
    });
    assert_eq!(
        trace.get(),
        [
            "tick 0",
            "child runs",
            "tick 1",
            "child ends",
            "tick 2",
            "tick 3",
            "main resumed [1]",
            "tick 4",
            "tick 5"
        ]
    );
}

/// Spec: GATHER-8, GATHER-4, TASK-13
#[test]
fn a_gathered_task_is_the_users_task_before_and_after() {
    vrun(async {
        let slow = evloop::create_task(async {
            evloop::sleep(Duration::from_secs(1)).await;
            String::from("slow")
        });
        let fast = evloop::create_task(async { String::from("fast") });
        // The same task twice runs once and fills both places.
        let g = evloop::gather([slow.clone(), fast.clone(), slow.clone()]);
        let ids: Vec<u64> = g.children().iter().map(|c| c.id()).collect();
        assert_eq!(ids, [slow.id(), fast.id(), slow.id()]);
        assert_eq!(g.await.unwrap(), ["slow", "fast", "slow"]);
        // Each gathered task can still be awaited and inspected.
        assert_eq!(slow.result().unwrap().unwrap(), "slow");
        assert_eq!((&fast).await.unwrap(), "fast");
        assert_eq!(slow.await.unwrap(), "slow");

        // A cancelled task fails a plain gather with the cancellation (asyncio: CancelledError).
        let doomed = evloop::create_task(async {
            evloop::sleep(Duration::from_secs(1)).await;
            1
        });
        yield_now().await;
        assert!(doomed.cancel());
        let err = evloop::gather([doomed]).await.unwrap_err();
        assert!(err.is_cancelled());

        // Cancelling a gather reaches the user's own tasks.
        let mine = evloop::create_task(evloop::sleep(Duration::from_secs(5)));
        let g = evloop::gather([mine.clone()]);
        assert!(g.cancel());
        assert!(g.await.unwrap_err().is_cancelled());
        assert!(mine.cancelled());
    });
}

/// Spec: GATHER-8, GATHER-7
#[test]
fn loop_futures_are_gathered_as_themselves_and_their_failure_fails_the_gather() {
    vrun(async {
        let a = evloop::LoopFuture::<u8>::new();
        let b = evloop::LoopFuture::<u8>::new();
        let (sa, sb) = (a.clone(), b.clone());
        evloop::get_running_loop().unwrap().call_soon(move || {
            sb.set_result(2).unwrap();
            sa.set_result(1).unwrap();
        });
        assert_eq!(evloop::gather([a.clone(), b]).await.unwrap(), [1, 2]);
        assert_eq!(a.await.unwrap(), 1); // still the user's future

        let bad = evloop::LoopFuture::<u8>::new();
        bad.set_error("disk full").unwrap();
        match evloop::gather([bad]).await {
            Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "disk full"),
            other => panic!("expected the future's failure, got {other:?}"),
        }

        // The macro mixes coroutines, tasks and futures, each as itself.
        let t = evloop::create_task(async { "task" });
        let f = evloop::LoopFuture::new();
        f.set_result(3.5).unwrap();
        let out = evloop::gather!(async { 1 }, t.clone(), f).await.unwrap();
        assert_eq!(out, (1, "task", 3.5));
        assert!(t.done());
    });
}

/// Spec: GATHER-9
#[test]
fn cancelling_a_gather_that_has_finished_returns_false_and_cancels_nothing() {
    vrun(async {
        let sibling = evloop::create_task(evloop::sleep(Duration::from_secs(10)));
        let failing = evloop::create_task(async { panic!("first failure decides the gather") });
        let g2 = evloop::gather([
            Box::pin(async { sibling.await.unwrap() }) as Pin<Box<dyn Future<Output = ()> + Send>>,
            Box::pin(async { failing.await.unwrap() }),
        ]);
        yield_now().await;
        yield_now().await;
        yield_now().await;
        // `g2` is decided (its second child failed) while its first child still runs.
        let kids = g2.children().to_vec();
        assert!(
            !g2.cancel(),
            "a finished gather is done: cancel() returns false"
        );
        assert!(
            !kids[0].done(),
            "and touches nothing: the sibling still runs"
        );
        assert!(g2.await.unwrap_err().is_panic());
        kids[0].cancel();
    });
}
