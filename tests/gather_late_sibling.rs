//! Regression found by the whole-program property tests: a sibling that finishes after a
//! fail-fast gather has already returned its error must be ignored, not panic in the loop.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Spec: GATHER-4
#[test]
fn sibling_finishing_after_a_failed_gather_returned_is_ignored() {
    // Any panic anywhere (the runtime catches callback panics and logs them) is counted.
    let panics = Arc::new(AtomicUsize::new(0));
    let seen = panics.clone();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));
    let out = evloop::Builder::new().virtual_time(true).run(async {
        let r = evloop::try_gather(vec![
            Box::pin(async { Err::<u8, u8>(1) })
                as std::pin::Pin<Box<dyn std::future::Future<Output = Result<u8, u8>> + Send>>,
            Box::pin(async {
                evloop::sleep(Duration::from_millis(5)).await;
                Ok(2)
            }),
        ])
        .await;
        // Outlive the slow sibling, so its completion reaches the finished gather.
        evloop::sleep(Duration::from_millis(10)).await;
        r.is_err()
    });
    let _ = std::panic::take_hook();
    assert!(out, "the gather fails with the first child's error");
    assert_eq!(
        panics.load(Ordering::SeqCst),
        0,
        "nothing panicked in the loop"
    );
}
