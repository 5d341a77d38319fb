//! loom: the hand-offs of `wait`, `as_completed` and `TaskGroup` (specs/wait.md,
//! specs/taskgroup.md) against a completion on another worker, a timeout, or a task created from
//! another thread.
#![cfg(feature = "loom")]

use evloop::{as_completed, task_group, wait, Builder, GroupClosed, ReturnWhen};
use evloop_check::{check, Options};
use evloop_model::sync::atomic::{AtomicBool, Ordering};
use evloop_model::sync::Arc;
use std::time::Duration;

/// With two workers, a task finishes on the other worker while the main task arms its `wait`
/// (a timeout of zero racing the completion): whichever releases the wait, the main task
/// resumes, `done` holds the task only once it has finished, and nothing is cancelled. A
/// waker left after the done entries were added misses a completion delivered in between: the
/// virtual clock reports the main task stuck.
/// Spec: WAIT-1, WAIT-4, THREAD-1
#[test]
fn a_completion_on_another_worker_racing_the_wait_being_armed_and_its_timeout_releases_it() {
    Options::new().preemptions(2).check(|| {
        Builder::new().virtual_time(true).workers(2).run(async {
            let t = evloop::create_task(async { 1u8 });
            let (done, pending) =
                wait([&t], ReturnWhen::FirstCompleted, Some(Duration::ZERO)).await;
            assert_eq!(done.len() + pending.len(), 1);
            // `pending` may hold a task that finished on the other worker after the waiter
            // resumed; `done` never holds one that had not finished.
            if done.len() == 1 {
                assert!(t.done(), "WAIT-1: done means finished");
            }
            assert!(!t.cancelled(), "WAIT-4: the timeout cancels nothing");
            assert_eq!((&t).await.unwrap(), 1);
        });
    });
}

/// With two workers, a task finishes on the other worker while the main task looks for it in
/// `as_completed`'s queue: it is handed back exactly once. A `next()` that found the queue empty
/// and leaves its waker under a second hold of the lock misses a completion queued in between:
/// the virtual clock reports the main task stuck.
/// Spec: ASCOMPLETED-1, THREAD-1
#[test]
fn a_completion_on_another_worker_racing_next_is_handed_back_once() {
    Options::new().preemptions(2).check(|| {
        Builder::new().virtual_time(true).workers(2).run(async {
            let t = evloop::create_task(async { 2u8 });
            let mut ac = as_completed([t], None);
            let first = ac.next().await.unwrap().unwrap();
            assert_eq!(first.await.unwrap(), 2);
            assert!(ac.next().await.is_none());
        });
    });
}

/// A pool thread creates a task in a group while the group's body ends and the group finishes
/// on the loop. Either the group refuses the task (it had finished), or it waits for it: the
/// task never runs after the group has resolved. A `create_task` that checks the group and adds
/// the task in two steps lets the group finish in between, and the task runs on as an orphan.
/// Spec: GROUP-6, GROUP-7
#[test]
fn a_task_created_from_another_thread_racing_the_groups_end_never_outlives_it() {
    check(|| {
        Builder::new().virtual_time(true).run(async {
            let resolved = Arc::new(AtomicBool::new(false));
            let orphan = Arc::new(AtomicBool::new(false));
            let (r2, o2) = (resolved.clone(), orphan.clone());
            let helper = task_group(|g| async move {
                let helper = evloop::to_thread(move || {
                    g.try_create_task(async move {
                        if r2.load(Ordering::SeqCst) {
                            o2.store(true, Ordering::SeqCst);
                        }
                    })
                    .map(|t| t.task_ref())
                });
                Ok::<_, ()>(helper)
            })
            .await
            .unwrap();
            resolved.store(true, Ordering::SeqCst);
            match helper.await.unwrap() {
                Ok(t) => t.wait().await,
                Err(e) => assert_eq!(e, GroupClosed::Finished),
            }
            assert!(
                !orphan.load(Ordering::SeqCst),
                "GROUP-6: a task of the group ran after the group resolved"
            );
        });
    });
}
