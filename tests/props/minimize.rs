//! A greedy minimizer for failing programs, run on top of proptest's shrinking.
//!
//! proptest shrinks each level of a recursive strategy in place, so a failure found three spawns
//! deep stays three spawns deep. This tries structural simplifications proptest cannot: drop a
//! step, hoist a spawned or gathered body's steps into its parent, drop a gather child (or a task
//! from a gather of existing tasks), shorten a sleep, turn an ending into `Return(0)`; it keeps each one under which the program still fails,
//! until none helps or the budget is spent.

use super::program::{normalize, Body, End, Step};

/// The smallest program found from `prog` for which `fails` still holds, within `budget` runs.
pub fn minimize(prog: &Body, fails: &mut dyn FnMut(&Body) -> bool, budget: usize) -> Body {
    let mut best = prog.clone();
    let mut runs = 0;
    loop {
        let mut improved = false;
        for candidate in candidates(&best) {
            if runs >= budget {
                return best;
            }
            runs += 1;
            if fails(&candidate) {
                best = candidate;
                improved = true;
                break;
            }
        }
        if !improved {
            return best;
        }
    }
}

/// Every program one simplification away from `b`, simplest first.
fn candidates(b: &Body) -> Vec<Body> {
    let mut out = Vec::new();
    for i in 0..b.steps.len() {
        let mut steps = b.steps.clone();
        steps.remove(i);
        out.push(Body { steps, end: b.end });
    }
    for (i, step) in b.steps.iter().enumerate() {
        let with = |replacement: Vec<Step>| {
            let mut steps = b.steps[..i].to_vec();
            steps.extend(replacement);
            steps.extend_from_slice(&b.steps[i + 1..]);
            Body { steps, end: b.end }
        };
        match step {
            Step::Spawn(child) => {
                out.push(with(child.steps.clone()));
                for c in candidates(child) {
                    out.push(with(vec![Step::Spawn(c)]));
                }
            }
            Step::Gather(mode, children) => {
                for (j, child) in children.iter().enumerate() {
                    out.push(with(child.steps.clone()));
                    let mut fewer = children.clone();
                    fewer.remove(j);
                    out.push(with(vec![Step::Gather(*mode, fewer)]));
                    for c in candidates(child) {
                        let mut changed = children.clone();
                        changed[j] = c;
                        out.push(with(vec![Step::Gather(*mode, changed)]));
                    }
                }
            }
            Step::GatherTasks(mode, idx) if idx.len() > 1 => {
                for j in 0..idx.len() {
                    let mut fewer = idx.clone();
                    fewer.remove(j);
                    out.push(with(vec![Step::GatherTasks(*mode, fewer)]));
                }
            }
            Step::Sleep(ms) if *ms > 1 => out.push(with(vec![Step::Sleep(1)])),
            Step::Sleep(_) => out.push(with(vec![Step::Yield])),
            _ => {}
        }
    }
    if b.end != End::Return(0) {
        out.push(Body {
            steps: b.steps.clone(),
            end: End::Return(0),
        });
    }
    out.into_iter().map(normalize).collect()
}
