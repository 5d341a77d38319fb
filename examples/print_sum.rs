//! The seed program: a coroutine awaiting another (asyncio's `compute` / `print_sum`).
//!
//! ```text
//! $ cargo run --example print_sum
//! Compute 1 + 2 ...
//! 1 + 2 = 3          (one second later)
//! ```

use std::time::Duration;

async fn compute(x: i32, y: i32) -> i32 {
    println!("Compute {x} + {y} ...");
    evloop::sleep(Duration::from_secs(1)).await;
    x + y
}

async fn print_sum(x: i32, y: i32) {
    let result = compute(x, y).await;
    println!("{x} + {y} = {result}");
}

fn main() {
    // asyncio: loop = asyncio.get_event_loop(); loop.run_until_complete(print_sum(1, 2)); loop.close()
    let event_loop = evloop::get_event_loop();
    event_loop.run_until_complete(print_sum(1, 2));
    event_loop.close();
}
