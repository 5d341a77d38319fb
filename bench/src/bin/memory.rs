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
    // Two readings: once every task is parked, and after one more yield of the main task, when
    // the loop has turned once more (evloop gives back the queue buffer of the turn that
    // started them all only then; the others keep or free theirs either way).
    let parked = Arc::new(Mutex::new(Vec::new()));
    let p = parked.clone();
    let probe = move || p.lock().unwrap().push(rss_kib().0);
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
    let readings = parked.lock().unwrap().clone();
    let (rss_parked, rss_settled) = (readings[0], readings[1]);
    let (_, peak) = rss_kib();
    let per_task = |rss: u64| (rss.saturating_sub(before) * 1024) as f64 / n as f64;
    let bytes_per_task = per_task(rss_parked);
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
            "rss_settled_kib": rss_settled,
            "bytes_per_task_settled": per_task(rss_settled),
        })
    );
}
