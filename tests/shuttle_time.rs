//! shuttle: timers under contention in virtual time, FIFO order with one worker while other
//! threads inject work, and two workers stopping in the middle of the chunks they took.
#![cfg(feature = "shuttle")]

use evloop::{Builder, EventLoop, LoopFuture};
use evloop_check::check;
use evloop_model::sync::{Arc, Mutex};
use evloop_model::thread;
use std::time::Duration;

/// Six tasks on three workers sleep for overlapping durations while a helper thread adds timers
/// with distinct deadlines in shuffled order: no sleep wakes before its deadline on the loop's
/// clock, and the helper's timers run in deadline order, in any schedule.
/// Spec: TIME-1, TIME-2, TIME-4, THREAD-1
#[test]
fn timers_never_fire_early_under_contention() {
    check(|| {
        let woke: Arc<Mutex<Vec<(u64, Duration)>>> = Arc::default();
        let fired: Arc<Mutex<Vec<u64>>> = Arc::default();
        let w = woke.clone();
        let f = fired.clone();
        Builder::new()
            .virtual_time(true)
            .workers(3)
            .run(async move {
                let lp = evloop::get_running_loop().unwrap();
                // The helper is cross-thread work the virtual clock must wait for.
                let fut = LoopFuture::<()>::new();
                let in_flight = fut.resolver();
                let remote = lp.clone();
                let helper = thread::spawn("timer-adder".into(), move || {
                    for ms in [7u64, 3, 9, 4] {
                        let f = f.clone();
                        let when = Duration::from_millis(ms);
                        remote.call_at(when, move || f.lock().push(ms));
                    }
                    drop(in_flight);
                });
                let sleepers = [1u64, 2, 2, 3, 5, 8].map(|ms| {
                    let w = w.clone();
                    async move {
                        let lp = evloop::get_running_loop().unwrap();
                        let deadline = lp.now() + Duration::from_millis(ms);
                        evloop::sleep(Duration::from_millis(ms)).await;
                        let now = lp.now();
                        assert!(
                            now >= deadline,
                            "TIME-1 violated: a {ms} ms sleep woke at {now:?}, before its \
                             deadline {deadline:?}"
                        );
                        w.lock().push((ms, now));
                    }
                });
                evloop::gather(sleepers).await.unwrap();
                helper.join().unwrap();
                evloop::sleep(Duration::from_millis(10)).await;
            });
        assert_eq!(woke.lock().len(), 6);
        assert_eq!(
            *fired.lock(),
            vec![3, 4, 7, 9],
            "TIME-2: timers with distinct deadlines run in deadline order"
        );
    });
}

/// With one worker, three tasks that yield each turn run round-robin in creation order, and
/// callbacks injected by two other threads run in the order each thread queued them — in every
/// schedule (asyncio's FIFO ready queue).
/// Spec: LOOP-2, LOOP-3, LOOP-5
#[test]
fn one_worker_keeps_fifo_order_while_other_threads_inject_work() {
    check(|| {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let l = log.clone();
        Builder::new().virtual_time(true).run(async move {
            let lp = evloop::get_running_loop().unwrap();
            let mut producers = Vec::new();
            for p in 0..2 {
                let (lp, l) = (lp.clone(), l.clone());
                // The producers are cross-thread work the virtual clock must wait for.
                let fut = LoopFuture::<()>::new();
                let in_flight = fut.resolver();
                producers.push(thread::spawn(format!("producer-{p}"), move || {
                    for i in 0..3 {
                        let l = l.clone();
                        lp.call_soon_threadsafe(move || l.lock().push(format!("p{p}.{i}")));
                    }
                    drop(in_flight);
                }));
            }
            let tasks: Vec<_> = (0..3)
                .map(|t| {
                    let l = l.clone();
                    evloop::create_task(async move {
                        for i in 0..3 {
                            l.lock().push(format!("t{t}.{i}"));
                            evloop::sleep(Duration::ZERO).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            for p in producers {
                p.join().unwrap();
            }
        });
        let log = log.lock();
        let tasks: Vec<&str> = log
            .iter()
            .filter(|s| s.starts_with('t'))
            .map(String::as_str)
            .collect();
        let expected = [
            "t0.0", "t1.0", "t2.0", "t0.1", "t1.1", "t2.1", "t0.2", "t1.2", "t2.2",
        ];
        assert_eq!(
            tasks, expected,
            "LOOP-2: task steps round-robin in FIFO order"
        );
        for p in 0..2 {
            let mine: Vec<&str> = log
                .iter()
                .filter(|s| s.starts_with(&format!("p{p}.")))
                .map(String::as_str)
                .collect();
            let expected: Vec<String> = (0..3).map(|i| format!("p{p}.{i}")).collect();
            assert_eq!(
                mine, expected,
                "callbacks from one thread run in the order queued"
            );
        }
    });
}

/// Nine callback chains keep the shared queue long enough that two workers take it in chunks,
/// and three short runs stop while the chains are going, so a stop lands in the middle of a
/// chunk: whatever a stopping worker did not run must run in a later run, once and in its
/// chain's order, in every schedule (what it leaves is put back at the queue's front, or run if
/// another worker already took entries behind it).
/// Spec: THREAD-1, LOOP-4
#[test]
fn stopping_two_workers_mid_chunk_loses_no_entry_and_runs_none_twice() {
    const CHAINS: usize = 9;
    const STEPS: usize = 4;
    type Seen = Arc<Mutex<Vec<usize>>>;
    fn step(lp: EventLoop, seen: Seen, chain: usize, k: usize) {
        {
            let mut s = seen.lock();
            assert_eq!(
                s[chain], k,
                "chain {chain}: step {k} ran after step {} (an entry ran twice or was lost)",
                s[chain]
            );
            s[chain] = k + 1;
        }
        if k + 1 < STEPS {
            let next = lp.clone();
            lp.call_soon(move || step(next, seen, chain, k + 1));
        }
    }
    check(|| {
        let lp = Builder::new().workers(2).virtual_time(true).build();
        let seen: Seen = Arc::new(Mutex::new(vec![0; CHAINS]));
        for chain in 0..CHAINS {
            let (l, s) = (lp.clone(), seen.clone());
            lp.call_soon(move || step(l, s, chain, 0));
        }
        for _ in 0..3 {
            lp.run_until_complete(async {});
        }
        let s = seen.clone();
        let finished = lp.run_until_complete(async move {
            for _ in 0..4 * STEPS {
                if s.lock().iter().all(|&k| k == STEPS) {
                    return true;
                }
                evloop::sleep(Duration::ZERO).await;
            }
            false
        });
        lp.close();
        assert!(
            finished,
            "a chain stopped: an entry a stopping worker took was lost ({:?})",
            seen.lock()
        );
    });
}
