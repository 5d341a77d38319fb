//! Helpers shared by the plain integration tests: an event trace to compare whole, loops on a
//! virtual clock, and a capture of what the runtime reports through `tracing`.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use tracing_subscriber::util::SubscriberInitExt;

/// An ordered log of events that tests compare as a whole list.
#[derive(Clone, Default)]
pub struct Trace(Arc<Mutex<Vec<String>>>);

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    /// A closure that pushes `event`, for `call_soon` and friends.
    pub fn pusher(&self, event: &str) -> impl FnOnce() + Send + 'static {
        let t = self.clone();
        let event = event.to_owned();
        move || t.push(event)
    }

    pub fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Pushes `event` to the trace when dropped: shows that a future (or a callback) was destroyed.
pub struct DropGuard(pub Trace, pub &'static str);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

/// A loop on a virtual clock: sleeps take no real time.
pub fn vloop() -> evloop::EventLoop {
    evloop::Builder::new().virtual_time(true).build()
}

/// `evloop::run` on a virtual clock.
pub fn vrun<F>(main: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    evloop::Builder::new().virtual_time(true).run(main)
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a `tracing` subscriber on this thread that records everything the runtime
/// reports, and returns that text. Only events emitted on this thread are seen, so use one worker.
pub fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buf.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .finish();
    // `tracing` caches each callsite's interest for the whole process, computed on the thread
    // that first reaches it. A sibling test reaching `report_unretrieved_panic` with no subscriber
    // would cache "never" and blind this capture (seen once under load: 0 reports instead of 2).
    // An always-interested global default, writing nowhere, keeps the cached interest on.
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish()
            .try_init();
    });
    let out = {
        let _guard = subscriber.set_default();
        f()
    };
    let text = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    (out, text)
}

/// Yields to the loop once (asyncio's `await asyncio.sleep(0)`).
pub async fn yield_now() {
    evloop::sleep(std::time::Duration::ZERO).await
}
