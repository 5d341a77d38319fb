//! Two bugs that plain runs never show, found by exploring the loop's own choice points.
//!
//! ```text
//! cargo run --example explore_bugs
//! ```
//!
//! Each exploration prints its failure: the shrunk schedule's timeline and a token. Paste the
//! printed `EVLOOP_REPLAY=...` line in front of the command to replay that one schedule.

use evloop::explore::{note, try_explore, Config};
use std::sync::{Arc, Mutex};

/// Check-then-act across an `await`: the balance is checked, then a blocking audit runs on a
/// thread, then the money is taken without checking again. In asyncio's order `a`'s audit lands
/// first and all is well; if `b`'s thread finishes first, the account is overdrawn.
async fn withdrawals() {
    let balance = Arc::new(Mutex::new(100i64));
    let mine = balance.clone();
    let a = evloop::create_task_named("withdraw-a", async move {
        let enough = *mine.lock().unwrap() >= 80;
        evloop::to_thread(|| std::hint::black_box("audit"))
            .await
            .unwrap();
        if enough {
            *mine.lock().unwrap() -= 80;
        }
    });
    let mine = balance.clone();
    let b = evloop::create_task_named("withdraw-b", async move {
        evloop::to_thread(|| std::hint::black_box("fetch"))
            .await
            .unwrap();
        if *mine.lock().unwrap() >= 80 {
            *mine.lock().unwrap() -= 80;
        }
    });
    a.await.unwrap();
    b.await.unwrap();
    let left = *balance.lock().unwrap();
    assert!(left >= 0, "overdrawn: balance is {left}");
}

/// Output that depends on which gathered coroutine starts first: fine in asyncio 3.7+'s order,
/// wrong under Python 3.6, which started them in arbitrary order.
async fn first_come_first_served() {
    let served = Arc::new(Mutex::new(Vec::new()));
    let customer = |name: &'static str| {
        let served = served.clone();
        async move {
            note(format!("{name} is served"));
            served.lock().unwrap().push(name);
        }
    };
    evloop::gather([customer("ann"), customer("bob"), customer("cy")])
        .await
        .unwrap();
    assert_eq!(*served.lock().unwrap(), ["ann", "bob", "cy"]);
}

fn main() {
    // Plain runs pass. (With several pool threads, `withdrawals` fails now and then, when the OS
    // happens to finish b's job first: the flaky failure exploration turns into a token.)
    evloop::Builder::new().max_threads(1).run(withdrawals());
    evloop::run(first_come_first_served());
    println!("plain runs pass\n");

    let found = [
        try_explore(
            Config::conformance().dfs(2).name("withdrawals"),
            withdrawals,
        ),
        try_explore(
            Config::robustness().dfs(2).name("first_come_first_served"),
            first_come_first_served,
        ),
    ];
    for outcome in found {
        match outcome {
            Ok(report) => println!("{report}\n"),
            Err(failure) => println!("{failure}\n"),
        }
    }
}
