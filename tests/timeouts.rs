//! Timeouts built on cancellation (specs/timeouts.md): `timeout` / `timeout_at` scopes,
//! `wait_for` and `shield`.

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use evloop::{
    catch_cancel, shield, timeout, timeout_at, wait_for, Builder, TaskError, TimeoutError,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn vt() -> Builder {
    Builder::new().virtual_time(true)
}

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

const SEC: Duration = Duration::from_secs(1);

/// Spec: TIMEOUT-1
#[test]
fn timeout_1_the_deadline_cancels_the_block_at_its_await_and_gives_timeout_error() {
    let log: Log = Arc::default();
    let l = log.clone();
    vt().run(async move {
        let lp = evloop::get_running_loop().unwrap();
        let t = timeout(Some(2 * SEC));
        let l2 = l.clone();
        let r = t
            .run(async move {
                evloop::sleep(SEC).await;
                push(&l2, "first sleep done");
                evloop::sleep(10 * SEC).await;
                push(&l2, "never");
            })
            .await;
        assert_eq!(r, Err(TimeoutError));
        assert!(t.expired());
        assert_eq!(lp.now(), 2 * SEC);
        let me = evloop::current_task().unwrap();
        assert_eq!(me.cancelling(), 0, "the timeout took its own request back");
        // The task runs on normally afterwards.
        evloop::sleep(SEC).await;
        push(&l, "after");
    });
    assert_eq!(*log.lock().unwrap(), ["first sleep done", "after"]);
}

/// Spec: TIMEOUT-1
#[test]
fn timeout_1_a_block_that_finishes_in_time_gives_its_value_and_no_deadline_never_expires() {
    vt().run(async {
        let t = timeout(Some(5 * SEC));
        assert_eq!(t.run(async { 3 }).await, Ok(3));
        assert!(!t.expired());
        let never = timeout(None);
        let r = never.run(evloop::sleep(3600 * SEC)).await;
        assert_eq!(r, Ok(()));
        let lp = evloop::get_running_loop().unwrap();
        let at = timeout_at(Some(lp.now() + SEC));
        assert_eq!(at.when(), Some(lp.now() + SEC));
    });
}

/// Spec: TIMEOUT-1
#[test]
fn timeout_1_reschedule_moves_the_deadline_and_nested_timeouts_expire_innermost() {
    vt().run(async {
        let lp = evloop::get_running_loop().unwrap();
        let t = timeout(Some(SEC));
        let inner_t = t.clone();
        let r = t
            .run(async move {
                inner_t.reschedule(Some(evloop::get_running_loop().unwrap().now() + 3 * SEC));
                evloop::sleep(2 * SEC).await;
                "survived the first deadline"
            })
            .await;
        assert_eq!(r, Ok("survived the first deadline"));
        assert_eq!(lp.now(), 2 * SEC);

        let outer = timeout(Some(10 * SEC));
        let r = outer
            .run(async {
                let inner = timeout(Some(SEC)).run(evloop::sleep(5 * SEC)).await;
                assert_eq!(inner, Err(TimeoutError));
                "outer carried on"
            })
            .await;
        assert_eq!(r, Ok("outer carried on"));
        assert!(!outer.expired());
    });
}

/// Spec: TIMEOUT-2
#[test]
fn timeout_2_an_outside_cancellation_passes_through_even_with_the_deadline() {
    vt().run(async {
        // Cancelled from outside before the deadline.
        let t = evloop::create_task(async {
            let r = catch_cancel(timeout(Some(10 * SEC)).run(evloop::sleep(3600 * SEC))).await;
            match r {
                Err(_) => "cancelled",
                Ok(Err(TimeoutError)) => "timeout",
                Ok(Ok(())) => "slept",
            }
        });
        evloop::sleep(SEC).await;
        t.cancel();
        assert_eq!(t.await.unwrap(), "cancelled");

        // Cancelled from outside in the very turn the deadline fires: both requests are
        // counted, uncancel leaves one, so it is not the timeout's alone (asyncio's
        // `uncancel() <= self._cancelling`).
        let t = evloop::create_task(async {
            let r = catch_cancel(timeout(Some(SEC)).run(evloop::sleep(3600 * SEC))).await;
            let me = evloop::current_task().unwrap();
            match r {
                Err(_) => format!("cancelled, cancelling={}", me.cancelling()),
                Ok(Err(TimeoutError)) => "timeout".to_string(),
                Ok(Ok(())) => "slept".to_string(),
            }
        });
        evloop::sleep(Duration::ZERO).await; // the task enters its timeout (deadline: now + 1 s)
        let t2 = t.clone();
        let lp = evloop::get_running_loop().unwrap();
        // Created after the timeout's timer, with the same deadline: runs right after it.
        lp.call_later(SEC, move || {
            t2.cancel();
        });
        assert_eq!(t.await.unwrap(), "cancelled, cancelling=1");
    });
}

/// Spec: TIMEOUT-3
#[test]
fn timeout_3_wait_for_cancels_the_work_waits_for_its_cleanup_then_times_out() {
    let log: Log = Arc::default();
    let l = log.clone();
    vt().run(async move {
        let lp = evloop::get_running_loop().unwrap();
        let l2 = l.clone();
        let r = wait_for(
            async move {
                if catch_cancel(evloop::sleep(3600 * SEC)).await.is_err() {
                    push(&l2, "cleanup");
                    evloop::sleep(SEC).await;
                    push(&l2, "cleaned");
                }
                Err::<(), TaskError>(TaskError::Cancelled(Default::default()))
            },
            Some(2 * SEC),
        )
        .await;
        // The work ended with a value of its own (an error it chose), so it is returned.
        assert!(r.unwrap().is_err());
        assert_eq!(lp.now(), 3 * SEC, "wait_for waited for the cleanup");
        push(&l, "returned");

        let r = wait_for(evloop::sleep(3600 * SEC), Some(SEC)).await;
        assert_eq!(r, Err(TimeoutError));
        assert_eq!(wait_for(async { 1 }, None).await, Ok(1));
        assert_eq!(
            wait_for(async { 2 }, Some(Duration::ZERO)).await,
            Err(TimeoutError)
        );
    });
    assert_eq!(*log.lock().unwrap(), ["cleanup", "cleaned", "returned"]);
}

/// Spec: TIMEOUT-3
#[test]
fn timeout_3_a_result_that_arrives_with_the_timeout_is_not_lost() {
    vt().run(async {
        // CPython 3.11: `wait_for(work(), 0.05)` where work sleeps 0.05 and returns: the
        // deadline's timer was made first, so it runs first, and the work — woken in the same
        // turn but not yet run — is cancelled at its sleep: "timeout". A task started earlier,
        // whose timer is older than the deadline's, has finished when wait_for looks: "value2".
        let r = wait_for(
            async {
                evloop::sleep(SEC).await;
                "value"
            },
            Some(SEC),
        )
        .await;
        assert_eq!(r, Err(TimeoutError));
        let t = evloop::create_task(async {
            evloop::sleep(SEC).await;
            "value2"
        });
        evloop::sleep(Duration::ZERO).await;
        assert_eq!(wait_for(t, Some(SEC)).await, Ok("value2"));
        // The work catches the deadline's cancellation and returns a fallback: returned.
        let r = wait_for(
            async {
                match catch_cancel(evloop::sleep(3600 * SEC)).await {
                    Ok(()) => "slept",
                    Err(_) => "fallback",
                }
            },
            Some(SEC),
        )
        .await;
        assert_eq!(r, Ok("fallback"));
    });
}

/// Spec: TIMEOUT-3
#[test]
fn timeout_3_cancelling_the_waiter_cancels_the_work_and_waits_for_it() {
    let log: Log = Arc::default();
    let l = log.clone();
    vt().run(async move {
        let l2 = l.clone();
        let waiter = evloop::create_task(async move {
            let l3 = l2.clone();
            let r = catch_cancel(wait_for(
                async move {
                    if catch_cancel(evloop::sleep(3600 * SEC)).await.is_err() {
                        evloop::sleep(SEC).await;
                        push(&l3, "work cleaned up");
                    }
                },
                Some(3600 * SEC),
            ))
            .await;
            push(
                &l2,
                if r.is_err() {
                    "waiter cancelled"
                } else {
                    "waiter done"
                },
            );
        });
        evloop::sleep(SEC).await;
        waiter.cancel();
        waiter.await.unwrap();
    });
    assert_eq!(
        *log.lock().unwrap(),
        ["work cleaned up", "waiter cancelled"]
    );
}

/// Spec: TIMEOUT-4
#[test]
fn timeout_4_shield_keeps_the_work_running_while_its_awaiter_is_cancelled() {
    vt().run(async {
        let work = evloop::create_task(async {
            evloop::sleep(2 * SEC).await;
            "saved"
        });
        let w = work.clone();
        let caller = evloop::create_task(async move {
            match catch_cancel(shield(w)).await {
                Ok(r) => r.map_err(|_| ()),
                Err(_) => Err(()),
            }
        });
        evloop::sleep(SEC).await;
        caller.cancel();
        assert_eq!(caller.await.unwrap(), Err(()));
        assert!(!work.done());
        assert_eq!(work.await.unwrap(), "saved");
    });
}

/// Spec: TIMEOUT-1
#[test]
fn timeout_1_misuse_panics_with_a_message_that_says_what_to_do() {
    let r = std::panic::catch_unwind(|| {
        vt().run(async {
            let t = timeout(Some(SEC));
            t.run(async {}).await.unwrap();
            t.run(async {}).await.unwrap();
        })
    });
    let msg = r.unwrap_err();
    let msg = msg
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("already been entered"), "{msg}");
    let r = std::panic::catch_unwind(|| {
        vt().run(async {
            timeout(Some(SEC)).reschedule(None);
        })
    });
    assert!(r.is_err());
}
