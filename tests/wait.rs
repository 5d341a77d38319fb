//! `wait` and `as_completed` as asyncio 3.11 has them (specs/wait.md): when they return, what
//! they return, and that they cancel nothing.

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use evloop::{as_completed, catch_cancel, wait, Builder, ReturnWhen, TimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn vt() -> Builder {
    Builder::new().virtual_time(true)
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

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A task that sleeps `s` seconds and returns `s`.
fn nap(s: u64) -> evloop::Task<u64> {
    evloop::create_task(async move {
        evloop::sleep(secs(s)).await;
        s
    })
}

/// Yields `n` loop turns, then logs `name ends`.
fn turns(l: &Log, name: &'static str, n: usize) -> evloop::Task<&'static str> {
    let l = l.clone();
    evloop::create_task(async move {
        for _ in 0..n {
            evloop::sleep(Duration::ZERO).await;
        }
        push(&l, format!("{name} ends"));
        name
    })
}

fn ticker(l: &Log, n: usize) -> evloop::Task<()> {
    let l = l.clone();
    evloop::create_task(async move {
        for i in 0..n {
            push(&l, format!("tick {i}"));
            evloop::sleep(Duration::ZERO).await;
        }
    })
}

/// Spec: WAIT-1
#[test]
fn wait_1_first_completed_returns_when_one_finishes_in_argument_order() {
    vt().run(async {
        let tasks = vec![nap(3), nap(1), nap(2), nap(1)];
        let lp = evloop::get_running_loop().unwrap();
        let start = lp.now();
        let (done, pending) = wait(tasks, ReturnWhen::FirstCompleted, None).await;
        assert_eq!(lp.now() - start, secs(1));
        let out: Vec<u64> = done.iter().map(|t| t.result().unwrap().unwrap()).collect();
        // Both 1-second tasks finished by the time the waiter resumed, in argument order.
        assert_eq!(out, [1, 1]);
        assert_eq!(pending.len(), 2);
        assert!(pending[0].id() < pending[1].id(), "argument order");
        for t in pending {
            t.await.unwrap();
        }
    });
}

/// Spec: WAIT-2
#[test]
fn wait_2_first_exception_returns_at_a_panic_but_not_at_a_cancellation_or_an_err_value() {
    vt().run(async {
        let cancelled = nap(10);
        let err_value = evloop::create_task(async {
            evloop::sleep(secs(2)).await;
            Err::<u64, &str>("a value, not a failure")
        });
        let panics = evloop::create_task(async {
            evloop::sleep(secs(3)).await;
            panic!("boom");
        });
        let slow = nap(4);
        cancelled.cancel();
        let lp = evloop::get_running_loop().unwrap();
        let start = lp.now();
        let (done, pending) = wait(
            [
                cancelled.task_ref(),
                err_value.task_ref(),
                panics.task_ref(),
                slow.task_ref(),
            ],
            ReturnWhen::FirstException,
            None,
        )
        .await;
        assert_eq!(lp.now() - start, secs(3));
        assert_eq!(done.len(), 3);
        assert!(done[2].panicked());
        assert_eq!(pending, [slow.task_ref()]);
        // Without a failure, FirstException waits for all.
        let (done, pending) = wait([nap(1), nap(2)], ReturnWhen::FirstException, None).await;
        assert_eq!((done.len(), pending.len()), (2, 0));
        assert!(panics.await.unwrap_err().is_panic());
        slow.await.unwrap();
        let _ = err_value.await;
    });
}

/// Spec: WAIT-3
#[test]
fn wait_3_all_completed_returns_when_every_task_has_finished() {
    vt().run(async {
        let lp = evloop::get_running_loop().unwrap();
        let start = lp.now();
        let (done, pending) = wait([nap(2), nap(1), nap(3)], ReturnWhen::default(), None).await;
        assert_eq!(lp.now() - start, secs(3));
        let out: Vec<u64> = done
            .into_iter()
            .map(|t| t.result().unwrap().unwrap())
            .collect();
        assert_eq!(out, [2, 1, 3]);
        assert!(pending.is_empty());
    });
}

/// Spec: WAIT-4
#[test]
fn wait_4_a_timeout_returns_what_is_running_and_cancels_nothing() {
    vt().run(async {
        let lp = evloop::get_running_loop().unwrap();
        let start = lp.now();
        let tasks = [nap(1), nap(5)];
        let (done, pending) = wait(&tasks, ReturnWhen::AllCompleted, Some(secs(2))).await;
        assert_eq!(lp.now() - start, secs(2));
        assert_eq!((done.len(), pending.len()), (1, 1));
        assert!(!pending[0].done() && !pending[0].cancelled());
        // Finishing before the timeout: the timer goes with the wait.
        let (done, _) = wait([nap(1)], ReturnWhen::AllCompleted, Some(HOUR)).await;
        assert_eq!(done.len(), 1);
        let [a, b] = tasks;
        assert_eq!(b.await.unwrap(), 5, "the timeout did not cancel it");
        assert_eq!(a.await.unwrap(), 1);
        assert_eq!(lp.now() - start, secs(5));
    });
}

/// Spec: WAIT-5
#[test]
fn wait_5_cancelling_the_waiting_task_cancels_only_that_task_and_leaves_nothing_behind() {
    vt().run(async {
        let long = nap(10);
        let r = long.task_ref();
        let waiter = {
            let r = r.clone();
            evloop::create_task(async move {
                catch_cancel(wait([r], ReturnWhen::AllCompleted, None))
                    .await
                    .is_err()
            })
        };
        evloop::sleep(secs(1)).await;
        assert!(format!("{r:?}").contains("waiter_slots: 1"), "{r:?}");
        waiter.cancel();
        assert!(waiter.await.unwrap(), "the waiter caught its cancellation");
        assert!(!r.done() && !r.cancelled(), "the task waited for runs on");
        assert!(
            format!("{r:?}").contains("waiter_slots: 0"),
            "the wait took its done entry back: {r:?}"
        );
        // A wait that returns leaves nothing on the tasks still pending either.
        let (_, pending) = wait([r.clone()], ReturnWhen::AllCompleted, Some(secs(1))).await;
        assert_eq!(pending.len(), 1);
        assert!(format!("{r:?}").contains("waiter_slots: 0"), "{r:?}");
        assert_eq!(long.await.unwrap(), 10);
    });
}

/// Spec: WAIT-6
#[test]
fn wait_6_no_tasks_is_an_error_and_a_task_given_twice_counts_once() {
    let msg = std::panic::catch_unwind(|| {
        drop(wait(
            Vec::<evloop::TaskRef>::new(),
            ReturnWhen::AllCompleted,
            None,
        ));
    })
    .unwrap_err();
    let msg = msg.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("Set of Tasks/Futures is empty"), "{msg}");
    vt().run(async {
        let a = nap(1).task_ref();
        let b = nap(2).task_ref();
        let (done, pending) = wait(
            [a.clone(), b.clone(), a.clone()],
            ReturnWhen::FirstCompleted,
            None,
        )
        .await;
        assert_eq!(done, [a]);
        assert_eq!(pending, std::slice::from_ref(&b));
        b.wait().await;
    });
}

/// Spec: WAIT-7
#[test]
fn wait_7_returns_in_the_same_turns_as_asyncio() {
    // CPython 3.11.7's trace for the same program (tests/wait.rs's `turns` and `ticker`):
    //   ta = create_task(a()); tb = create_task(b()); tk = create_task(ticker())   # 7 ticks
    //   done, pending = await wait([ta, tb], return_when=FIRST_COMPLETED); log(...)
    //   done, pending = await wait([ta, tb]); log(...)
    //   tc = create_task(c()); td = create_task(b())     # c: sleep(0), log, raise
    //   done, pending = await wait([tc, td], return_when=FIRST_EXCEPTION); log(...)
    //   await td; await tk
    let expected = [
        "tick 0",
        "a ends",
        "tick 1",
        "tick 2",
        "first: done=1 pending=1",
        "b ends",
        "tick 3",
        "tick 4",
        "all: done=2 pending=0",
        "tick 5",
        "tick 6",
        "c panics",
        "exc: done=1 pending=1",
        "b ends",
    ];
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let ta = turns(&l2, "a", 1);
        let tb = turns(&l2, "b", 3);
        let tk = ticker(&l2, 7);
        let (done, pending) = wait([&ta, &tb], ReturnWhen::FirstCompleted, None).await;
        push(
            &l2,
            format!("first: done={} pending={}", done.len(), pending.len()),
        );
        let (done, pending) = wait([&ta, &tb], ReturnWhen::AllCompleted, None).await;
        push(
            &l2,
            format!("all: done={} pending={}", done.len(), pending.len()),
        );
        let l3 = l2.clone();
        let tc = evloop::create_task(async move {
            evloop::sleep(Duration::ZERO).await;
            push(&l3, "c panics");
            panic!("c");
        });
        let td = turns(&l2, "b", 3);
        let (done, pending) = wait(
            [tc.task_ref(), td.task_ref()],
            ReturnWhen::FirstException,
            None,
        )
        .await;
        push(
            &l2,
            format!("exc: done={} pending={}", done.len(), pending.len()),
        );
        td.await.unwrap();
        tk.await.unwrap();
        assert!(tc.await.unwrap_err().is_panic());
    });
    assert_eq!(entries(&l), expected);
}

/// Spec: ASCOMPLETED-1
#[test]
fn as_completed_1_hands_back_each_task_once_in_the_order_they_finish() {
    vt().run(async {
        let tasks = vec![nap(3), nap(1), nap(2)];
        let mut ac = as_completed(tasks, None);
        let mut order = Vec::new();
        while let Some(t) = ac.next().await {
            order.push(t.unwrap().await.unwrap());
        }
        assert_eq!(order, [1, 2, 3]);
        assert!(ac.next().await.is_none());
        // A task given twice comes back once; none at all is allowed.
        let a = nap(1).task_ref();
        let mut ac = as_completed([a.clone(), a.clone()], None);
        assert_eq!(ac.len(), 1);
        assert_eq!(ac.next().await.unwrap().unwrap(), a);
        assert!(ac.next().await.is_none());
        assert!(as_completed(Vec::<evloop::TaskRef>::new(), None)
            .next()
            .await
            .is_none());
    });
}

/// Spec: ASCOMPLETED-2
#[test]
fn as_completed_2_after_the_timeout_each_next_is_a_timeout_and_the_tasks_run_on() {
    // CPython 3.11.7: with tasks sleeping 0.3 and 0.05 and timeout=0.15, the loop gets "fast",
    // then TimeoutError; "slow" is not done, and finishes when awaited.
    vt().run(async {
        let tasks = [nap(30), nap(5)];
        let mut ac = as_completed(&tasks, Some(secs(15)));
        assert_eq!(
            ac.next().await.unwrap().unwrap().result().unwrap().unwrap(),
            5
        );
        assert_eq!(ac.next().await.unwrap().unwrap_err(), TimeoutError);
        assert!(ac.next().await.is_none());
        drop(ac);
        let [slow, _] = tasks;
        assert!(!slow.done() && !slow.cancelled());
        assert_eq!(slow.await.unwrap(), 30);
    });
}

/// Spec: ASCOMPLETED-3
#[test]
fn as_completed_3_hands_back_in_the_same_turns_as_asyncio() {
    // CPython 3.11.7's trace for the same program:
    //   async def job(name, n): sleep(0) n times; log(f"{name} ends"); return name
    //   tk = create_task(ticker())                                        # 8 ticks
    //   ts = [create_task(job("a", 3)), create_task(job("b", 1)), create_task(job("c", 0))]
    //   for f in as_completed(ts): r = await f; log(f"got {r}")
    //   await tk
    let expected = [
        "tick 0", "c ends", "tick 1", "b ends", "tick 2", "got c", "got b", "tick 3", "a ends",
        "tick 4", "tick 5", "got a", "tick 6", "tick 7",
    ];
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let tk = ticker(&l2, 8);
        let ts = vec![turns(&l2, "a", 3), turns(&l2, "b", 1), turns(&l2, "c", 0)];
        let mut ac = as_completed(ts, None);
        while let Some(t) = ac.next().await {
            let r = t.unwrap().await.unwrap();
            push(&l2, format!("got {r}"));
        }
        tk.await.unwrap();
    });
    assert_eq!(entries(&l), expected);
}

/// Spec: ASCOMPLETED-4
#[test]
fn as_completed_4_going_away_cancels_nothing_and_leaves_nothing_behind() {
    vt().run(async {
        let long = nap(10);
        let r = long.task_ref();
        let waiter = {
            let r = r.clone();
            evloop::create_task(async move {
                let mut ac = as_completed([r], None);
                catch_cancel(ac.next()).await.is_err()
            })
        };
        evloop::sleep(secs(1)).await;
        assert!(format!("{r:?}").contains("waiter_slots: 1"), "{r:?}");
        waiter.cancel();
        assert!(waiter.await.unwrap());
        assert!(!r.done());
        assert!(format!("{r:?}").contains("waiter_slots: 0"), "{r:?}");
        // Dropped unfinished, or timed out: the same.
        let mut ac = as_completed([r.clone()], Some(secs(1)));
        assert!(ac.next().await.unwrap().is_err());
        assert!(format!("{r:?}").contains("waiter_slots: 0"), "{r:?}");
        drop(ac);
        assert_eq!(long.await.unwrap(), 10);
    });
}
