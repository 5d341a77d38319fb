//! CPython's asyncio as an oracle: one long-lived `python3` process runs `oracle.py`, which reads
//! a program as a JSON line and prints its trace, so each generated program costs a pipe round
//! trip, not an interpreter start.

use super::program::{to_json, Body};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

const SCRIPT: &str = include_str!("oracle.py");

struct Python {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

static PYTHON: Mutex<Option<Python>> = Mutex::new(None);

/// The interpreter to use: `EVLOOP_PYTHON`, else `python3`.
fn interpreter() -> String {
    std::env::var("EVLOOP_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The interpreter's version line, or `None` when there is no usable `python3` (>= 3.8 for the
/// asyncio behaviour the oracle relies on; CI has 3.11).
pub fn available() -> Option<String> {
    let out = Command::new(interpreter())
        .args([
            "-c",
            "import sys; assert sys.version_info >= (3, 8); print(sys.version.split()[0])",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn start() -> Python {
    let mut child = Command::new(interpreter())
        .args(["-u", "-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 was found a moment ago");
    let stdin = child.stdin.take().expect("piped");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    Python {
        _child: child,
        stdin,
        stdout,
    }
}

/// CPython's trace for `program`.
pub fn trace(program: &Body) -> Vec<String> {
    let mut guard = PYTHON.lock().unwrap_or_else(|e| e.into_inner());
    let py = guard.get_or_insert_with(start);
    writeln!(py.stdin, "{}", to_json(program)).expect("write to python3");
    py.stdin.flush().expect("flush python3's stdin");
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = py.stdout.read_line(&mut line).expect("read from python3");
        assert!(n > 0, "python3 exited while running a program");
        let line = line.trim_end().to_owned();
        if line == "<<END>>" {
            return lines;
        }
        lines.push(line);
    }
}
