//! What must hold in every schedule: with `workers(n > 1)` or cross-thread steps the interleaving
//! of tasks is not fixed, so the trace is checked against properties computed from the program
//! alone rather than against one expected trace.
//!
//! - PROP-3: each task's own events are its steps' events in program order; a task that was not
//!   cancelled and ran to its end ends exactly once with its own ending; nothing follows a task's
//!   end or cancellation; the main task always ends.
//! - each await sees the awaited task's ending (or cancellation, if it was cancelled), and only
//!   after that task's end was recorded; `cancel` returns false only for a task that ended; a gather lists its children's endings in argument order
//!   or fails with the failure of a child that failed;
//! - PROP-4: clock readings never go backwards along the trace, and no sleep ends early;
//! - the run never deadlocks and its result is the main task's ending.

use super::program::{Body, End, Mode, Step};
use std::collections::HashMap;

struct Info {
    body: Body,
    cancellable: bool,
}

fn index(body: &Body, label: &str, cancellable: bool, out: &mut HashMap<String, Info>) {
    let mut spawns: Vec<String> = Vec::new();
    let mut cancelled: Vec<bool> = Vec::new();
    for (i, step) in body.steps.iter().enumerate() {
        match step {
            Step::Spawn(_) => {
                spawns.push(format!("{label}.{i}"));
                cancelled.push(false);
            }
            Step::Cancel(h) => cancelled[*h] = true,
            _ => {}
        }
    }
    let mut k = 0;
    for (i, step) in body.steps.iter().enumerate() {
        match step {
            Step::Spawn(b) => {
                index(b, &spawns[k], cancelled[k], out);
                k += 1;
            }
            Step::Gather(_, bs) => {
                for (j, b) in bs.iter().enumerate() {
                    index(b, &format!("{label}.{i}.{j}"), false, out);
                }
            }
            _ => {}
        }
    }
    out.insert(
        label.to_owned(),
        Info {
            body: body.clone(),
            cancellable,
        },
    );
}

fn item(end: End) -> String {
    match end {
        End::Return(v) => v.to_string(),
        e => e.describe(),
    }
}

/// The events step `i` of a task may record (none for steps that record nothing).
fn allowed(label: &str, body: &Body, infos: &HashMap<String, Info>) -> Vec<Option<Vec<String>>> {
    let spawns: Vec<String> = body
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Step::Spawn(_)))
        .map(|(i, _)| format!("{label}.{i}"))
        .collect();
    body.steps
        .iter()
        .map(|step| match step {
            Step::Emit(t) => Some(vec![format!("emit {t}")]),
            Step::Await(h) => {
                let target = &spawns[*h];
                let info = &infos[target];
                let mut v = vec![format!("await {target} -> {}", info.body.end.describe())];
                if info.cancellable {
                    v.push(format!("await {target} -> cancelled"));
                }
                Some(v)
            }
            Step::Gather(mode, bs) => {
                let ends: Vec<End> = bs.iter().map(|b| b.end).collect();
                let items: Vec<String> = ends.iter().map(|e| item(*e)).collect();
                Some(match mode {
                    Mode::Settled => vec![format!("gather settled [{}]", items.join(", "))],
                    _ => {
                        let failing: Vec<String> = ends
                            .iter()
                            .filter(|e| match e {
                                End::Panic(_) => true,
                                End::Fail(_) => *mode == Mode::Fallible,
                                End::Return(_) => false,
                            })
                            .map(|e| format!("gather fail {}", e.describe()))
                            .collect();
                        if failing.is_empty() {
                            vec![format!("gather ok [{}]", items.join(", "))]
                        } else {
                            failing
                        }
                    }
                })
            }
            Step::Cancel(h) => {
                let target = &spawns[*h];
                Some(vec![
                    format!("cancel {target} -> true"),
                    format!("cancel {target} -> false"),
                ])
            }
            Step::ToThread(w) => Some(vec![format!("thread -> ok {}", 2 * u32::from(*w))]),
            Step::ResolveFromThread(v) => Some(vec![format!("resolved -> ok {v}")]),
            Step::ResolveOrCancel(_) => Some(vec!["race -> one winner".to_owned()]),
            _ => None,
        })
        .collect()
}

/// Checks `trace` (from a run of `program` under any schedule) against the every-schedule
/// properties; the error says which one failed and where.
pub fn check(program: &Body, trace: &[String]) -> Result<(), String> {
    let mut infos = HashMap::new();
    index(program, "m", false, &mut infos);
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
    for (label, info) in &infos {
        let evs = per_task.get(label.as_str()).cloned().unwrap_or_default();
        let slots: Vec<Vec<String>> = allowed(label, &info.body, &infos)
            .into_iter()
            .flatten()
            .collect();
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
                if !info.cancellable {
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
            let Some(ok) = slots.get(k) else {
                return Err(format!(
                    "{at}: task {label} recorded more events than it has"
                ));
            };
            if !ok.iter().any(|o| o == what) {
                return Err(format!(
                    "{at}: task {label}'s event {k} should be one of {ok:?}"
                ));
            }
            // Results are seen only after the tasks that produced them ended.
            if let Some(rest) = what.strip_prefix("await ") {
                let (child, outcome) = rest.split_once(" -> ").unwrap_or((rest, ""));
                // A task cancelled before its first step records nothing at all.
                let may_be_silent = outcome == "cancelled";
                check_finished_before(&finished, child, n, &at, may_be_silent)?;
            }
            if let Some(rest) = what.strip_prefix("cancel ") {
                // `cancel` says false only for a task that has completed.
                if let Some(child) = rest.strip_suffix(" -> false") {
                    check_finished_before(&finished, child, n, &at, true)?;
                }
            }
            if what.starts_with("gather ") && !what.starts_with("gather fail") {
                let step = nth_recording_step(&info.body, k);
                if let Step::Gather(_, bs) = &info.body.steps[step] {
                    for j in 0..bs.len() {
                        let child = format!("{label}.{step}.{j}");
                        check_finished_before(&finished, &child, n, &at, false)?;
                    }
                }
            }
            k += 1;
        }
        if label == "m" && !ended {
            return Err("the main task never recorded its end".into());
        }
    }
    Ok(())
}

fn nth_recording_step(body: &Body, k: usize) -> usize {
    body.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            matches!(
                s,
                Step::Emit(_)
                    | Step::Await(_)
                    | Step::Cancel(_)
                    | Step::Gather(..)
                    | Step::ToThread(_)
                    | Step::ResolveFromThread(_)
                    | Step::ResolveOrCancel(_)
            )
        })
        .nth(k)
        .map(|(i, _)| i)
        .expect("k counts recording steps")
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
