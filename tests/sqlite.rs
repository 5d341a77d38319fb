//! The seed's bulk save against SQLite (`examples/bulk_sqlite.rs`, run here as a module): every
//! record arrives exactly once and whole, when saves fail and are retried and when the batch is
//! cancelled halfway, and no more connections are used than the semaphore allows
//! (specs/examples.md).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

#[path = "../examples/bulk_sqlite.rs"]
#[allow(dead_code)]
mod bulk;

use bulk::{census, init_user, Faults, Store, User, ATTEMPTS, CONNECTIONS};
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const N: u32 = 300;

fn users(ids: impl IntoIterator<Item = u32> + Send + 'static) -> Vec<User> {
    evloop::run(async move {
        evloop::gather(ids.into_iter().map(init_user))
            .await
            .unwrap()
    })
}

/// Every record in both tables exactly once: the ids in each table, sorted, are `expected`.
fn assert_each_record_once(path: &Path, expected: &[u32]) {
    let (users, profiles) = census(path).unwrap();
    assert_eq!(users, expected, "users: each id once");
    assert_eq!(profiles, expected, "profiles: each id once");
}

/// Spec: EXAMPLE-1, EXAMPLE-2
#[test]
fn the_bulk_save_saves_every_record_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (concurrent, sequential) = (dir.path().join("c.db"), dir.path().join("s.db"));
    let batch = users(1..=N);
    let (c, s) = (concurrent.clone(), sequential.clone());
    let peaks = evloop::run(async move {
        let store = Store::open(&c, CONNECTIONS, None).await.unwrap();
        let saved = store.save_all(batch.clone()).await.unwrap();
        assert_eq!(
            saved,
            (1..=N).collect::<Vec<_>>(),
            "results in argument order"
        );
        let one_by_one = Store::open(&s, CONNECTIONS, None).await.unwrap();
        one_by_one.save_sequentially(batch).await.unwrap();
        (store.peak_connections(), one_by_one.peak_connections())
    });
    let all: Vec<u32> = (1..=N).collect();
    assert_each_record_once(&concurrent, &all);
    assert_each_record_once(&sequential, &all);
    assert!(
        (1..=CONNECTIONS).contains(&peaks.0),
        "{} connections in use at once, limit {CONNECTIONS}",
        peaks.0
    );
    assert_eq!(peaks.1, 1, "one save at a time");
}

/// Every 7th record's first attempt fails halfway through its transaction (after the user's row,
/// before the profile's); the retry saves it. One record fails every attempt: its save reports
/// the error and leaves no row behind.
/// Spec: EXAMPLE-1, EXAMPLE-2
#[test]
fn failed_saves_are_retried_and_leave_no_partial_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("retries.db");
    let attempts: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
    const DOOMED: u32 = N + 1;
    let faults: Faults = {
        let attempts = attempts.clone();
        Arc::new(move |id, attempt| {
            *attempts.lock().unwrap().entry(id).or_default() += 1;
            id == DOOMED || (id % 7 == 0 && attempt == 1)
        })
    };
    let batch = users(1..=N);
    let p = path.clone();
    let (doomed, peak) = evloop::run(async move {
        let store = Store::open(&p, CONNECTIONS, Some(faults)).await.unwrap();
        store.save_all(batch).await.unwrap();
        let doomed = store.clone().save(init_user(DOOMED).await).await;
        (doomed, store.peak_connections())
    });
    assert_each_record_once(&path, &(1..=N).collect::<Vec<_>>());
    let err = doomed.unwrap_err();
    assert_eq!(err.id, DOOMED);
    assert!(
        err.to_string().contains("injected failure"),
        "the last attempt's error: {err}"
    );
    let attempts = attempts.lock().unwrap();
    for id in 1..=N {
        let expected = if id % 7 == 0 { 2 } else { 1 };
        assert_eq!(attempts[&id], expected, "attempts of user {id}");
    }
    assert_eq!(attempts[&DOOMED], ATTEMPTS);
    assert!(peak <= CONNECTIONS, "{peak} connections at once");
}

/// How the batch is stopped halfway.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    /// `Task::cancel_with` on the task awaiting the gather, which ends cancelled.
    Cancel,
    /// The same, with the task catching its cancellation (`catch_cancel`, asyncio's
    /// `except CancelledError:`), waiting for the transactions still running, and ending normally.
    Catch,
    /// The gather future itself dropped, with no task cancelled.
    Drop,
}

/// Records `GATED` and up stop at the start of their job, on the blocking thread, until the test
/// opens the gate: once the records before them are saved, every connection is held by a gated
/// job and the batch cannot move, so the state at the cancel is exact. The batch is then stopped
/// (`Stop`), and the gate opened. The saves not started never start (GATHER-5); the `CONNECTIONS`
/// saves whose job was running when their task was cancelled finish their transaction, each
/// once and whole; `quiesce` waits for them (their permits come back only then), and the records
/// still missing are saved again on the same loop: in the end every record is in the database
/// exactly once. A permit given back when the task is cancelled, instead of when its job ends,
/// lets `quiesce` return while a gated transaction is still to run, and a new save finds no free
/// connection.
/// Spec: EXAMPLE-1, EXAMPLE-2
#[test]
fn a_batch_cancelled_halfway_leaves_whole_records_each_once_and_resumes() {
    const GATED: u32 = N / 2;
    for stop in [Stop::Cancel, Stop::Catch, Stop::Drop] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cancelled.db");
        let entered: Arc<Mutex<Vec<u32>>> = Arc::default();
        let open = Arc::new(AtomicBool::new(false));
        let faults: Faults = {
            let (entered, open) = (entered.clone(), open.clone());
            Arc::new(move |id, _attempt| {
                if id >= GATED && !open.load(Ordering::SeqCst) {
                    entered.lock().unwrap().push(id);
                    while !open.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                false
            })
        };
        let batch = users(1..=N);
        let p = path.clone();
        let (before, in_flight, after, peak) = evloop::run(async move {
            let store = Store::open(&p, CONNECTIONS, Some(faults)).await.unwrap();
            let saved = Arc::new(AtomicUsize::new(0));
            let saves: Vec<_> = batch
                .into_iter()
                .map(|u| {
                    let (store, saved) = (store.clone(), saved.clone());
                    async move {
                        let id = store.save(u).await?;
                        saved.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, bulk::SaveError>(id)
                    }
                })
                .collect();
            // Every record before the gate saved, and every connection held by a gated job.
            let stuck = {
                let (saved, entered) = (saved.clone(), entered.clone());
                async move {
                    let t = Instant::now();
                    while saved.load(Ordering::SeqCst) != GATED as usize - 1
                        || entered.lock().unwrap().len() != CONNECTIONS
                    {
                        assert!(
                            t.elapsed() < Duration::from_secs(120),
                            "{stop:?}: the batch never reached its gate"
                        );
                        evloop::sleep(Duration::from_millis(1)).await;
                    }
                }
            };
            let open_gate = || open.store(true, Ordering::SeqCst);
            let before_gate = |what: &str| {
                let (users, profiles) = census(store.path()).unwrap();
                assert_eq!(users, profiles, "{stop:?}: a record half saved {what}");
                users
            };
            let before;
            match stop {
                Stop::Cancel => {
                    let gathering = evloop::create_task(evloop::try_gather(saves));
                    stuck.await;
                    assert!(gathering.cancel_with("halfway"));
                    match gathering.await {
                        Err(evloop::TaskError::Cancelled(c)) => {
                            assert_eq!(c.message(), Some("halfway"))
                        }
                        other => panic!("{stop:?}: the batch ended {other:?}"),
                    }
                    before = before_gate("at the cancel");
                    open_gate();
                }
                Stop::Catch => {
                    let s = store.clone();
                    let gathering = evloop::create_task(async move {
                        match evloop::catch_cancel(evloop::try_gather(saves)).await {
                            Ok(r) => panic!("the batch ended before its cancel: {:?}", r.is_ok()),
                            Err(c) => {
                                // Cleanup that awaits: the transactions still running.
                                s.quiesce().await;
                                c.message().map(str::to_owned)
                            }
                        }
                    });
                    stuck.await;
                    assert!(gathering.cancel_with("halfway"));
                    // The task waits for the gated jobs, so the census is taken before it can.
                    evloop::sleep(Duration::from_millis(10)).await;
                    assert!(
                        !gathering.done(),
                        "cleanup returned before the transactions ended"
                    );
                    before = before_gate("at the cancel");
                    open_gate();
                    assert_eq!(gathering.await.unwrap().as_deref(), Some("halfway"));
                }
                Stop::Drop => {
                    let mut gather = Box::pin(evloop::try_gather(saves));
                    let mut stuck = Box::pin(stuck);
                    let finished = std::future::poll_fn(|cx| {
                        if let std::task::Poll::Ready(r) = gather.as_mut().poll(cx) {
                            return std::task::Poll::Ready(Some(r.is_ok()));
                        }
                        stuck.as_mut().poll(cx).map(|()| None)
                    })
                    .await;
                    assert!(finished.is_none(), "the batch ended before its half");
                    drop(gather);
                    before = before_gate("at the drop");
                    open_gate();
                }
            }
            let in_flight = {
                let mut e = entered.lock().unwrap().clone();
                e.sort_unstable();
                e
            };
            store.quiesce().await;
            let (after, profiles) = census(store.path()).unwrap();
            assert_eq!(after, profiles, "{stop:?}: a record half saved");
            let mut resumed = Vec::new();
            for id in (1..=N).filter(|id| !after.contains(id)) {
                resumed.push(init_user(id).await);
            }
            store.save_all(resumed).await.unwrap();
            (before, in_flight, after, store.peak_connections())
        });
        assert_eq!(
            before,
            (1..GATED).collect::<Vec<_>>(),
            "{stop:?}: saved when the batch stopped"
        );
        assert_eq!(
            in_flight,
            (GATED..GATED + CONNECTIONS as u32).collect::<Vec<_>>(),
            "{stop:?}: jobs running when the batch stopped"
        );
        assert_eq!(
            after,
            (1..GATED + CONNECTIONS as u32).collect::<Vec<_>>(),
            "{stop:?}: the running jobs commit, each once; nothing after them starts"
        );
        assert!(peak <= CONNECTIONS, "{stop:?}: {peak} connections at once");
        assert_each_record_once(&path, &(1..=N).collect::<Vec<_>>());
    }
}
