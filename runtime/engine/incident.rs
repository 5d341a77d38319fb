//! What the runtime tells the loop's exception handler (asyncio's `call_exception_handler`):
//! panics in callbacks and wakers, task panics nobody read, tasks destroyed pending, errors during
//! `run`'s shutdown (LOOP-13). The handler is the user's (`EventLoop::set_exception_handler`) or
//! the default one, which writes the incident to `tracing` as evloop always has.
//!
//! The handler is user code: it is called with no runtime lock held (LOCK-1), and a panic in it is
//! contained and reported through the default handler, with the incident it was handling.

use super::cell::TaskRc;
use super::current;
use crate::error::Panic;
use evloop_model::sync::Arc;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// One report for the exception handler (asyncio's `context` dict).
#[derive(Clone)]
pub(crate) struct Incident {
    /// asyncio's `context['message']`.
    pub(crate) message: String,
    /// The task concerned, if any (asyncio's `context['task']` / `['future']`).
    pub(crate) task: Option<TaskRc>,
    /// The panic, if one was caught (asyncio's `context['exception']`).
    pub(crate) panic: Option<Panic>,
    /// For the default handler: a warning rather than an error.
    pub(crate) warning: bool,
}

impl Incident {
    pub(crate) fn new(message: impl Into<String>) -> Incident {
        Incident {
            message: message.into(),
            task: None,
            panic: None,
            warning: false,
        }
    }

    pub(crate) fn task(mut self, task: &TaskRc) -> Incident {
        self.task = Some(task.clone());
        self
    }

    pub(crate) fn task_ref(mut self, task: Option<TaskRc>) -> Incident {
        self.task = task;
        self
    }

    pub(crate) fn panic(mut self, panic: Option<Panic>) -> Incident {
        self.panic = panic;
        self
    }

    pub(crate) fn warning(mut self) -> Incident {
        self.warning = true;
        self
    }
}

/// A loop's exception handler, as the engine keeps it (the public signature is converted in
/// `crate::exception`). Boxed inside the `Arc`: the model checkers' `Arc` cannot be unsized.
pub(crate) type Handler = Arc<Box<dyn Fn(Incident) + Send + Sync>>;

/// Reports `incident` to the running loop's handler, or to the default one off the loop.
pub(crate) fn report(incident: Incident) {
    let handler = current::with(|lp| lp.and_then(|lp| lp.exception_handler()));
    deliver(handler, incident);
}

/// Calls `handler` (the default one when `None`); a panic in it is reported by the default
/// handler, beside the incident (asyncio: "Unhandled error in exception handler").
pub(crate) fn deliver(handler: Option<Handler>, incident: Incident) {
    let Some(handler) = handler else {
        return default_handler(&incident);
    };
    let kept = incident.clone();
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler(incident))) {
        default_handler(
            &Incident::new("Unhandled error in exception handler").panic(Some(Panic::new(payload))),
        );
        default_handler(&kept);
    }
}

/// asyncio's `default_exception_handler`: logs the incident (through `tracing`), with the task's
/// name and where it was created, and the panic's message.
pub(crate) fn default_handler(incident: &Incident) {
    let task = incident.task.as_ref().map(|t| t.display_name());
    let created_at = incident.task.as_ref().map(|t| t.created_at.to_string());
    let panic = incident.panic.as_ref().map(|p| p.message().to_owned());
    evloop_model::trace::record(|| {
        format!(
            "exception handler: {}{}",
            incident.message,
            panic.as_deref().map_or(String::new(), |p| format!(": {p}"))
        )
    });
    let message = incident.message.as_str();
    if incident.warning {
        tracing::warn!(task, created_at, panic, "{message}");
    } else {
        tracing::error!(task, created_at, panic, "{message}");
    }
}
