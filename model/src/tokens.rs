//! Telling the model-check harness's replay tokens apart from the explorer's.
//!
//! Both the harness (`evloop-check`, a dev-dependency) and the task-level explorer
//! (`evloop::explore`, in the runtime) read `EVLOOP_REPLAY`. The explorer cannot depend on the
//! harness, which is not in a user's dependency graph, so the shape of the harness's tokens is
//! recognised here, where both can reach it; `evloop-check`'s own tests assert that every token it
//! prints is recognised.

/// If `value` (an `EVLOOP_REPLAY` value, quotes and all) is shaped like the model-check harness's
/// shuttle replay token, `random:<hex seed>` or `pct:<depth>:<steps>:<hex seed>`, one line saying
/// so and how to run it. The explorer names a value meant for the harness with this line instead of
/// calling it malformed. Only the kind is recognised, not the fields: a damaged shuttle token is
/// still the harness's to reject.
///
/// ```
/// use evloop_model::tokens::harness_replay_token;
/// let line = harness_replay_token("EVLOOP_REPLAY='random:000000000000002a'").unwrap();
/// assert!(line.contains("--features shuttle"));
/// assert!(harness_replay_token("v1:0.1.0:r:-:0000000000000000").is_none());
/// ```
pub fn harness_replay_token(value: &str) -> Option<String> {
    let v = value.trim();
    let v = v.strip_prefix("EVLOOP_REPLAY=").unwrap_or(v);
    let v = v.trim_matches(|c| c == '\'' || c == '"').trim();
    ["random:", "pct:"].iter().find(|k| v.starts_with(*k))?;
    let shown: String = v.chars().take(80).collect();
    Some(format!(
        "this is a shuttle replay token of the model-check harness, not a token of evloop's \
         explorer: run it with the command the failed check printed, \
         `EVLOOP_REPLAY='{shown}' cargo test --features shuttle --test <file> -- <test> --exact`"
    ))
}
