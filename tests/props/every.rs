//! What must hold in every schedule: with `workers(n > 1)` or cross-thread steps the interleaving
//! of tasks is not fixed, so the trace is checked against properties computed from the program
//! alone rather than against one expected trace.
//!
//! - PROP-3: each task's own events are its steps' events in program order; a task that was not
//!   cancelled and ran to its end ends exactly once with its own ending; nothing follows a task's
//!   end or cancellation; the main task always ends.
//! - each await and `result()` read sees the awaited task's ending (or cancellation, if it was
//!   cancelled), and only after that task's end was recorded; `cancel` returns false only for a
//!   task that ended; a gather, of fresh bodies or of existing tasks, lists its children's endings
//!   in argument order or fails with the failure of a child that failed; `current_task()` is the
//!   task whose step runs;
//! - PROP-4: clock readings never go backwards along the trace, and no sleep ends early;
//! - the run never deadlocks and its result is the main task's ending.

use super::program::{Body, End, Mode, Step};
use std::collections::{HashMap, HashSet};

struct Info {
    body: Body,
    /// The labels of the handles the body inherits from its ancestors.
    inherited: Vec<String>,
}

/// Every task of the program by label, and the tasks some step cancels.
struct Program {
    infos: HashMap<String, Info>,
    cancelled: HashSet<String>,
}

impl Program {
    fn new(main: &Body) -> Program {
        let mut p = Program {
            infos: HashMap::new(),
            cancelled: HashSet::new(),
        };
        p.index(main, "m", Vec::new());
        p
    }

    fn index(&mut self, body: &Body, label: &str, inherited: Vec<String>) {
        let mut visible = inherited.clone();
        // (The main body inherits nothing; every other body what its parent saw at its step.)
        for (i, step) in body.steps.iter().enumerate() {
            match step {
                Step::Spawn(b) => {
                    let child = format!("{label}.{i}");
                    self.index(b, &child, visible.clone());
                    visible.push(child);
                }
                Step::Gather(_, bs) => {
                    for (j, b) in bs.iter().enumerate() {
                        self.index(b, &format!("{label}.{i}.{j}"), visible.clone());
                    }
                }
                Step::Cancel(super::program::Target::Handle(h), _) => {
                    self.cancelled.insert(visible[*h].clone());
                }
                _ => {}
            }
        }
        self.infos.insert(
            label.to_owned(),
            Info {
                body: body.clone(),
                inherited,
            },
        );
    }

    /// How task `label` may be seen to have finished: its ending, or cancelled if some step
    /// cancels it.
    fn outcomes(&self, label: &str) -> Vec<Outcome> {
        let mut v = vec![Outcome::Ended(self.infos[label].body.end)];
        if self.cancelled.contains(label) {
            v.push(Outcome::Cancelled);
        }
        v
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Ended(End),
    Cancelled,
}

impl Outcome {
    fn describe(self) -> String {
        match self {
            Outcome::Ended(e) => e.describe(),
            Outcome::Cancelled => "cancelled".into(),
        }
    }

    fn item(self) -> String {
        match self {
            Outcome::Ended(End::Return(v)) => v.to_string(),
            o => o.describe(),
        }
    }

    /// Whether it fails a gather in `mode` at once.
    fn fails(self, mode: Mode) -> bool {
        match self {
            Outcome::Cancelled | Outcome::Ended(End::Panic(_)) => mode != Mode::Settled,
            Outcome::Ended(End::Fail(_)) => mode == Mode::Fallible,
            Outcome::Ended(End::Return(_)) => false,
        }
    }
}

/// The lines a gather of children with these possible outcomes may record.
fn gather_lines(mode: Mode, children: &[Vec<Outcome>]) -> Vec<String> {
    // Every combination of outcomes in which no child fails the gather: a full list.
    let mut lists: Vec<Vec<String>> = vec![Vec::new()];
    for options in children {
        let mut next = Vec::new();
        for list in &lists {
            for o in options.iter().filter(|o| !o.fails(mode)) {
                let mut l = list.clone();
                l.push(o.item());
                next.push(l);
            }
        }
        lists = next;
    }
    let kind = if mode == Mode::Settled {
        "settled"
    } else {
        "ok"
    };
    let mut lines: Vec<String> = lists
        .into_iter()
        .map(|l| format!("gather {kind} [{}]", l.join(", ")))
        .collect();
    for o in children.iter().flatten().filter(|o| o.fails(mode)) {
        lines.push(format!("gather fail {}", o.describe()));
    }
    lines
}

/// What one recording step of a task may record.
struct Slot {
    /// The lines it may record.
    lines: Vec<String>,
    /// The tasks whose outcomes a line shows: the awaited or read task, or a gather's children
    /// in argument order.
    sources: Vec<String>,
}

/// The recording steps of a task, in order (steps that record nothing are left out).
fn slots(label: &str, info: &Info, prog: &Program) -> Vec<Slot> {
    let mut visible = info.inherited.clone();
    let mut out = Vec::new();
    for (i, step) in info.body.steps.iter().enumerate() {
        let (lines, sources) = match step {
            Step::Spawn(_) => {
                visible.push(format!("{label}.{i}"));
                continue;
            }
            Step::Emit(t) => (vec![format!("emit {t}")], vec![]),
            Step::CurrentTask => (vec![format!("current {label}")], vec![]),
            Step::Await(h) | Step::ReadResult(h) => {
                let target = &visible[*h];
                let verb = if matches!(step, Step::Await(_)) {
                    "await"
                } else {
                    "read"
                };
                let lines = prog
                    .outcomes(target)
                    .into_iter()
                    .map(|o| format!("{verb} {target} -> {}", o.describe()))
                    .collect();
                (lines, vec![target.clone()])
            }
            Step::Gather(mode, bs) => {
                let children: Vec<Vec<Outcome>> =
                    bs.iter().map(|b| vec![Outcome::Ended(b.end)]).collect();
                let sources = (0..bs.len()).map(|j| format!("{label}.{i}.{j}")).collect();
                (gather_lines(*mode, &children), sources)
            }
            Step::GatherTasks(mode, idx) => {
                let children: Vec<Vec<Outcome>> =
                    idx.iter().map(|&h| prog.outcomes(&visible[h])).collect();
                let sources = idx.iter().map(|&h| visible[h].clone()).collect();
                (gather_lines(*mode, &children), sources)
            }
            Step::Cancel(super::program::Target::Handle(h), _) => {
                let target = &visible[*h];
                let lines = vec![
                    format!("cancel {target} -> true"),
                    format!("cancel {target} -> false"),
                ];
                (lines, vec![target.clone()])
            }
            Step::ToThread(w) => (vec![format!("thread -> ok {}", 2 * u32::from(*w))], vec![]),
            Step::ResolveFromThread(v) => (vec![format!("resolved -> ok {v}")], vec![]),
            Step::ResolveOrCancel(_) => (vec!["race -> one winner".to_owned()], vec![]),
            Step::Sleep(_) | Step::Yield | Step::CallSoon(_) => continue,
            _ => continue,
        };
        out.push(Slot { lines, sources });
    }
    out
}

/// Checks `trace` (from a run of `program` under any schedule) against the every-schedule
/// properties; the error says which one failed and where.
pub fn check(program: &Body, trace: &[String]) -> Result<(), String> {
    let prog = Program::new(program);
    let infos = &prog.infos;
    let (result, events) = match trace.split_last() {
        Some((r, e)) if r.starts_with("result ") => (r, e),
        _ => return Err("the trace has no result line".into()),
    };
    let want = format!("result {}", program.end.describe());
    if *result != want {
        return Err(format!("the run ended with `{result}`, expected `{want}`"));
    }
    // (line index, event) per task; the time per line.
    let mut per_task: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    let mut last_ms = 0u128;
    for (n, line) in events.iter().enumerate() {
        if let Some(p) = line.strip_prefix("- unexpected panic: ") {
            return Err(format!("something panicked outside the program: {p}"));
        }
        let (ms, rest) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {n}: malformed `{line}`"))?;
        let ms: u128 = ms
            .parse()
            .map_err(|_| format!("line {n}: no clock reading in `{line}`"))?;
        if ms < last_ms {
            return Err(format!(
                "line {n}: the clock went back from {last_ms} to {ms} ms"
            ));
        }
        last_ms = ms;
        let (who, what) = rest.split_once(' ').unwrap_or((rest, ""));
        if who == "cb" {
            continue;
        }
        if !infos.contains_key(who) {
            return Err(format!("line {n}: unknown task in `{line}`"));
        }
        per_task.entry(who).or_default().push((n, what));
    }
    // Where each task's end / cancellation was recorded.
    let mut finished: HashMap<&str, (usize, &str)> = HashMap::new();
    for (label, evs) in &per_task {
        if let Some(&(n, what)) = evs.last() {
            if what.starts_with("end ") || what == "cancelled" {
                finished.insert(label, (n, what));
            }
        }
    }
    for (label, info) in infos {
        let evs = per_task.get(label.as_str()).cloned().unwrap_or_default();
        let slots = slots(label, info, &prog);
        let mut k = 0;
        let mut ended = false;
        for &(n, what) in &evs {
            let at = format!("line {n} (`{}`)", events[n]);
            if ended {
                return Err(format!(
                    "{at}: task {label} recorded an event after it ended"
                ));
            }
            if what == "cancelled" {
                if !prog.cancelled.contains(label) {
                    return Err(format!("{at}: task {label} was never cancelled"));
                }
                ended = true;
                continue;
            }
            if let Some(end) = what.strip_prefix("end ") {
                if k != slots.len() {
                    return Err(format!("{at}: task {label} ended before its step {k}"));
                }
                if end != info.body.end.describe() {
                    return Err(format!("{at}: task {label} ended with the wrong outcome"));
                }
                ended = true;
                continue;
            }
            let Some(slot) = slots.get(k) else {
                return Err(format!(
                    "{at}: task {label} recorded more events than it has"
                ));
            };
            if !slot.lines.iter().any(|o| o == what) {
                return Err(format!(
                    "{at}: task {label}'s event {k} should be one of {:?}",
                    slot.lines
                ));
            }
            // Results are seen only after the tasks that produced them ended; a task cancelled
            // before its first step records nothing at all.
            let (verb, rest) = what.split_once(' ').unwrap_or((what, ""));
            match verb {
                "await" | "read" => {
                    let silent = rest.ends_with(" -> cancelled");
                    check_finished_before(&finished, &slot.sources[0], n, &at, silent)?;
                }
                // `cancel` says false only for a task that has completed.
                "cancel" if rest.ends_with(" -> false") => {
                    check_finished_before(&finished, &slot.sources[0], n, &at, true)?;
                }
                "gather" if !rest.starts_with("fail ") => {
                    let items = rest
                        .split_once('[')
                        .map(|(_, l)| l.trim_end_matches(']'))
                        .unwrap_or("");
                    let items: Vec<&str> = items.split(", ").collect();
                    for (p, child) in slot.sources.iter().enumerate() {
                        let silent = items.get(p) == Some(&"cancelled");
                        check_finished_before(&finished, child, n, &at, silent)?;
                    }
                }
                _ => {}
            }
            k += 1;
        }
        if label == "m" && !ended {
            return Err("the main task never recorded its end".into());
        }
    }
    Ok(())
}

fn check_finished_before(
    finished: &HashMap<&str, (usize, &str)>,
    child: &str,
    n: usize,
    at: &str,
    may_be_silent: bool,
) -> Result<(), String> {
    match finished.get(child) {
        Some(&(m, _)) if m < n => Ok(()),
        None if may_be_silent => Ok(()),
        _ => Err(format!(
            "{at}: a result of {child} was seen before {child} ended"
        )),
    }
}
