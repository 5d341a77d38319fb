//! Peak RSS and bytes per pending task for `PARKED` tasks parked on one future, one runtime per
//! process (so one runtime's freed-but-kept heap cannot inflate another's figure).
//!
//! `memory <evloop|tokio_ct|smol_local|futures_localpool> [n]` prints one JSON object.

use evloop_bench::{evl, fut, rss_kib, smol, tok, PARKED};
use std::sync::{Arc, Mutex};

fn main() {
    let mut args = std::env::args().skip(1);
    let runtime = args.next().unwrap_or_else(|| "evloop".into());
    let n: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(PARKED);
    let before = rss_kib().0;
    let parked = Arc::new(Mutex::new((0u64, 0u64)));
    let p = parked.clone();
    let probe = move || *p.lock().unwrap() = rss_kib();
    let primitive = match runtime.as_str() {
        "evloop" => {
            evl::parked(n, probe);
            "LoopFuture"
        }
        "tokio_ct" => {
            tok::parked(n, probe);
            "tokio::sync::Notify"
        }
        "smol_local" => {
            smol::parked(n, probe);
            "event_listener::Event"
        }
        "futures_localpool" => {
            fut::parked(n, probe);
            "Shared<oneshot::Receiver>"
        }
        other => panic!("unknown runtime {other}"),
    };
    let (rss_parked, _) = *parked.lock().unwrap();
    let (_, peak) = rss_kib();
    let bytes_per_task = (rss_parked.saturating_sub(before) * 1024) as f64 / n as f64;
    println!(
        "{}",
        serde_json::json!({
            "runtime": runtime,
            "primitive": primitive,
            "tasks": n,
            "rss_before_kib": before,
            "rss_parked_kib": rss_parked,
            "peak_rss_kib": peak,
            "bytes_per_task": bytes_per_task,
        })
    );
}
