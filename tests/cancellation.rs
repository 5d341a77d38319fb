//! Cancellation as asyncio has it (specs/cancellation.md): caught where the code chooses,
//! cleanup that awaits, requests counted, and cancellation that travels down the await chain.

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use evloop::{catch_cancel, Builder, Cancelled, LoopFuture, Queue, TaskError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn vt() -> Builder {
    Builder::new().virtual_time(true)
}

/// `join!` of two futures, polled in argument order within one task.
async fn join2<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

const HOUR: Duration = Duration::from_secs(3600);
const SEC: Duration = Duration::from_secs(1);

/// CANCEL-1: without a scope, a cancelled task's future is dropped where it stopped.
/// Spec: CANCEL-1
#[test]
fn cancel_1_without_a_scope_the_future_is_dropped_at_its_await() {
    vt().run(async {
        let t = evloop::create_task(async {
            evloop::sleep(HOUR).await;
            "finished"
        });
        evloop::sleep(SEC).await;
        assert!(t.cancel());
        assert!(t.await.unwrap_err().is_cancelled());
    });
}

/// CANCEL-2: a task cancelled before its first step never runs any of its code.
/// Spec: CANCEL-2
#[test]
fn cancel_2_a_task_cancelled_before_its_first_step_runs_nothing() {
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let t = evloop::create_task(async move {
            push(&l2, "ran");
            catch_cancel(evloop::sleep(HOUR)).await.is_err()
        });
        t.cancel();
        assert!(t.await.unwrap_err().is_cancelled());
    });
    assert!(entries(&l).is_empty());
}

/// CANCEL-2: the cancellation lands at the await where the task is suspended, even when what it
/// awaits became ready in the same turn: a due sleep does not finish, a queue item is not taken.
/// Spec: CANCEL-2
#[test]
fn cancel_2_the_cancellation_lands_at_the_await_that_was_suspended() {
    vt().run(async {
        let q: Queue<u32> = Queue::new();
        let q2 = q.clone();
        let getter = evloop::create_task(async move { catch_cancel(q2.get()).await.ok() });
        evloop::sleep(SEC).await;
        q.put_nowait(7).unwrap(); // wakes the getter...
        getter.cancel(); // ...but the cancellation lands first
        assert_eq!(getter.await.unwrap(), None);
        assert_eq!(q.get_nowait().unwrap(), 7, "the item stays in the queue");
    });
}

/// CANCEL-5: a catch scope takes the cancellation; code after it may await cleanup and return
/// a value, and the task ends normally.
/// Spec: CANCEL-5
#[test]
fn cancel_5_a_scope_catches_and_cleanup_awaits() {
    let l = log();
    let l2 = l.clone();
    let out = vt().run(async move {
        let t = evloop::create_task(async move {
            match catch_cancel(evloop::sleep(HOUR)).await {
                Ok(()) => "slept",
                Err(_) => {
                    push(&l2, "cleanup start");
                    evloop::sleep(SEC).await;
                    push(&l2, "cleanup end");
                    "cleaned up"
                }
            }
        });
        evloop::sleep(SEC).await;
        t.cancel();
        let out = (&t).await.unwrap();
        assert!(!t.cancelled());
        assert_eq!(t.cancelling(), 1, "catching does not take the request back");
        out
    });
    assert_eq!(out, "cleaned up");
    assert_eq!(entries(&l), ["cleanup start", "cleanup end"]);
}

/// CANCEL-5: a caught cancellation may become another failure.
/// Spec: CANCEL-5
#[test]
fn cancel_5_a_caught_cancellation_may_become_another_failure() {
    vt().run(async {
        let t = evloop::create_task(async {
            match catch_cancel(evloop::sleep(HOUR)).await {
                Ok(()) => Ok(()),
                Err(_) => Err("interrupted"),
            }
        });
        evloop::sleep(SEC).await;
        t.cancel();
        assert_eq!(t.await.unwrap(), Err("interrupted"));
    });
    let r = vt().try_run(async {
        let t = evloop::create_task(async {
            if catch_cancel(evloop::sleep(HOUR)).await.is_err() {
                panic!("turned into a panic");
            }
        });
        evloop::sleep(SEC).await;
        t.cancel();
        t.await.unwrap_err().is_panic()
    });
    assert!(r.unwrap());
}

/// CANCEL-5: nested scopes — the innermost one on the await path takes it; re-raising goes to
/// the next one out.
/// Spec: CANCEL-5
#[test]
fn cancel_5_the_innermost_scope_takes_it_and_raise_goes_outward() {
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let t = evloop::create_task(async move {
            let l3 = l2.clone();
            let inner = async move {
                match catch_cancel(evloop::sleep(HOUR)).await {
                    Ok(()) => "slept",
                    Err(c) => {
                        push(&l3, "inner caught");
                        evloop::sleep(SEC).await;
                        c.raise().await
                    }
                }
            };
            match catch_cancel(inner).await {
                Ok(v) => v,
                Err(_) => {
                    push(&l2, "outer caught");
                    "outer"
                }
            }
        });
        evloop::sleep(SEC).await;
        t.cancel();
        assert_eq!(t.await.unwrap(), "outer");
    });
    assert_eq!(entries(&l), ["inner caught", "outer caught"]);
}

/// CANCEL-5: inside `join!` of two scoped futures in one task, the first one polled takes the
/// cancellation; the other runs on.
/// Spec: CANCEL-5
#[test]
fn cancel_5_in_a_join_the_first_scope_polled_takes_it() {
    vt().run(async {
        let t = evloop::create_task(async {
            let a = catch_cancel(evloop::sleep(HOUR));
            let b = catch_cancel(async {
                evloop::sleep(Duration::from_secs(5)).await;
                "b finished"
            });
            let (a, b) = join2(a, b).await;
            (a.is_err(), b.unwrap())
        });
        evloop::sleep(SEC).await;
        t.cancel();
        assert_eq!(t.await.unwrap(), (true, "b finished"));
    });
}

/// CANCEL-8: a caught cancellation returned through `?` ends the task cancelled, with its
/// message; `raise` with no scope left ends it cancelled too.
/// Spec: CANCEL-8, CANCEL-5
#[test]
fn cancel_8_a_cancellation_that_escapes_ends_the_task_cancelled() {
    vt().run(async {
        let t = evloop::create_task(async {
            catch_cancel(evloop::sleep(HOUR)).await?;
            Ok::<_, TaskError>("slept")
        });
        evloop::sleep(SEC).await;
        t.cancel_with("bye");
        match (&t).await {
            Err(TaskError::Cancelled(c)) => assert_eq!(c.message(), Some("bye")),
            other => panic!("expected a cancellation, got {other:?}"),
        }
        assert!(t.cancelled());

        let r = evloop::create_task(async {
            match catch_cancel(evloop::sleep(HOUR)).await {
                Ok(()) => 1,
                Err(c) => c.raise().await,
            }
        });
        evloop::sleep(SEC).await;
        r.cancel();
        assert!(r.await.unwrap_err().is_cancelled());
    });
}

/// CANCEL-8: dropping the caught value is catching it: the task ends with what it returns.
/// Spec: CANCEL-8, CANCEL-5
#[test]
fn cancel_8_a_dropped_cancellation_does_not_escape() {
    vt().run(async {
        let t = evloop::create_task(async {
            let caught: Result<(), Cancelled> = catch_cancel(evloop::sleep(HOUR)).await;
            Ok::<_, TaskError>(caught.is_err())
        });
        evloop::sleep(SEC).await;
        t.cancel();
        assert!(t.await.unwrap().unwrap());
    });
}

/// CANCEL-3: every cancel of a pending task returns true and counts; uncancel takes one back.
/// Spec: CANCEL-3
#[test]
fn cancel_3_requests_are_counted_and_uncancel_takes_one_back() {
    vt().run(async {
        let t = evloop::create_task(async {
            let me = evloop::current_task().unwrap();
            let mut caught = 0;
            while caught < 2 {
                if catch_cancel(evloop::sleep(HOUR)).await.is_err() {
                    caught += 1;
                }
            }
            me.cancelling()
        });
        evloop::sleep(SEC).await;
        assert!(t.cancel());
        evloop::sleep(SEC).await;
        assert!(t.cancel());
        assert_eq!(t.cancelling(), 2);
        assert_eq!(t.uncancel(), 1);
        assert_eq!(t.await.unwrap(), 1);
    });
}

/// CANCEL-4: `cancel_with`'s message reaches the scope that catches it and the awaiters.
/// Spec: CANCEL-4
#[test]
fn cancel_4_the_message_reaches_the_catcher_and_the_awaiters() {
    vt().run(async {
        let t = evloop::create_task(async {
            match catch_cancel(evloop::sleep(HOUR)).await {
                Ok(()) => String::new(),
                Err(c) => c.message().unwrap_or_default().to_string(),
            }
        });
        evloop::sleep(SEC).await;
        t.cancel_with("first");
        assert_eq!(t.await.unwrap(), "first");

        let u = evloop::create_task(evloop::sleep(HOUR));
        evloop::sleep(SEC).await;
        u.cancel_with("second");
        let err = u.await.unwrap_err();
        assert_eq!(err.to_string(), "the task was cancelled: second");
    });
}

/// CANCEL-6: cancelling the outer task of a chain cancels the innermost first; each level's
/// cleanup runs in order, innermost first, and each level receives the cancellation at its
/// await.
/// Spec: CANCEL-6
#[test]
fn cancel_6_a_chain_unwinds_innermost_first() {
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let lc = l2.clone();
        let c = evloop::create_task(async move {
            if catch_cancel(evloop::sleep(HOUR)).await.is_err() {
                push(&lc, "c cleanup");
                evloop::sleep(SEC).await;
                push(&lc, "c done");
            }
            Err::<(), _>(TaskError::Cancelled(Cancelled::default()))
        });
        let lb = l2.clone();
        let b = evloop::create_task(async move {
            match catch_cancel(c).await {
                Ok(_) => push(&lb, "b got a value"),
                Err(_) => push(&lb, "b caught"),
            }
        });
        let la = l2.clone();
        let a = evloop::create_task(async move {
            match catch_cancel(b).await {
                Ok(_) => push(&la, "a got a value"),
                Err(_) => push(&la, "a caught"),
            }
        });
        evloop::sleep(SEC).await;
        a.cancel();
        a.await.unwrap();
    });
    // c returns a value (an error it chose): b's await got a value, not a cancellation; but a's
    // own cancellation was handed to b, which handed it to c.
    assert_eq!(
        entries(&l),
        ["c cleanup", "c done", "b got a value", "a got a value"]
    );
}

/// CANCEL-6: when the innermost task ends cancelled, every level receives the cancellation,
/// innermost first.
/// Spec: CANCEL-6
#[test]
fn cancel_6_each_level_receives_the_cancellation() {
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let lc = l2.clone();
        let c = evloop::create_task(async move {
            let _ = lc;
            evloop::sleep(HOUR).await;
        });
        let lb = l2.clone();
        let b = evloop::create_task(async move {
            if catch_cancel(c).await.is_err() {
                push(&lb, "b caught");
                evloop::sleep(SEC).await;
                push(&lb, "b cleaned up");
            }
            "b"
        });
        let la = l2.clone();
        let a = evloop::create_task(async move {
            let r = catch_cancel(b).await;
            push(&la, format!("a got {r:?}"));
        });
        evloop::sleep(SEC).await;
        assert!(a.cancel());
        assert_eq!(a.cancelling(), 1);
        a.await.unwrap();
    });
    assert_eq!(
        entries(&l),
        ["b caught", "b cleaned up", "a got Ok(Ok(\"b\"))"]
    );
}

/// CANCEL-7: awaiting a task that someone else cancelled gives a cancellation the awaiter may
/// catch and recover from; it is not cancelled itself unless it lets it escape (CANCEL-8).
/// Spec: CANCEL-7
#[test]
fn cancel_7_awaiting_a_cancelled_task_gives_a_value_to_recover_from() {
    vt().run(async {
        let victim = evloop::create_task(evloop::sleep(HOUR));
        let v2 = victim.clone();
        let recovers = evloop::create_task(async move {
            match v2.await {
                Err(e) if e.is_cancelled() => "recovered",
                _ => "other",
            }
        });
        let v3 = victim.clone();
        let escapes = evloop::create_task(async move {
            v3.await?;
            Ok::<_, TaskError>("unreached")
        });
        evloop::sleep(SEC).await;
        victim.cancel();
        assert_eq!(recovers.await.unwrap(), "recovered");
        assert!(escapes.await.unwrap_err().is_cancelled());
    });
}

/// GATHER-10: cancelling the task awaiting a gather cancels every unfinished child, and the
/// awaiter receives the cancellation, whatever the children did with theirs.
/// Spec: GATHER-10, CANCEL-6
#[test]
fn gather_10_cancelling_the_awaiter_cancels_the_children_and_raises() {
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let lk = l2.clone();
        let a = evloop::create_task(async move {
            let kids = (0..2).map(move |i| {
                let lk = lk.clone();
                async move {
                    match catch_cancel(evloop::sleep(HOUR)).await {
                        Ok(()) => i,
                        Err(_) => {
                            evloop::sleep(SEC).await;
                            push(&lk, format!("child {i} caught"));
                            i + 10
                        }
                    }
                }
            });
            let r = catch_cancel(evloop::gather_settled(kids)).await;
            r.is_err()
        });
        evloop::sleep(SEC).await;
        a.cancel();
        assert!(a.await.unwrap(), "the awaiter received a cancellation");
    });
    assert_eq!(entries(&l), ["child 0 caught", "child 1 caught"]);
}

/// CANCEL-4, GATHER-10: a message handed down through a gather reaches its children, task and
/// loop future alike, and comes back up to the awaiter with the cancellation (asyncio 3.11:
/// `_GatheringFuture.cancel(msg)` cancels each child with `msg`; the outer future's
/// `CancelledError` is the child's `_make_cancelled_error()`).
/// Spec: CANCEL-4, GATHER-10
#[test]
fn cancel_4_the_message_travels_down_and_back_up_through_a_gather() {
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let fut = LoopFuture::<u32>::new();
        let f2 = fut.clone();
        let a = evloop::create_task(async move {
            let child = async move {
                match catch_cancel(evloop::sleep(HOUR)).await {
                    Ok(()) => 0,
                    Err(c) => {
                        push(&l2, format!("child caught {:?}", c.message()));
                        1
                    }
                }
            };
            let g = evloop::gather![child, f2];
            match catch_cancel(g).await {
                Ok(_) => "finished".to_owned(),
                Err(c) => format!("awaiter caught {:?}", c.message()),
            }
        });
        evloop::sleep(SEC).await;
        a.cancel_with("stop");
        assert_eq!(a.await.unwrap(), "awaiter caught Some(\"stop\")");
        match fut.result() {
            Ok(Err(evloop::FutureError::Cancelled(c))) => assert_eq!(c.message(), Some("stop")),
            other => panic!("the loop future child was not cancelled: {other:?}"),
        }
    });
    assert_eq!(entries(&l), ["child caught Some(\"stop\")"]);
}

/// CANCEL-6: a `LoopFuture` awaited by a cancelled task ends cancelled, as in asyncio.
/// Spec: CANCEL-6
#[test]
fn cancel_6_a_loop_future_awaited_by_a_cancelled_task_ends_cancelled() {
    vt().run(async {
        let fut = LoopFuture::<u8>::new();
        let f2 = fut.clone();
        let t = evloop::create_task(async move { catch_cancel(f2).await.is_err() });
        evloop::sleep(SEC).await;
        t.cancel();
        assert!(t.await.unwrap());
        assert!(fut.cancelled());
    });
}

/// CANCEL-2: a task that cancels itself is cancelled at its next await.
/// Spec: CANCEL-2
#[test]
fn cancel_2_a_task_cancelling_itself_is_cancelled_at_its_next_await() {
    vt().run(async {
        let t = evloop::create_task(async {
            evloop::current_task().unwrap().cancel();
            let first = catch_cancel(evloop::sleep(Duration::ZERO)).await.is_err();
            let second = catch_cancel(evloop::sleep(Duration::ZERO)).await.is_err();
            (first, second)
        });
        assert_eq!(t.await.unwrap(), (true, false));
    });
}

/// A task that logs one tick per loop turn, so that a trace shows in which turn each step ran.
fn ticker(l: &Log) -> evloop::Task<()> {
    let l = l.clone();
    evloop::create_task(async move {
        for i in 0..6 {
            push(&l, format!("tick {i}"));
            evloop::sleep(Duration::ZERO).await;
        }
    })
}

/// Spec: CANCEL-6
#[test]
fn cancel_6_a_chain_unwinds_in_the_same_turns_as_asyncio() {
    // CPython 3.11's trace for the same program (three tasks a -> b -> c, each catching at its
    // await; c cleans up across one yield and re-raises, b re-raises, a recovers).
    let expected = [
        "tick 0",
        "cancel a",
        "tick 1",
        "c caught",
        "tick 2",
        "c cleaned",
        "tick 3",
        "b caught",
        "tick 4",
        "a caught",
        "tick 5",
        "cancelling a=1 b=1 c=1",
    ];
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let lc = l2.clone();
        let c = evloop::create_task(async move {
            match catch_cancel(evloop::sleep(HOUR)).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    push(&lc, "c caught");
                    evloop::sleep(Duration::ZERO).await;
                    push(&lc, "c cleaned");
                    Err(TaskError::from(e))
                }
            }
        });
        let lb = l2.clone();
        let c2 = c.clone();
        let b = evloop::create_task(async move {
            match catch_cancel(c2).await {
                Ok(r) => r,
                Err(e) => {
                    push(&lb, "b caught");
                    Err(TaskError::from(e))
                }
            }
        });
        let la = l2.clone();
        let b2 = b.clone();
        let a = evloop::create_task(async move {
            if catch_cancel(b2).await.is_err() {
                push(&la, "a caught");
            }
        });
        evloop::sleep(Duration::ZERO).await;
        let tk = ticker(&l2);
        evloop::sleep(Duration::ZERO).await;
        a.cancel();
        push(&l2, "cancel a");
        (&a).await.unwrap();
        tk.await.unwrap();
        push(
            &l2,
            format!(
                "cancelling a={} b={} c={}",
                a.cancelling(),
                b.cancelling(),
                c.cancelling()
            ),
        );
    });
    assert_eq!(entries(&l), expected);
}

/// Spec: GATHER-10, CANCEL-6
#[test]
fn gather_10_cancelling_the_awaiter_unwinds_in_the_same_turns_as_asyncio() {
    // CPython 3.11's trace: the children catch, clean up across a yield and return values; the
    // awaiter still receives the cancellation.
    let expected = [
        "tick 0",
        "cancel a",
        "tick 1",
        "child 0 caught",
        "child 1 caught",
        "tick 2",
        "child 0 cleaned",
        "child 1 cleaned",
        "tick 3",
        "tick 4",
        "a caught",
        "tick 5",
    ];
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let lk = l2.clone();
        let la = l2.clone();
        let a = evloop::create_task(async move {
            let kids = (0..2).map(move |i| {
                let lk = lk.clone();
                async move {
                    match catch_cancel(evloop::sleep(HOUR)).await {
                        Ok(()) => i,
                        Err(_) => {
                            push(&lk, format!("child {i} caught"));
                            evloop::sleep(Duration::ZERO).await;
                            push(&lk, format!("child {i} cleaned"));
                            i
                        }
                    }
                }
            });
            match catch_cancel(evloop::gather(kids)).await {
                Ok(r) => push(&la, format!("a got {r:?}")),
                Err(_) => push(&la, "a caught"),
            }
        });
        evloop::sleep(Duration::ZERO).await;
        let tk = ticker(&l2);
        evloop::sleep(Duration::ZERO).await;
        a.cancel();
        push(&l2, "cancel a");
        a.await.unwrap();
        tk.await.unwrap();
    });
    assert_eq!(entries(&l), expected);
}
