//! `evloop::Queue`: asyncio's `Queue` (specs/queue.md).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{vrun, yield_now, Trace};
use evloop::{LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull, QueueSender, TaskDoneError};
use std::time::Duration;

/// Spec: QUEUE-1
#[test]
fn items_come_out_in_the_order_they_were_put() {
    let q = Queue::new();
    assert_eq!(
        (q.maxsize(), q.qsize(), q.empty(), q.full()),
        (0, 0, true, false)
    );
    for i in 0..100 {
        q.put_nowait(i).unwrap();
    }
    // Unbounded: never full.
    assert_eq!((q.qsize(), q.empty(), q.full()), (100, false, false));
    let out: Vec<_> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
    assert_eq!(out, (0..100).collect::<Vec<_>>());

    let bounded = Queue::with_maxsize(2);
    assert_eq!(bounded.maxsize(), 2);
    bounded.put_nowait('a').unwrap();
    assert!(!bounded.full());
    bounded.put_nowait('b').unwrap();
    assert!(bounded.full());
    assert_eq!(bounded.get_nowait(), Ok('a'));
    bounded.put_nowait('c').unwrap();
    assert_eq!(bounded.get_nowait(), Ok('b'));
    assert_eq!(bounded.get_nowait(), Ok('c'));

    // Through the awaiting calls too, with a handle cloned into another task.
    let got = vrun(async {
        let q = Queue::with_maxsize(3);
        let producer = {
            let q = q.clone();
            evloop::create_task(async move {
                for i in 0..10 {
                    q.put(i).await;
                }
            })
        };
        let mut got = Vec::new();
        for _ in 0..10 {
            got.push(q.get().await);
        }
        producer.await.unwrap();
        got
    });
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

/// Spec: QUEUE-2
#[test]
fn put_waits_while_full_and_get_waits_while_empty() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let q = Queue::with_maxsize(1);
        let getter = {
            let (q, t) = (q.clone(), t.clone());
            evloop::create_task(async move {
                t.push("get starts");
                let v = q.get().await;
                t.push(format!("got {v}"));
            })
        };
        yield_now().await;
        t.push("put 1");
        q.put(1).await; // the getter is woken, not yet run
        t.push("put 2");
        q.put(2).await; // full: 1 is still in (its getter was woken, has not run): waits for it
        t.push("put 2 done");
        getter.await.unwrap();

        // Full: a put waits until a get makes room.
        let putter = {
            let (q, t) = (q.clone(), t.clone());
            evloop::create_task(async move {
                t.push("put 3 starts");
                q.put(3).await;
                t.push("put 3 done");
            })
        };
        yield_now().await;
        assert!(q.full() && !putter.done());
        evloop::sleep(Duration::from_secs(5)).await;
        assert!(!putter.done(), "a put on a full queue waits");
        t.push("get");
        assert_eq!(q.get().await, 2);
        putter.await.unwrap();
        assert_eq!(q.get_nowait(), Ok(3));
    });
    assert_eq!(
        trace.get(),
        [
            "get starts",
            "put 1",
            "put 2",
            "got 1",
            "put 2 done",
            "put 3 starts",
            "get",
            "put 3 done"
        ]
    );
}

/// Spec: QUEUE-2
#[test]
fn nowait_calls_never_wait_and_say_full_or_empty() {
    let q = Queue::with_maxsize(1);
    assert_eq!(q.get_nowait(), Err(QueueEmpty));
    q.put_nowait(vec![1]).unwrap();
    let refused: QueueFull<Vec<i32>> = q.put_nowait(vec![2]).unwrap_err();
    assert_eq!(refused.into_inner(), vec![2], "the refused item comes back");
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.get_nowait(), Ok(vec![1]));
    assert_eq!(q.get_nowait(), Err(QueueEmpty));
    // Messages say what to do.
    assert!(QueueEmpty.to_string().contains("get().await"));
    assert!(QueueFull(()).to_string().contains("put(item).await"));

    // get_nowait wakes a waiting putter; put_nowait wakes a waiting getter.
    vrun(async {
        let q = Queue::with_maxsize(1);
        q.put_nowait(1).unwrap();
        let putter = {
            let q = q.clone();
            evloop::create_task(async move { q.put(2).await })
        };
        yield_now().await;
        assert_eq!(q.get_nowait(), Ok(1));
        putter.await.unwrap();
        assert_eq!(q.get_nowait(), Ok(2));
        let getter = {
            let q = q.clone();
            evloop::create_task(async move { q.get().await })
        };
        yield_now().await;
        q.put_nowait(3).unwrap();
        assert_eq!(getter.await.unwrap(), 3);
    });
}

/// Spec: QUEUE-3
#[test]
fn waiting_getters_are_served_in_order_of_arrival() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let q = Queue::new();
        // Started in the order 2, 0, 1: served in the order they started waiting.
        let mut getters = Vec::new();
        for i in [2, 0, 1] {
            let (q, t) = (q.clone(), t.clone());
            getters.push(evloop::create_task(async move {
                let v = q.get().await;
                t.push(format!("getter {i} got {v}"));
            }));
            yield_now().await;
        }
        for v in ["a", "b", "c"] {
            q.put_nowait(v).unwrap();
        }
        for g in getters {
            g.await.unwrap();
        }
    });
    assert_eq!(
        trace.get(),
        ["getter 2 got a", "getter 0 got b", "getter 1 got c"]
    );
}

/// Spec: QUEUE-3
#[test]
fn waiting_putters_are_served_in_order_of_arrival() {
    let out = vrun(async {
        let q = Queue::with_maxsize(1);
        q.put_nowait("first").unwrap();
        let mut putters = Vec::new();
        for v in ["p1", "p2", "p3"] {
            let q = q.clone();
            putters.push(evloop::create_task(async move { q.put(v).await }));
            yield_now().await;
        }
        let mut out = Vec::new();
        for _ in 0..4 {
            out.push(q.get().await);
        }
        for p in putters {
            p.await.unwrap();
        }
        out
    });
    assert_eq!(out, ["first", "p1", "p2", "p3"]);
}

/// A getter woken by a put and cancelled before it ran: the item goes to the next getter, not
/// nowhere (asyncio: the cancelled getter wakes the next one).
/// Spec: QUEUE-4
#[test]
fn a_getter_woken_then_cancelled_passes_the_item_to_the_next_getter() {
    vrun(async {
        let q = Queue::new();
        let first = {
            let q = q.clone();
            evloop::create_task(async move { q.get().await })
        };
        let second = {
            let q = q.clone();
            evloop::create_task(async move { q.get().await })
        };
        yield_now().await;
        q.put_nowait(7).unwrap(); // wakes `first` only
        assert!(first.cancel()); // before it runs
        assert!(first.await.unwrap_err().is_cancelled());
        assert_eq!(second.await.unwrap(), 7);
        assert!(q.empty());
    });
}

/// Spec: QUEUE-4
#[test]
fn a_putter_woken_then_cancelled_passes_the_room_to_the_next_putter() {
    vrun(async {
        let q = Queue::with_maxsize(1);
        q.put_nowait(0).unwrap();
        let first = {
            let q = q.clone();
            evloop::create_task(async move { q.put(1).await })
        };
        let second = {
            let q = q.clone();
            evloop::create_task(async move { q.put(2).await })
        };
        yield_now().await;
        assert_eq!(q.get_nowait(), Ok(0)); // wakes `first` only
        assert!(first.cancel());
        assert!(first.await.unwrap_err().is_cancelled());
        second.await.unwrap();
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

/// A getter cancelled while it waits takes nothing and leaves no waiter behind: later items go to
/// the getters still waiting.
/// Spec: QUEUE-4, QUEUE-3
#[test]
fn a_getter_cancelled_while_waiting_loses_no_item_and_leaves_no_waiter() {
    vrun(async {
        let q = Queue::new();
        let mut gone = Vec::new();
        for _ in 0..50 {
            let q = q.clone();
            gone.push(evloop::create_task(async move { q.get().await }));
        }
        let last = {
            let q = q.clone();
            evloop::create_task(async move { q.get().await })
        };
        yield_now().await;
        for g in &gone {
            assert!(g.cancel());
        }
        for g in gone {
            assert!(g.await.unwrap_err().is_cancelled());
        }
        assert!(format!("{q:?}").contains("getters=1"), "{q:?}");
        q.put_nowait("x").unwrap();
        assert_eq!(last.await.unwrap(), "x");
        assert_eq!(
            format!("{q:?}"),
            "Queue(maxsize=0, qsize=0, getters=0, putters=0, unfinished=1)"
        );
    });
}

/// Spec: QUEUE-5
#[test]
fn join_waits_until_every_item_is_marked_done() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let q = Queue::new();
        q.join().await; // nothing unfinished
        for i in 0..3 {
            q.put_nowait(i).unwrap();
        }
        let worker = {
            let (q, t) = (q.clone(), t.clone());
            evloop::create_task(async move {
                for _ in 0..3 {
                    let i = q.get().await;
                    evloop::sleep(Duration::from_secs(1)).await;
                    t.push(format!("done {i}"));
                    q.task_done().unwrap();
                }
            })
        };
        let joiners: Vec<_> = (0..2)
            .map(|j| {
                let (q, t) = (q.clone(), t.clone());
                evloop::create_task(async move {
                    q.join().await;
                    t.push(format!("joiner {j} returns"));
                })
            })
            .collect();
        for j in joiners {
            j.await.unwrap();
        }
        worker.await.unwrap();
        // Taking an item does not finish it; only task_done does.
        q.put_nowait(9).unwrap();
        q.get_nowait().unwrap();
        let late = {
            let q = q.clone();
            evloop::create_task(async move { q.join().await })
        };
        evloop::sleep(Duration::from_secs(1)).await;
        assert!(!late.done());
        q.task_done().unwrap();
        late.await.unwrap();
    });
    assert_eq!(
        trace.get(),
        [
            "done 0",
            "done 1",
            "done 2",
            "joiner 0 returns",
            "joiner 1 returns"
        ]
    );
}

/// Spec: QUEUE-5
#[test]
fn task_done_more_times_than_items_put_is_an_error() {
    let q = Queue::new();
    assert_eq!(q.task_done(), Err(TaskDoneError));
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    assert_eq!(q.task_done(), Ok(()));
    assert_eq!(q.task_done(), Ok(()));
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert!(TaskDoneError.to_string().contains("task_done()"));
}

/// Spec: QUEUE-6
#[test]
fn a_put_from_another_thread_wakes_the_getter_on_its_loop() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Queue<String>>();

    let sum = evloop::run(async {
        let q = Queue::new();
        let getter = {
            let q = q.clone();
            evloop::create_task(async move {
                let mut sum = 0;
                for _ in 0..1000 {
                    sum += q.get().await;
                }
                sum
            })
        };
        // Plain threads, not the loop's pool: the loop parks and is woken by the puts.
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..500u64 {
                        q.put_nowait(p * 500 + i).unwrap();
                    }
                })
            })
            .collect();
        let sum = getter.await.unwrap();
        for p in producers {
            p.join().unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..1000).sum::<u64>());
}

/// Spec: QUEUE-7
#[test]
fn a_lifo_queue_gives_the_item_put_last_first() {
    let q = LifoQueue::new();
    assert_eq!(
        (q.maxsize(), q.qsize(), q.empty(), q.full()),
        (0, 0, true, false)
    );
    for i in 0..100 {
        q.put_nowait(i).unwrap();
    }
    assert_eq!((q.qsize(), q.empty(), q.full()), (100, false, false));
    let out: Vec<_> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
    assert_eq!(out, (0..100).rev().collect::<Vec<_>>());

    // Puts and gets interleaved: each get takes the newest item still in.
    let bounded = LifoQueue::with_maxsize(2);
    bounded.put_nowait('a').unwrap();
    bounded.put_nowait('b').unwrap();
    assert!(bounded.full());
    assert_eq!(bounded.put_nowait('x').unwrap_err().into_inner(), 'x');
    assert_eq!(bounded.get_nowait(), Ok('b'));
    bounded.put_nowait('c').unwrap();
    assert_eq!(bounded.get_nowait(), Ok('c'));
    assert_eq!(bounded.get_nowait(), Ok('a'));
    assert_eq!(bounded.get_nowait(), Err(QueueEmpty));

    // Through the awaiting calls: a producer fills the stack before the consumer looks.
    let got = vrun(async {
        let q = LifoQueue::new();
        let producer = {
            let q = q.clone();
            evloop::create_task(async move {
                for i in 0..5 {
                    q.put(i).await;
                }
            })
        };
        producer.await.unwrap();
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(q.get().await);
        }
        got
    });
    assert_eq!(got, [4, 3, 2, 1, 0]);
}

/// An item ordered by its priority alone; `id` tells equal ones apart.
#[derive(Debug, Clone, Copy)]
struct Job {
    priority: u8,
    id: u32,
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

/// Spec: QUEUE-8
#[test]
fn a_priority_queue_gives_the_smallest_item_first_and_equal_ones_in_the_order_put() {
    let q = PriorityQueue::new();
    for x in [5, 1, 4, 1, 5, 9, 2, 6, 5, 3] {
        q.put_nowait(x).unwrap();
    }
    assert_eq!(q.qsize(), 10);
    let out: Vec<_> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
    assert_eq!(out, [1, 1, 2, 3, 4, 5, 5, 5, 6, 9]);

    // Equal items come out in the order they were put, across later puts and gets: a stable
    // sort of what was put (asyncio's heapq leaves this order unspecified).
    let q = PriorityQueue::new();
    let priorities = [2, 0, 1, 0, 2, 1, 0, 0, 2, 1, 0, 2, 1, 1, 0, 2];
    let jobs: Vec<Job> = (0..)
        .zip(priorities)
        .map(|(id, priority)| Job { priority, id })
        .collect();
    let (first, rest) = jobs.split_at(8);
    for &j in first {
        q.put_nowait(j).unwrap();
    }
    // Two gets, then the rest put: what is taken is the smallest of what was in at the time.
    let early = [q.get_nowait().unwrap(), q.get_nowait().unwrap()];
    assert_eq!(early.map(|j| j.id), [1, 3]);
    for &j in rest {
        q.put_nowait(j).unwrap();
    }
    let out: Vec<u32> = std::iter::from_fn(|| q.get_nowait().ok())
        .map(|j| j.id)
        .collect();
    let mut expected: Vec<Job> = jobs
        .iter()
        .copied()
        .filter(|j| j.id != 1 && j.id != 3)
        .collect();
    expected.sort_by_key(|j| j.priority); // stable
    assert_eq!(out, expected.iter().map(|j| j.id).collect::<Vec<_>>());

    // asyncio's idiom: (priority, payload) tuples; the bound and the awaiting calls as Queue's.
    let got = vrun(async {
        let q = PriorityQueue::with_maxsize(3);
        let producer = {
            let q = q.clone();
            evloop::create_task(async move {
                for (p, what) in [(3, "low"), (1, "urgent"), (2, "normal")] {
                    q.put((p, what)).await;
                }
            })
        };
        producer.await.unwrap();
        assert!(q.full());
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(q.get().await.1);
        }
        got
    });
    assert_eq!(got, ["urgent", "normal", "low"]);
}

/// Everything but the order is the same code for the three queues: waiting while full or
/// empty, a woken getter that is cancelled passing the item on, `join` / `task_done`, the
/// repr.
macro_rules! waits_like_queue {
    ($queue:ident, $repr:literal) => {{
        vrun(async {
            // Full: the putter waits until a get makes room; empty: the getter waits.
            let q = $queue::with_maxsize(1);
            q.put(1).await;
            let putter = {
                let q = q.clone();
                evloop::create_task(async move { q.put(2).await })
            };
            yield_now().await;
            assert!(q.full() && !putter.done());
            assert_eq!(q.get().await, 1);
            putter.await.unwrap();
            assert_eq!(q.get_nowait(), Ok(2));

            // Two getters wait in line; the first, woken and cancelled before it runs,
            // passes the item to the second.
            let getters: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    evloop::create_task(async move { q.get().await })
                })
                .collect();
            yield_now().await;
            q.put_nowait(7).unwrap();
            assert!(getters[0].cancel());
            let [first, second]: [_; 2] = getters.try_into().ok().unwrap();
            assert!(first.await.unwrap_err().is_cancelled());
            assert_eq!(second.await.unwrap(), 7);

            // join returns once each of the three items put is marked done.
            let joiner = {
                let q = q.clone();
                evloop::create_task(async move { q.join().await })
            };
            yield_now().await;
            assert!(!joiner.done());
            for _ in 0..2 {
                q.task_done().unwrap();
            }
            yield_now().await;
            assert!(!joiner.done());
            q.task_done().unwrap();
            joiner.await.unwrap();
            assert_eq!(q.task_done(), Err(TaskDoneError));
            assert_eq!(format!("{q:?}"), $repr);
        });
    }};
}

/// Spec: QUEUE-2, QUEUE-3, QUEUE-4, QUEUE-5
#[test]
fn a_lifo_queue_waits_hands_wakeups_on_and_joins_as_a_queue_does() {
    waits_like_queue!(
        LifoQueue,
        "LifoQueue(maxsize=1, qsize=0, getters=0, putters=0, unfinished=0)"
    );
}

/// Spec: QUEUE-2, QUEUE-3, QUEUE-4, QUEUE-5
#[test]
fn a_priority_queue_waits_hands_wakeups_on_and_joins_as_a_queue_does() {
    waits_like_queue!(
        PriorityQueue,
        "PriorityQueue(maxsize=1, qsize=0, getters=0, putters=0, unfinished=0)"
    );
}

/// A thread the loop does not know of puts through a sender: while the sender lives, the
/// virtual clock waits for it (no jump to the hour-long sleep, no deadlock report), and once it
/// is gone, a loop left with nothing to wait for reports the deadlock instead of hanging.
/// Spec: QUEUE-9
#[test]
fn a_senders_thread_keeps_a_virtual_clock_waiting_until_the_sender_drops() {
    fn sendable<T: Send + Sync>() {}
    sendable::<QueueSender<String>>();
    sendable::<QueueSender<String, evloop::queue::Priority>>();

    let (got, now) = vrun(async {
        let q = Queue::new();
        let tx = q.sender();
        let sleeper = evloop::create_task(evloop::sleep(Duration::from_secs(3600)));
        let producer = std::thread::spawn(move || {
            // Real time, which the virtual clock knows nothing of.
            std::thread::sleep(Duration::from_millis(30));
            for i in 0..3 {
                tx.put_nowait(i).unwrap();
            }
        });
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(q.get().await);
        }
        let now = evloop::get_running_loop().unwrap().time();
        producer.join().unwrap();
        sleeper.cancel();
        (got, now)
    });
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(now, 0.0, "the clock jumped while a sender lived");

    // A clone keeps the loop waiting on its own; the last drop lets the deadlock be seen.
    let lp = evloop::Builder::new().virtual_time(true).build();
    let r = lp.try_run_until_complete(async {
        let q = LifoQueue::<u8>::new();
        let tx = q.sender();
        let tx2 = tx.clone();
        drop(tx);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx2.put_nowait(1).unwrap();
            drop(tx2);
        });
        assert_eq!(q.get().await, 1);
        t.join().unwrap();
        let _never = q.sender();
        drop(_never);
        q.get().await
    });
    assert!(
        matches!(r, Err(evloop::RunError::Deadlock(_))),
        "expected a deadlock report, got {r:?}"
    );
    // Made where no loop runs: a panic that says where to make it.
    let err = std::panic::catch_unwind(|| Queue::<u8>::new().sender()).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("no event loop is running") && msg.contains("made on the loop"),
        "{msg}"
    );
}
