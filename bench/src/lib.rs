//! The workloads of issue 6, written once per runtime so that `bench/compare` (the `rounds`
//! binary), the criterion bench (`benches/compare.rs`), `one` (for callgrind) and the memory probe
//! (`src/bin/memory.rs`) run exactly the same code ([`rows`] lists them).
//!
//! Every workload returns a checksum that the caller can compare across runtimes, so a runtime
//! that skipped work would show up as a wrong answer rather than a fast one.
//!
//! How each peer is driven, like with like:
//! - the driving (root) future is a task on every runtime: evloop's `run_until_complete` makes it
//!   one, as asyncio's does, so the peers spawn it on their executor and wait for its handle
//!   (`tok::run`, `smol::run`, `smol::Mt::run`, `fut::run`) instead of polling it in place. With
//!   two workers that also keeps tokio's root on a worker rather than on a third thread;
//! - "one task" workloads (`yield_loop`) spawn the task and await its handle on every runtime;
//! - a yield is each runtime's own: `evloop::sleep(ZERO)`, `tokio::task::yield_now`,
//!   `futures_lite::future::yield_now` (smol, futures);
//! - a gather is `evloop::gather` on evloop and, on the Rust peers, "spawn every child as a task
//!   (as asyncio's gather wraps every child in a task), then await the handles in order into a
//!   `Vec`": the cheapest way to the same result. `futures::future::join_all` over the handles
//!   costs more (a `FuturesOrdered` node per handle) and on tokio, in a task, turns quadratic
//!   (tokio's cooperative budget makes handles past the 128th report pending and wake
//!   themselves, and `join_all` polls them all again).

pub mod rows;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// spawn_join: tasks spawned and joined.
pub const SPAWN_N: u64 = 100_000;
/// gather: one-yield children.
pub const GATHER_N: u64 = 100_000;
/// yield_loop: yields of one task.
pub const YIELDS: u64 = 1_000_000;
/// ping_pong: hand-offs between two tasks.
pub const PINGS: u64 = 1_000_000;
/// cross_thread_wake: futures completed by a helper OS thread.
pub const WAKES: u64 = 100_000;
/// timers: sleeping tasks.
pub const TIMERS: u64 = 100_000;
/// memory: tasks parked on one future.
pub const PARKED: u64 = 1_000_000;
/// short_runs_mt: separate runs of a two-worker runtime, each spawning and joining one task.
pub const SHORT_RUNS: u64 = 2_000;

/// Spread of the virtual-time deadlines: 1..=1000 ms.
pub fn virtual_deadline(i: u64) -> Duration {
    Duration::from_millis(1 + (i * 7919) % 1000)
}

/// Spread of the real-time deadlines: whole milliseconds, 1..=20 ms, so one iteration takes at
/// least 20 ms of sleeping whatever the runtime.
pub fn real_deadline(i: u64) -> Duration {
    Duration::from_millis(1 + (i * 7919) % 20)
}

/// The sum every workload over `0..n` must return.
pub fn expected_sum(n: u64) -> u64 {
    n * (n - 1) / 2
}

/// Counters for the memory probe: a `static`, so the parked tasks do not have to carry a pointer
/// to them (that would add to the bytes per task being measured).
pub static STARTED: AtomicUsize = AtomicUsize::new(0);
/// See [`STARTED`].
pub static FINISHED: AtomicUsize = AtomicUsize::new(0);

fn started() {
    STARTED.fetch_add(1, Ordering::Relaxed);
}

fn finished() {
    FINISHED.fetch_add(1, Ordering::Relaxed);
}

/// Resident set size and its peak, in KiB, from `/proc/self/status` (Linux only; 0 elsewhere).
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// evloop.
pub mod evl {
    use super::*;
    use evloop::{Builder, EventLoop, LoopFuture, Queue};

    /// A loop with `workers` workers and the given clock.
    pub fn new_loop(workers: usize, virtual_time: bool) -> EventLoop {
        Builder::new()
            .workers(workers)
            .virtual_time(virtual_time)
            .build()
    }

    fn yield_now() -> evloop::Sleep {
        evloop::sleep(Duration::ZERO)
    }

    /// Spawns `n` trivial tasks, awaits every handle, sums the results.
    pub fn spawn_join(lp: &EventLoop, n: u64) -> u64 {
        lp.run_until_complete(async move {
            let handles: Vec<_> = (0..n)
                .map(|i| evloop::create_task(async move { i }))
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        })
    }

    /// Gathers `n` futures that each yield once and return their index.
    pub fn gather(lp: &EventLoop, n: u64) -> u64 {
        lp.run_until_complete(async move {
            let out = evloop::gather((0..n).map(|i| async move {
                yield_now().await;
                i
            }))
            .await
            .unwrap();
            out.iter().sum()
        })
    }

    /// One task yields `n` times.
    pub fn yield_loop(lp: &EventLoop, n: u64) -> u64 {
        lp.run_until_complete(async move {
            evloop::create_task(async move {
                let mut k = 0;
                for _ in 0..n {
                    yield_now().await;
                    k += 1;
                }
                k
            })
            .await
            .unwrap()
        })
    }

    async fn player(inbox: Queue<u64>, outbox: Queue<u64>, n: u64) -> u64 {
        loop {
            let v = inbox.get().await;
            if v >= n {
                return v;
            }
            outbox.put_nowait(v + 1).unwrap();
            if v + 1 >= n {
                return v + 1;
            }
        }
    }

    /// Two tasks hand a token back and forth `n` times through two unbounded `Queue`s (asyncio's
    /// `Queue`), created once.
    pub fn ping_pong(lp: &EventLoop, n: u64) -> u64 {
        lp.run_until_complete(async move {
            let (to_a, to_b) = (Queue::new(), Queue::new());
            let a = evloop::create_task(player(to_a.clone(), to_b.clone(), n));
            let b = evloop::create_task(player(to_b, to_a.clone(), n));
            to_a.put_nowait(0).unwrap();
            a.await.unwrap().max(b.await.unwrap())
        })
    }

    /// The token: its value and the future the receiver answers on.
    #[derive(Clone)]
    struct Msg(u64, LoopFuture<Msg>);

    async fn player_oneshot(mut inbox: LoopFuture<Msg>, n: u64) -> u64 {
        loop {
            let Msg(v, reply) = inbox.await.unwrap();
            if v >= n {
                return v;
            }
            let next = LoopFuture::new();
            reply.set_result(Msg(v + 1, next.clone())).unwrap();
            if v + 1 >= n {
                return v + 1;
            }
            inbox = next;
        }
    }

    /// Two tasks hand a token back and forth `n` times, through one `LoopFuture` per hand-off.
    pub fn ping_pong_oneshot(lp: &EventLoop, n: u64) -> u64 {
        lp.run_until_complete(async move {
            let to_a = LoopFuture::new();
            let to_b = LoopFuture::new();
            let a = evloop::create_task(player_oneshot(to_a.clone(), n));
            let b = evloop::create_task(player_oneshot(to_b.clone(), n));
            to_a.set_result(Msg(0, to_b)).unwrap();
            // A done LoopFuture keeps its value, and each value holds the next future: keeping
            // the first one would keep the whole chain of a million alive until the end (its
            // drop is bounded, FUT-5, but the memory would be measured).
            drop(to_a);
            a.await.unwrap().max(b.await.unwrap())
        })
    }

    /// `n` tasks each await a `LoopFuture`; once all are parked, a helper OS thread completes
    /// every future through its `Resolver`.
    pub fn cross_thread_wake(lp: &EventLoop, n: u64) -> u64 {
        lp.run_until_complete(async move {
            let futs: Vec<LoopFuture<u64>> = (0..n).map(|_| LoopFuture::new()).collect();
            let resolvers: Vec<_> = futs.iter().map(LoopFuture::resolver).collect();
            let tasks: Vec<_> = futs
                .into_iter()
                .map(|f| evloop::create_task(async move { f.await.unwrap() }))
                .collect();
            // FIFO: this runs after every waiter has parked.
            let helper = evloop::create_task(async move {
                std::thread::spawn(move || {
                    for (i, r) in resolvers.into_iter().enumerate() {
                        r.resolve(i as u64).unwrap();
                    }
                })
            });
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            helper.await.unwrap().join().unwrap();
            sum
        })
    }

    /// `n` separate `run_until_complete` calls on the same loop, each spawning one trivial task
    /// and awaiting it: what a run costs apart from its work (with several workers, getting the
    /// other workers going and back).
    pub fn short_runs(lp: &EventLoop, n: u64) -> u64 {
        (0..n)
            .map(|i| {
                lp.run_until_complete(async move {
                    evloop::create_task(async move { i }).await.unwrap()
                })
            })
            .sum()
    }

    /// `n` tasks sleep until `deadline(i)`, all joined.
    pub fn timers(lp: &EventLoop, n: u64, deadline: fn(u64) -> Duration) -> u64 {
        lp.run_until_complete(async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    evloop::create_task(async move {
                        evloop::sleep(deadline(i)).await;
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        })
    }

    /// `n` tasks parked on one `LoopFuture`; `probe` runs once all are parked, and again after
    /// one more yield (the loop has turned once more with every task parked).
    pub fn parked(n: u64, mut probe: impl FnMut() + Send + 'static) {
        let lp = new_loop(1, false);
        lp.run_until_complete(async move {
            let gate: LoopFuture<()> = LoopFuture::new();
            for _ in 0..n {
                let g = gate.clone();
                drop(evloop::create_task(async move {
                    started();
                    g.await.unwrap();
                    finished();
                }));
            }
            while STARTED.load(Ordering::Relaxed) < n as usize {
                yield_now().await;
            }
            probe();
            yield_now().await;
            probe();
            gate.set_result(()).unwrap();
            while FINISHED.load(Ordering::Relaxed) < n as usize {
                yield_now().await;
            }
        });
        lp.close();
    }
}

/// tokio, current_thread and multi_thread.
pub mod tok {
    use super::*;
    use tokio::runtime::{Builder, Runtime};
    use tokio::sync::{mpsc, oneshot};

    /// A current_thread runtime (time enabled; paused at start if `paused`).
    pub fn current_thread(paused: bool) -> Runtime {
        Builder::new_current_thread()
            .enable_time()
            .start_paused(paused)
            .build()
            .unwrap()
    }

    /// A multi_thread runtime with `n` workers.
    pub fn multi_thread(n: usize) -> Runtime {
        Builder::new_multi_thread()
            .worker_threads(n)
            .enable_time()
            .build()
            .unwrap()
    }

    /// Runs `root` as a task on `rt` and waits for it: evloop's `run_until_complete` (like
    /// asyncio's) makes its argument a task, so the peers' roots are tasks too. On multi_thread
    /// this also puts the root on a worker, not on the calling thread (a third thread beside the
    /// two workers otherwise).
    pub fn run<T: Send + 'static>(
        rt: &Runtime,
        root: impl Future<Output = T> + Send + 'static,
    ) -> T {
        rt.block_on(rt.spawn(root)).unwrap()
    }

    /// See [`evl::spawn_join`].
    pub fn spawn_join(rt: &Runtime, n: u64) -> u64 {
        run(rt, async move {
            let handles: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        })
    }

    /// See [`evl::short_runs`]: `n` separate [`run`]s (`block_on` of the root task).
    pub fn short_runs(rt: &Runtime, n: u64) -> u64 {
        (0..n)
            .map(|i| {
                run(
                    rt,
                    async move { tokio::spawn(async move { i }).await.unwrap() },
                )
            })
            .sum()
    }

    /// See [`evl::gather`].
    pub fn gather(rt: &Runtime, n: u64) -> u64 {
        run(rt, async move {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    tokio::spawn(async move {
                        tokio::task::yield_now().await;
                        i
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await.unwrap());
            }
            out.iter().sum()
        })
    }

    /// See [`evl::yield_loop`].
    pub fn yield_loop(rt: &Runtime, n: u64) -> u64 {
        run(rt, async move {
            tokio::spawn(async move {
                let mut k = 0;
                for _ in 0..n {
                    tokio::task::yield_now().await;
                    k += 1;
                }
                k
            })
            .await
            .unwrap()
        })
    }

    async fn player(
        mut inbox: mpsc::UnboundedReceiver<u64>,
        outbox: mpsc::UnboundedSender<u64>,
        n: u64,
    ) -> u64 {
        loop {
            let v = inbox.recv().await.unwrap();
            if v >= n {
                return v;
            }
            outbox.send(v + 1).unwrap();
            if v + 1 >= n {
                return v + 1;
            }
        }
    }

    /// See [`evl::ping_pong`]; two unbounded `tokio::sync::mpsc` channels, created once.
    pub fn ping_pong(rt: &Runtime, n: u64) -> u64 {
        run(rt, async move {
            let (to_a, a_in) = mpsc::unbounded_channel();
            let (to_b, b_in) = mpsc::unbounded_channel();
            to_a.send(0).unwrap();
            let a = tokio::spawn(player(a_in, to_b, n));
            let b = tokio::spawn(player(b_in, to_a, n));
            a.await.unwrap().max(b.await.unwrap())
        })
    }

    struct Msg(u64, oneshot::Sender<Msg>);

    async fn player_oneshot(mut inbox: oneshot::Receiver<Msg>, n: u64) -> u64 {
        loop {
            let Msg(v, reply) = inbox.await.unwrap();
            if v >= n {
                return v;
            }
            let (tx, rx) = oneshot::channel();
            let _ = reply.send(Msg(v + 1, tx));
            if v + 1 >= n {
                return v + 1;
            }
            inbox = rx;
        }
    }

    /// See [`evl::ping_pong_oneshot`]; one `tokio::sync::oneshot` per hand-off.
    pub fn ping_pong_oneshot(rt: &Runtime, n: u64) -> u64 {
        run(rt, async move {
            let (to_a, a_in) = oneshot::channel();
            let (to_b, b_in) = oneshot::channel();
            let a = tokio::spawn(player_oneshot(a_in, n));
            let b = tokio::spawn(player_oneshot(b_in, n));
            let _ = to_a.send(Msg(0, to_b));
            a.await.unwrap().max(b.await.unwrap())
        })
    }

    /// See [`evl::cross_thread_wake`]; `tokio::sync::oneshot` senders on the helper thread.
    pub fn cross_thread_wake(rt: &Runtime, n: u64) -> u64 {
        run(rt, async move {
            let (senders, receivers): (Vec<_>, Vec<_>) =
                (0..n).map(|_| oneshot::channel::<u64>()).unzip();
            let tasks: Vec<_> = receivers
                .into_iter()
                .map(|r| tokio::spawn(async move { r.await.unwrap() }))
                .collect();
            let helper = tokio::spawn(async move {
                std::thread::spawn(move || {
                    for (i, s) in senders.into_iter().enumerate() {
                        s.send(i as u64).unwrap();
                    }
                })
            });
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            helper.await.unwrap().join().unwrap();
            sum
        })
    }

    /// See [`evl::timers`].
    pub fn timers(rt: &Runtime, n: u64, deadline: fn(u64) -> Duration) -> u64 {
        run(rt, async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    tokio::spawn(async move {
                        tokio::time::sleep(deadline(i)).await;
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        })
    }

    /// `n` tasks parked on one `tokio::sync::Notify`.
    pub fn parked(n: u64, mut probe: impl FnMut()) {
        let rt = current_thread(false);
        rt.block_on(async move {
            let gate = std::sync::Arc::new(tokio::sync::Notify::new());
            for _ in 0..n {
                let g = gate.clone();
                drop(tokio::spawn(async move {
                    started();
                    g.notified().await;
                    finished();
                }));
            }
            while STARTED.load(Ordering::Relaxed) < n as usize {
                tokio::task::yield_now().await;
            }
            probe();
            tokio::task::yield_now().await;
            probe();
            gate.notify_waiters();
            while FINISHED.load(Ordering::Relaxed) < n as usize {
                tokio::task::yield_now().await;
            }
        });
    }
}

/// Shared by the two peers built on the `futures` ecosystem's channels (smol's ping_pong_oneshot
/// and `LocalPool`).
mod fchan {
    use futures::channel::{mpsc, oneshot};
    use futures::StreamExt;

    pub(crate) async fn player(
        mut inbox: mpsc::UnboundedReceiver<u64>,
        outbox: mpsc::UnboundedSender<u64>,
        n: u64,
    ) -> u64 {
        loop {
            let v = inbox.next().await.unwrap();
            if v >= n {
                return v;
            }
            outbox.unbounded_send(v + 1).unwrap();
            if v + 1 >= n {
                return v + 1;
            }
        }
    }

    pub(crate) struct Msg(pub(crate) u64, pub(crate) oneshot::Sender<Msg>);

    pub(crate) async fn player_oneshot(mut inbox: oneshot::Receiver<Msg>, n: u64) -> u64 {
        loop {
            let Msg(v, reply) = inbox.await.unwrap();
            if v >= n {
                return v;
            }
            let (tx, rx) = oneshot::channel();
            let _ = reply.send(Msg(v + 1, tx));
            if v + 1 >= n {
                return v + 1;
            }
            inbox = rx;
        }
    }
}

/// smol's executors (async-executor): `LocalExecutor` and a multi-threaded `Executor`.
pub mod smol {
    use super::*;
    use async_executor::{Executor, LocalExecutor};
    use futures::channel::oneshot;
    use futures_lite::future::{block_on, yield_now};
    use std::rc::Rc;
    use std::sync::Arc;

    /// The single-threaded executor, shared with the root task that spawns on it.
    pub type Local = Rc<LocalExecutor<'static>>;

    /// A new single-threaded executor.
    pub fn local() -> Local {
        Rc::new(LocalExecutor::new())
    }

    /// Runs the root future `root(ex)` as a task on `ex` (see [`tok::run`]) and waits for it.
    pub fn run<T: 'static, F: Future<Output = T> + 'static>(
        ex: &Local,
        root: impl FnOnce(Local) -> F,
    ) -> T {
        block_on(ex.run(ex.spawn(root(ex.clone()))))
    }

    /// See [`evl::spawn_join`].
    pub fn spawn_join(ex: &Local, n: u64) -> u64 {
        run(ex, |ex| async move {
            let handles: Vec<_> = (0..n).map(|i| ex.spawn(async move { i })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await;
            }
            sum
        })
    }

    /// See [`evl::gather`].
    pub fn gather(ex: &Local, n: u64) -> u64 {
        run(ex, |ex| async move {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    ex.spawn(async move {
                        yield_now().await;
                        i
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await);
            }
            out.iter().sum()
        })
    }

    /// See [`evl::yield_loop`].
    pub fn yield_loop(ex: &Local, n: u64) -> u64 {
        run(ex, |ex| async move {
            ex.spawn(async move {
                let mut k = 0;
                for _ in 0..n {
                    yield_now().await;
                    k += 1;
                }
                k
            })
            .await
        })
    }

    async fn player(
        inbox: async_channel::Receiver<u64>,
        outbox: async_channel::Sender<u64>,
        n: u64,
    ) -> u64 {
        loop {
            let v = inbox.recv().await.unwrap();
            if v >= n {
                return v;
            }
            outbox.try_send(v + 1).unwrap();
            if v + 1 >= n {
                return v + 1;
            }
        }
    }

    /// See [`evl::ping_pong`]; two unbounded `async-channel` channels (smol's), created once.
    pub fn ping_pong(ex: &Local, n: u64) -> u64 {
        run(ex, |ex| async move {
            let (to_a, a_in) = async_channel::unbounded();
            let (to_b, b_in) = async_channel::unbounded();
            to_a.try_send(0).unwrap();
            let a = ex.spawn(player(a_in, to_b, n));
            let b = ex.spawn(player(b_in, to_a, n));
            a.await.max(b.await)
        })
    }

    /// See [`evl::ping_pong_oneshot`]; one `futures::channel::oneshot` per hand-off.
    pub fn ping_pong_oneshot(ex: &Local, n: u64) -> u64 {
        run(ex, |ex| async move {
            let (to_a, a_in) = oneshot::channel();
            let (to_b, b_in) = oneshot::channel();
            let a = ex.spawn(fchan::player_oneshot(a_in, n));
            let b = ex.spawn(fchan::player_oneshot(b_in, n));
            let _ = to_a.send(fchan::Msg(0, to_b));
            a.await.max(b.await)
        })
    }

    /// See [`evl::cross_thread_wake`].
    pub fn cross_thread_wake(ex: &Local, n: u64) -> u64 {
        run(ex, |ex| async move {
            let (senders, receivers): (Vec<_>, Vec<_>) =
                (0..n).map(|_| oneshot::channel::<u64>()).unzip();
            let tasks: Vec<_> = receivers
                .into_iter()
                .map(|r| ex.spawn(async move { r.await.unwrap() }))
                .collect();
            let helper = ex.spawn(async move {
                std::thread::spawn(move || {
                    for (i, s) in senders.into_iter().enumerate() {
                        s.send(i as u64).unwrap();
                    }
                })
            });
            let mut sum = 0;
            for t in tasks {
                sum += t.await;
            }
            helper.await.join().unwrap();
            sum
        })
    }

    /// See [`evl::timers`]; `async_io::Timer` (real time only: smol has no paused clock). Like
    /// `evloop::sleep` and `tokio::time::sleep`, the deadline is taken when the task first polls
    /// the timer. Unlike them, the work is split over two threads: the timer is queued to
    /// async-io's reactor, whose driver thread (`async-io`, started on first use) inserts it into
    /// its `BTreeMap` and wakes it when due, while this thread polls tasks. `bench/src/bin/timerdiag`
    /// shows the split (bench/PROFILING.md, timers).
    pub fn timers(ex: &Local, n: u64, deadline: fn(u64) -> Duration) -> u64 {
        run(ex, |ex| async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    ex.spawn(async move {
                        async_io::Timer::after(deadline(i)).await;
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await;
            }
            sum
        })
    }

    /// `n` tasks parked on one `event_listener::Event` (what smol's own primitives use).
    pub fn parked(n: u64, mut probe: impl FnMut()) {
        let ex = LocalExecutor::new();
        block_on(ex.run(async {
            let gate = std::rc::Rc::new(event_listener::Event::new());
            for _ in 0..n {
                let g = gate.clone();
                ex.spawn(async move {
                    started();
                    g.listen().await;
                    finished();
                })
                .detach();
            }
            while STARTED.load(Ordering::Relaxed) < n as usize {
                yield_now().await;
            }
            probe();
            yield_now().await;
            probe();
            gate.notify(usize::MAX);
            while FINISHED.load(Ordering::Relaxed) < n as usize {
                yield_now().await;
            }
        }));
    }

    /// A multi-threaded `Executor` run by the calling thread plus `n - 1` helper threads.
    pub struct Mt {
        /// The executor.
        pub ex: Arc<Executor<'static>>,
        stops: Vec<oneshot::Sender<()>>,
        threads: Vec<std::thread::JoinHandle<()>>,
    }

    impl Mt {
        /// Starts the helper threads.
        pub fn new(n: usize) -> Mt {
            let ex = Arc::new(Executor::new());
            let mut stops = Vec::new();
            let mut threads = Vec::new();
            for _ in 1..n {
                let (tx, rx) = oneshot::channel::<()>();
                let ex = ex.clone();
                threads.push(std::thread::spawn(move || {
                    let _ = block_on(ex.run(rx));
                }));
                stops.push(tx);
            }
            Mt { ex, stops, threads }
        }

        /// Runs the root future `root(ex)` as a task on the executor (see [`tok::run`]), with the
        /// calling thread as one of its two threads, and waits for it.
        pub fn run<T: Send + 'static, F: Future<Output = T> + Send + 'static>(
            &self,
            root: impl FnOnce(Arc<Executor<'static>>) -> F,
        ) -> T {
            block_on(self.ex.run(self.ex.spawn(root(self.ex.clone()))))
        }
    }

    impl Drop for Mt {
        fn drop(&mut self) {
            for s in self.stops.drain(..) {
                let _ = s.send(());
            }
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }

    /// See [`evl::spawn_join`], on the multi-threaded executor.
    pub fn spawn_join_mt(mt: &Mt, n: u64) -> u64 {
        mt.run(|ex| async move {
            let handles: Vec<_> = (0..n).map(|i| ex.spawn(async move { i })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await;
            }
            sum
        })
    }

    /// See [`evl::gather`], on the multi-threaded executor.
    pub fn gather_mt(mt: &Mt, n: u64) -> u64 {
        mt.run(|ex| async move {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    ex.spawn(async move {
                        yield_now().await;
                        i
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await);
            }
            out.iter().sum()
        })
    }

    /// See [`evl::short_runs`], on the multi-threaded executor: `n` separate [`Mt::run`]s
    /// (`block_on` of the root task).
    pub fn short_runs_mt(mt: &Mt, n: u64) -> u64 {
        (0..n)
            .map(|i| mt.run(|ex| async move { ex.spawn(async move { i }).await }))
            .sum()
    }

    /// See [`evl::cross_thread_wake`], on the multi-threaded executor.
    pub fn cross_thread_wake_mt(mt: &Mt, n: u64) -> u64 {
        mt.run(|ex| async move {
            let (senders, receivers): (Vec<_>, Vec<_>) =
                (0..n).map(|_| oneshot::channel::<u64>()).unzip();
            let tasks: Vec<_> = receivers
                .into_iter()
                .map(|r| ex.spawn(async move { r.await.unwrap() }))
                .collect();
            let helper = ex.spawn(async move {
                std::thread::spawn(move || {
                    for (i, s) in senders.into_iter().enumerate() {
                        s.send(i as u64).unwrap();
                    }
                })
            });
            let mut sum = 0;
            for t in tasks {
                sum += t.await;
            }
            helper.await.join().unwrap();
            sum
        })
    }
}

/// futures' single-threaded `LocalPool`.
pub mod fut {
    use super::*;
    use futures::channel::{mpsc, oneshot};
    use futures::executor::LocalPool;
    use futures::executor::LocalSpawner;
    use futures::task::LocalSpawnExt;
    use futures_lite::future::yield_now;

    /// Runs the root future `root(spawner)` as a task on `pool` (see [`tok::run`]) and waits for
    /// it.
    pub fn run<T: 'static, F: Future<Output = T> + 'static>(
        pool: &mut LocalPool,
        root: impl FnOnce(LocalSpawner) -> F,
    ) -> T {
        let sp = pool.spawner();
        let handle = sp.spawn_local_with_handle(root(sp.clone())).unwrap();
        pool.run_until(handle)
    }

    /// See [`evl::spawn_join`].
    pub fn spawn_join(pool: &mut LocalPool, n: u64) -> u64 {
        run(pool, |sp| async move {
            let handles: Vec<_> = (0..n)
                .map(|i| sp.spawn_local_with_handle(async move { i }).unwrap())
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await;
            }
            sum
        })
    }

    /// See [`evl::gather`].
    pub fn gather(pool: &mut LocalPool, n: u64) -> u64 {
        run(pool, |sp| async move {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    sp.spawn_local_with_handle(async move {
                        yield_now().await;
                        i
                    })
                    .unwrap()
                })
                .collect();
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await);
            }
            out.iter().sum()
        })
    }

    /// See [`evl::yield_loop`].
    pub fn yield_loop(pool: &mut LocalPool, n: u64) -> u64 {
        run(pool, |sp| async move {
            sp.spawn_local_with_handle(async move {
                let mut k = 0;
                for _ in 0..n {
                    yield_now().await;
                    k += 1;
                }
                k
            })
            .unwrap()
            .await
        })
    }

    /// See [`evl::ping_pong`]; two unbounded `futures::channel::mpsc` channels, created once.
    pub fn ping_pong(pool: &mut LocalPool, n: u64) -> u64 {
        run(pool, |sp| async move {
            let (to_a, a_in) = mpsc::unbounded();
            let (to_b, b_in) = mpsc::unbounded();
            to_a.unbounded_send(0).unwrap();
            let a = sp
                .spawn_local_with_handle(fchan::player(a_in, to_b, n))
                .unwrap();
            let b = sp
                .spawn_local_with_handle(fchan::player(b_in, to_a, n))
                .unwrap();
            a.await.max(b.await)
        })
    }

    /// See [`evl::ping_pong_oneshot`]; one `futures::channel::oneshot` per hand-off.
    pub fn ping_pong_oneshot(pool: &mut LocalPool, n: u64) -> u64 {
        run(pool, |sp| async move {
            let (to_a, a_in) = oneshot::channel();
            let (to_b, b_in) = oneshot::channel();
            let a = sp
                .spawn_local_with_handle(fchan::player_oneshot(a_in, n))
                .unwrap();
            let b = sp
                .spawn_local_with_handle(fchan::player_oneshot(b_in, n))
                .unwrap();
            let _ = to_a.send(fchan::Msg(0, to_b));
            a.await.max(b.await)
        })
    }

    /// See [`evl::cross_thread_wake`].
    pub fn cross_thread_wake(pool: &mut LocalPool, n: u64) -> u64 {
        run(pool, |sp| async move {
            let (senders, receivers): (Vec<_>, Vec<_>) =
                (0..n).map(|_| oneshot::channel::<u64>()).unzip();
            let tasks: Vec<_> = receivers
                .into_iter()
                .map(|r| {
                    sp.spawn_local_with_handle(async move { r.await.unwrap() })
                        .unwrap()
                })
                .collect();
            let helper = sp
                .spawn_local_with_handle(async move {
                    std::thread::spawn(move || {
                        for (i, s) in senders.into_iter().enumerate() {
                            s.send(i as u64).unwrap();
                        }
                    })
                })
                .unwrap();
            let mut sum = 0;
            for t in tasks {
                sum += t.await;
            }
            helper.await.join().unwrap();
            sum
        })
    }

    /// `n` tasks parked on one `futures::future::Shared` of a oneshot receiver.
    pub fn parked(n: u64, mut probe: impl FnMut()) {
        use futures::FutureExt;
        let mut pool = LocalPool::new();
        let sp = pool.spawner();
        pool.run_until(async move {
            let (tx, rx) = oneshot::channel::<()>();
            let gate = rx.shared();
            for _ in 0..n {
                let g = gate.clone();
                sp.spawn_local(async move {
                    started();
                    let _ = g.await;
                    finished();
                })
                .unwrap();
            }
            while STARTED.load(Ordering::Relaxed) < n as usize {
                yield_now().await;
            }
            probe();
            yield_now().await;
            probe();
            tx.send(()).unwrap();
            while FINISHED.load(Ordering::Relaxed) < n as usize {
                yield_now().await;
            }
        });
    }
}

/// CPython asyncio (and uvloop) in a child process, driven line by line: the child times each
/// request with `time.perf_counter_ns` around `loop.run_until_complete`, and the harnesses take
/// those times as they take the Rust peers' (see [`rows`]).
pub mod py {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
    use std::time::Duration;

    /// A running `asyncio_bench.py`.
    pub struct Python {
        child: Child,
        stdin: ChildStdin,
        stdout: BufReader<ChildStdout>,
    }

    impl Python {
        /// Starts the child with the default asyncio loop, or uvloop; the error says what is
        /// missing (the interpreter, named by `$PYTHON` or `python3`, or uvloop).
        pub fn start(uvloop: bool) -> Result<Python, String> {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/asyncio_bench.py");
            let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            let mut cmd = Command::new(&python);
            cmd.arg(script);
            if uvloop {
                cmd.arg("--uvloop");
            }
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| {
                    format!("cannot start `{python}` ({e}); install python3 or set PYTHON")
                })?;
            let stdin = child.stdin.take().expect("piped stdin");
            let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
            let mut hello = String::new();
            let _ = stdout.read_line(&mut hello);
            match hello.trim() {
                "ready" => Ok(Python {
                    child,
                    stdin,
                    stdout,
                }),
                other => {
                    let _ = child.wait();
                    Err(if other == "unavailable" {
                        format!("uvloop is not installed for `{python}` (`{python} -m pip install uvloop`)")
                    } else {
                        format!("`{python} {script}` did not start (said {other:?})")
                    })
                }
            }
        }

        /// Runs `workload(n)` `iters` times in the child; returns the summed time.
        pub fn run(&mut self, workload: &str, n: u64, iters: u64) -> Duration {
            writeln!(self.stdin, "{workload} {n} {iters}").unwrap();
            self.stdin.flush().expect("the python child has exited");
            let mut line = String::new();
            self.stdout
                .read_line(&mut line)
                .expect("reading the python child's answer");
            let mut parts = line.split_whitespace();
            let (Some(Ok(nanos)), Some(Ok(check))) = (
                parts.next().map(str::parse::<u64>),
                parts.next().map(str::parse::<u64>),
            ) else {
                panic!("the python child answered {line:?} to `{workload} {n} {iters}`");
            };
            assert_eq!(check, expected(workload, n), "python {workload} checksum");
            Duration::from_nanos(nanos)
        }
    }

    fn expected(workload: &str, n: u64) -> u64 {
        match workload {
            "yield_loop" => n,
            _ => super::expected_sum(n),
        }
    }

    impl Drop for Python {
        fn drop(&mut self) {
            let _ = writeln!(self.stdin, "quit");
            let _ = self.stdin.flush();
            let _ = self.child.wait();
        }
    }
}
