//! What a failed check tells a person and a CI job: one replay line, the runtime's own timeline of
//! the failing schedule, and a JSON record under `target/evloop-failures/`.

use evloop_model::trace::{self, Event};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

std::thread_local! {
    static LAST_SCHEDULE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The schedule of the last failure printed on this OS thread, taken: a test that wraps a check
/// (a property test naming its generated program, say) puts it into its own replay line, so that
/// one line carries everything needed to reproduce the failure.
pub fn take_last_schedule() -> Option<String> {
    LAST_SCHEDULE.with(|l| l.borrow_mut().take())
}

/// How many timeline events a failure prints to stderr (the JSON record keeps all of them).
pub const PRINTED_EVENTS: usize = 400;

/// Everything known about one failed check.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The test function, as `cargo test -- <name> --exact` wants it.
    pub test: String,
    /// The integration-test target (`--test <binary>`).
    pub binary: String,
    /// `loom` or `shuttle` (or `std`).
    pub backend: &'static str,
    /// The schedule that failed: shuttle's replay token, or loom's interleaving number.
    pub schedule: String,
    /// The per-schedule seed (shuttle), if there is one.
    pub seed: Option<u64>,
    /// How many schedules ran, the failing one included.
    pub schedules: u64,
    /// Seconds from the start of the check to the failure.
    pub seconds: f64,
    /// The panic message.
    pub message: String,
    /// The command that reproduces the failure.
    pub replay: String,
    /// The runtime's events in the failing schedule.
    pub timeline: Vec<Event>,
}

impl Failure {
    /// Prints the failure for a person: what failed, the timeline, the replay line last (it is
    /// the line people copy).
    pub fn print(&self) {
        let mut out = String::new();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "evloop-check: {} FAILED under {} after {} schedule(s), {:.2} s: {}",
            self.test, self.backend, self.schedules, self.seconds, self.message
        );
        let _ = writeln!(out, "evloop-check: failing schedule: {}", self.schedule);
        let skipped = self.timeline.len().saturating_sub(PRINTED_EVENTS);
        let _ = writeln!(
            out,
            "evloop-check: the runtime's timeline of that schedule ({} events{}):",
            self.timeline.len(),
            if skipped > 0 {
                format!(", the first {skipped} left out; all are in the JSON record")
            } else {
                String::new()
            }
        );
        out.push_str(&trace::render(&self.timeline[skipped..]));
        if let Some(path) = self.write_json() {
            let _ = writeln!(out, "evloop-check: record written to {}", path.display());
        }
        let _ = writeln!(out, "evloop-check: to replay this failure exactly, run:");
        let _ = writeln!(out, "{}", self.replay);
        eprint!("{out}");
        LAST_SCHEDULE.with(|l| *l.borrow_mut() = Some(self.schedule.clone()));
    }

    /// Writes the machine-readable record; `None` when the directory cannot be written.
    pub fn write_json(&self) -> Option<PathBuf> {
        let dir = failures_dir()?;
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(format!(
            "{}-{}-{}.json",
            self.binary,
            self.test.replace("::", "-"),
            self.backend
        ));
        let mut j = String::from("{\n");
        field(&mut j, "test", &json_str(&self.test));
        field(&mut j, "binary", &json_str(&self.binary));
        field(&mut j, "backend", &json_str(self.backend));
        field(&mut j, "schedule", &json_str(&self.schedule));
        field(
            &mut j,
            "seed",
            &self
                .seed
                .map_or("null".to_owned(), |s| format!("\"{s:#018x}\"")),
        );
        field(&mut j, "schedules", &self.schedules.to_string());
        field(&mut j, "seconds", &format!("{:.3}", self.seconds));
        field(&mut j, "message", &json_str(&self.message));
        field(&mut j, "replay", &json_str(&self.replay));
        j.push_str("  \"timeline\": [");
        for (i, e) in self.timeline.iter().enumerate() {
            j.push_str(if i == 0 { "\n" } else { ",\n" });
            let _ = write!(
                j,
                "    {{\"seq\": {}, \"thread\": {}, \"event\": {}}}",
                e.seq,
                e.thread,
                json_str(&e.what)
            );
        }
        j.push_str("\n  ]\n}\n");
        std::fs::write(&path, j).ok()?;
        Some(path)
    }
}

fn field(j: &mut String, name: &str, value: &str) {
    let _ = writeln!(j, "  \"{name}\": {value},");
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
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

/// The test running on this thread: libtest names each test's thread after the test.
pub fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "<test name unknown: run with --test-threads=2 or more>".to_owned(),
    }
}

/// The test target's name (the executable without cargo's `-<hash>` suffix).
pub fn current_binary() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(|s| s.to_str())
        .unwrap_or("unknown");
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem.to_owned(),
    }
}

/// Where failure records (and loom checkpoint files) go: `EVLOOP_FAILURES_DIR`, else
/// `<target>/evloop-failures`. Tests that fail on purpose (bug injection, replay round trips)
/// point it elsewhere so that CI collects only real failures.
pub fn failures_dir() -> Option<PathBuf> {
    match std::env::var("EVLOOP_FAILURES_DIR") {
        Ok(dir) if !dir.trim().is_empty() => Some(PathBuf::from(dir)),
        _ => Some(target_dir()?.join("evloop-failures")),
    }
}

/// Cargo's target directory, found from the test executable (`<target>/<profile>/deps/<exe>`).
pub fn target_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    let profile_dir = if deps.file_name()? == "deps" {
        deps.parent()?
    } else {
        deps
    };
    Some(profile_dir.parent()?.to_path_buf())
}

/// The `cargo` profile flag that built this executable (`--release`, `--profile model`, or none).
fn profile_flag() -> String {
    let profile = std::env::current_exe().ok().and_then(|exe| {
        let deps = exe.parent()?;
        let dir = if deps.file_name()? == "deps" {
            deps.parent()?
        } else {
            deps
        };
        Some(dir.file_name()?.to_str()?.to_owned())
    });
    match profile.as_deref() {
        None | Some("debug") => String::new(),
        Some("release") => " --release".to_owned(),
        Some(p) => format!(" --profile {p}"),
    }
}

/// `cargo test` with this build's profile, features and target, for exactly the current test,
/// preceded by the environment a replay needs (`env` pairs, then `EVLOOP_BUG` if it is set).
pub fn replay_line(env: &[(&str, String)], test: &str) -> String {
    let mut line = String::new();
    for (k, v) in env {
        let _ = write!(line, "{k}='{v}' ");
    }
    if let Ok(bug) = std::env::var("EVLOOP_BUG") {
        let _ = write!(line, "EVLOOP_BUG={bug} ");
    }
    let features = match evloop_model::BACKEND {
        evloop_model::Backend::Std => "",
        evloop_model::Backend::Loom => " --features loom",
        evloop_model::Backend::Shuttle => " --features shuttle",
    };
    let _ = write!(
        line,
        "cargo test{}{} --test {} -- {} --exact",
        profile_flag(),
        features,
        current_binary(),
        test
    );
    line
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
pub(crate) use hook::*;

/// The panic hook that lets a failure name its panic, and report before loom aborts.
#[cfg(any(feature = "loom", feature = "shuttle"))]
mod hook {
    use super::payload_message;
    use std::cell::RefCell;

    /// The last panic seen while a check ran on this OS thread: its message and where it was raised.
    /// Recorded by the harness's panic hook so that a failure can name the panic even when the
    /// checker re-raises it with another payload.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct LastPanic {
        pub(crate) message: String,
    }

    std::thread_local! {
        static ACTIVE: RefCell<Option<LastPanic>> = const { RefCell::new(None) };
    }

    /// Marks this OS thread as running a check (so the hook records its panics) until the guard drops.
    pub(crate) fn enter_check() -> ActiveGuard {
        install_hook();
        ACTIVE.with(|a| *a.borrow_mut() = Some(LastPanic::default()));
        ActiveGuard(())
    }

    pub(crate) struct ActiveGuard(());

    impl Drop for ActiveGuard {
        fn drop(&mut self) {
            let _ = ACTIVE.try_with(|a| a.borrow_mut().take());
        }
    }

    /// The panic message recorded by the hook (empty when none was).
    pub(crate) fn last_panic() -> String {
        ACTIVE
            .try_with(|a| {
                a.try_borrow()
                    .ok()
                    .and_then(|a| a.as_ref().map(|p| p.message.clone()))
            })
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// A callback the hook runs on panics the checker will not let unwind to the harness (loom's
    /// deadlock report is followed by an abort).
    pub(crate) type FatalHandler = Box<dyn Fn(&str)>;

    std::thread_local! {
        static FATAL: RefCell<Option<FatalHandler>> = const { RefCell::new(None) };
    }

    #[cfg_attr(not(feature = "loom"), allow(dead_code))]
    pub(crate) fn set_fatal_handler(h: Option<FatalHandler>) {
        FATAL.with(|f| *f.borrow_mut() = h);
    }

    fn install_hook() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let message = payload_message(info.payload());
                let message = match info.location() {
                    Some(l) => format!("{message} (at {}:{})", l.file(), l.line()),
                    None => message,
                };
                let active = ACTIVE
                    .try_with(|a| match a.try_borrow_mut() {
                        Ok(mut a) => match a.as_mut() {
                            Some(p) => {
                                p.message = message.clone();
                                true
                            }
                            None => false,
                        },
                        Err(_) => false,
                    })
                    .unwrap_or(false);
                if active {
                    let _ = FATAL.try_with(|f| {
                        if let Ok(f) = f.try_borrow() {
                            if let Some(f) = f.as_ref() {
                                f(&message);
                            }
                        }
                    });
                }
                previous(info);
            }));
        });
    }
}

/// The text of a panic payload.
pub fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Runs one test of the current test binary in a child process, with the model environment
/// (`EVLOOP_BUG`, `EVLOOP_REPLAY`, loom's checkpoint variables) cleared and then `env` set;
/// returns whether it passed and everything it printed. This is how a test watches a check that
/// fails on purpose: a loom deadlock aborts its whole process, so it can only be seen from
/// outside. Records of these expected failures go to `<failures dir>/expected`, away from the
/// directory CI collects.
pub fn run_child_test<K, V>(test: &str, env: &[(K, V)]) -> (bool, String)
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([test, "--exact", "--test-threads=1"])
        .env("RUST_BACKTRACE", "0");
    for var in [
        "EVLOOP_BUG",
        "EVLOOP_REPLAY",
        "LOOM_CHECKPOINT_FILE",
        "LOOM_CHECKPOINT_INTERVAL",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(dir) = failures_dir() {
        cmd.env("EVLOOP_FAILURES_DIR", dir.join("expected"));
    }
    let out = cmd.output().expect("the child test runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}
