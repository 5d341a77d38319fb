//! The engine: what runs a loop. A task's cell and its state word, the ready queue's items, the
//! timers, the scheduler that holds them, the turn that runs them (asyncio's `_run_once`) and the
//! choices it asks, the thread pool. Nothing here knows the things users await (`crate::future`,
//! `crate::gather`, …) or the public handles; those use the small interface below.
//!
//! | file          | holds                                                    | spec ids |
//! |---------------|----------------------------------------------------------|----------|
//! | `state.rs`    | a task's state word and its named transitions            | TASK-3, TASK-4, TASK-5, TASK-7 |
//! | `body.rs`     | a task's future and, once finished, its outcome          | TASK-8, TASK-10, TASK-12 |
//! | `cell.rs`     | the task cell: state, done list, body in one allocation  | TASK-5, TASK-6, TASK-9, TASK-10 |
//! | `ready.rs`    | what the ready queue holds ([`ready::Runnable`])          | LOOP-2 |
//! | `callback.rs` | a `call_soon` / `call_later` callback's cell             | LOOP-7, LOOP-9 |
//! | `timers.rs`   | timers in deadline order                                 | TIME-1, TIME-2, TIME-5 |
//! | `sleeps.rs`   | the `sleep` timers' slots                                | TIME-1, TIME-3 |
//! | `scheduler.rs`| the loop's shared state behind one type                  | LOOP-5, LOOP-6, TIME-4 |
//! | `registry.rs` | unfinished tasks, task ids and names                     | TASK-9, LOOP-6 |
//! | `turn.rs`     | what each worker does, turn after turn                   | LOOP-2..5, LOOP-8, THREAD-1 |
//! | `choices.rs`  | the turn's open choices: FIFO, or `explore`'s            | EXPLORE-2..4, EXPLORE-12 |
//! | `pool.rs`     | the thread pool's threads                                | THREAD-7 |
//! | `current.rs`  | which scheduler and task step run on this thread          |          |
//! | `cancel.rs`   | how a cancellation reaches the task's code; the loop's table of messages | CANCEL-2, CANCEL-5, CANCEL-6, CANCEL-8 |
//!
//! The task cell and the scheduler name each other (a task holds its loop to queue itself; the
//! loop's queue and registry hold tasks): the one cycle inside the engine, the same one tokio's
//! task module breaks with a generic `Schedule` parameter. Here a trait object would put an
//! indirection on every wake, so the two are kept in one layer instead.

pub(crate) mod body;
pub(crate) mod callback;
pub(crate) mod cancel;
pub(crate) mod cell;
pub(crate) mod choices;
pub(crate) mod config;
pub(crate) mod contain;
pub(crate) mod current;
pub(crate) mod incident;
pub(crate) mod pool;
pub(crate) mod ready;
pub(crate) mod registry;
pub(crate) mod scheduler;
pub(crate) mod sleeps;
pub(crate) mod state;
pub(crate) mod timers;
pub(crate) mod turn;
