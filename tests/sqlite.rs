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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

/// The task gathering the saves is cancelled once half the records are saved (variant `drop`:
/// the gather future itself is dropped instead). The saves not started never start; those whose
/// transaction runs on a blocking thread finish it. `quiesce` waits for them (their permits
/// come back only then), and the records still missing are saved again on the same loop: in the
/// end every record is in the database exactly once, and no record was ever half saved. A permit
/// given back when the task is cancelled, instead of when its transaction ends, lets `quiesce`
/// return early: a record being committed is then saved a second time, or a new save finds no
/// free connection.
/// Spec: EXAMPLE-1, EXAMPLE-2
#[test]
fn a_batch_cancelled_halfway_leaves_whole_records_each_once_and_resumes() {
    for how in ["cancel", "drop"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cancelled.db");
        let batch = users(1..=N);
        let p = path.clone();
        let (at_cancel, after_cancel, peak) = evloop::run(async move {
            let store = Store::open(&p, CONNECTIONS, None).await.unwrap();
            let saved = Arc::new(AtomicUsize::new(0));
            let half = evloop::Event::new();
            let saves: Vec<_> = batch
                .into_iter()
                .map(|u| {
                    let (store, saved, half) = (store.clone(), saved.clone(), half.clone());
                    async move {
                        let id = store.save(u).await?;
                        if saved.fetch_add(1, Ordering::SeqCst) + 1 == N as usize / 2 {
                            half.set();
                        }
                        Ok::<_, bulk::SaveError>(id)
                    }
                })
                .collect();
            if how == "cancel" {
                let gathering = evloop::create_task(evloop::try_gather(saves));
                half.wait().await;
                assert!(gathering.cancel());
                assert!(gathering.await.unwrap_err().is_cancelled());
            } else {
                let mut gather = Box::pin(evloop::try_gather(saves));
                let mut wait = Box::pin(half.wait());
                let finished = std::future::poll_fn(|cx| {
                    if let std::task::Poll::Ready(r) = gather.as_mut().poll(cx) {
                        return std::task::Poll::Ready(Some(r));
                    }
                    wait.as_mut().poll(cx).map(|()| None)
                })
                .await;
                assert!(finished.is_none(), "the batch ended before its half");
                drop(gather);
            }
            let at_cancel = saved.load(Ordering::SeqCst);
            store.quiesce().await;
            let (done, profiles) = census(store.path()).unwrap();
            assert_eq!(done, profiles, "{how}: a record half saved");
            let missing: Vec<u32> = (1..=N).filter(|id| !done.contains(id)).collect();
            let mut resumed = Vec::new();
            for id in &missing {
                resumed.push(init_user(*id).await);
            }
            store.save_all(resumed).await.unwrap();
            (at_cancel, done.len(), store.peak_connections())
        });
        assert!(
            at_cancel >= N as usize / 2 && after_cancel < N as usize,
            "{how}: the batch stopped halfway ({at_cancel} reported, {after_cancel} in the \
             database at the cancel)"
        );
        assert!(
            after_cancel >= at_cancel,
            "{how}: a record reported saved is missing"
        );
        assert!(peak <= CONNECTIONS, "{how}: {peak} connections at once");
        assert_each_record_once(&path, &(1..=N).collect::<Vec<_>>());
    }
}
