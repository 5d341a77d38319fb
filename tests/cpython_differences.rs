//! The deliberate differences from CPython's asyncio that the whole-program property tests ran
//! into (specs/differences.md), pinned down one by one: what evloop does instead.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

fn log() -> (
    Arc<Mutex<Vec<String>>>,
    impl Fn(&str) + Clone + Send + Sync + 'static,
) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    (lines, move |s: &str| {
        sink.lock().unwrap().push(s.to_owned())
    })
}

/// Spec: DIFF-1, TIME-2
#[test]
fn equal_deadlines_fire_in_creation_order() {
    // The shape the CPython differential found: timer A (t=0 + 4 ms) is created before timer B
    // (t=2 + 2 ms); both are due at 4 ms. CPython's heap may fire B first; evloop fires A first.
    let (lines, push) = log();
    evloop::Builder::new().virtual_time(true).run(async move {
        let p = push.clone();
        let a = evloop::create_task(async move {
            evloop::sleep(Duration::from_millis(4)).await;
            p("A");
        });
        evloop::sleep(Duration::from_millis(2)).await;
        evloop::sleep(Duration::from_millis(2)).await;
        push("B");
        a.await.unwrap();
    });
    assert_eq!(*lines.lock().unwrap(), ["A", "B"]);
}
