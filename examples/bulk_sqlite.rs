//! The seed document's closing example, against a real database: initialize N user records
//! concurrently with one `gather`, then save them concurrently with another. Each save is one
//! SQLite transaction run on a blocking thread (`evloop::to_thread`), at most `CONNECTIONS` of them
//! at once (a `BoundedSemaphore`: the connection limit), retried when it fails. Then the same
//! batch is saved again, one row after the other, into a second database, for comparison.
//!
//! The asyncio program it follows (an ORM's `create` / `save`, each awaited):
//!
//! ```text
//! users = await asyncio.gather(*(User.create(i) for i in range(1, n + 1)))
//! await asyncio.gather(*(user.save() for user in users))
//! ```
//!
//! ```text
//! $ cargo run --release --example bulk_sqlite [N]
//! SQLite 3.x, WAL, files under /tmp/evloop-bulk-sqlite-…
//! initialized 2000 user records concurrently in 4.2 ms
//! saved 2000 rows concurrently (4 connections) in 97.0 ms
//! saved 2000 rows sequentially in 171.3 ms
//! sequential / concurrent: 1.77
//! ```
//!
//! `tests/sqlite.rs` runs the functions of this file (it includes it as a module) with failures
//! injected and with the batch cancelled halfway, and checks that every row arrives exactly once.

use evloop::BoundedSemaphore;
use rusqlite::{params, Connection, TransactionBehavior};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections to the database, and so saves in flight at once.
pub const CONNECTIONS: usize = 4;
/// Attempts per save before its error is returned.
pub const ATTEMPTS: u32 = 3;

pub type BoxError = Box<dyn Error + Send + Sync>;

/// One user record: a row in `users` and its row in `profiles`, saved together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: u32,
    pub name: String,
    pub email: String,
}

/// Builds user `id`'s record (the seed's `User.create`). The await stands for whatever an
/// initializer waits for; the records are built concurrently, each in its own task.
pub async fn init_user(id: u32) -> User {
    evloop::sleep(Duration::ZERO).await;
    User {
        id,
        name: format!("user-{id}"),
        email: format!("user-{id}@example.com"),
    }
}

/// Whether the save of user `id` fails, on its attempt `attempt` (from 1), halfway through its
/// transaction: after the user's row is written and before its profile's. Tests inject failures
/// with it; the example has none.
pub type Faults = Arc<dyn Fn(u32, u32) -> bool + Send + Sync>;

/// A save that failed on every attempt.
#[derive(Debug)]
pub struct SaveError {
    pub id: u32,
    pub last: String,
}

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "user {} not saved after {ATTEMPTS} attempts: {}",
            self.id, self.last
        )
    }
}

impl Error for SaveError {}

/// The database: a pool of open connections, a semaphore with one permit per connection, and the
/// faults to inject. Cloning gives another handle to the same pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    limit: BoundedSemaphore,
    connections: usize,
    faults: Option<Faults>,
    in_use: AtomicUsize,
    peak: AtomicUsize,
}

impl Store {
    /// Opens `connections` connections to the database file at `path` (created with its tables
    /// if missing), in WAL mode, on a blocking thread.
    pub async fn open(
        path: &Path,
        connections: usize,
        faults: Option<Faults>,
    ) -> Result<Store, BoxError> {
        let p = path.to_owned();
        let idle = evloop::to_thread(move || {
            (0..connections)
                .map(|_| connect(&p))
                .collect::<Result<Vec<_>, _>>()
        })
        .await??;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                idle: Mutex::new(idle),
                limit: BoundedSemaphore::new(connections),
                connections,
                faults,
                in_use: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The most connections that were ever in use at once.
    pub fn peak_connections(&self) -> usize {
        self.inner.peak.load(Ordering::SeqCst)
    }

    /// Saves `user` (the seed's `user.save()`): one transaction on a blocking thread, holding a
    /// permit of the connection limit, tried up to `ATTEMPTS` times. A failed attempt rolls its
    /// transaction back, so a retry never finds half a record.
    pub async fn save(self, user: User) -> Result<u32, SaveError> {
        let user = Arc::new(user);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let permit = self.inner.limit.acquire().await;
            let (inner, u) = (self.inner.clone(), user.clone());
            let outcome = evloop::to_thread(move || {
                // The permit travels with the job and is let go when the transaction is over,
                // even if the task awaiting the job is cancelled meanwhile: a blocking thread
                // cannot be stopped, so its connection stays in use until it returns.
                let _permit = permit;
                inner.save_once(&u, attempt)
            })
            .await;
            match outcome {
                Ok(Ok(())) => return Ok(user.id),
                Ok(Err(e)) => last = e.to_string(),
                Err(e) => last = e.to_string(),
            }
        }
        Err(SaveError { id: user.id, last })
    }

    /// Saves every user concurrently (the seed's second `gather`), at most one save per
    /// connection at a time; returns the ids saved, in argument order, or the first failure.
    pub async fn save_all(&self, users: Vec<User>) -> Result<Vec<u32>, BoxError> {
        evloop::try_gather(users.into_iter().map(|u| self.clone().save(u)))
            .await
            .map_err(|e| e.to_string().into())
    }

    /// Waits until no save is running: takes every permit, then lets them go. A save's permit
    /// is let go only when its transaction is over, so this also waits for the transactions of
    /// saves whose tasks were cancelled while their blocking thread ran.
    pub async fn quiesce(&self) {
        let mut permits = Vec::new();
        while permits.len() < self.inner.connections {
            permits.push(self.inner.limit.acquire().await);
        }
    }

    /// Saves every user one after the other: the same saves, awaited in turn.
    pub async fn save_sequentially(&self, users: Vec<User>) -> Result<Vec<u32>, BoxError> {
        let mut saved = Vec::with_capacity(users.len());
        for u in users {
            saved.push(self.clone().save(u).await?);
        }
        Ok(saved)
    }
}

impl Inner {
    /// One attempt: both rows of the record in one transaction.
    fn save_once(&self, user: &User, attempt: u32) -> Result<(), BoxError> {
        let mut conn = self.checkout();
        let fail_halfway = self.faults.as_ref().is_some_and(|f| f(user.id, attempt));
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO users (user_id, name, email) VALUES (?1, ?2, ?3)",
            params![user.id, user.name, user.email],
        )?;
        if fail_halfway {
            // `tx` rolls back as it drops: the user's row goes with it.
            return Err(format!("injected failure saving user {} halfway", user.id).into());
        }
        tx.execute(
            "INSERT INTO profiles (user_id, bio) VALUES (?1, ?2)",
            params![user.id, format!("{} joined", user.name)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A free connection, given back when the guard drops. The semaphore lets no more jobs in
    /// than there are connections, so one is always free.
    fn checkout(&self) -> Checkout<'_> {
        // Counted before the pool is looked at, so a breach of the limit shows in the peak
        // even though the pop below then fails.
        let now = self.in_use.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let conn = self.idle.lock().unwrap().pop();
        let checkout = Checkout { inner: self, conn };
        assert!(
            checkout.conn.is_some(),
            "a save holding a permit finds a free connection"
        );
        checkout
    }
}

struct Checkout<'a> {
    inner: &'a Inner,
    conn: Option<Connection>,
}

impl std::ops::Deref for Checkout<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("held until drop")
    }
}

impl std::ops::DerefMut for Checkout<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("held until drop")
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        self.inner.in_use.fetch_sub(1, Ordering::SeqCst);
        if let Some(conn) = self.conn.take() {
            self.inner.idle.lock().unwrap().push(conn);
        }
    }
}

/// A connection in WAL mode (readers and the one writer do not block each other; a commit
/// appends to the log) with `synchronous = NORMAL`, SQLite's setting for WAL: a commit does not
/// wait for the disk, and the database stays consistent after a crash. Neither table has a
/// unique key on `user_id`, on purpose: a row saved twice shows up as two rows, so the tests see
/// it, instead of the database refusing the second one.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    assert_eq!(
        mode,
        "wal",
        "SQLite refused WAL mode for {}",
        path.display()
    );
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS users (
             rowid INTEGER PRIMARY KEY,
             user_id INTEGER NOT NULL,
             name TEXT NOT NULL,
             email TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS profiles (
             rowid INTEGER PRIMARY KEY,
             user_id INTEGER NOT NULL,
             bio TEXT NOT NULL
         );",
    )?;
    Ok(conn)
}

/// The `user_id`s in each table, sorted, read on a fresh connection: a user saved twice appears
/// twice, a half-saved one in `users` alone.
pub fn census(path: &Path) -> rusqlite::Result<(Vec<u32>, Vec<u32>)> {
    let conn = Connection::open(path)?;
    let ids = |table: &str| -> rusqlite::Result<Vec<u32>> {
        let mut st = conn.prepare(&format!("SELECT user_id FROM {table} ORDER BY user_id"))?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect()
    };
    Ok((ids("users")?, ids("profiles")?))
}

fn main() -> Result<(), BoxError> {
    let n: u32 = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 2000,
    };
    let dir = tempfile::Builder::new()
        .prefix("evloop-bulk-sqlite-")
        .tempdir()?;
    println!(
        "SQLite {}, WAL, files under {}",
        rusqlite::version(),
        dir.path().display()
    );
    let (concurrent_db, sequential_db) = (
        dir.path().join("concurrent.db"),
        dir.path().join("sequential.db"),
    );
    evloop::run(async move {
        let t = Instant::now();
        let users = evloop::gather((1..=n).map(init_user)).await?;
        println!(
            "initialized {n} user records concurrently in {:.1} ms",
            ms(t.elapsed())
        );

        let store = Store::open(&concurrent_db, CONNECTIONS, None).await?;
        let t = Instant::now();
        store.save_all(users.clone()).await?;
        let concurrent = t.elapsed();
        let (rows, _) = census(store.path())?;
        println!(
            "saved {} rows concurrently ({CONNECTIONS} connections) in {:.1} ms",
            rows.len(),
            ms(concurrent)
        );

        let store = Store::open(&sequential_db, CONNECTIONS, None).await?;
        let t = Instant::now();
        store.save_sequentially(users).await?;
        let sequential = t.elapsed();
        let (rows, _) = census(store.path())?;
        println!(
            "saved {} rows sequentially in {:.1} ms",
            rows.len(),
            ms(sequential)
        );
        println!(
            "sequential / concurrent: {:.2}",
            sequential.as_secs_f64() / concurrent.as_secs_f64()
        );
        Ok::<_, BoxError>(())
    })?;
    // The directory and both databases are removed as `dir` drops.
    drop(dir);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
