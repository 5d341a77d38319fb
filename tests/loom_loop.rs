//! loom: the loop's parking, cross-thread injection, the thread pool, and shutdown.
#![cfg(feature = "loom")]

use evloop::{Builder, EventLoop, LoopError, RunError};
use evloop_check::check;
use evloop_model::sync::atomic::{AtomicUsize, Ordering};
use evloop_model::sync::{Arc, Condvar, Mutex};
use evloop_model::thread;
use std::time::Duration;

/// `call_soon_threadsafe` from another thread races the loop deciding to park: the loop always
/// wakes and runs the callback (no lost unpark). A lost unpark leaves every thread blocked, which
/// loom reports as a deadlock.
/// Spec: LOOP-5, FUT-4
#[test]
fn call_soon_threadsafe_racing_the_loop_going_to_park_is_never_lost() {
    check(|| a_callback_from_another_thread_wakes_a_loop_of(1));
}

/// A producer thread queues a callback with `call_soon_threadsafe` while the loop's `workers`
/// decide to park; the callback resolves the future the loop's main task awaits.
fn a_callback_from_another_thread_wakes_a_loop_of(workers: usize) {
    let lp = Builder::new().virtual_time(true).workers(workers).build();
    let remote = lp.clone();
    let fut = lp.create_future::<u32>();
    let resolver = fut.resolver();
    let producer = thread::spawn("producer".into(), move || {
        remote.call_soon_threadsafe(move || {
            resolver.resolve(5).unwrap();
        });
    });
    let v = lp.run_until_complete(async move { fut.await.unwrap() });
    assert_eq!(v, 5);
    producer.join().unwrap();
    lp.close();
}

/// The same race on two workers, where `call_soon_threadsafe` pushes to the producers' inbox
/// without taking the lock the workers decide under: the last worker to park counts itself parked
/// and then looks at the inbox again, and the producer reads that count after its push, so one of
/// them sees the other (LOOP-5). A lost wake leaves every thread blocked: a loom deadlock.
/// Spec: LOOP-5
#[test]
fn call_soon_threadsafe_racing_the_last_of_two_workers_going_to_park_is_never_lost() {
    check(|| a_callback_from_another_thread_wakes_a_loop_of(2));
}

/// The loop parks, is woken by a resolve from another thread, parks again and is woken by a
/// second resolve: every wake reaches the parked loop, not only the first (LOOP-5). The helper
/// keeps a third resolver alive, and blocks until the loop has seen both values, so nothing else
/// (the end of the last work in flight) wakes the loop: a lost second wake leaves both threads
/// blocked, which loom reports as a deadlock.
/// Spec: LOOP-5, THREAD-2
#[test]
fn a_loop_parked_again_after_a_wake_from_another_thread_is_woken_again() {
    check(|| {
        let lp = Builder::new().virtual_time(true).build();
        let (f1, f2, f3) = (
            lp.create_future::<u32>(),
            lp.create_future::<u32>(),
            lp.create_future::<u32>(),
        );
        let (r1, r2, keep) = (f1.resolver(), f2.resolver(), f3.resolver());
        let seen = Arc::new((Mutex::new(false), Condvar::new()));
        let s = seen.clone();
        let helper = thread::spawn("resolver".into(), move || {
            r1.resolve(1).unwrap();
            r2.resolve(2).unwrap();
            let (flag, cv) = &*s;
            let mut g = flag.lock();
            while !*g {
                g = cv.wait(g);
            }
            drop(g);
            drop(keep);
        });
        let sum = lp.run_until_complete(async move {
            let a = f1.await.unwrap();
            let b = f2.await.unwrap();
            let (flag, cv) = &*seen;
            *flag.lock() = true;
            cv.notify_all();
            a + b
        });
        assert_eq!(sum, 3);
        helper.join().unwrap();
        drop(f3);
        lp.close();
    });
}

/// A resolver dropped unused on another thread while the loop waits only for it: whether the drop
/// lands before or after the loop parks, the loop decides again, finds nothing ready and nothing
/// in flight, and reports the deadlock instead of sleeping forever (which loom reports as a
/// deadlock of every thread).
/// Spec: FUT-4, LOOP-8
#[test]
fn a_resolver_dropped_on_another_thread_wakes_the_loop_to_report_the_deadlock() {
    check(|| {
        let lp = Builder::new().virtual_time(true).build();
        let fut = lp.create_future::<u32>();
        let resolver = fut.resolver();
        let helper = thread::spawn("dropper".into(), move || drop(resolver));
        let out = lp.try_run_until_complete(fut);
        helper.join().unwrap();
        assert!(
            matches!(out, Err(RunError::Deadlock(_))),
            "LOOP-8: expected a deadlock report, got {out:?}"
        );
        lp.close();
    });
}

/// `to_thread`: the pool thread's result reaches the awaiting task, and the virtual clock does not
/// declare a deadlock while the job is in flight.
/// Spec: THREAD-3, THREAD-4
#[test]
fn to_thread_delivers_its_result_to_the_awaiting_task() {
    check(|| {
        let n = Builder::new()
            .virtual_time(true)
            .run(async { evloop::to_thread(|| 6 * 7).await.unwrap() });
        assert_eq!(n, 42);
    });
}

/// `run` returns while a task is still pending on another worker: every pending task is
/// cancelled, finishes cancelling (its future is dropped exactly once), and the loop is closed.
/// Spec: RUN-2, THREAD-1, TASK-7
#[test]
fn run_shutdown_cancels_tasks_still_pending_on_other_workers() {
    check(|| {
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let lp_seen: Arc<evloop_model::sync::Mutex<Option<EventLoop>>> = Arc::default();
        let l = lp_seen.clone();
        let v = Builder::new()
            .virtual_time(true)
            .workers(2)
            .run(async move {
                *l.lock() = Some(evloop::get_running_loop().unwrap());
                let guard = Guard(d);
                let t = evloop::create_task(async move {
                    let _g = guard;
                    evloop::sleep(Duration::from_secs(3600)).await;
                });
                drop(t);
                evloop::sleep(Duration::ZERO).await;
                1
            });
        assert_eq!(v, 1);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "the pending task's future dropped once"
        );
        let lp = lp_seen.lock().take().unwrap();
        assert!(lp.is_closed());
        assert!(lp.pending_tasks().is_empty());
    });
}

struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The value of `NAME='value'` in a replay line.
fn env_value(line: &str, name: &str) -> String {
    let start = line.find(&format!("{name}='")).expect(name) + name.len() + 2;
    line[start..].split('\'').next().unwrap().to_owned()
}

/// With `park_race` injected, the park check dies as a loom deadlock (which aborts the process),
/// yet prints its timeline and a replay line first; the replay line fails the same way, and from
/// its second run on jumps straight to the failing interleaving.
/// Spec: MODEL-1, MODEL-2, LOOP-5
#[test]
fn a_lost_unpark_is_reported_as_a_deadlock_with_a_replay_line() {
    let check = "call_soon_threadsafe_racing_the_loop_going_to_park_is_never_lost";
    let bug = ("EVLOOP_BUG", "park_race".to_owned());
    let (passed, first) = evloop_check::report::run_child_test(check, std::slice::from_ref(&bug));
    assert!(!passed, "the check must fail with the bug on:\n{first}");
    assert!(first.contains("FAILED under loom"), "{first}");
    assert!(first.contains("deadlock"), "{first}");
    assert!(
        first.contains("worker 0 parks"),
        "the timeline shows the park:\n{first}"
    );
    let line = first
        .lines()
        .find(|l| l.starts_with("LOOM_CHECKPOINT_FILE='"))
        .unwrap_or_else(|| panic!("a replay line:\n{first}"));
    let env = [
        bug,
        (
            "LOOM_CHECKPOINT_FILE",
            env_value(line, "LOOM_CHECKPOINT_FILE"),
        ),
        (
            "LOOM_CHECKPOINT_INTERVAL",
            env_value(line, "LOOM_CHECKPOINT_INTERVAL"),
        ),
    ];
    for run in 0..2 {
        let (passed, again) = evloop_check::report::run_child_test(check, &env);
        assert!(!passed, "replay run {run} must fail again:\n{again}");
        assert!(again.contains("deadlock"), "{again}");
        if run == 1 {
            assert!(again.contains("after 1 schedule(s)"), "{again}");
        }
    }
}

/// `close` from another thread races `run_until_complete` starting: either the close comes first
/// and the run reports `Closed`, or the run goes ahead and the close is refused or comes after it.
/// A running loop is never closed under its worker (which would tear its main task down and leave
/// the run with nothing to do: a deadlock report, or a hang on the real clock).
/// Spec: LOOP-6
#[test]
fn close_racing_a_run_from_another_thread_never_closes_a_running_loop() {
    check(|| {
        let lp = Builder::new().virtual_time(true).build();
        let closer = lp.clone();
        let t = thread::spawn("closer".into(), move || closer.try_close());
        let run = lp.try_run_until_complete(async { 7 });
        let closed = t.join().unwrap();
        match (&run, &closed) {
            (Ok(7), _) | (Err(RunError::Loop(LoopError::Closed)), Ok(())) => {}
            _ => panic!("LOOP-6 violated: run returned {run:?} while close returned {closed:?}"),
        }
    });
}

/// Polls `fut` once and returns whether it finished, so that a test can arm a sleep's timer with
/// one task's waker and then hand the sleep to another task.
async fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> bool {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx).is_ready())
    })
    .await
}

/// A sleep armed by one task and then awaited by another, on two workers: its timer fires on one
/// worker while the new owner polls it on the other. The poll either sees that the timer ran or
/// leaves its own waker for the timer to wake, so the new owner is never left asleep.
/// Spec: TIME-1, THREAD-2
#[test]
fn a_sleep_handed_to_another_task_wakes_its_new_owner() {
    check(|| {
        let v = Builder::new().virtual_time(true).workers(2).run(async {
            let mut own = evloop::sleep(Duration::from_millis(1));
            assert!(!poll_once(&mut own).await);
            let slot: Arc<evloop_model::sync::Mutex<Option<evloop::Sleep>>> = Arc::default();
            let s = slot.clone();
            evloop::create_task(async move {
                let mut handed = evloop::sleep(Duration::from_millis(1));
                assert!(!poll_once(&mut handed).await);
                *s.lock() = Some(handed);
            })
            .await
            .unwrap();
            own.await;
            let handed = slot.lock().take().unwrap();
            handed.await;
            1
        });
        assert_eq!(v, 1);
    });
}

/// Two runs of a two-worker loop, each ending while its other worker may still be running an
/// entry of that run (a task spawned by the main task, which returns at once): each
/// `run_until_complete` returns only once that worker has left the run, so nothing of a run is
/// still running when it returns (THREAD-8). The worker, kept between the runs, joins the second
/// or finds it over, and `close` ends and joins it (otherwise loom reports a thread left blocked).
/// Spec: THREAD-8
#[test]
fn a_run_returns_only_once_its_other_workers_have_left_it() {
    check(|| {
        let lp = Builder::new().virtual_time(true).workers(2).build();
        let running = Arc::new(AtomicUsize::new(0));
        let mut left_running = Vec::new();
        for run in 0..2u32 {
            let r = running.clone();
            let v = lp.run_until_complete(async move {
                drop(evloop::create_task(async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    thread::yield_now();
                    r.fetch_sub(1, Ordering::SeqCst);
                }));
                run
            });
            assert_eq!(v, run);
            left_running.push(running.load(Ordering::SeqCst));
        }
        if left_running != [0, 0] {
            // Closing (or dropping) the loop now would tear the task down under the worker still
            // polling it, and fail on that runtime assertion first: report the run's failure.
            std::mem::forget(lp);
            panic!(
                "THREAD-8: a run returned while its other worker still ran one of its entries \
                 (per run: {left_running:?})"
            );
        }
        lp.close();
    });
}
