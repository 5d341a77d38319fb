//! The reference model: a deliberately simple, sequential simulator of the spec, written from
//! asyncio's rules rather than from the runtime's code. It computes the exact trace a single-worker
//! loop must produce for a program without cross-thread steps.
//!
//! The rules it encodes (asyncio's `_run_once`, `Task.__step`, `gather`, `sleep`):
//! - one FIFO ready queue holds task steps and callbacks alike (LOOP-2);
//! - a turn first moves due timers (deadline <= now, earliest first, ties in creation order) to the
//!   back of the queue, then runs only the items that were ready when it began (LOOP-3, TIME-2);
//! - with nothing ready, virtual time jumps to the next deadline (TIME-4);
//! - a new task's first step is queued when it is created (TASK-1);
//! - `sleep(0)` re-queues the task at the end of its step; `sleep(d)` makes a timer whose firing
//!   wakes the task, which runs one turn later (TIME-1, TIME-3);
//! - a completing task wakes its awaiter and queues its done callbacks, in registration order;
//! - a gather child's completion reaches the gather through a queued callback, which wakes the
//!   awaiting task, so it resumes two hops after the deciding child completed (GATHER-1, GATHER-4);
//! - a gather of existing tasks attaches one callback to each distinct task, queued at once for a
//!   task already done, and a task given twice fills both places (GATHER-8, asyncio's
//!   `arg_to_fut`); any number of tasks may await one task, each woken by its completion
//!   (TASK-13);
//! - `cancel` marks the task and wakes it; at its next step its future is dropped (TASK-7);
//! - the main task's completion queues the stop callback; the loop stops after that turn (LOOP-4).

use super::program::{Body, End, Mode, Step};
use std::collections::{BTreeMap, VecDeque};

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Ended(End),
    Cancelled,
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::Ended(e) => e.describe(),
            Outcome::Cancelled => "cancelled".into(),
        }
    }
    fn item(&self) -> String {
        match self {
            Outcome::Ended(End::Return(v)) => v.to_string(),
            o => o.describe(),
        }
    }
}

enum Wait {
    Nothing,
    Sleep((u64, u64)),
    Await(usize),
    Gather(usize),
}

enum DoneCb {
    Wake(usize),
    GatherChild(usize, usize),
    Stop,
}

struct MTask {
    label: String,
    body: Body,
    pc: usize,
    started: bool,
    scheduled: bool,
    cancel_requested: bool,
    outcome: Option<Outcome>,
    wait: Wait,
    handles: Vec<usize>,
    done_cbs: Vec<DoneCb>,
}

struct MGather {
    parent: usize,
    mode: Mode,
    /// Distinct child tasks, in first-argument order.
    children: Vec<usize>,
    /// For each argument, its index in `children`.
    places: Vec<usize>,
    /// Per distinct child.
    slots: Vec<Option<Outcome>>,
    remaining: usize,
    decided: bool,
    failed: Option<usize>,
}

enum Item {
    Step(usize),
    Timer(usize),
    Soon(u8),
    GatherDone(usize, usize),
    Stop,
}

#[derive(Default)]
struct Sim {
    now: u64,
    ready: VecDeque<Item>,
    timers: BTreeMap<(u64, u64), usize>,
    seq: u64,
    tasks: Vec<MTask>,
    gathers: Vec<MGather>,
    trace: Vec<String>,
    stopping: bool,
}

/// The trace a single-worker loop must produce for `program` (no cross-thread steps).
pub fn expected_trace(program: &Body) -> Vec<String> {
    assert!(
        !program.has_cross_thread(),
        "the model has no threads: compare cross-thread programs by their properties"
    );
    let mut sim = Sim::default();
    let main = sim.spawn(program.clone(), "m".into(), Vec::new());
    sim.tasks[main].done_cbs.push(DoneCb::Stop);
    let mut deadlock = false;
    loop {
        if sim.stopping {
            break;
        }
        while let Some((&(deadline, seq), &tid)) = sim.timers.iter().next() {
            if deadline > sim.now {
                break;
            }
            sim.timers.remove(&(deadline, seq));
            sim.ready.push_back(Item::Timer(tid));
        }
        if sim.ready.is_empty() {
            match sim.timers.keys().next() {
                Some(&(deadline, _)) => {
                    sim.now = deadline;
                    continue;
                }
                None => {
                    deadlock = true;
                    break;
                }
            }
        }
        let n = sim.ready.len();
        for _ in 0..n {
            let item = sim.ready.pop_front().expect("n items were ready");
            sim.run_item(item);
        }
    }
    let result = match (&sim.tasks[main].outcome, deadlock) {
        (Some(Outcome::Ended(End::Return(v))), _) => format!("result ok {v}"),
        (Some(Outcome::Ended(End::Fail(t))), _) => format!("result err {t}"),
        (Some(Outcome::Ended(End::Panic(t))), _) => format!("result panic {t}"),
        (Some(Outcome::Cancelled), _) => "result error cancelled".into(),
        (None, _) => "result deadlock".into(),
    };
    let mut trace = sim.trace;
    trace.push(result);
    trace
}

impl Sim {
    fn record(&mut self, event: String) {
        self.trace.push(format!("{} {event}", self.now));
    }

    fn spawn(&mut self, body: Body, label: String, inherited: Vec<usize>) -> usize {
        let tid = self.tasks.len();
        self.tasks.push(MTask {
            label,
            body,
            pc: 0,
            started: false,
            scheduled: true,
            cancel_requested: false,
            outcome: None,
            wait: Wait::Nothing,
            handles: inherited,
            done_cbs: Vec::new(),
        });
        self.ready.push_back(Item::Step(tid));
        tid
    }

    fn wake(&mut self, tid: usize) {
        let t = &mut self.tasks[tid];
        if t.outcome.is_none() && !t.scheduled {
            t.scheduled = true;
            self.ready.push_back(Item::Step(tid));
        }
    }

    fn run_item(&mut self, item: Item) {
        match item {
            Item::Step(tid) => self.step(tid),
            Item::Timer(tid) => self.wake(tid),
            Item::Soon(tag) => self.record(format!("cb {tag}")),
            Item::Stop => self.stopping = true,
            Item::GatherDone(g, i) => {
                let child = self.gathers[g].children[i];
                let out = self.tasks[child].outcome.clone().expect("child completed");
                let gs = &mut self.gathers[g];
                let failure = match (&out, gs.mode) {
                    (_, Mode::Settled) => false,
                    (Outcome::Cancelled, _) | (Outcome::Ended(End::Panic(_)), _) => true,
                    (Outcome::Ended(End::Fail(_)), Mode::Fallible) => true,
                    _ => false,
                };
                gs.slots[i] = Some(out);
                gs.remaining -= 1;
                if !gs.decided && (failure || gs.remaining == 0) {
                    gs.decided = true;
                    if failure {
                        gs.failed = Some(i);
                    }
                    let parent = gs.parent;
                    self.wake(parent);
                }
            }
        }
    }

    fn complete(&mut self, tid: usize, outcome: Outcome) {
        self.tasks[tid].outcome = Some(outcome);
        for cb in std::mem::take(&mut self.tasks[tid].done_cbs) {
            match cb {
                DoneCb::Wake(p) => self.wake(p),
                DoneCb::GatherChild(g, i) => self.ready.push_back(Item::GatherDone(g, i)),
                DoneCb::Stop => self.ready.push_back(Item::Stop),
            }
        }
    }

    fn gather_line(&self, g: usize) -> String {
        let gs = &self.gathers[g];
        if let Some(i) = gs.failed {
            return format!(
                "gather fail {}",
                gs.slots[i].as_ref().expect("set").describe()
            );
        }
        let items: Vec<String> = gs
            .places
            .iter()
            .map(|&c| gs.slots[c].as_ref().expect("all children done").item())
            .collect();
        let kind = if gs.mode == Mode::Settled {
            "settled"
        } else {
            "ok"
        };
        format!("gather {kind} [{}]", items.join(", "))
    }

    fn step(&mut self, tid: usize) {
        self.tasks[tid].scheduled = false;
        if self.tasks[tid].cancel_requested {
            if self.tasks[tid].started {
                let label = self.tasks[tid].label.clone();
                self.record(format!("{label} cancelled"));
            }
            if let Wait::Sleep(key) = self.tasks[tid].wait {
                self.timers.remove(&key);
            }
            self.complete(tid, Outcome::Cancelled);
            return;
        }
        self.tasks[tid].started = true;
        let label = self.tasks[tid].label.clone();
        match std::mem::replace(&mut self.tasks[tid].wait, Wait::Nothing) {
            Wait::Nothing | Wait::Sleep(_) => {}
            Wait::Await(target) => {
                let line = self.await_line(target);
                self.record(format!("{label} {line}"));
            }
            Wait::Gather(g) => {
                let line = self.gather_line(g);
                self.record(format!("{label} {line}"));
            }
        }
        loop {
            let pc = self.tasks[tid].pc;
            let Some(step) = self.tasks[tid].body.steps.get(pc).cloned() else {
                let end = self.tasks[tid].body.end;
                self.record(format!("{label} end {}", end.describe()));
                self.complete(tid, Outcome::Ended(end));
                return;
            };
            self.tasks[tid].pc += 1;
            match step {
                Step::Sleep(ms) => {
                    let key = (self.now + u64::from(ms), self.seq);
                    self.seq += 1;
                    self.timers.insert(key, tid);
                    self.tasks[tid].wait = Wait::Sleep(key);
                    return;
                }
                Step::Yield => {
                    self.tasks[tid].scheduled = true;
                    self.ready.push_back(Item::Step(tid));
                    return;
                }
                Step::Spawn(b) => {
                    let inherited = self.tasks[tid].handles.clone();
                    let child = self.spawn(b, format!("{label}.{pc}"), inherited);
                    self.tasks[tid].handles.push(child);
                }
                Step::Await(h) => {
                    let target = self.tasks[tid].handles[h];
                    if self.tasks[target].outcome.is_some() {
                        let line = self.await_line(target);
                        self.record(format!("{label} {line}"));
                    } else {
                        self.tasks[target].done_cbs.push(DoneCb::Wake(tid));
                        self.tasks[tid].wait = Wait::Await(target);
                        return;
                    }
                }
                Step::Cancel(super::program::Target::Handle(h), _) => {
                    let target = self.tasks[tid].handles[h];
                    let pending = self.tasks[target].outcome.is_none();
                    if pending {
                        self.tasks[target].cancel_requested = true;
                        self.wake(target);
                    }
                    let target_label = self.tasks[target].label.clone();
                    self.record(format!("{label} cancel {target_label} -> {pending}"));
                }
                Step::Gather(mode, bodies) => {
                    let inherited = self.tasks[tid].handles.clone();
                    let children: Vec<usize> = bodies
                        .into_iter()
                        .enumerate()
                        .map(|(j, b)| self.spawn(b, format!("{label}.{pc}.{j}"), inherited.clone()))
                        .collect();
                    if children.is_empty() {
                        let g = self.attach_gather(tid, mode, children);
                        let line = self.gather_line(g);
                        self.record(format!("{label} {line}"));
                    } else {
                        self.attach_gather(tid, mode, children);
                        return;
                    }
                }
                Step::GatherTasks(mode, idx) => {
                    let targets = idx.iter().map(|&h| self.tasks[tid].handles[h]).collect();
                    self.attach_gather(tid, mode, targets);
                    return;
                }
                Step::ReadResult(h) => {
                    let target = self.tasks[tid].handles[h];
                    let t = &self.tasks[target];
                    let outcome = match &t.outcome {
                        Some(o) => o.describe(),
                        None => "result() gave NotDone".into(),
                    };
                    let line = format!("read {} -> {outcome}", t.label);
                    self.record(format!("{label} {line}"));
                }
                Step::CurrentTask => self.record(format!("{label} current {label}")),
                Step::CallSoon(tag) => self.ready.push_back(Item::Soon(tag)),
                Step::Emit(tag) => self.record(format!("{label} emit {tag}")),
                Step::ToThread(_) | Step::ResolveFromThread(_) | Step::ResolveOrCancel(_) => {
                    unreachable!("checked at the start: no cross-thread steps")
                }
                other => unreachable!("not in the model's language: {other:?}"),
            }
        }
    }

    /// A gather of `args` (tasks, possibly repeated) awaited by `parent`: one done callback per
    /// distinct task, run at once (through the ready queue) for one already done. Unless it has
    /// no arguments, the parent waits for it.
    fn attach_gather(&mut self, parent: usize, mode: Mode, args: Vec<usize>) -> usize {
        let g = self.gathers.len();
        let mut children: Vec<usize> = Vec::new();
        let places: Vec<usize> = args
            .iter()
            .map(|&t| match children.iter().position(|&c| c == t) {
                Some(c) => c,
                None => {
                    children.push(t);
                    children.len() - 1
                }
            })
            .collect();
        for (c, &t) in children.iter().enumerate() {
            if self.tasks[t].outcome.is_some() {
                self.ready.push_back(Item::GatherDone(g, c));
            } else {
                self.tasks[t].done_cbs.push(DoneCb::GatherChild(g, c));
            }
        }
        let n = children.len();
        self.gathers.push(MGather {
            parent,
            mode,
            children,
            places,
            slots: vec![None; n],
            remaining: n,
            decided: n == 0,
            failed: None,
        });
        if n > 0 {
            self.tasks[parent].wait = Wait::Gather(g);
        }
        g
    }

    fn await_line(&self, target: usize) -> String {
        let t = &self.tasks[target];
        format!(
            "await {} -> {}",
            t.label,
            t.outcome.as_ref().expect("awaited task is done").describe()
        )
    }
}
