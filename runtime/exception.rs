//! The loop's exception handler (asyncio's `set_exception_handler`, `call_exception_handler`,
//! `default_exception_handler`): where evloop reports what no task can be told of — a callback
//! or a waker that panicked, a task's panic nobody read, a task destroyed while pending, errors
//! during `run`'s shutdown (LOOP-13). The default handler writes them to `tracing`.

use crate::engine::incident::{self, Handler, Incident};
use crate::error::Panic;
use crate::event_loop::EventLoop;
use crate::task::TaskRef;
use evloop_model::sync::Arc;
use std::fmt;

/// What the exception handler is told (asyncio's `context` dict): a message, and the task and the
/// panic concerned when there are.
///
/// ```
/// let ctx = evloop::ExceptionContext::new("something went wrong");
/// assert_eq!(ctx.message(), "something went wrong");
/// assert!(ctx.task().is_none() && ctx.panic().is_none());
/// ```
#[derive(Clone)]
pub struct ExceptionContext {
    message: String,
    task: Option<TaskRef>,
    panic: Option<Panic>,
}

impl ExceptionContext {
    /// A context with only a message (asyncio's `{'message': ...}`).
    ///
    /// ```
    /// let ctx = evloop::ExceptionContext::new("disk full");
    /// assert_eq!(ctx.to_string(), "disk full");
    /// ```
    pub fn new(message: impl Into<String>) -> ExceptionContext {
        ExceptionContext {
            message: message.into(),
            task: None,
            panic: None,
        }
    }

    /// This context, about `task` (asyncio's `context['task']`).
    ///
    /// ```
    /// evloop::run(async {
    ///     let me = evloop::current_task().unwrap();
    ///     let ctx = evloop::ExceptionContext::new("about me").with_task(me.clone());
    ///     assert_eq!(ctx.task(), Some(&me));
    /// });
    /// ```
    pub fn with_task(mut self, task: TaskRef) -> ExceptionContext {
        self.task = Some(task);
        self
    }

    /// The message (asyncio's `context['message']`).
    ///
    /// ```
    /// assert_eq!(evloop::ExceptionContext::new("m").message(), "m");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The task concerned, if any (asyncio's `context['task']`).
    ///
    /// ```
    /// assert!(evloop::ExceptionContext::new("m").task().is_none());
    /// ```
    pub fn task(&self) -> Option<&TaskRef> {
        self.task.as_ref()
    }

    /// The panic caught, if any (asyncio's `context['exception']`).
    ///
    /// ```
    /// assert!(evloop::ExceptionContext::new("m").panic().is_none());
    /// ```
    pub fn panic(&self) -> Option<&Panic> {
        self.panic.as_ref()
    }

    fn from_incident(i: Incident) -> ExceptionContext {
        ExceptionContext {
            message: i.message,
            task: i.task.map(TaskRef::from_cell),
            panic: i.panic,
        }
    }

    fn into_incident(self) -> Incident {
        Incident::new(self.message)
            .panic(self.panic)
            .task_ref(self.task.map(|t| t.cell().clone()))
    }
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(p) = &self.panic {
            write!(f, ": {}", p.message())?;
        }
        Ok(())
    }
}

impl fmt::Debug for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExceptionContext")
            .field("message", &self.message)
            .field("task", &self.task.as_ref().map(TaskRef::name))
            .field("panic", &self.panic.as_ref().map(Panic::message))
            .finish()
    }
}

impl EventLoop {
    /// Sets the loop's exception handler (asyncio's `set_exception_handler`); `None` restores the
    /// default, which writes to `tracing`. The handler runs on whichever thread the incident
    /// happened (usually a worker of the loop), with no runtime lock held; a panic in it is
    /// reported by the default handler. A handler that captures a handle to this loop keeps the
    /// loop alive until it is replaced or the loop is closed (`close` drops it).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let seen = lp.create_future::<String>();
    /// let report = seen.clone();
    /// lp.set_exception_handler(Some(move |ctx: &evloop::ExceptionContext| {
    ///     let _ = report.set_result(ctx.to_string());
    /// }));
    /// lp.call_soon(|| panic!("callback exploded"));
    /// lp.run_until_complete(evloop::sleep(std::time::Duration::ZERO));
    /// let seen = seen.result().unwrap().unwrap();
    /// assert!(seen.contains("a callback panicked") && seen.contains("callback exploded"));
    /// lp.close();
    /// ```
    pub fn set_exception_handler<H>(&self, handler: Option<H>)
    where
        H: Fn(&ExceptionContext) + Send + Sync + 'static,
    {
        let handler: Option<Handler> = handler.map(|h| {
            Arc::new(
                Box::new(move |i: Incident| h(&ExceptionContext::from_incident(i)))
                    as Box<dyn Fn(Incident) + Send + Sync>,
            )
        });
        self.inner().set_exception_handler(handler);
    }

    /// Reports `ctx` to the loop's exception handler, or to the default one (asyncio's
    /// `call_exception_handler`).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let got = lp.create_future::<String>();
    /// let g = got.clone();
    /// lp.set_exception_handler(Some(move |ctx: &evloop::ExceptionContext| {
    ///     let _ = g.set_result(ctx.message().to_owned());
    /// }));
    /// lp.call_exception_handler(evloop::ExceptionContext::new("from the user"));
    /// assert_eq!(got.result().unwrap().unwrap(), "from the user");
    /// lp.close();
    /// ```
    pub fn call_exception_handler(&self, ctx: ExceptionContext) {
        incident::deliver(self.inner().exception_handler(), ctx.into_incident());
    }

    /// The default handler (asyncio's `default_exception_handler`): logs `ctx` through `tracing`,
    /// with the task's name and where it was created, and the panic's message. A handler may call
    /// it to keep the default report.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// lp.default_exception_handler(&evloop::ExceptionContext::new("logged through tracing"));
    /// lp.close();
    /// ```
    pub fn default_exception_handler(&self, ctx: &ExceptionContext) {
        incident::default_handler(&ctx.clone().into_incident());
    }
}
