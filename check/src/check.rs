//! One entry point for every model test: [`check`] runs a body under whichever backend the build
//! selected.
//!
//! | backend | explores                                                     | bound (default, env)                          |
//! |---------|--------------------------------------------------------------|-----------------------------------------------|
//! | std     | the body once, on real threads (a smoke test)                | —                                             |
//! | loom    | every interleaving with at most P preemptions                | P = [`DEFAULT_PREEMPTIONS`], `LOOM_MAX_PREEMPTIONS` |
//! | shuttle | N random schedules, then N PCT schedules (depth d), each from its own seed | N = [`DEFAULT_ITERATIONS`] or the test's [`Options::iterations`], `EVLOOP_ITERATIONS`, `EVLOOP_SEEDS=a..b`, `EVLOOP_SEED`, `EVLOOP_SCHEDULER`, `EVLOOP_PCT_DEPTH` |
//!
//! On a failure the harness prints the runtime's own timeline of the failing schedule
//! ([`evloop_model::trace`]), writes a JSON record under `target/evloop-failures/`, and prints one line
//! that replays the failure: `EVLOOP_REPLAY='<token>' cargo test ...` under shuttle, a loom
//! checkpoint file under loom (see `specs/checking.md`).

/// loom's preemption bound when `LOOM_MAX_PREEMPTIONS` is not set. tokio's CI uses 2; our models
/// are small enough that 3 runs the whole loom suite in seconds.
pub const DEFAULT_PREEMPTIONS: usize = 3;

/// shuttle schedules per scheduler (random, then PCT) per test when neither the test nor
/// `EVLOOP_ITERATIONS` says otherwise.
pub const DEFAULT_ITERATIONS: u64 = 2000;

/// Per-test settings; the environment overrides them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    iterations: Option<u64>,
    preemptions: Option<usize>,
}

impl Options {
    /// The defaults.
    pub fn new() -> Options {
        Options::default()
    }

    /// shuttle schedules per scheduler for this test (a larger scenario affords fewer).
    pub fn iterations(mut self, n: u64) -> Options {
        self.iterations = Some(n);
        self
    }

    /// loom's preemption bound for this test (a larger scenario affords fewer), unless
    /// `LOOM_MAX_PREEMPTIONS` says otherwise.
    pub fn preemptions(mut self, n: usize) -> Options {
        self.preemptions = Some(n);
        self
    }

    /// Runs `body` under the selected backend with these settings.
    pub fn check<F>(self, body: F)
    where
        F: Fn() + Send + Sync + 'static,
    {
        imp::check(self, body)
    }
}

/// Runs `body` under the selected backend.
pub fn check<F>(body: F)
where
    F: Fn() + Send + Sync + 'static,
{
    Options::new().check(body)
}

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod imp {
    pub(super) fn check<F: Fn() + Send + Sync + 'static>(_opts: super::Options, body: F) {
        evloop_model::trace::reset();
        body();
    }
}

#[cfg(feature = "loom")]
mod imp {
    use crate::report::{self, Failure};
    use evloop_model::trace;
    use std::cell::Cell;
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
    use std::rc::Rc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    pub(super) fn check<F: Fn() + Send + Sync + 'static>(opts: super::Options, body: F) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(opts.preemptions.unwrap_or(super::DEFAULT_PREEMPTIONS));
        }
        let bound = builder.preemption_bound.unwrap_or(0);
        let test = report::current_test();
        let count = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let reported = Rc::new(Cell::new(false));

        let failure = {
            let (test, count, reported) = (test.clone(), count.clone(), reported.clone());
            move |message: String| {
                if reported.replace(true) {
                    return;
                }
                let n = count.load(Ordering::Relaxed);
                let file = std::env::var("LOOM_CHECKPOINT_FILE").unwrap_or_else(|_| {
                    let dir = report::failures_dir().unwrap_or_default();
                    let _ = std::fs::create_dir_all(&dir);
                    let file = dir.join(format!(
                        "{}-{}.loom.json",
                        report::current_binary(),
                        test.replace("::", "-")
                    ));
                    // A path left by an earlier failure may not exist in this build: the replay
                    // must record afresh.
                    let _ = std::fs::remove_file(&file);
                    file.display().to_string()
                });
                let mut env = vec![
                    ("LOOM_CHECKPOINT_FILE", file),
                    ("LOOM_CHECKPOINT_INTERVAL", "1".to_owned()),
                ];
                if let Ok(p) = std::env::var("LOOM_MAX_PREEMPTIONS") {
                    env.push(("LOOM_MAX_PREEMPTIONS", p));
                }
                let f = Failure {
                    test: test.clone(),
                    binary: report::current_binary(),
                    backend: "loom",
                    schedule: format!(
                        "interleaving {n} (preemption bound {bound}); the replay line records \
                         loom's path to it in the checkpoint file on its first run and jumps \
                         straight to it afterwards; add LOOM_LOG=1 LOOM_LOCATION=1 for loom's \
                         own log of it"
                    ),
                    seed: None,
                    schedules: n,
                    seconds: start.elapsed().as_secs_f64(),
                    message,
                    replay: report::replay_line(&env, &test),
                    timeline: trace::take(),
                };
                f.print();
            }
        };
        let failure = Rc::new(failure);

        let _active = report::enter_check();
        {
            // loom reports a deadlock by panicking and then aborts the process while unwinding
            // (it panics again during the unwind), so the report has to be printed from the panic hook. The same goes
            // for loom's other own panics (branch limit, causality): they are never the runtime's
            // caught task panics, so reporting them at once is safe.
            let failure = failure.clone();
            report::set_fatal_handler(Some(Box::new(move |message: &str| {
                if message.starts_with("deadlock") || message.contains("/loom-") {
                    failure(message.to_owned());
                }
            })));
        }
        let outcome = {
            let count = count.clone();
            catch_unwind(AssertUnwindSafe(|| {
                builder.check(move || {
                    count.fetch_add(1, Ordering::Relaxed);
                    trace::reset();
                    body();
                })
            }))
        };
        report::set_fatal_handler(None);
        match outcome {
            Ok(()) => eprintln!(
                "evloop-check: {test}: loom explored {} interleavings (preemption bound {bound}) \
                 in {:.2} s",
                count.load(Ordering::Relaxed),
                start.elapsed().as_secs_f64()
            ),
            Err(payload) => {
                let mut message = report::last_panic();
                if message.is_empty() {
                    message = report::payload_message(&*payload);
                }
                failure(message);
                resume_unwind(payload)
            }
        }
    }
}

#[cfg(all(feature = "shuttle", not(feature = "loom")))]
mod imp {
    use crate::explore::{Explorer, Plan, Progress, Schedulers, Token, DEFAULT_PCT_DEPTH};
    use crate::report::{self, Failure};
    use evloop_model::trace;
    use std::cell::RefCell;
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
    use std::rc::Rc;
    use std::time::Instant;

    fn env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    fn parse_u64(name: &str, v: &str) -> u64 {
        let v = v.trim();
        let parsed = match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        };
        parsed.unwrap_or_else(|| panic!("{name}={v:?}: expected a number (decimal or 0x-hex)"))
    }

    /// The plan the environment and the test's options ask for.
    fn plan(opts: super::Options) -> Plan {
        if let Some(t) = env("EVLOOP_REPLAY") {
            let token = Token::parse(&t).unwrap_or_else(|| {
                panic!(
                    "EVLOOP_REPLAY={t:?}: expected `random:<hex seed>` or \
                     `pct:<depth>:<steps>:<hex seed>`, as printed by a failed check"
                )
            });
            return Plan::Replay(token);
        }
        let base = env("EVLOOP_SEED").map_or(0, |v| parse_u64("EVLOOP_SEED", &v));
        let range = match env("EVLOOP_SEEDS") {
            Some(r) => {
                let (a, b) = r.split_once("..").unwrap_or_else(|| {
                    panic!("EVLOOP_SEEDS={r:?}: expected a range such as 1000..2000")
                });
                parse_u64("EVLOOP_SEEDS", a)..parse_u64("EVLOOP_SEEDS", b)
            }
            None => {
                let n = env("EVLOOP_ITERATIONS")
                    .map(|v| parse_u64("EVLOOP_ITERATIONS", &v))
                    .or(opts.iterations)
                    .unwrap_or(super::DEFAULT_ITERATIONS);
                0..n
            }
        };
        let schedulers = match env("EVLOOP_SCHEDULER").as_deref() {
            None | Some("both") => Schedulers::Both,
            Some("random") => Schedulers::Random,
            Some("pct") => Schedulers::Pct,
            Some(other) => panic!("EVLOOP_SCHEDULER={other:?}: expected random, pct or both"),
        };
        let depth = env("EVLOOP_PCT_DEPTH").map_or(DEFAULT_PCT_DEPTH, |v| {
            parse_u64("EVLOOP_PCT_DEPTH", &v).max(1) as usize
        });
        Plan::Explore {
            base,
            range,
            schedulers,
            depth,
        }
    }

    pub(super) fn check<F: Fn() + Send + Sync + 'static>(opts: super::Options, body: F) {
        let test = report::current_test();
        let plan = plan(opts);
        eprintln!("evloop-check: {test}: shuttle, {plan}");
        let progress = Rc::new(RefCell::new(Progress::default()));
        let explorer = Explorer::new(plan, progress.clone());
        let mut config = shuttle::Config::new();
        // Our replay token replaces shuttle's schedule strings (see `explore`).
        config.failure_persistence = shuttle::FailurePersistence::None;
        let start = Instant::now();
        let _active = report::enter_check();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            shuttle::Runner::new(explorer, config).run(move || {
                trace::reset();
                body();
            })
        }));
        match outcome {
            Ok(n) => eprintln!(
                "evloop-check: {test}: shuttle ran {n} schedules in {:.2} s, all passed",
                start.elapsed().as_secs_f64()
            ),
            Err(payload) => {
                let timeline = trace::take();
                let (started, token) = {
                    let p = progress.borrow();
                    (p.started, p.current)
                };
                let mut message = report::last_panic();
                if message.is_empty() {
                    message = report::payload_message(&*payload);
                }
                let schedule = token.map_or("unknown".to_owned(), |t| t.to_string());
                Failure {
                    test: test.clone(),
                    binary: report::current_binary(),
                    backend: "shuttle",
                    replay: report::replay_line(&[("EVLOOP_REPLAY", schedule.clone())], &test),
                    schedule,
                    seed: token.map(Token::seed),
                    schedules: started,
                    seconds: start.elapsed().as_secs_f64(),
                    message,
                    timeline,
                }
                .print();
                resume_unwind(payload)
            }
        }
    }
}
