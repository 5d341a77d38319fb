//! Joint mode (`specs/exploration.md`, EXPLORE-16): task-level choice points drawn from shuttle's
//! scheduler, so one shuttle schedule covers thread interleavings and task choices.
#![cfg(feature = "shuttle")]

use evloop::explore::{joint, Mode};
use evloop_model::__private::shuttle;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The first argument of `gather` is assumed to start first (see tests/explore.rs).
async fn tickets_assume_gather_start_order() {
    let next = Arc::new(Mutex::new(0u32));
    let worker = || {
        let next = next.clone();
        async move {
            let mut n = next.lock().unwrap();
            *n += 1;
            *n - 1
        }
    };
    let tickets = evloop::gather([worker(), worker(), worker()])
        .await
        .unwrap();
    assert_eq!(tickets, vec![0, 1, 2], "alpha must be served first");
}

/// Check-then-act across `to_thread`: wrong when `b`'s pool thread delivers first.
async fn check_then_act_across_to_thread() {
    let balance = Arc::new(Mutex::new(100i64));
    let mine = balance.clone();
    let a = evloop::create_task(async move {
        let enough = *mine.lock().unwrap() >= 80;
        evloop::to_thread(|| ()).await.unwrap();
        if enough {
            *mine.lock().unwrap() -= 80;
        }
    });
    let mine = balance.clone();
    let b = evloop::create_task(async move {
        evloop::to_thread(|| ()).await.unwrap();
        if *mine.lock().unwrap() >= 80 {
            *mine.lock().unwrap() -= 80;
        }
    });
    a.await.unwrap();
    b.await.unwrap();
    let left = *balance.lock().unwrap();
    assert!(left >= 0, "overdrawn: balance is {left}");
}

/// Spec: EXPLORE-16, EXPLORE-5
#[test]
fn joint_conformance_keeps_fifo_start_order() {
    shuttle::check_random(
        || joint(Mode::Conformance, tickets_assume_gather_start_order),
        50,
    );
}

/// Spec: EXPLORE-16, EXPLORE-6
#[test]
#[should_panic(expected = "alpha must be served first")]
fn joint_robustness_finds_start_order_dependence() {
    shuttle::check_random(
        || joint(Mode::Robustness, tickets_assume_gather_start_order),
        200,
    );
}

/// Spec: EXPLORE-16
#[test]
#[should_panic(expected = "overdrawn")]
fn joint_conformance_finds_pool_threads_finishing_out_of_order() {
    shuttle::check_random(
        || joint(Mode::Conformance, check_then_act_across_to_thread),
        200,
    );
}

/// The explorer has no turn of its own: it answers the production turn's choices. So a bug in
/// the production turn (the injected `early_timer`, in `engine::turn`) makes an explored program
/// fail too: here a 5 ms sleep beside a 4.5 ms timer, in joint mode inside a model check.
/// Spec: EXPLORE-12, TIME-1
#[test]
fn the_explorer_runs_the_production_turn() {
    evloop_check::check(|| {
        joint(Mode::Conformance, || async {
            let lp = evloop::get_running_loop().unwrap();
            let start = lp.now();
            lp.call_later(Duration::from_micros(4500), || {});
            evloop::sleep(Duration::from_millis(5)).await;
            let slept = lp.now() - start;
            assert!(
                slept >= Duration::from_millis(5),
                "TIME-1 violated under explore: a 5 ms sleep woke after {slept:?}"
            );
        })
    });
}
