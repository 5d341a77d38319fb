//! Workers taking jobs from an `evloop::Queue` (asyncio's `Queue` example: put the jobs, start
//! the workers, `join` the queue, then cancel the workers, which wait forever in `get`).
//!
//! ```text
//! $ cargo run --example queue_workers
//! worker-0 slept 30 ms
//! worker-1 slept 50 ms
//! worker-0 slept 20 ms
//! worker-2 slept 80 ms
//! worker-1 slept 40 ms
//! worker-0 slept 60 ms
//! all 6 jobs done: 280 ms of sleeping, in about 110 ms with 3 workers
//! ```

use std::time::{Duration, Instant};

async fn worker(name: String, queue: evloop::Queue<u64>) {
    loop {
        // asyncio: sleep_for = await queue.get()
        let ms = queue.get().await;
        evloop::sleep(Duration::from_millis(ms)).await;
        // asyncio: queue.task_done()
        queue.task_done().expect("one task_done per job taken");
        println!("{name} slept {ms} ms");
    }
}

fn main() {
    evloop::run(async {
        let queue = evloop::Queue::new();
        let jobs = [30, 50, 80, 20, 40, 60];
        for ms in jobs {
            queue
                .put_nowait(ms)
                .expect("an unbounded queue is never full");
        }
        let started = Instant::now();
        let workers: Vec<_> = (0..3)
            .map(|i| evloop::create_task(worker(format!("worker-{i}"), queue.clone())))
            .collect();
        // asyncio: await queue.join(): every job taken and marked done.
        queue.join().await;
        let elapsed = started.elapsed();
        // The workers wait in `get` for a job that never comes: cancel them.
        for w in &workers {
            w.cancel();
        }
        for w in workers {
            assert!(w.await.unwrap_err().is_cancelled());
        }
        println!(
            "all {} jobs done: {} ms of sleeping, in about {} ms with 3 workers",
            jobs.len(),
            jobs.iter().sum::<u64>(),
            elapsed.as_millis() / 10 * 10
        );
    });
}
