"""CPython asyncio (or uvloop) side of evloop's benchmarks.

Driven by benches/compare.rs over stdin/stdout: each request line is `<workload> <n> <iters>`; the
reply is `<total nanoseconds> <checksum>`, timing only `loop.run_until_complete(...)` on one loop
that lives for the whole process (as the Rust side reuses one runtime). `quit` ends the process.
"""

import asyncio
import sys
import time


async def spawn_join(n):
    async def child(i):
        return i

    tasks = [asyncio.create_task(child(i)) for i in range(n)]
    total = 0
    for t in tasks:
        total += await t
    return total


async def gather(n):
    async def child(i):
        await asyncio.sleep(0)
        return i

    return sum(await asyncio.gather(*(child(i) for i in range(n))))


async def yield_loop(n):
    async def one_task():
        k = 0
        for _ in range(n):
            await asyncio.sleep(0)
            k += 1
        return k

    return await asyncio.create_task(one_task())


WORKLOADS = {"spawn_join": spawn_join, "gather": gather, "yield_loop": yield_loop}


def main():
    if "--uvloop" in sys.argv[1:]:
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed", file=sys.stderr)
            print("unavailable", flush=True)
            return
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        workload, n, iters = WORKLOADS[parts[0]], int(parts[1]), int(parts[2])
        total_ns = 0
        check = 0
        for _ in range(iters):
            start = time.perf_counter_ns()
            check = loop.run_until_complete(workload(n))
            total_ns += time.perf_counter_ns() - start
        print(total_ns, check, flush=True)
    loop.close()


if __name__ == "__main__":
    main()
