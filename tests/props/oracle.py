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


class Run:
    def __init__(self, loop, prog):
        self.loop = loop
        self.lines = []
        self.recording = True
        self.returning = returning_tasks(prog)

    def rec(self, event):
        if self.recording:
            self.lines.append(f"{int(self.loop.time())} {event}")


def describe_exc(e):
    if isinstance(e, asyncio.CancelledError):
        return "cancelled"
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
    # its parent's handles at its step, then its own spawns.
    labels = set()

    def walk(prog, label, inherited):
        visible = list(inherited)
        for i, st in enumerate(prog[0]):
            if st[0] == "spawn":
                walk(st[1], f"{label}.{i}", visible)
                visible.append(f"{label}.{i}")
            elif st[0] == "gather":
                for j, c in enumerate(st[2]):
                    walk(c, f"{label}.{i}.{j}", visible)
            elif st[0] == "gathertasks" and st[1] == "plain":
                labels.update(visible[h] for h in st[2])

    walk(prog, "m", [])
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
    except asyncio.CancelledError:
        seen = "cancelled"
    if outcome.startswith("ok ") or (outcome.startswith("err ") and returning):
        want = "none"
    else:
        want = outcome
    if seen == want:
        return outcome
    return f"{outcome}, but exception() says {seen}"


async def body(run, prog, label, raising, inherited):
    steps, end = prog
    handles = list(inherited)
    try:
        for i, st in enumerate(steps):
            k = st[0]
            if k == "sleep":
                await asyncio.sleep(st[1])
            elif k == "yield":
                await asyncio.sleep(0)
            elif k == "spawn":
                lab = f"{label}.{i}"
                # A copy: the child sees the handles of this moment, not later spawns.
                coro = body(run, st[1], lab, lab not in run.returning, list(handles))
                handles.append((lab, run.loop.create_task(coro, name=lab)))
            elif k == "await":
                lab, t = handles[st[1]]
                try:
                    d = value(await t)
                except (asyncio.CancelledError, Fail, Panic) as e:
                    d = describe_exc(e)
                run.rec(f"{label} await {lab} -> {d}")
            elif k == "read":
                lab, t = handles[st[1]]
                run.rec(f"{label} read {lab} -> {read_line(t, lab in run.returning)}")
            elif k == "current":
                run.rec(f"{label} current {asyncio.current_task().get_name()}")
            elif k == "cancel":
                lab, t = handles[st[1]]
                asked = "true" if t.cancel() else "false"
                run.rec(f"{label} cancel {lab} -> {asked}")
            elif k == "gather" or k == "gathertasks":
                mode = st[1]
                if k == "gather":
                    labels = [f"{label}.{i}.{j}" for j in range(len(st[2]))]
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
                if mode == "settled":
                    rs = await outer
                    line = "gather settled [" + ", ".join(item(r) for r in rs) + "]"
                else:
                    try:
                        rs = await outer
                        line = "gather ok [" + ", ".join(item(r) for r in rs) + "]"
                    except (asyncio.CancelledError, Fail, Panic) as e:
                        line = f"gather fail {describe_exc(e)}"
                run.rec(f"{label} {line}")
            elif k == "soon":
                tag = st[1]
                run.loop.call_soon(run.rec, f"cb {tag}")
            elif k == "emit":
                run.rec(f"{label} emit {st[1]}")
            else:
                raise ValueError(f"step {k} has no CPython translation")
    except asyncio.CancelledError:
        run.rec(f"{label} cancelled")
        raise
    run.rec(f"{label} end {describe_end(end)}")
    kind, v = end
    if kind == "ret":
        return v
    if kind == "fail":
        if raising:
            raise Fail(v)
        return ("err", v)
    raise Panic(v)


def run_program(prog):
    loop = VirtualLoop()
    loop.set_exception_handler(lambda loop, context: None)
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
