//! TaskGroup as asyncio 3.11 has it (specs/taskgroup.md): the group waits for its tasks, the
//! first failure cancels the rest and the body, failures are reported together, and no task
//! outlives its group.

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use evloop::{catch_cancel, task_group, Builder, GroupClosed, GroupFailure, TaskError};
use std::convert::Infallible;
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
const SEC: Duration = Duration::from_secs(1);

/// A child that sleeps an hour; if cancelled, it logs, cleans up across one await, logs again,
/// and ends cancelled.
async fn sibling(l: Log, name: &'static str) -> Result<(), TaskError> {
    match catch_cancel(evloop::sleep(HOUR)).await {
        Ok(()) => Ok(()),
        Err(c) => {
            push(&l, format!("{name} caught"));
            evloop::sleep(Duration::ZERO).await;
            push(&l, format!("{name} cleaned"));
            Err(c.into())
        }
    }
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

/// Spec: GROUP-1
#[test]
fn group_1_the_group_waits_for_every_task_when_the_body_ends() {
    let l = log();
    let l2 = l.clone();
    let out = vt().run(async move {
        let lp = evloop::get_running_loop().unwrap();
        let start = lp.now();
        let r = task_group(|g| async move {
            for s in [3u64, 1, 2] {
                let l = l2.clone();
                let _ = g.create_task(async move {
                    evloop::sleep(Duration::from_secs(s)).await;
                    push(&l, format!("slept {s}"));
                });
            }
            push(&l2, "body ends");
            Ok::<_, Infallible>("value")
        })
        .await;
        (r.unwrap(), lp.now() - start)
    });
    assert_eq!(out.0, "value");
    assert!(out.1 >= Duration::from_secs(3));
    assert_eq!(entries(&l), ["body ends", "slept 1", "slept 2", "slept 3"]);
}

/// Spec: GROUP-2, GROUP-9
#[test]
fn group_2_the_first_failure_cancels_the_siblings_and_the_body_and_is_reported() {
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let me = evloop::current_task().unwrap();
        let l3 = l2.clone();
        let err = task_group(|g| async move {
            let sib = g.create_task(sibling(l3.clone(), "sibling"));
            let _ = g.create_task_named("crasher", async {
                evloop::sleep(SEC).await;
                panic!("boom");
            });
            match catch_cancel(evloop::sleep(HOUR)).await {
                Ok(()) => Ok::<(), Infallible>(()),
                Err(c) => {
                    push(&l3, "body cancelled");
                    assert!(!sib.done(), "the sibling is still cleaning up");
                    c.raise().await
                }
            }
        })
        .await
        .unwrap_err();
        // The group's own cancellation of this task was taken back: it runs on.
        assert_eq!(me.cancelling(), 0);
        let failures = err.failures();
        assert_eq!(failures.len(), 1, "a cancelled sibling is not a failure");
        match &failures[0] {
            GroupFailure::Task { task, error } => {
                assert_eq!(task.name(), "crasher");
                assert!(error.is_panic());
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("crasher: the task panicked: boom"));
        evloop::sleep(Duration::ZERO).await; // this task was not left cancelled
        push(&l2, "runs on");
    });
    assert_eq!(
        entries(&l),
        [
            "sibling caught",
            "body cancelled",
            "sibling cleaned",
            "runs on"
        ]
    );

    // GROUP-9, side by side: gather's siblings keep running after a failure.
    vt().run(async {
        let slow = evloop::create_task(evloop::sleep(HOUR));
        let failing = evloop::create_task(async { panic!("boom") });
        let slow_ref = slow.task_ref();
        let failed = evloop::gather([
            Box::pin(async move { slow.await.unwrap() })
                as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
            Box::pin(async move { failing.await.unwrap() }),
        ])
        .await;
        assert!(failed.unwrap_err().is_panic());
        assert!(
            !slow_ref.done(),
            "gather cancels nothing when a child fails"
        );
        slow_ref.cancel();
    });
}

/// Spec: GROUP-2
#[test]
fn group_2_every_failure_is_reported_in_the_order_the_group_saw_it_and_the_body_error_last() {
    vt().run(async {
        let err = task_group(|g| async move {
            for (i, s) in [(0u64, 2u64), (1, 1)] {
                let _ = g.create_task_named(format!("t{i}"), async move {
                    // Both fail: the second one while the group is already cancelling (it
                    // catches its cancellation and panics in its cleanup).
                    let _ = catch_cancel(evloop::sleep(Duration::from_secs(s))).await;
                    panic!("t{i} failed");
                });
            }
            let _ = catch_cancel(evloop::sleep(HOUR)).await;
            Err::<(), _>("body failed too")
        })
        .await
        .unwrap_err();
        let names: Vec<String> = err
            .failures()
            .iter()
            .map(|f| match f {
                GroupFailure::Task { task, .. } => task.name(),
                GroupFailure::Body(e) => format!("body: {e}"),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(names, ["t1", "t0", "body: body failed too"]);
        assert!(err
            .to_string()
            .starts_with("unhandled errors in a TaskGroup (3 sub-exceptions)"));
    });
}

/// Spec: GROUP-3
#[test]
fn group_3_a_cancellation_from_outside_cancels_the_tasks_and_goes_on_once_they_are_done() {
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let l3 = l2.clone();
        let parent = evloop::create_task(async move {
            let r = catch_cancel(task_group(|g| {
                let l4 = l3.clone();
                async move {
                    let _ = g.create_task(sibling(l4.clone(), "kid"));
                    evloop::sleep(HOUR).await;
                    Ok::<_, Infallible>(())
                }
            }))
            .await;
            let me = evloop::current_task().unwrap();
            push(
                &l3,
                format!(
                    "caught outside the group: {}, cancelling {}",
                    r.is_err(),
                    me.cancelling()
                ),
            );
        });
        evloop::sleep(SEC).await;
        parent.cancel();
        parent.await.unwrap();
    });
    assert_eq!(
        entries(&l),
        [
            "kid caught",
            "kid cleaned",
            "caught outside the group: true, cancelling 1"
        ]
    );
}

/// Spec: GROUP-3
#[test]
fn group_3_a_failure_wins_over_a_cancellation_from_outside() {
    vt().run(async {
        let parent = evloop::create_task(async {
            task_group(|g| async move {
                let _ = g.create_task(async {
                    // Fails in its cleanup, after the outside cancellation reached the group.
                    let _ = catch_cancel(evloop::sleep(HOUR)).await;
                    panic!("cleanup failed");
                });
                evloop::sleep(HOUR).await;
                Ok::<_, Infallible>(())
            })
            .await
        });
        evloop::sleep(SEC).await;
        parent.cancel();
        let err = parent.await.unwrap().unwrap_err();
        assert_eq!(err.failures().len(), 1);
    });
}

/// Spec: GROUP-4
#[test]
fn group_4_a_body_error_cancels_the_tasks_and_comes_back_after_them() {
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let l3 = l2.clone();
        let err = task_group(|g| async move {
            let _ = g.create_task(sibling(l3.clone(), "kid"));
            evloop::sleep(SEC).await;
            push(&l3, "body fails");
            Err::<(), _>(String::from("parse error"))
        })
        .await
        .unwrap_err();
        assert!(matches!(err.failures(), [GroupFailure::Body(e)] if e == "parse error"));
        push(&l2, "group returned");
    });
    assert_eq!(
        entries(&l),
        ["body fails", "kid caught", "kid cleaned", "group returned"]
    );
}

/// Spec: GROUP-5
#[test]
fn group_5_a_body_panic_goes_on_once_the_tasks_have_finished_cancelling() {
    let l = log();
    let l2 = l.clone();
    let r = vt().try_run(async move {
        let l3 = l2.clone();
        let t = evloop::create_task(async move {
            task_group(|g| async move {
                let _ = g.create_task(sibling(l3.clone(), "kid"));
                evloop::sleep(SEC).await;
                if l3.lock().unwrap().is_empty() {
                    panic!("body panicked");
                }
                Ok::<_, Infallible>(())
            })
            .await
        });
        let err = t.await.unwrap_err();
        push(&l2, format!("task ended: {err}"));
    });
    r.unwrap();
    assert_eq!(
        entries(&l),
        [
            "kid caught",
            "kid cleaned",
            "task ended: the task panicked: body panicked"
        ]
    );
}

/// Spec: GROUP-6
#[test]
fn group_6_no_task_outlives_its_group_however_the_body_ends() {
    // Each way the body can end; every task's cleanup (which awaits) is over when the group
    // resolves or raises.
    for how in ["ok", "err", "child panics", "outside cancel", "body panics"] {
        vt().try_run(async move {
            let kids: Arc<Mutex<Vec<evloop::TaskRef>>> = Arc::default();
            let k2 = kids.clone();
            let parent = evloop::create_task(async move {
                let k3 = k2.clone();
                let _ = catch_cancel(task_group(move |g| async move {
                    for i in 0..3u64 {
                        let t = g.create_task(async move {
                            if catch_cancel(evloop::sleep(Duration::from_secs(2 + i)))
                                .await
                                .is_err()
                            {
                                evloop::sleep(SEC).await; // cleanup that awaits
                            }
                        });
                        k3.lock().unwrap().push(t.task_ref());
                    }
                    if how == "child panics" {
                        let _ = g.create_task(async { panic!("boom") });
                    }
                    evloop::sleep(SEC).await;
                    match how {
                        "err" => Err("failed"),
                        "body panics" => panic!("body"),
                        "outside cancel" => {
                            evloop::sleep(HOUR).await;
                            Ok(())
                        }
                        _ => Ok(()),
                    }
                }))
                .await;
                // The group has resolved or raised: every task it made has finished.
                let all_done = k2.lock().unwrap().iter().all(|t| t.done());
                assert!(all_done, "{how}: a task outlived its group");
            });
            if how == "outside cancel" {
                evloop::sleep(Duration::from_millis(1500)).await;
                parent.cancel();
            }
            let out = parent.await;
            if how == "body panics" {
                assert!(out.unwrap_err().is_panic());
                assert!(kids.lock().unwrap().iter().all(|t| t.done()));
            } else {
                out.unwrap();
            }
        })
        .unwrap();
    }
}

/// Spec: GROUP-7
#[test]
fn group_7_create_task_after_the_group_finished_or_while_it_shuts_down_is_refused() {
    vt().run(async {
        let mut kept = None;
        let seen = Arc::new(Mutex::new(None));
        let s2 = seen.clone();
        let _ = task_group(|g| {
            kept = Some(g.clone());
            async move {
                let g2 = g.clone();
                let _ = g.create_task(async move {
                    // Still running while the group shuts down: refused, with asyncio's reason.
                    let _ = catch_cancel(evloop::sleep(HOUR)).await;
                    *s2.lock().unwrap() = Some(g2.try_create_task(async {}).unwrap_err());
                });
                let _ = g.create_task(async { panic!("boom") });
                evloop::sleep(HOUR).await;
                Ok::<_, Infallible>(())
            }
        })
        .await;
        assert_eq!(*seen.lock().unwrap(), Some(GroupClosed::ShuttingDown));
        let g = kept.unwrap();
        assert_eq!(
            g.try_create_task(async {}).unwrap_err(),
            GroupClosed::Finished
        );
        let msg = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = g.create_task(async {});
        }))
        .unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(msg.contains("TaskGroup is finished"), "{msg}");
        assert_eq!(format!("{g:?}"), "TaskGroup(cancelling)"); // asyncio's repr keeps it too
    });
}

/// Spec: GROUP-10
#[test]
fn group_10_a_task_cancelled_by_someone_else_is_not_a_failure() {
    vt().run(async {
        let out = task_group(|g| async move {
            let t = g.create_task(evloop::sleep(HOUR));
            let u = g.create_task(async { 5 });
            evloop::sleep(SEC).await;
            t.cancel();
            Ok::<_, Infallible>(u.await.unwrap())
        })
        .await;
        assert_eq!(out.unwrap(), 5);
    });
}

/// Spec: GROUP-8
#[test]
fn group_8_a_failure_unwinds_the_group_in_the_same_turns_as_asyncio() {
    // CPython 3.11.7's trace for the same program (one sibling, so that asyncio's set order of
    // cancelling does not show):
    //   async def crash(): await sleep(0); log("crash raises"); raise ValueError("boom")
    //   async def sib(i):
    //       try: await sleep(3600)
    //       except CancelledError: log("sib caught"); await sleep(0); log("sib cleaned"); raise
    //   tk = create_task(ticker())            # logs "tick i", then sleep(0), 8 times
    //   try:
    //       async with TaskGroup() as g:
    //           g.create_task(sib(0)); g.create_task(crash())
    //           try: await sleep(3600)
    //           except CancelledError: log("body cancelled"); raise
    //   except* ValueError as e: log(f"group failed: {len(e.exceptions)}")
    //   log(f"cancelling {current_task().cancelling()}"); await tk
    let expected = [
        "tick 0",
        "tick 1",
        "crash raises",
        "tick 2",
        "tick 3",
        "sib 0 caught",
        "body cancelled",
        "tick 4",
        "sib 0 cleaned",
        "tick 5",
        "tick 6",
        "group failed: 1",
        "cancelling 0",
        "tick 7",
    ];
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let tk = ticker(&l2, 8);
        let l3 = l2.clone();
        let r = task_group(|g| async move {
            let _ = g.create_task(sibling(l3.clone(), "sib 0"));
            let l4 = l3.clone();
            let _ = g.create_task(async move {
                evloop::sleep(Duration::ZERO).await;
                push(&l4, "crash raises");
                panic!("boom");
            });
            match catch_cancel(evloop::sleep(HOUR)).await {
                Ok(()) => Ok(()),
                Err(c) => {
                    push(&l3, "body cancelled");
                    c.raise().await
                }
            }
        })
        .await;
        let r: Result<(), _> = r.map_err(|e: evloop::GroupError<Infallible>| e);
        if let Err(e) = r {
            push(&l2, format!("group failed: {}", e.failures().len()));
        }
        push(
            &l2,
            format!(
                "cancelling {}",
                evloop::current_task().unwrap().cancelling()
            ),
        );
        tk.await.unwrap();
    });
    assert_eq!(entries(&l), expected);
}

/// Spec: GROUP-8, GROUP-3
#[test]
fn group_8_an_outside_cancellation_unwinds_the_group_in_the_same_turns_as_asyncio() {
    // CPython 3.11.7's trace for the same program:
    //   async def parent():
    //       try:
    //           async with TaskGroup() as g:
    //               g.create_task(kid(0)); await sleep(3600)
    //       except CancelledError:
    //           log(f"parent cancelled, cancelling {current_task().cancelling()}"); raise
    //   p = create_task(parent()); await sleep(0); tk = create_task(ticker()); await sleep(0)
    //   p.cancel(); log("cancel parent")
    //   try: await p
    //   except CancelledError: log("parent ended cancelled")
    //   await tk
    let expected = [
        "tick 0",
        "cancel parent",
        "tick 1",
        "tick 2",
        "kid 0 caught",
        "tick 3",
        "kid 0 cleaned",
        "tick 4",
        "tick 5",
        "parent cancelled, cancelling 1",
        "tick 6",
        "parent ended cancelled",
        "tick 7",
    ];
    let l = log();
    let l2 = l.clone();
    vt().run(async move {
        let l3 = l2.clone();
        let p = evloop::create_task(async move {
            let r = catch_cancel(task_group(|g| {
                let l4 = l3.clone();
                async move {
                    let _ = g.create_task(sibling(l4, "kid 0"));
                    evloop::sleep(HOUR).await;
                    Ok::<_, Infallible>(())
                }
            }))
            .await;
            match r {
                Ok(_) => Ok(()),
                Err(c) => {
                    let n = evloop::current_task().unwrap().cancelling();
                    push(&l3, format!("parent cancelled, cancelling {n}"));
                    Err(TaskError::from(c))
                }
            }
        });
        evloop::sleep(Duration::ZERO).await;
        let tk = ticker(&l2, 8);
        evloop::sleep(Duration::ZERO).await;
        p.cancel();
        push(&l2, "cancel parent");
        if p.await.is_err() {
            push(&l2, "parent ended cancelled");
        }
        tk.await.unwrap();
    });
    assert_eq!(entries(&l), expected);
}
