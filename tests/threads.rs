//! Threads: several workers, wakes from any thread, the blocking-work pool,
//! `run_coroutine_threadsafe`, and which public types cross threads (specs/threads.md).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use common::{vloop, vrun, yield_now, Trace};
use evloop::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

/// Spec: THREAD-1
#[test]
fn several_workers_run_every_entry_of_a_burst_once_while_the_queue_gives_memory_back() {
    // Bursts far past what the shared queue keeps for the loop's life, drained by two workers
    // between small turns, so the queue shrinks while entries are still queued in it.
    const BURST: usize = 20_000;
    let runs: Arc<Vec<AtomicUsize>> =
        Arc::new((0..3 * BURST).map(|_| AtomicUsize::new(0)).collect());
    let r = runs.clone();
    let lp = Builder::new().workers(2).virtual_time(true).build();
    lp.run_until_complete(async move {
        let lp = get_running_loop().unwrap();
        for round in 0..3 {
            for i in 0..BURST {
                let r = r.clone();
                lp.call_soon(move || {
                    r[round * BURST + i].fetch_add(1, Ordering::SeqCst);
                });
            }
            while r[round * BURST..(round + 1) * BURST]
                .iter()
                .any(|c| c.load(Ordering::SeqCst) == 0)
            {
                yield_now().await;
            }
        }
    });
    lp.close();
    assert!(
        runs.iter().all(|c| c.load(Ordering::SeqCst) == 1),
        "an entry was lost or ran twice"
    );
}

/// Spec: THREAD-1
#[test]
fn several_workers_run_every_task_to_completion_with_results_in_argument_order() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let out = Builder::new()
        .workers(4)
        .virtual_time(true)
        .run(async move {
            let children = (0..40u64).map(|i| {
                let p = p.clone();
                async move {
                    for _ in 0..10 {
                        p.fetch_add(1, Ordering::SeqCst);
                        yield_now().await;
                    }
                    // Every worker knows the loop it runs for.
                    assert!(get_running_loop().is_ok());
                    evloop::sleep(Duration::from_millis(40 - i)).await;
                    i
                }
            });
            gather(children).await.unwrap()
        });
    assert_eq!(out, (0..40).collect::<Vec<_>>());
    assert_eq!(polls.load(Ordering::SeqCst), 400);
}

/// Spec: THREAD-1, TASK-9
#[test]
fn several_workers_keep_unowned_tasks_and_done_callbacks() {
    let trace = Trace::new();
    let t = trace.clone();
    Builder::new()
        .workers(3)
        .virtual_time(true)
        .run(async move {
            let done = Arc::new(AtomicUsize::new(0));
            for _ in 0..20 {
                let d = done.clone();
                let task = create_task(async {
                    yield_now().await;
                });
                task.add_done_callback(move |_| {
                    d.fetch_add(1, Ordering::SeqCst);
                });
            }
            evloop::sleep(Duration::from_secs(1)).await;
            t.push(format!("done callbacks: {}", done.load(Ordering::SeqCst)));
        });
    assert_eq!(trace.get(), ["done callbacks: 20"]);
}

/// Spec: THREAD-2, LOOP-5, TASK-4
#[test]
fn a_waker_can_be_woken_from_many_threads_and_no_wake_is_lost() {
    for workers in [1, 2] {
        let lp = Builder::new().workers(workers).build();
        lp.run_until_complete(async {
            let count = Arc::new(AtomicUsize::new(0));
            let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
            let mut helpers = Vec::new();
            std::future::poll_fn(|cx| {
                *slot.lock().unwrap() = Some(cx.waker().clone());
                if helpers.is_empty() {
                    for _ in 0..4 {
                        let (count, slot) = (count.clone(), slot.clone());
                        helpers.push(std::thread::spawn(move || {
                            for _ in 0..100 {
                                count.fetch_add(1, Ordering::SeqCst);
                                let w = slot.lock().unwrap().clone().unwrap();
                                w.wake();
                            }
                        }));
                    }
                }
                if count.load(Ordering::SeqCst) == 400 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            for h in helpers {
                h.join().unwrap();
            }
        });
        lp.close();
    }
}

/// Spec: THREAD-3
#[test]
fn to_thread_runs_blocking_work_off_the_loop_and_resumes_with_its_result() {
    vrun(async {
        let loop_thread = std::thread::current().id();
        let (id, sum) = to_thread(|| (std::thread::current().id(), (1..=100u32).sum::<u32>()))
            .await
            .unwrap();
        assert_ne!(id, loop_thread);
        assert_eq!(sum, 5050);

        let lp = get_running_loop().unwrap();
        assert_eq!(lp.run_in_executor(|| "executor").await.unwrap(), "executor");

        let err = to_thread(|| -> u8 { panic!("blocking work failed") })
            .await
            .unwrap_err();
        assert!(matches!(err, TaskError::Panicked(ref p) if p.message() == "blocking work failed"));

        // Several at once, each result to its own awaiter.
        let jobs = (0..6u32).map(|i| to_thread(move || i * i));
        let squares: Vec<u32> = gather(jobs.map(|j| async { j.await.unwrap() }))
            .await
            .unwrap();
        assert_eq!(squares, [0, 1, 4, 9, 16, 25]);
    });
}

/// Spec: THREAD-4, TIME-4
#[test]
fn the_virtual_clock_waits_for_work_in_flight_on_the_pool() {
    let trace = Trace::new();
    let t = trace.clone();
    vrun(async move {
        let lp = get_running_loop().unwrap();
        let t2 = t.clone();
        let timer = create_task(async move {
            evloop::sleep(Duration::from_secs(10)).await;
            t2.push("timer fired");
        });
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let job = to_thread(move || {
            go_rx.recv().unwrap();
            "job result"
        });
        // The loop runs out of ready work with only the job outstanding: it must wait for it.
        yield_now().await;
        go_tx.send(()).unwrap();
        let r = job.await.unwrap();
        t.push(format!("{r} at {}", lp.time()));
        timer.await.unwrap();
    });
    assert_eq!(trace.get(), ["job result at 0", "timer fired"]);
}

/// Spec: THREAD-5
#[test]
fn run_coroutine_threadsafe_runs_work_on_a_loop_in_another_thread() {
    let lp = vloop();
    let answer = lp.create_future::<u32>();
    let resolver = answer.resolver();
    let remote = lp.clone();
    let helper = std::thread::spawn(move || {
        // No timer here: the live resolver holds the virtual clock still (TIME-4), so a virtual
        // sleep in this coroutine would wait for this very thread (see specs/differences.md).
        let cf = run_coroutine_threadsafe(
            async {
                yield_now().await;
                40 + 2
            },
            &remote,
        );
        let v = cf.wait().unwrap();
        resolver.resolve(v).unwrap();
    });
    assert_eq!(lp.run_until_complete(answer), 42);
    helper.join().unwrap();

    // Waiting on the loop's own thread would block it forever: refused with a message.
    let l2 = lp.clone();
    let msg = lp.run_until_complete(async move {
        let cf = run_coroutine_threadsafe(async {}, &l2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cf.wait()));
        *r.unwrap_err().downcast::<&str>().unwrap()
    });
    assert!(msg.contains("`await` the work inside the loop"), "{msg}");

    // A closed loop never runs the work: the waiter is told instead of hanging.
    lp.close();
    let cf = run_coroutine_threadsafe(async { 1 }, &lp);
    assert!(cf.wait().unwrap_err().is_cancelled());
}

fn send_sync<T: Send + Sync>() {}

/// Spec: THREAD-6
#[test]
fn public_types_are_send_and_sync_as_documented() {
    send_sync::<EventLoop>();
    send_sync::<Builder>();
    send_sync::<Task<u8>>();
    // A task handle crosses threads even when its output is only `Send`.
    send_sync::<Task<std::cell::Cell<u8>>>();
    send_sync::<TaskRef>();
    send_sync::<WaitDone>();
    send_sync::<LoopFuture<u8>>();
    send_sync::<Resolver<u8>>();
    send_sync::<Handle>();
    send_sync::<TimerHandle>();
    send_sync::<Sleep>();
    send_sync::<Gather<u8>>();
    send_sync::<TryGather<u8, String>>();
    send_sync::<GatherSettled<u8>>();
    send_sync::<ToThread<u8>>();
    send_sync::<ConcurrentFuture<u8>>();
    send_sync::<std::task::Waker>();
    send_sync::<LoopError>();
    send_sync::<InvalidStateError>();
    send_sync::<FutureError>();
    send_sync::<SharedError>();
    send_sync::<Deadlock>();
    send_sync::<PendingTask>();
    // Errors fit `Box<dyn Error + Send + Sync>` (and so `anyhow`).
    send_sync::<TaskError>();
    send_sync::<RunError>();
    send_sync::<GatherError<String>>();
    send_sync::<Panic>();
    let _: Box<dyn std::error::Error + Send + Sync> =
        Box::new(TaskError::Cancelled(evloop::Cancelled::default()));
}

/// Work submitted to a loop that never runs again does not keep the loop alive: when the last
/// handles go, the loop closes (LOOP-6) and the submitted future is dropped unrun.
/// Spec: THREAD-5, LOOP-6
#[test]
fn work_submitted_to_a_loop_does_not_keep_the_loop_alive() {
    let trace = Trace::new();
    let lp = vloop();
    let guard = common::DropGuard(trace.clone(), "future dropped");
    let cf = run_coroutine_threadsafe(
        async move {
            let _guard = guard;
        },
        &lp,
    );
    drop(cf);
    drop(lp);
    assert_eq!(trace.get(), ["future dropped"]);
}

/// Spec: THREAD-1, LOOP-4
#[test]
fn stopping_several_workers_mid_turn_loses_no_entry_and_runs_none_twice() {
    // 50 callback chains (not a multiple of a chunk) keep the shared queue long, so workers take it in chunks, and every
    // stop lands in the middle of someone's chunk: what a stopping worker does not run must be
    // the first thing the next run takes, once.
    const CHAINS: usize = 50;
    const STEPS: usize = 200;
    fn step(
        lp: EventLoop,
        seen: Arc<Vec<AtomicUsize>>,
        chain: usize,
        k: usize,
        bad: Arc<AtomicUsize>,
    ) {
        if seen[chain].swap(k + 1, Ordering::SeqCst) != k {
            bad.fetch_add(1, Ordering::SeqCst);
        }
        if k + 1 < STEPS {
            let next = lp.clone();
            lp.call_soon(move || step(next, seen, chain, k + 1, bad));
        }
    }
    let lp = Builder::new().workers(2).virtual_time(true).build();
    let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..CHAINS).map(|_| AtomicUsize::new(0)).collect());
    let bad = Arc::new(AtomicUsize::new(0));
    for chain in 0..CHAINS {
        let (l, s, b) = (lp.clone(), seen.clone(), bad.clone());
        lp.call_soon(move || step(l, s, chain, 0, b));
    }
    // Many short runs, each stopping while the chains are still going.
    for _ in 0..20 {
        lp.run_until_complete(async {
            yield_now().await;
        });
    }
    let s = seen.clone();
    let finished = lp.run_until_complete(async move {
        for _ in 0..100_000 {
            if s.iter().all(|c| c.load(Ordering::SeqCst) == STEPS) {
                return true;
            }
            yield_now().await;
        }
        false
    });
    lp.close();
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "a chain step ran twice or out of order"
    );
    assert!(finished, "a chain step was lost across a stop");
}

/// A meeting point for pool jobs: each job waits until `n` jobs are inside at once, so a burst
/// can only finish if it runs on `n` threads at the same time. Gives up (for every job) after a
/// deadline that only a pool running the burst on fewer threads can reach, so that failure is an
/// assertion rather than a hang.
struct Meeting {
    state: std::sync::Mutex<(usize, bool)>,
    all_in: std::sync::Condvar,
}

impl Meeting {
    fn new() -> Arc<Meeting> {
        Arc::new(Meeting {
            state: std::sync::Mutex::new((0, false)),
            all_in: std::sync::Condvar::new(),
        })
    }

    /// Arrives and waits for `n` arrivals in all; false if they never came.
    fn meet(&self, n: usize) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut g = self.state.lock().unwrap();
        g.0 += 1;
        self.all_in.notify_all();
        while g.0 < n && !g.1 {
            let now = std::time::Instant::now();
            if now >= deadline {
                g.1 = true;
                self.all_in.notify_all();
                break;
            }
            g = self.all_in.wait_timeout(g, deadline - now).unwrap().0;
        }
        g.0 >= n
    }
}

/// `n` jobs submitted at once, each of which waits for all `n` to be running.
async fn burst_runs_at_once(n: usize) -> bool {
    let meeting = Meeting::new();
    let jobs: Vec<_> = (0..n)
        .map(|_| {
            let m = meeting.clone();
            to_thread(move || m.meet(n))
        })
        .collect();
    gather(jobs.into_iter().map(|j| async { j.await.unwrap() }))
        .await
        .unwrap()
        .into_iter()
        .all(|met| met)
}

/// Spec: THREAD-7
#[test]
fn a_burst_of_blocking_jobs_runs_at_once_while_the_pool_may_grow() {
    vrun(async {
        // Two threads, then idle: each job of the next burst that finds every idle thread
        // already claimed by an earlier job of the burst must start a thread of its own.
        assert!(
            burst_runs_at_once(2).await,
            "a cold pool ran two jobs at once"
        );
        // Lets both threads go back to waiting for work (a thread still on its way back is not
        // idle, and the burst would start threads for it anyway).
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            burst_runs_at_once(4).await,
            "THREAD-7: four jobs on a pool with two idle threads and room for eight did not run at once"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            burst_runs_at_once(8).await,
            "THREAD-7: eight jobs on a pool with four idle threads and room for eight did not run at once"
        );
    });
}

/// Set when the thread that touched it exits (its thread-locals are destroyed).
struct ExitFlag(Arc<std::sync::atomic::AtomicBool>);

impl Drop for ExitFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

thread_local! {
    static EXIT_FLAG: std::cell::RefCell<Option<ExitFlag>> = const { std::cell::RefCell::new(None) };
}

/// Runs `lp` (two workers) once and returns the threads its two workers ran on. Two tasks each
/// hand the other their thread and wait for the other's, blocking their worker meanwhile, so they
/// can only both finish if they run at the same time, on both workers. The worker that is not the
/// calling thread leaves `exited` to be set when its thread ends.
fn worker_threads_of_a_run(
    lp: &EventLoop,
    exited: &Arc<std::sync::atomic::AtomicBool>,
) -> std::collections::BTreeSet<String> {
    let caller = std::thread::current().id();
    let exited = exited.clone();
    lp.run_until_complete(async move {
        let (to_b, from_a) = mpsc::channel();
        let (to_a, from_b) = mpsc::channel();
        let meet = move |tx: mpsc::Sender<std::thread::ThreadId>,
                         rx: mpsc::Receiver<std::thread::ThreadId>,
                         exited: Arc<std::sync::atomic::AtomicBool>| {
            let me = std::thread::current().id();
            if me != caller {
                EXIT_FLAG.with(|f| {
                    let mut f = f.borrow_mut();
                    if f.is_none() {
                        *f = Some(ExitFlag(exited));
                    }
                });
            }
            tx.send(me).unwrap();
            let other = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the two tasks ran on the two workers at once");
            format!("{me:?}/{other:?}")
        };
        let e = exited.clone();
        let a = create_task(async move { meet(to_b, from_b, e) });
        let b = create_task(async move { meet(to_a, from_a, exited) });
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        a.split('/')
            .chain(b.split('/'))
            .map(str::to_owned)
            .collect()
    })
}

/// Spec: THREAD-8
#[test]
fn a_loops_worker_threads_live_as_long_as_the_loop() {
    use std::sync::atomic::AtomicBool;
    let lp = Builder::new().workers(2).build();
    let exited = Arc::new(AtomicBool::new(false));
    let first = worker_threads_of_a_run(&lp, &exited);
    assert_eq!(first.len(), 2, "both workers took part: {first:?}");
    let second = worker_threads_of_a_run(&lp, &exited);
    assert_eq!(
        first, second,
        "THREAD-8: the second run's workers are the first run's threads"
    );
    assert!(
        !exited.load(Ordering::SeqCst),
        "a worker thread ended between runs"
    );
    lp.close();
    assert!(
        exited.load(Ordering::SeqCst),
        "THREAD-8: close returned before the loop's worker thread ended"
    );

    // Dropping the last handle closes the loop, and so ends its workers too.
    let lp = Builder::new().workers(2).build();
    let exited = Arc::new(AtomicBool::new(false));
    assert_eq!(worker_threads_of_a_run(&lp, &exited).len(), 2);
    drop(lp);
    assert!(
        exited.load(Ordering::SeqCst),
        "THREAD-8: the last handle's drop returned before the loop's worker thread ended"
    );
}

/// Another executor's waker that panics when woken.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("a foreign waker panicked");
    }
}

/// Spec: TASK-12, THREAD-4
#[test]
fn a_foreign_waker_panicking_when_a_pool_job_delivers_is_reported_and_the_pool_keeps_serving() {
    let (done_tx, done_rx) = mpsc::channel();
    // On a thread of its own, so that a hang fails this test rather than hanging it.
    std::thread::spawn(move || {
        let lp = Builder::new().virtual_time(true).max_threads(1).build();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let mut job = lp.run_in_executor(move || {
            go_rx.recv().unwrap();
            5
        });
        // Awaited by another executor until it delivers: its waker is the one the job wakes.
        let waker = Waker::from(Arc::new(PanickingWaker));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut polls = 0;
        let a = loop {
            match std::future::Future::poll(std::pin::Pin::new(&mut job), &mut cx) {
                Poll::Ready(v) => break v.unwrap(),
                Poll::Pending if polls == 0 => go_tx.send(()).unwrap(),
                Poll::Pending => std::thread::yield_now(),
            }
            polls += 1;
        };
        let out = lp.run_until_complete(async move {
            // The pool's one thread still serves, and the first job no longer counts as in
            // flight, so the virtual clock can move.
            let b = to_thread(|| 6).await.unwrap();
            evloop::sleep(Duration::from_secs(1)).await;
            a + b
        });
        lp.close();
        done_tx.send(out).unwrap();
    });
    let out = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("TASK-12: the loop hung after a foreign waker panicked on a pool thread");
    assert_eq!(out, 11);
}
