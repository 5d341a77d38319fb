# The CPython oracle: runs a generated program (one JSON line on stdin) with asyncio and prints
# its trace in the format of tests/props/interp.rs, then a line "<<END>>". Loops until stdin ends.
#
# Time is virtual: the loop's clock counts milliseconds and only moves when the loop would block
# in select() with a timeout, by exactly that timeout (the distance to the next timer). Deadlines
# and clock readings are then whole numbers, which floats hold exactly, and asyncio's
# `_clock_resolution` (1e-9) makes a timer due when `when <= now`, as in evloop.
import asyncio
import heapq
import warnings
import json
import selectors
import sys


class Fail(Exception):
    pass


class Panic(Exception):
    pass


class Deadlock(Exception):
    pass


class VirtualSelector(selectors.SelectSelector):
    def __init__(self):
        super().__init__()
        self.loop = None

    def select(self, timeout=None):
        if timeout is None:
            raise Deadlock()
        if timeout > 0:
            self.loop.vnow += timeout
        return super().select(0)


class FifoTimerHandle(asyncio.TimerHandle):
    # CPython orders its timer heap by deadline only, so timers with equal deadlines fire in an
    # unspecified order (heapq is not stable). evloop promises creation order (TIME-2); the oracle
    # breaks ties the same way so the rest of the trace can be compared (specs/differences.md).
    def __init__(self, seq, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._seq = seq

    def __lt__(self, other):
        return (self._when, self._seq) < (other._when, other._seq)


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        sel = VirtualSelector()
        super().__init__(sel)
        sel.loop = self
        self.vnow = 0.0
        self.timer_seq = 0

    def time(self):
        return self.vnow

    def call_at(self, when, callback, *args, context=None):
        # base_events.BaseEventLoop.call_at, with the tie-breaking handle.
        self._check_closed()
        self.timer_seq += 1
        timer = FifoTimerHandle(self.timer_seq, when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer


class OracleTask(asyncio.Task):
    # asyncio's own Task (the C one), counting the cancel() calls that reach it while it is not
    # done, hand-downs included: what tells an await whether a CancelledError is the task's own
    # cancellation (see await_own).
    #
    # DIFF candidate (reported, not yet decided): CPython 3.11 gives a cancelled task's message
    # to the first reader of its outcome only (`_make_cancelled_error` hands out the saved
    # exception once; later readers, and a settled gather's slot, get a CancelledError without
    # one), where evloop's `TaskError::Cancelled` keeps it for every reader (CANCEL-4). The
    # oracle keeps each task's message and gives it to every reader, so that the rest of the
    # trace is still compared with messages.
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.started = False
        self.last_msg = None
        self.end_msg = None

    def cancel(self, msg=None):
        if not self.done():
            self.calls += 1
            self.last_msg = msg
        return super().cancel(msg)

    def message(self):
        # A task cancelled before its first step ends with its last request's message: every
        # request set `_must_cancel` (it never waited on anything).
        return self.end_msg if self.started else self.last_msg

    def _make_cancelled_error(self):
        super()._make_cancelled_error()
        return cancelled_error(self.message())

    def result(self):
        try:
            return super().result()
        except asyncio.CancelledError:
            raise cancelled_error(self.message()) from None

    def exception(self):
        try:
            return super().exception()
        except asyncio.CancelledError:
            raise cancelled_error(self.message()) from None


def cancelled_error(msg):
    return asyncio.CancelledError() if msg is None else asyncio.CancelledError(msg)


class Run:
    def __init__(self, loop, prog):
        self.loop = loop
        self.lines = []
        self.recording = True
        self.returning = returning_tasks(prog)

    def rec(self, event):
        if self.recording:
            self.lines.append(f"{int(self.loop.time())} {event}")


class Return(Exception):
    # A handler's `Then::End`: the task ends at once with this ending.
    pass


def describe_cancel(e):
    msg = e.args[0] if e.args else None
    return f"cancelled({msg})" if msg else "cancelled"


def describe_exc(e):
    if isinstance(e, asyncio.CancelledError):
        return describe_cancel(e)
    if isinstance(e, Fail):
        return f"err {e.args[0]}"
    if isinstance(e, Panic):
        return f"panic {e.args[0]}"
    raise e


def describe_end(end):
    kind, v = end
    return {"ret": f"ok {v}", "fail": f"err {v}", "panic": f"panic {v}"}[kind]


def item(v):
    # A value in a gather's list: an int, an ("err", tag) from a non-raising child, or an exception.
    if isinstance(v, BaseException):
        return describe_exc(v)
    if isinstance(v, tuple):
        return f"err {v[1]}"
    return str(v)


def value(v):
    # What an await or result() returned: an int, or ("err", tag) from a non-raising task.
    return f"err {v[1]}" if isinstance(v, tuple) else f"ok {v}"


def returning_tasks(prog):
    # The spawned tasks that return ("err", tag) rather than raise Fail(tag): those given to a
    # plain gather of existing tasks. evloop's plain gather lists an `Err` as a value, and asyncio's
    # fails on an exception, so such a task must not raise; the generator never also gathers it in
    # fallible mode (program.rs, `normalize`). Handles are scoped as in program.rs: a body sees
    # its parent's handles at its step, then its own spawns; a scope's body and handler each see
    # the handles at the scope, then their own spawns.
    labels = set()

    def walk(steps, prefix, inherited):
        visible = list(inherited)
        for i, st in enumerate(steps):
            if st[0] == "spawn":
                walk(st[1][0], f"{prefix}{i}.", visible)
                visible.append(f"{prefix}{i}")
            elif st[0] == "gather":
                for j, c in enumerate(st[2]):
                    walk(c[0], f"{prefix}{i}.{j}.", visible)
            elif st[0] == "catch":
                walk(st[1], f"{prefix}{i}t", visible)
                walk(st[2], f"{prefix}{i}h", visible)
            elif st[0] == "gathertasks" and st[1] == "plain":
                labels.update(visible[h] for h in st[2])

    walk(prog[0], "m.", [])
    return labels


def read_line(t, returning):
    # t.result() and t.exception() of a finished task: the outcome, and whether they agree (a
    # returning task's ("err", tag) is a value, so exception() is None for it).
    try:
        outcome = value(t.result())
    except (asyncio.CancelledError, Fail, Panic) as e:
        outcome = describe_exc(e)
    try:
        exc = t.exception()
        seen = "none" if exc is None else describe_exc(exc)
    except asyncio.CancelledError as e:
        seen = describe_cancel(e)
    if outcome.startswith("ok ") or (outcome.startswith("err ") and returning):
        want = "none"
    else:
        want = outcome
    if seen == want:
        return outcome
    return f"{outcome}, but exception() says {seen}"


class GatherCancel:
    # Wraps a gather's `cancel` to keep the message of the request it took.
    #
    # Known difference K5 (specs/properties.md PROP-10, reported): a gather that took a
    # cancellation ends, once its children have, with a CancelledError built from its last child
    # in argument order (`_GatheringFuture`'s done callback, `outer._cancel_requested`, uses the
    # loop variable of its results loop): that child's message if it ended cancelled, none if it
    # caught the cancellation (the request was handed down to what it awaited, so its
    # `_cancel_message` was never set). evloop's gather ends cancelled with the message of the
    # request it took (CANCEL-4). The oracle gives the gather's CancelledError that message, so
    # the rest of the trace is still compared with messages.
    def __init__(self, outer):
        self.outer = outer
        self.orig = outer.cancel
        self.requested = False
        self.msg = None

    def __call__(self, msg=None):
        pending = not self.outer.done()
        took = self.orig(msg=msg)
        if pending and took and not self.requested:
            self.requested = True
            self.msg = msg
        return took


async def await_own(aw, pending, tasks, gather=None):
    # Awaits a task or a gather and returns what it gave, or raises the awaiting task's own
    # cancellation. evloop tells the two apart (CANCEL-6, CANCEL-7): a CancelledError is the
    # task's own when the task was asked to cancel while it waited here (the request was handed
    # down to what it awaits, or lands at this await), or had a request pending when it started
    # waiting on something not yet done (asyncio hands that one down when the task yields).
    # Otherwise what it awaited was cancelled by someone else: a value to record. `tasks`: the
    # awaited task, whose message a CancelledError from it carries (see OracleTask).
    me = asyncio.current_task()
    calls = me.calls
    armed = me._must_cancel and pending
    try:
        return ("value", await aw)
    except asyncio.CancelledError as e:
        if tasks and tasks.cancelled():
            e = cancelled_error(tasks.message())
        elif gather is not None and gather.requested and ended_cancelled(gather.outer):
            # Only the gather's own CancelledError (K5); one built from this task's pending
            # request (`_must_cancel`, the gather having ended otherwise) keeps its message.
            e = cancelled_error(gather.msg)
        if armed or me.calls != calls:
            raise e from None
        return ("error", e)
    except (Fail, Panic) as e:
        return ("error", e)


def ended_cancelled(fut):
    if not fut.done():
        return False
    return fut.cancelled() or isinstance(fut.exception(), asyncio.CancelledError)


def settled_item(r, child):
    if isinstance(r, asyncio.CancelledError):
        return describe_cancel(cancelled_error(child.message()))
    return item(r)


async def run_steps(run, label, steps, prefix, inherited):
    # Runs a list of steps of task `label`; a task spawned by step i is labelled prefix + i.
    handles = list(inherited)
    for i, st in enumerate(steps):
        k = st[0]
        if k == "sleep":
            await asyncio.sleep(st[1])
        elif k == "yield":
            await asyncio.sleep(0)
        elif k == "spawn":
            lab = f"{prefix}{i}"
            # A copy: the child sees the handles of this moment, not later spawns.
            coro = body(run, st[1], lab, lab not in run.returning, list(handles))
            handles.append((lab, run.loop.create_task(coro, name=lab)))
        elif k == "await":
            lab, t = handles[st[1]]
            kind, v = await await_own(t, not t.done(), t)
            d = value(v) if kind == "value" else describe_exc(v)
            run.rec(f"{label} await {lab} -> {d}")
        elif k == "read":
            lab, t = handles[st[1]]
            run.rec(f"{label} read {lab} -> {read_line(t, lab in run.returning)}")
        elif k == "current":
            run.rec(f"{label} current {asyncio.current_task().get_name()}")
        elif k in ("cancel", "cancelling", "uncancel"):
            if st[1] == "me":
                lab, t = label, asyncio.current_task()
            else:
                lab, t = handles[st[1]]
            if k == "cancel":
                msg = st[2] if len(st) > 2 else None
                asked = "true" if t.cancel(None if msg is None else f"m{msg}") else "false"
                m = "" if msg is None else f" m{msg}"
                run.rec(f"{label} cancel {lab}{m} -> {asked}")
            elif k == "cancelling":
                run.rec(f"{label} cancelling {lab} -> {t.cancelling()}")
            else:
                run.rec(f"{label} uncancel {lab} -> {t.uncancel()}")
        elif k == "catch":
            try:
                await run_steps(run, label, st[1], f"{prefix}{i}t", handles)
            except asyncio.CancelledError as e:
                run.rec(f"{label} caught {describe_cancel(e)}")
                await run_steps(run, label, st[2], f"{prefix}{i}h", handles)
                then = st[3]
                if then[0] in ("raise", "escape"):
                    raise
                if then[0] != "resume":
                    raise Return(then)
        elif k == "gather" or k == "gathertasks":
            mode = st[1]
            if k == "gather":
                labels = [f"{prefix}{i}.{j}" for j in range(len(st[2]))]
                args = [
                    body(run, c, lab, mode != "plain", list(handles))
                    for c, lab in zip(st[2], labels)
                ]
            else:
                args = [handles[h][1] for h in st[2]]
            outer = asyncio.gather(*args, return_exceptions=mode == "settled")
            if k == "gather":
                # Name the tasks gather made of the coroutines, for current_task() (an
                # empty gather is a plain future, with no children).
                for child, lab in zip(getattr(outer, "_children", []), labels):
                    child.set_name(lab)
            gc = GatherCancel(outer)
            outer.cancel = gc
            kind, rs = await await_own(outer, not outer.done(), None, gc)
            if kind == "error":
                line = f"gather fail {describe_exc(rs)}"
            elif mode == "settled":
                children = [
                    getattr(outer, "_children", [])[p] if k == "gather" else a
                    for p, a in enumerate(args)
                ]
                items = (settled_item(r, c) for r, c in zip(rs, children))
                line = "gather settled [" + ", ".join(items) + "]"
            else:
                line = "gather ok [" + ", ".join(item(r) for r in rs) + "]"
            run.rec(f"{label} {line}")
        elif k == "soon":
            tag = st[1]
            run.loop.call_soon(run.rec, f"cb {tag}")
        elif k == "emit":
            run.rec(f"{label} emit {st[1]}")
        else:
            raise ValueError(f"step {k} has no CPython translation")


async def body(run, prog, label, raising, inherited):
    steps, end = prog
    me = asyncio.current_task()
    me.started = True
    try:
        await run_steps(run, label, steps, f"{label}.", inherited)
    except Return as r:
        end = r.args[0]
    except asyncio.CancelledError as e:
        run.rec(f"{label} {describe_cancel(e)}")
        me.end_msg = e.args[0] if e.args else None
        raise
    # Returning with a request pending ends the task cancelled, with that request's message.
    me.end_msg = me._cancel_message
    run.rec(f"{label} end {describe_end(end)}")
    kind, v = end
    if kind == "ret":
        return v
    if kind == "fail":
        # evloop's `Err` is a returned value: with a cancellation still pending (the task
        # cancelled itself since its last await) the task ends cancelled, as a coroutine that
        # returns does in asyncio, where an exception would win instead.
        if raising and not asyncio.current_task()._must_cancel:
            raise Fail(v)
        return ("err", v)
    raise Panic(v)


def run_program(prog):
    loop = VirtualLoop()
    loop.set_exception_handler(lambda loop, context: None)
    loop.set_task_factory(lambda loop, coro, **kw: OracleTask(coro, loop=loop, **kw))
    run = Run(loop, prog)
    try:
        main = loop.create_task(body(run, prog, "m", True, []), name="m")
        v = loop.run_until_complete(main)
        result = f"result ok {v}"
    except Deadlock:
        result = "result deadlock"
    except (asyncio.CancelledError, Fail, Panic) as e:
        result = f"result {describe_exc(e)}"
    run.recording = False
    # Pending tasks are dropped with the loop, as evloop's close() drops them; not traced.
    loop.close()
    return run.lines + [result]


def main():
    # Tasks cancelled before their first step leave never-started coroutines behind: expected.
    warnings.simplefilter("ignore")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            out = run_program(json.loads(line))
        except Exception as e:  # report, do not die: the Rust side shows it as a trace line
            out = [f"oracle error: {type(e).__name__}: {e}"]
        sys.stdout.write("\n".join(out) + "\n<<END>>\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
