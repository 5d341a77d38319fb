//! shuttle: `Queue` between producers and consumers on two workers, one consumer cancelled.
#![cfg(feature = "shuttle")]

use evloop::{Builder, LifoQueue, PriorityQueue, Queue};
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

/// A `PriorityQueue` item ordered by `priority` alone: `producer` and `i` tell equal ones apart.
#[derive(Debug, Clone, Copy)]
struct Job {
    priority: u8,
    producer: usize,
    i: usize,
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority.cmp(&other.priority)
    }
}

/// Items per producer in the ordered round; every other one has priority 0, so each producer
/// puts three pairs of equal items and the heap holds six equal items of each priority.
const ORDERED: usize = 6;

/// The ordered round, for a queue type: two producers on two workers put `ORDERED` items each
/// (yielding between puts, so their puts interleave), then two consumers drain the queue at the
/// same time. Returns what each consumer took, in the order it took them.
macro_rules! ordered_round {
    ($queue:ident) => {{
        let q = $queue::new();
        let producers: Vec<_> = (0..2)
            .map(|producer| {
                let q = q.clone();
                evloop::create_task(async move {
                    for i in 0..ORDERED {
                        let priority = (i % 2) as u8;
                        q.put_nowait(Job {
                            priority,
                            producer,
                            i,
                        })
                        .unwrap();
                        evloop::sleep(Duration::ZERO).await;
                    }
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                evloop::create_task(async move {
                    let mut took = Vec::new();
                    while let Ok(job) = q.get_nowait() {
                        took.push(job);
                        evloop::sleep(Duration::ZERO).await;
                    }
                    took
                })
            })
            .collect();
        let mut per_consumer = Vec::new();
        for c in consumers {
            per_consumer.push(c.await.unwrap());
        }
        per_consumer
    }};
}

/// The hand-over round of `producers_and_consumers_on_two_workers_hand_over_every_item_once`,
/// for a queue type: a queue of size 1 between two producers and two consumers on two workers,
/// with a third consumer cancelled at a point that varies with the schedule. Returns every item
/// taken and what each surviving consumer took, in order.
macro_rules! hand_over_round {
    ($queue:ident) => {{
        let q: $queue<Item> = $queue::with_maxsize(1);
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
        let _ = victim.await;
        let mut taken = victim_took.lock().clone();
        for p in producers {
            p.await.unwrap();
        }
        // With room for one item, each `None` goes in only once the items before it are taken.
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
        assert!(
            format!("{q:?}").ends_with("(maxsize=1, qsize=0, getters=0, putters=0, unfinished=0)")
        );
        (taken, per_consumer)
    }};
}

/// Each item taken exactly once, and each consumer saw each producer's items in put order.
fn assert_handed_over_once(taken: &[(usize, usize)], per_consumer: &[Vec<(usize, usize)>]) {
    let mut sorted = taken.to_vec();
    sorted.sort_unstable();
    let all: Vec<_> = (0..2).flat_map(|p| (0..3).map(move |i| (p, i))).collect();
    assert_eq!(sorted, all, "every item taken exactly once: {taken:?}");
    for seen in per_consumer {
        for p in 0..2 {
            let mine: Vec<_> = seen.iter().filter(|(q, _)| *q == p).map(|x| x.1).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "producer {p}'s items out of order: {seen:?}"
            );
        }
    }
}

/// Every item of the ordered round taken exactly once.
fn assert_all_jobs_taken(per_consumer: &[Vec<Job>]) {
    let mut all: Vec<_> = per_consumer
        .iter()
        .flatten()
        .map(|j| (j.producer, j.i))
        .collect();
    all.sort_unstable();
    let expected: Vec<_> = (0..2)
        .flat_map(|p| (0..ORDERED).map(move |i| (p, i)))
        .collect();
    assert_eq!(
        all, expected,
        "every job taken exactly once: {per_consumer:?}"
    );
}

/// `LifoQueue` and `PriorityQueue` on two workers. In the hand-over round (a queue of size 1,
/// a consumer cancelled at a varying point), every item is taken exactly once and `join`
/// returns with nothing left waiting, as for `Queue`: the waiting code is the same, and a woken
/// consumer whose cancellation does not pass its wake-up on strands an item (a virtual-time
/// deadlock report). In the ordered round every item was put before the consumers start, so each
/// item a consumer takes was the first in the queue's order among those left, and each
/// consumer's own sequence is in that order: newest first per producer for the `LifoQueue`;
/// smallest priority first, and equal priorities of one producer in the order put, for the
/// `PriorityQueue` (QUEUE-8's tie rule; a heap that forgets the put order breaks it).
/// Spec: QUEUE-4, QUEUE-5, QUEUE-6, QUEUE-7, QUEUE-8
#[test]
fn lifo_and_priority_queues_on_two_workers_hand_over_every_item_once_in_their_order() {
    check(|| {
        let (lifo, priority) = Builder::new().virtual_time(true).workers(2).run(async {
            let lifo_hand_over = hand_over_round!(LifoQueue);
            let lifo_ordered = ordered_round!(LifoQueue);
            let priority_hand_over = hand_over_round!(PriorityQueue);
            let priority_ordered = ordered_round!(PriorityQueue);
            (
                (lifo_hand_over, lifo_ordered),
                (priority_hand_over, priority_ordered),
            )
        });
        let ((taken, per_consumer), ordered) = lifo;
        assert_handed_over_once(&taken, &per_consumer);
        assert_all_jobs_taken(&ordered);
        for seen in &ordered {
            for p in 0..2 {
                let mine: Vec<_> = seen
                    .iter()
                    .filter(|j| j.producer == p)
                    .map(|j| j.i)
                    .collect();
                assert!(
                    mine.windows(2).all(|w| w[0] > w[1]),
                    "QUEUE-7: a LifoQueue gave producer {p}'s items oldest first: {seen:?}"
                );
            }
        }
        let ((taken, per_consumer), ordered) = priority;
        assert_handed_over_once(&taken, &per_consumer);
        assert_all_jobs_taken(&ordered);
        for seen in &ordered {
            assert!(
                seen.windows(2).all(|w| w[0].priority <= w[1].priority),
                "QUEUE-8: a larger priority before a smaller one: {seen:?}"
            );
            for p in 0..2 {
                for priority in 0..2 {
                    let mine: Vec<_> = seen
                        .iter()
                        .filter(|j| j.producer == p && j.priority == priority)
                        .map(|j| j.i)
                        .collect();
                    assert!(
                        mine.windows(2).all(|w| w[0] < w[1]),
                        "QUEUE-8: producer {p}'s equal items out of put order: {seen:?}"
                    );
                }
            }
        }
    });
}
