//! shuttle: two gathers attached to one task from tasks on two workers (GATHER-8, TASK-13).
#![cfg(feature = "shuttle")]

use evloop::Builder;
use evloop_check::check;
use std::time::Duration;

/// Two gathers, awaited by tasks that may run on either worker, attach to the same task (one of
/// them twice): each fills every place with the task's value.
/// Spec: GATHER-8, TASK-13, THREAD-1
#[test]
fn two_gathers_attached_to_one_task_each_get_its_value() {
    check(|| {
        let out = Builder::new().virtual_time(true).workers(2).run(async {
            let t = evloop::create_task(async {
                evloop::sleep(Duration::ZERO).await;
                String::from("v")
            });
            let (a, b) = (t.clone(), t.clone());
            let g1 = evloop::create_task(async move { evloop::gather([a.clone(), a]).await });
            let g2 = evloop::create_task(async move { evloop::gather([b]).await });
            let r1 = g1.await.unwrap().unwrap();
            let r2 = g2.await.unwrap().unwrap();
            (r1, r2, t.await.unwrap())
        });
        assert_eq!(out.0, ["v", "v"], "GATHER-8: both places filled");
        assert_eq!(out.1, ["v"]);
        assert_eq!(out.2, "v", "TASK-13: the user's handle still reads it");
    });
}
