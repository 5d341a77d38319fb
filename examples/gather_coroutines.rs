//! Three coroutines run concurrently with `gather`; the results come back in argument order.
//!
//! ```text
//! $ cargo run --example gather_coroutines
//! coroutine1
//! coroutine2
//! coroutine3
//! ["coroutine1", "coroutine2", "coroutine3"]
//! ```
//!
//! The seed document's output shows `coroutine2` printed first: Python 3.6's `gather` started its
//! children in the iteration order of a `set`. Since Python 3.7 — and in evloop — children start in
//! argument order, so each line appears in the order given (see `specs/gather.md`, GATHER-2).
//! Each coroutine sleeps a different time, so they *finish* in another order; the result list is in
//! argument order all the same (GATHER-1).

use std::time::Duration;

async fn coroutine(name: &'static str, seconds: f64) -> &'static str {
    println!("{name}");
    evloop::sleep(Duration::from_secs_f64(seconds)).await;
    name
}

fn main() {
    let results = evloop::run(async {
        evloop::gather([
            coroutine("coroutine1", 0.3),
            coroutine("coroutine2", 0.1),
            coroutine("coroutine3", 0.2),
        ])
        .await
        .expect("no coroutine failed")
    });
    println!("{results:?}");
}
