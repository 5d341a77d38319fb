//! What an exploration hands back: coverage on success ([`Report`], EXPLORE-13), and on failure
//! a [`Failure`] with the token, the replay command, the timeline and a JSON record (EXPLORE-8,
//! EXPLORE-14); how both print.
//!
//! Invariants: these are the user's types, plain data with public fields; they are built in
//! `run.rs` (a failing run) and here (`refused`, a configuration that cannot run), never read back
//! by the explorer. A [`FailureKind::Config`] failure has no schedule, so its token and replay
//! command are empty and it prints as one message (EXPLORE-18). The replay command names the test
//! binary the failure ran in, so it can be pasted into a shell as printed (EXPLORE-14).
//!
//! Spec ids: EXPLORE-8, EXPLORE-13, EXPLORE-14, EXPLORE-17, EXPLORE-18, EXPLORE-20.

use super::config::{Config, Mode, UNNAMED};
use crate::error::PendingTask;
use std::fmt;
use std::fmt::Write as _;
use std::path::PathBuf;

/// How much of the schedule space an exploration covered.
///
/// ```
/// use evloop::explore::{explore, Config, Mode};
/// let report = explore(Config::robustness().dfs(1), || async {
///     evloop::gather([1, 2].map(|n| async move { n })).await.unwrap();
/// });
/// assert_eq!(report.mode, Mode::Robustness);
/// assert_eq!(report.strategy, "dfs(k = 1)");
/// assert!(report.exhausted && report.runs >= report.distinct_schedules);
/// assert!(report.distinct_schedules >= report.distinct_timelines);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The mode explored.
    pub mode: Mode,
    /// The strategy, as text.
    pub strategy: String,
    /// Runs made.
    pub runs: usize,
    /// Distinct choice sequences among them.
    pub distinct_schedules: usize,
    /// Distinct event timelines among them.
    pub distinct_timelines: usize,
    /// True when the strategy covered its whole space (DFS within its bound, or a single FIFO
    /// schedule with no choice point).
    pub exhausted: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "evloop explore ({:?}, {}): {} run(s), {} distinct schedule(s), {} distinct \
             timeline(s){}",
            self.mode,
            self.strategy,
            self.runs,
            self.distinct_schedules,
            self.distinct_timelines,
            if self.exhausted {
                ", space exhausted"
            } else {
                ""
            }
        )
    }
}

/// Why a schedule failed.
///
/// ```
/// use evloop::explore::{try_explore, Config, FailureKind};
/// let config = Config::conformance().write_record(false);
/// let failure = try_explore(config, || async { panic!("bad state") }).unwrap_err();
/// assert_eq!(failure.kind, FailureKind::Panic);
/// assert!(failure.message.starts_with("bad state"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The body (or a task it awaited and unwrapped) panicked.
    Panic,
    /// Main pending, nothing ready, no timer, no job pending (EXPLORE-9).
    Deadlock,
    /// The turn bound was reached (EXPLORE-10).
    Livelock,
    /// `run` returned another error (e.g. the main task was cancelled).
    Error,
    /// A replayed token did not reproduce its schedule (EXPLORE-8).
    Diverged,
    /// Main was pending and nothing on the loop could wake it, but a live `Resolver` could: it
    /// was not used within [`Config::outside_thread_wait`] of real time, so a thread outside the
    /// loop still holds it (EXPLORE-21).
    OutsideThread,
    /// The exploration could not run as configured: a replay token that is malformed, from
    /// another evloop version or meant for the model-check harness (EXPLORE-17), or a custom
    /// chooser that answered out of range (EXPLORE-20). No schedule failed, so there is nothing
    /// to replay: `token` and `replay_command` are empty, and `message` says what to change.
    ///
    /// ```
    /// use evloop::explore::{try_explore, Config, FailureKind};
    /// let config = Config::conformance().replay("v1:0.1.0:x").use_env(false);
    /// let failure = try_explore(config, || async {}).unwrap_err();
    /// assert_eq!(failure.kind, FailureKind::Config);
    /// assert!(failure.message.contains("is not a replay token"));
    /// assert_eq!(failure.coverage.runs, 0);
    /// ```
    Config,
}

impl FailureKind {
    fn name(self) -> &'static str {
        match self {
            FailureKind::Panic => "panic",
            FailureKind::Deadlock => "deadlock",
            FailureKind::Livelock => "livelock",
            FailureKind::Error => "error",
            FailureKind::Diverged => "replay diverged",
            FailureKind::OutsideThread => "waiting on an outside thread",
            FailureKind::Config => "configuration error",
        }
    }
}

/// A failing schedule, shrunk (EXPLORE-11), with everything needed to replay it.
///
/// ```
/// use evloop::explore::{try_explore, Config};
/// let config = Config::robustness().write_record(false).name("start order");
/// let failure = try_explore(config, || async {
///     let first = evloop::LoopFuture::new(); // the first `set_result` wins
///     let child = |n: u32| { let f = first.clone(); async move { let _ = f.set_result(n); } };
///     evloop::gather([child(0), child(1)]).await.unwrap();
///     assert_eq!(first.await.unwrap(), 0);
/// })
/// .unwrap_err();
/// assert_eq!(failure.deviations, 1); // one step out of FIFO order is enough
/// assert!(failure.replay_command.contains(&failure.token));
/// assert!(failure.to_string().contains("replay it with"));
/// ```
#[derive(Debug, Clone)]
pub struct Failure {
    /// The test's name.
    pub test: String,
    /// What went wrong.
    pub kind: FailureKind,
    /// The panic message (with its location), or the deadlock / livelock / divergence report.
    pub message: String,
    /// The mode the schedule ran in.
    pub mode: Mode,
    /// The strategy that found it.
    pub strategy: String,
    /// The seed of the failing run, for random and PCT strategies.
    pub seed: Option<u64>,
    /// The replay token (without the `EVLOOP_REPLAY=` prefix).
    pub token: String,
    /// A shell command that replays it.
    pub replay_command: String,
    /// The schedule's events, one per line.
    pub timeline: Vec<String>,
    /// Tasks still pending (deadlock and livelock).
    pub pending: Vec<PendingTask>,
    /// What each pending task awaits, by task id, where the explorer could tell.
    pub awaits: Vec<(u64, String)>,
    /// Deviations from FIFO and steps, before and after shrinking.
    pub shrunk_from: Option<(usize, u64)>,
    /// Deviations from FIFO of the reported schedule.
    pub deviations: usize,
    /// Items run in the reported schedule.
    pub steps: u64,
    /// Where the JSON record was written.
    pub record: Option<PathBuf>,
    /// Coverage up to the failure.
    pub coverage: Report,
}

/// A configuration the explorer cannot run (EXPLORE-17, EXPLORE-20): no schedule to replay, no
/// record to write.
pub(crate) fn refused(
    config: &Config,
    message: String,
    timeline: Vec<String>,
    coverage: Report,
) -> Failure {
    Failure {
        test: config.test_name(),
        kind: FailureKind::Config,
        message,
        mode: coverage.mode,
        strategy: coverage.strategy.clone(),
        seed: None,
        token: String::new(),
        replay_command: String::new(),
        timeline,
        pending: Vec::new(),
        awaits: Vec::new(),
        shrunk_from: None,
        deviations: 0,
        steps: 0,
        record: None,
        coverage,
    }
}

/// `cargo test --test <binary> -- --exact <test>` from the running executable's name.
pub(super) fn replay_command(token: &str, test: &str) -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_ref()
        .and_then(|p| p.file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or("");
    let binary = match stem.rsplit_once('-') {
        Some((b, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => b,
        _ => stem,
    };
    let in_examples = exe
        .as_ref()
        .and_then(|p| p.parent())
        .and_then(|d| d.file_name())
        .is_some_and(|d| d == "examples");
    let target = if in_examples {
        format!("cargo run --example {binary}")
    } else if binary == "evloop" {
        "cargo test --lib".to_owned()
    } else if binary == "rust_out" {
        // rustdoc names every doctest binary this way; the doctest itself has no exact name.
        "cargo test --doc".to_owned()
    } else {
        format!("cargo test --test {binary}")
    };
    let quoted = shell_quote(test);
    if test == UNNAMED || binary == "rust_out" {
        format!("EVLOOP_REPLAY='{token}' {target}")
    } else if in_examples {
        // A program may explore several bodies: only the named one replays.
        format!("EVLOOP_REPLAY='{token}' EVLOOP_REPLAY_ONLY={quoted} {target}")
    } else {
        format!("EVLOOP_REPLAY='{token}' {target} -- --exact {quoted}")
    }
}

/// Quotes `word` for a POSIX shell when it holds anything but a plain test path, so a name with
/// spaces or quotes reaches the test binary as one argument.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-' | '/'));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(t) = exe
            .ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == "target"))
        {
            return t.to_path_buf();
        }
    }
    PathBuf::from("target")
}

/// Writes `f` as JSON under `target/evloop-failures/`, named for its test; where, if it could.
pub(super) fn write_record(f: &Failure) -> Option<PathBuf> {
    let dir = target_dir().join("evloop-failures");
    std::fs::create_dir_all(&dir).ok()?;
    let file: String = f
        .test
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("{file}.json"));
    std::fs::write(&path, to_json(f)).ok()?;
    Some(path)
}

fn to_json(f: &Failure) -> String {
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "[]".to_owned()
        } else {
            format!("[\n    {}\n  ]", items.join(",\n    "))
        }
    };
    let timeline = list(f.timeline.iter().map(|l| json_str(l)).collect());
    let pending = list(
        f.pending
            .iter()
            .map(|t| {
                let awaits = f.awaits.iter().find(|(id, _)| *id == t.id);
                format!(
                    "{{\"id\": {}, \"name\": {}, \"created_at\": {}, \"awaits\": {}}}",
                    t.id,
                    json_str(&t.name),
                    json_str(&t.created_at.to_string()),
                    awaits.map_or("null".to_owned(), |(_, w)| json_str(w))
                )
            })
            .collect(),
    );
    format!(
        "{{\n  \"test\": {},\n  \"mode\": {},\n  \"strategy\": {},\n  \"seed\": {},\n  \
         \"token\": {},\n  \"replay_command\": {},\n  \"kind\": {},\n  \"message\": {},\n  \
         \"deviations\": {},\n  \"steps\": {},\n  \"runs\": {},\n  \"distinct_schedules\": {},\n  \
         \"distinct_timelines\": {},\n  \"timeline\": {},\n  \"pending_tasks\": {}\n}}\n",
        json_str(&f.test),
        json_str(&format!("{:?}", f.mode).to_lowercase()),
        json_str(&f.strategy),
        f.seed.map_or("null".to_owned(), |s| s.to_string()),
        json_str(&f.token),
        json_str(&f.replay_command),
        json_str(f.kind.name()),
        json_str(&f.message),
        f.deviations,
        f.steps,
        f.coverage.runs,
        f.coverage.distinct_schedules,
        f.coverage.distinct_timelines,
        timeline,
        pending
    )
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == FailureKind::Config {
            // One message: no schedule failed, so there is no story to tell.
            return write!(f, "{} (exploring `{}`)", self.message, self.test);
        }
        writeln!(
            f,
            "evloop explore: `{}` fails ({:?} mode, {}, after {} run(s))",
            self.test, self.mode, self.strategy, self.coverage.runs
        )?;
        writeln!(f, "{}: {}", self.kind.name(), self.message)?;
        match self.shrunk_from {
            Some((devs, steps)) if (devs, steps) != (self.deviations, self.steps) => writeln!(
                f,
                "shrunk: {devs} -> {} deviation(s) from FIFO, {steps} -> {} step(s)",
                self.deviations, self.steps
            )?,
            Some(_) => writeln!(
                f,
                "shrinking found nothing smaller: {} deviation(s) from FIFO, {} step(s)",
                self.deviations, self.steps
            )?,
            None => {}
        }
        writeln!(f, "replay it with:\n  EVLOOP_REPLAY={}", self.token)?;
        writeln!(f, "  {}", self.replay_command)?;
        writeln!(f, "timeline of that schedule:")?;
        for line in &self.timeline {
            // A multi-line panic message stays inside its timeline entry.
            writeln!(f, "  {}", line.replace('\n', "\n               "))?;
        }
        if !self.pending.is_empty() {
            writeln!(f, "pending tasks:")?;
            for t in &self.pending {
                let step = format!("step of {} (created at {})", t.name, t.created_at);
                let last = self.timeline.iter().rev().find(|l| l.ends_with(&step));
                let last = match last.and_then(|l| l.split(']').next()) {
                    Some(at) => format!("last ran at {}", at.trim_start_matches(['[', ' '])),
                    None => "never ran".to_owned(),
                };
                writeln!(
                    f,
                    "  - {} (id {}), created at {}, {last}",
                    t.name, t.id, t.created_at
                )?;
                if let Some((_, what)) = self.awaits.iter().find(|(id, _)| *id == t.id) {
                    writeln!(f, "    {what}")?;
                }
            }
        }
        if let Some(p) = &self.record {
            writeln!(f, "record: {}", p.display())?;
        }
        write!(f, "{}", self.coverage)
    }
}

#[cfg(test)]
mod tests {
    use super::{json_str, shell_quote};

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(json_str("plain"), "\"plain\"");
        assert_eq!(json_str("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(json_str("1\n2\t3\r\u{1}"), "\"1\\n2\\t3\\r\\u0001\"");
    }

    #[test]
    fn a_test_name_with_spaces_or_quotes_stays_one_shell_word() {
        assert_eq!(shell_quote("tests::gather_order"), "tests::gather_order");
        assert_eq!(shell_quote("my check"), "'my check'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
