//! Scheduling coroutines as tasks: `create_task` on a loop that is not running yet, and
//! `create_task` / `ensure_future` inside a running one.
//!
//! ```text
//! $ cargo run --example create_task
//! task creation started
//! This task is taking 1 seconds to complete
//! The task's result was: task finished
//! main: tasks created, not started yet
//! This task is taking 1 seconds to complete
//! This task is taking 2 seconds to complete
//! results: ["task finished", "task finished"]
//! ```

use std::time::Duration;

async fn my_task(seconds: u64) -> &'static str {
    println!("This task is taking {seconds} seconds to complete");
    evloop::sleep(Duration::from_secs(seconds)).await;
    "task finished"
}

fn main() {
    // asyncio: task_obj = loop.create_task(my_task(seconds=1)); loop.run_until_complete(task_obj)
    let event_loop = evloop::new_event_loop();
    println!("task creation started");
    let task = event_loop.create_task(my_task(1));
    // The task runs as itself: its value comes back, as asyncio's `result()` does.
    let result = event_loop.run_until_complete(task);
    println!("The task's result was: {result}");
    event_loop.close();

    // Inside a running loop: both start when main first yields, in the order they were created.
    let results = evloop::run(async {
        let first = evloop::create_task(my_task(1));
        let second = evloop::ensure_future(my_task(2));
        println!("main: tasks created, not started yet");
        vec![first.await.unwrap(), second.await.unwrap()]
    });
    println!("results: {results:?}");
}
