//! A run's timeline: one line per event (an item run, a job delivered, the clock jumping, a
//! panic, a user's [`note`](super::note)), stamped with loop time, and the hashes that make a
//! timeline and a token comparable across runs and machines.
//!
//! Invariants: the hash of a timeline depends only on its events, in order. Annotation lines
//! (which choice deviated from FIFO, a real-time wait for a thread outside the loop) and source
//! locations are left out of it, so a token still replays after the test file is edited above
//! the test, and two schedules with the same events count as one timeline (EXPLORE-8,
//! EXPLORE-13). Every hash is FNV-1a, the same on every machine and in every process.
//!
//! Spec ids: EXPLORE-8 (the token's timeline hash), EXPLORE-13 (distinct timelines), EXPLORE-14
//! (the timeline a failure prints).

use std::time::Duration;

/// FNV-1a, 64-bit: a hash that is the same on every machine and every run (unlike std's
/// `DefaultHasher`, which is seeded per process), as tokens and coverage need.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The prefix of timeline lines that annotate choices, not events: left out of the timeline's
/// hash, so that two schedules with the same events count as one timeline.
pub(super) const ANNOTATION: &str = "    ↳ ";

/// Loop time as a timeline line starts with it.
pub(super) fn stamp(now: Duration) -> String {
    format!("[{:>9.3}s]", now.as_secs_f64())
}

/// The hash a token records and coverage counts. Annotations are left out, and so are source
/// locations: a token must survive the user adding a line above the test while investigating it.
pub(crate) fn timeline_hash(lines: &[String]) -> u64 {
    let mut h = fnv(b"");
    for l in lines.iter().filter(|l| !l.starts_with(ANNOTATION)) {
        let event = [" (created at ", " (at "]
            .iter()
            .filter_map(|m| l.find(m))
            .min()
            .map_or(l.as_str(), |cut| &l[..cut]);
        h ^= fnv(event.as_bytes());
        h = h.rotate_left(5).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Adds `line` to the timeline of the exploration running on this thread, if any (`note`, and a
/// quiet panic, write through here).
pub(crate) fn log_to_running(line: &str) {
    crate::engine::current::with(|lp| {
        if let Some(lp) = lp {
            if let Some(explorer) = &lp.config().explore {
                explorer.note(lp.now(), line);
            }
        }
    });
}
