//! The loop's registry: a strong reference to every unfinished task, from creation to completion
//! (R4 in `cell`: a task runs to its end even when every handle is dropped, TASK-9), the task ids,
//! and the names of named tasks.
//!
//! Both locks are leaves: nothing else is locked while either is held, and either may be taken
//! under any other lock (a cell, and so a name, can be dropped anywhere). Nothing that is dropped
//! here under a lock is user code: a slot gives its task out, and the caller drops it (LOCK-1).

use super::cell::{TaskName, TaskRc, REGISTRY_KEYS};
use evloop_model::sync::Mutex;
use std::collections::BTreeMap;

pub(crate) struct Registry {
    slots: Mutex<Slots>,
    /// Names of this loop's named tasks, by id, for as long as their cells live (the cell only
    /// has a bit saying it is named; see `cell`).
    names: Mutex<BTreeMap<u64, TaskName>>,
}

#[derive(Default)]
struct Slots {
    /// The next task id: allocated under the lock `register` takes anyway, so no atomic of its
    /// own. asyncio numbers tasks from 1.
    next_id: u64,
    slots: Vec<Option<TaskRc>>,
    /// Keys are `u32` so that the cell's done list (what a parked task costs) stays small.
    free: Vec<u32>,
    closed: bool,
}

impl Registry {
    pub(super) fn new() -> Registry {
        Registry {
            slots: Mutex::new(Slots::default()),
            names: Mutex::new(BTreeMap::new()),
        }
    }

    /// Registers the task `make` builds from its id and its registry key; `None` once the loop
    /// is closed (`make` is not called). The key is chosen before the cell exists, so the cell is
    /// born knowing it and no second lock (its done list) is needed to record it.
    pub(super) fn register(&self, make: impl FnOnce(u64, u32) -> TaskRc) -> Option<TaskRc> {
        let mut reg = self.slots.lock();
        if reg.closed {
            // `make` owns the future: dropped after the lock (LOCK-1).
            drop(reg);
            drop(make);
            return None;
        }
        let key = match reg.free.pop() {
            Some(key) => key,
            None if reg.slots.len() < REGISTRY_KEYS => reg.slots.len() as u32,
            None => panic!("more than 2^31 unfinished tasks on one loop"),
        };
        reg.next_id += 1;
        let cell = make(reg.next_id, key);
        if key as usize == reg.slots.len() {
            reg.slots.push(Some(cell.clone()));
        } else {
            reg.slots[key as usize] = Some(cell.clone());
        }
        Some(cell)
    }

    /// The task leaves the registry (it completed); the caller drops the reference it gets.
    pub(crate) fn unregister(&self, key: u32) -> Option<TaskRc> {
        let mut reg = self.slots.lock();
        let cell = reg.slots.get_mut(key as usize).and_then(Option::take);
        if cell.is_some() {
            reg.free.push(key);
        }
        cell
    }

    /// Closes the registry (LOOP-6): no task is registered after this; returns the unfinished
    /// ones for the caller to tear down.
    pub(super) fn close(&self) -> Vec<TaskRc> {
        let mut reg = self.slots.lock();
        reg.closed = true;
        reg.free.clear();
        reg.slots.drain(..).flatten().collect()
    }

    /// The unfinished task registered at `key`, if it is still task `id`.
    pub(crate) fn get(&self, key: u32, id: u64) -> Option<TaskRc> {
        let reg = self.slots.lock();
        reg.slots
            .get(key as usize)
            .and_then(Option::as_ref)
            .filter(|t| t.id == id)
            .cloned()
    }

    /// The unfinished task registered at `key`, whichever it is.
    pub(crate) fn at(&self, key: u32) -> Option<TaskRc> {
        let reg = self.slots.lock();
        reg.slots
            .get(key as usize)
            .and_then(Option::as_ref)
            .cloned()
    }

    /// Every unfinished task, oldest first (asyncio's `all_tasks`).
    pub(crate) fn tasks(&self) -> Vec<TaskRc> {
        let reg = self.slots.lock();
        let mut tasks: Vec<TaskRc> = reg.slots.iter().flatten().cloned().collect();
        drop(reg);
        tasks.sort_by_key(|t| t.id);
        tasks
    }

    /// Records a named task's name (at its creation, before its cell exists).
    pub(crate) fn name_task(&self, id: u64, name: TaskName) {
        self.names.lock().insert(id, name);
    }

    /// A named task's name, while its cell lives.
    pub(crate) fn task_name(&self, id: u64) -> Option<String> {
        self.names.lock().get(&id).map(|n| String::from(&**n))
    }

    /// Drops a named task's name (its cell is being dropped).
    pub(crate) fn forget_task_name(&self, id: u64) {
        let name = self.names.lock().remove(&id);
        drop(name);
    }

    /// How many named tasks' names the loop keeps (tests: each goes with its task's cell).
    pub(crate) fn named_tasks(&self) -> usize {
        self.names.lock().len()
    }
}
