//! shuttle: `Queue` between producers and consumers on two workers, one consumer cancelled.
#![cfg(feature = "shuttle")]

use evloop::{Builder, Queue};
use evloop_check::check;
use evloop_model::sync::{Arc, Mutex};
use std::time::Duration;

type Item = Option<(usize, usize)>;

/// Two producers put three items each into a queue of size 1 while two consumers on two workers
/// take them; a third consumer, the first to wait, is cancelled by the main task at a point that
/// varies with the schedule (still waiting, or woken and not yet run). In every schedule each
/// item is taken exactly once, each consumer sees each producer's items in the order they were
/// put, `join` returns once every item is marked done, and nothing is left waiting. A woken
/// consumer whose cancellation does not pass its wake-up on strands an item in the full queue
/// with every other task waiting, which the virtual clock reports as a deadlock.
/// Spec: QUEUE-1, QUEUE-2, QUEUE-4, QUEUE-5, QUEUE-6
#[test]
fn producers_and_consumers_on_two_workers_hand_over_every_item_once() {
    check(|| {
        let (taken, per_consumer) = Builder::new().virtual_time(true).workers(2).run(async {
            let q: Queue<Item> = Queue::with_maxsize(1);
            // What the victim took, recorded in the step that takes it: on two workers a cancel
            // asked while that step runs still ends the task as cancelled (TASK-7), output lost.
            let victim_took: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
            let victim = {
                let (q, took) = (q.clone(), victim_took.clone());
                evloop::create_task(async move {
                    let item = q.get().await;
                    took.lock().extend(item);
                    q.task_done().unwrap();
                })
            };
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    evloop::create_task(async move {
                        let mut seen = Vec::new();
                        while let Some(item) = q.get().await {
                            seen.push(item);
                            q.task_done().unwrap();
                        }
                        q.task_done().unwrap();
                        seen
                    })
                })
                .collect();
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let q = q.clone();
                    evloop::create_task(async move {
                        for i in 0..3 {
                            q.put(Some((p, i))).await;
                        }
                    })
                })
                .collect();
            evloop::sleep(Duration::ZERO).await;
            victim.cancel();
            // Cancelled, or it ran and took an item before the cancel.
            let _ = victim.await;
            let mut taken = victim_took.lock().clone();
            for p in producers {
                p.await.unwrap();
            }
            q.put(None).await;
            q.put(None).await;
            q.join().await;
            let mut per_consumer = Vec::new();
            for c in consumers {
                let seen = c.await.unwrap();
                taken.extend(&seen);
                per_consumer.push(seen);
            }
            assert!(q.empty(), "{q:?}");
            assert_eq!(
                format!("{q:?}"),
                "Queue(maxsize=1, qsize=0, getters=0, putters=0, unfinished=0)"
            );
            (taken, per_consumer)
        });
        let mut sorted = taken.clone();
        sorted.sort_unstable();
        let all: Vec<_> = (0..2).flat_map(|p| (0..3).map(move |i| (p, i))).collect();
        assert_eq!(sorted, all, "every item taken exactly once: {taken:?}");
        for seen in per_consumer {
            for p in 0..2 {
                let mine: Vec<_> = seen.iter().filter(|(q, _)| *q == p).map(|x| x.1).collect();
                assert!(
                    mine.windows(2).all(|w| w[0] < w[1]),
                    "QUEUE-1: producer {p}'s items out of order: {seen:?}"
                );
            }
        }
    });
}
