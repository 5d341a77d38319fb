//! loom: the loop's parking, cross-thread injection, the thread pool, and shutdown.
#![cfg(feature = "loom")]

use evloop::{Builder, EventLoop};
use evloop_model::check;
use evloop_model::sync::atomic::{AtomicUsize, Ordering};
use evloop_model::sync::Arc;
use evloop_model::thread;
use std::time::Duration;

/// `call_soon_threadsafe` from another thread races the loop deciding to park: the loop always
/// wakes and runs the callback (no lost unpark). A lost unpark leaves every thread blocked, which
/// loom reports as a deadlock.
/// Spec: LOOP-5, FUT-4
#[test]
fn call_soon_threadsafe_racing_the_loop_going_to_park_is_never_lost() {
    check(|| {
        let lp = Builder::new().virtual_time(true).build();
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
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "the pending task's future dropped once");
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
