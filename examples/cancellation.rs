//! Cancellation as asyncio code handles it: a worker catches its cancellation and closes its
//! connection with an await, a chain of awaiting tasks unwinds innermost first, and `run`'s
//! shutdown waits for a leftover's cleanup.
//!
//! ```text
//! $ cargo run --example cancellation
//! fetch: cancelled (reason: user pressed stop), closing the connection...
//! fetch: connection closed
//! handler: the fetch was cancelled, passing it on
//! server: request cancelled; cancelling() = 1
//! logger: flushing 3 lines before exit
//! logger: flushed
//! ```

use evloop::{catch_cancel, TaskError};
use std::time::Duration;

/// asyncio: `try: await download() except CancelledError: await conn.close(); raise`
async fn fetch() -> Result<&'static str, TaskError> {
    match catch_cancel(evloop::sleep(Duration::from_secs(3600))).await {
        Ok(()) => Ok("the page"),
        Err(c) => {
            println!(
                "fetch: cancelled (reason: {}), closing the connection...",
                c.message().unwrap_or("none")
            );
            evloop::sleep(Duration::from_millis(50)).await; // the close handshake
            println!("fetch: connection closed");
            Err(c.into()) // `raise`: the task ends cancelled
        }
    }
}

fn main() {
    evloop::run(async {
        // A chain: server awaits handler, which awaits fetch. Cancelling the server hands the
        // cancellation down to fetch first; each level then receives it at its await.
        let fetch = evloop::create_task(fetch());
        let handler = evloop::create_task(async move {
            match catch_cancel(fetch).await {
                Ok(page) => page,
                Err(c) => {
                    println!("handler: the fetch was cancelled, passing it on");
                    Err(c.into())
                }
            }
        });
        let server = evloop::create_task(async move {
            if catch_cancel(handler).await.is_err() {
                let me = evloop::current_task().expect("a task");
                println!(
                    "server: request cancelled; cancelling() = {}",
                    me.cancelling()
                );
            }
        });
        evloop::sleep(Duration::from_millis(10)).await;
        server.cancel_with("user pressed stop");
        server.await.expect("the server caught its cancellation");

        // A leftover: `run` cancels it when main returns and waits for its cleanup.
        drop(evloop::create_task(async {
            if catch_cancel(std::future::pending::<()>()).await.is_err() {
                println!("logger: flushing 3 lines before exit");
                evloop::sleep(Duration::from_millis(20)).await;
                println!("logger: flushed");
            }
        }));
        evloop::sleep(Duration::ZERO).await;
    });
}
