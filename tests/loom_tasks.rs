//! loom: the task state word, wakers and handles, explored in every interleaving within the
//! preemption bound. Models stay small (at most 3 threads) so the whole file runs in seconds.
#![cfg(feature = "loom")]

use evloop::{Builder, LoopFuture, RunError};
use evloop_check::check;
use evloop_model::sync::atomic::{AtomicUsize, Ordering};
use evloop_model::sync::{Arc, Mutex};
use evloop_model::thread;
use std::future::Future;
use std::future::IntoFuture;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[path = "common/stays_put.rs"]
mod stays_put;
use stays_put::{StaysPut, Witness};

/// Counts polls of the future it wraps, and asserts that no two overlap.
struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
    in_poll: Arc<AtomicUsize>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        assert_eq!(
            self.in_poll.fetch_add(1, Ordering::SeqCst),
            0,
            "TASK-3 violated: two polls of one task at once"
        );
        self.polls.fetch_add(1, Ordering::SeqCst);
        let r = self.inner.as_mut().poll(cx);
        self.in_poll.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

/// A task awaits a future that another thread completes; the wake can land while the task is
/// still being polled (RUNNING), and the task must then be polled again, never twice at once, and
/// complete exactly once.
/// Spec: TASK-3, TASK-4, TASK-5, FUT-4
#[test]
fn a_wake_racing_the_tasks_own_poll_polls_it_again() {
    check(|| {
        let polls = Arc::new(AtomicUsize::new(0));
        let completions = Arc::new(AtomicUsize::new(0));
        let (p, c) = (polls.clone(), completions.clone());
        let out = Builder::new().virtual_time(true).try_run(async move {
            let fut = LoopFuture::<u32>::new();
            let resolver = fut.resolver();
            let helper = thread::spawn("resolver".into(), move || {
                resolver.resolve(7).unwrap();
            });
            let task = evloop::create_task(Counted {
                inner: Box::pin(async move { fut.await.unwrap() }),
                polls: p,
                in_poll: Arc::new(AtomicUsize::new(0)),
            });
            task.add_done_callback(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            });
            let v = task.await.unwrap();
            helper.join().unwrap();
            v
        });
        match out {
            Ok(v) => assert_eq!(v, 7),
            Err(RunError::Deadlock(d)) => panic!("TASK-4 violated: a wake was lost: {d}"),
            Err(e) => panic!("unexpected: {e}"),
        }
        assert_eq!(
            completions.load(Ordering::SeqCst),
            1,
            "TASK-5: one completion"
        );
        let n = polls.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "polled {n} times");
    });
}

/// Polls two futures, registering its waker with both, until both are done.
struct Both<A: Future, B: Future> {
    a: Pin<Box<A>>,
    b: Pin<Box<B>>,
    a_done: bool,
    b_done: bool,
}

impl<A: Future, B: Future> Future for Both<A, B> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.a_done {
            self.a_done = self.a.as_mut().poll(cx).is_ready();
        }
        if !self.b_done {
            self.b_done = self.b.as_mut().poll(cx).is_ready();
        }
        if self.a_done && self.b_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Two threads wake one idle task at the same time: it is queued once and polled once per
/// queue entry, never twice at once.
/// Spec: TASK-3, THREAD-2
#[test]
fn two_wakes_from_two_threads_queue_the_task_once() {
    check(|| {
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let out = Builder::new().virtual_time(true).try_run(async move {
            let a = LoopFuture::<()>::new();
            let b = LoopFuture::<()>::new();
            let (ra, rb) = (a.resolver(), b.resolver());
            let ta = thread::spawn("wake-a".into(), move || ra.resolve(()).unwrap());
            let tb = thread::spawn("wake-b".into(), move || rb.resolve(()).unwrap());
            Counted {
                inner: Box::pin(Both {
                    a: Box::pin(a.into_future()),
                    b: Box::pin(b.into_future()),
                    a_done: false,
                    b_done: false,
                }),
                polls: p,
                in_poll: Arc::new(AtomicUsize::new(0)),
            }
            .await;
            ta.join().unwrap();
            tb.join().unwrap();
        });
        out.unwrap();
        let n = polls.load(Ordering::SeqCst);
        assert!((1..=3).contains(&n), "polled {n} times for two wakes");
    });
}

/// A waker that outlives its task and its loop: waking it after completion, from another thread,
/// and after the loop is closed and dropped, does nothing, panics nowhere, and leaks nothing
/// (loom checks that every `Arc` is freed at the end of each interleaving).
/// Spec: TASK-5, MODEL-3
#[test]
fn wakers_woken_after_completion_or_after_the_loop_is_gone_are_no_ops() {
    check(|| {
        let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
        let s = slot.clone();
        let lp = Builder::new().virtual_time(true).build();
        let task = lp.create_task(std::future::poll_fn(move |cx| {
            *s.lock() = Some(cx.waker().clone());
            Poll::Ready(1u8)
        }));
        let s2 = slot.clone();
        let helper = thread::spawn("late-waker".into(), move || {
            let w = s2.lock().clone();
            if let Some(w) = w {
                w.wake();
            }
        });
        assert_eq!(lp.run_until_complete(task), 1);
        lp.close();
        drop(lp);
        let w = slot.lock().take();
        if let Some(w) = w {
            w.wake_by_ref();
            w.wake();
        }
        helper.join().unwrap();
    });
}

/// Wakers of a task dropped without being woken, one on another thread while the loop runs and
/// one after the task completed and the loop was closed and dropped: each gives back the
/// reference it held, so the task and the loop are freed (loom reports any `Arc` left at the end
/// of an interleaving).
/// Spec: MODEL-3
#[test]
fn wakers_dropped_unwoken_give_back_their_reference_to_the_task() {
    check(|| {
        let slot: Arc<Mutex<Vec<Waker>>> = Arc::new(Mutex::new(Vec::new()));
        let s = slot.clone();
        let lp = Builder::new().virtual_time(true).build();
        let task = lp.create_task(std::future::poll_fn(move |cx| {
            let mut wakers = s.lock();
            wakers.push(cx.waker().clone());
            wakers.push(cx.waker().clone());
            Poll::Ready(1u8)
        }));
        let s2 = slot.clone();
        let helper = thread::spawn("dropper".into(), move || {
            let w = s2.lock().pop();
            drop(w);
        });
        assert_eq!(lp.run_until_complete(task), 1);
        lp.close();
        drop(lp);
        helper.join().unwrap();
        slot.lock().clear();
    });
}

/// A `Task` handle awaited on one worker while the task completes on another: the output is
/// delivered exactly once.
/// Spec: TASK-2, TASK-5, THREAD-1
#[test]
fn a_task_completing_on_another_worker_delivers_its_output_once() {
    check(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let got = Builder::new()
            .virtual_time(true)
            .workers(2)
            .run(async move {
                let t = evloop::create_task(async move { DropCount(d) });
                t.await.unwrap()
            });
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "output dropped before delivery"
        );
        drop(got);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// The handle dropped while the task completes on another worker: the output is dropped exactly
/// once, and the task still runs to the end.
/// Spec: TASK-9, MODEL-4
#[test]
fn a_task_handle_dropped_while_the_task_completes_drops_the_output_once() {
    check(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        Builder::new()
            .virtual_time(true)
            .workers(2)
            .run(async move {
                let t = evloop::create_task(async move { DropCount(d) });
                evloop::sleep(std::time::Duration::ZERO).await;
                drop(t);
            });
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "output dropped exactly once"
        );
    });
}

/// A named task's handle on another thread reads its name before, during or after the task
/// completes, and may drop the task's last reference (removing its entry from the loop's name
/// table) while the loop spawns another named task (registry lock, then the table's): the name
/// is always the task's own, and no entry is left once every reference is gone.
/// Spec: TASK-2
#[test]
fn a_named_tasks_name_reads_the_same_on_any_thread_until_its_last_handle_drops() {
    check(|| {
        let lp = Builder::new().virtual_time(true).build();
        let task = lp.create_task_named("worker", async { 1u8 });
        let r = task.task_ref();
        let reader = thread::spawn("reader".into(), move || {
            assert_eq!(r.name(), "worker", "TASK-2: a named task lost its name");
        });
        let out = lp.run_until_complete(async move {
            let out = task.await.unwrap();
            evloop::create_task_named("second", async {}).await.unwrap();
            out
        });
        assert_eq!(out, 1);
        reader.join().unwrap();
        assert_eq!(evloop::__private::named_tasks(&lp), 0);
        lp.close();
    });
}

struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The future stays where it was first polled until it is dropped, and is dropped once, whether
/// the task completes (woken from another thread) or is cancelled while that thread races to
/// wake it.
/// Spec: TASK-10
#[test]
fn a_tasks_future_stays_in_place_when_it_completes_or_is_cancelled() {
    check(|| {
        let (completes, cancelled) = (
            std::sync::Arc::new(Witness::default()),
            std::sync::Arc::new(Witness::default()),
        );
        let (w1, w2) = (completes.clone(), cancelled.clone());
        Builder::new().virtual_time(true).run(async move {
            let (gate1, gate2) = (LoopFuture::<()>::new(), LoopFuture::<()>::new());
            let (r1, r2) = (gate1.resolver(), gate2.resolver());
            let a = evloop::create_task(StaysPut::new(
                async move {
                    let _ = gate1.await;
                },
                false,
                &w1,
            ));
            let b = evloop::create_task(StaysPut::new(
                async move {
                    let _ = gate2.await;
                },
                false,
                &w2,
            ));
            // Both are polled once (and pinned) before anything else happens to them.
            evloop::sleep(std::time::Duration::ZERO).await;
            let helper = thread::spawn("resolver".into(), move || {
                let _ = r1.resolve(());
                let _ = r2.resolve(());
            });
            assert!(b.cancel());
            a.await.unwrap();
            assert!(b.await.unwrap_err().is_cancelled());
            helper.join().unwrap();
        });
        completes.assert_in_place_and_dropped_once();
        cancelled.assert_in_place_and_dropped_once();
    });
}

/// The same when the future panics after a wake from another thread, and when the loop is
/// closed with the task still pending (the future is dropped by the tear-down).
/// Spec: TASK-10
#[test]
fn a_tasks_future_stays_in_place_when_it_panics_or_its_loop_closes() {
    check(|| {
        let (panics, torn_down) = (
            std::sync::Arc::new(Witness::default()),
            std::sync::Arc::new(Witness::default()),
        );
        let (w1, w2) = (panics.clone(), torn_down.clone());
        let lp = Builder::new().virtual_time(true).build();
        lp.run_until_complete(async move {
            let gate = LoopFuture::<()>::new();
            let resolver = gate.resolver();
            let helper = thread::spawn("resolver".into(), move || {
                let _ = resolver.resolve(());
            });
            let c = evloop::create_task(StaysPut::new(
                async move {
                    let _ = gate.await;
                },
                true,
                &w1,
            ));
            // Never woken: still pending when the loop closes.
            drop(evloop::create_task(StaysPut::new(
                std::future::pending(),
                false,
                &w2,
            )));
            assert!(c.await.unwrap_err().is_panic());
            helper.join().unwrap();
        });
        lp.close();
        drop(lp);
        panics.assert_in_place_and_dropped_once();
        torn_down.assert_in_place_and_dropped_once();
    });
}
