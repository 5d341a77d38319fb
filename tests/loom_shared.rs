//! loom: a task's outcome shared by several readers on two workers (TASK-13), and `stop()` from
//! another thread racing the start of a run (LOOP-12).
#![cfg(feature = "loom")]

use evloop::Builder;
use evloop_check::Options;
use evloop_model::thread;

/// A task completes on one worker while a reader task awaits it through its own handle and main
/// through another, on two workers: both get the value — a clone for the first to read, the value
/// itself for the last, whichever order the reads land in.
/// Spec: TASK-13, THREAD-1
#[test]
fn a_shared_outcome_read_from_two_workers_while_the_task_completes_reaches_every_reader() {
    // Two workers and three tasks: a bound of 2 keeps the interleavings in the tens of
    // thousands; the injected bug is found at the first.
    Options::new().preemptions(2).check(|| {
        let out = Builder::new().virtual_time(true).workers(2).run(async {
            let t = evloop::create_task(async { String::from("shared") });
            let a = t.clone();
            let ra = evloop::create_task(async move { a.await.unwrap() });
            let mine = t.await.unwrap();
            (mine, ra.await.unwrap())
        });
        assert_eq!(
            out,
            ("shared".to_owned(), "shared".to_owned()),
            "TASK-13: every handle reads the outcome"
        );
    });
}

/// `stop()` is called from another thread while the main thread starts `run_forever`, and that
/// thread's resolver holds the virtual clock until it is done: whether the stop lands before the
/// run (it then makes one turn) or during it (it finishes its turn), the run stops — it is never
/// lost, which would leave the loop with nothing to do (a deadlock report).
/// Spec: LOOP-12, LOOP-5
#[test]
fn stop_from_another_thread_racing_the_start_of_a_run_is_never_lost() {
    Options::new().preemptions(2).check(|| {
        let lp = Builder::new().virtual_time(true).build();
        let fut = lp.create_future::<()>();
        let held = fut.resolver();
        let remote = lp.clone();
        let stopper = thread::spawn("stopper".into(), move || {
            remote.stop();
            drop(held);
        });
        let r = lp.try_run_forever();
        stopper.join().unwrap();
        assert!(r.is_ok(), "LOOP-12: the stop was lost: {r:?}");
        drop(fut);
        lp.close();
    });
}
