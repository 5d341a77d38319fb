//! loom: `Queue`'s waiter hand-off against a put from another thread.
#![cfg(feature = "loom")]

use evloop::{Builder, Queue};
use evloop_check::check;
use std::time::Duration;

/// Two tasks wait in `get`; a pool thread puts one item while the loop cancels the first getter.
/// Whichever lands first, the item reaches the second getter: put first, the first getter is
/// woken and its cancellation passes the wake-up on (QUEUE-4); cancel first, the put wakes the
/// second getter from the other thread and the parked loop runs it (QUEUE-6). A wake-up that is
/// not passed on leaves the second getter waiting with the item in the queue, which the virtual
/// clock reports as a deadlock.
/// Spec: QUEUE-4, QUEUE-6, QUEUE-3
#[test]
fn a_getter_cancelled_while_a_put_from_another_thread_wakes_it_passes_the_item_on() {
    check(|| {
        let got = Builder::new().virtual_time(true).run(async {
            let q = Queue::new();
            let first = {
                let q = q.clone();
                evloop::create_task(async move { q.get().await })
            };
            let second = {
                let q = q.clone();
                evloop::create_task(async move { q.get().await })
            };
            evloop::sleep(Duration::ZERO).await; // both wait, `first` in front
            let producer = {
                let q = q.clone();
                evloop::to_thread(move || q.put_nowait(7u32).is_ok())
            };
            first.cancel();
            let first = first.await;
            assert!(first.unwrap_err().is_cancelled(), "cancelled before it ran");
            let v = second.await.unwrap();
            assert!(producer.await.unwrap());
            assert!(q.empty());
            v
        });
        assert_eq!(got, 7);
    });
}
