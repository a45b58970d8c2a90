"""CPU per hop to a thread and back, the cost a plain (``def``) job adds in the worker.

    .venv/bin/python benchmarks/to_thread.py -n 20000 -c 20

20 tasks on one uvloop loop each call a no-op function in a thread, N calls in all, through:
``anyio`` (``anyio.to_thread.run_sync`` with ``abandon_on_cancel=True`` and a limiter, as the
worker did before), ``job-threads`` (faktory_core.worker.threads.JobThreads, what it does now)
and ``executor`` (asyncio's default ThreadPoolExecutor, for reference). CPU is this process's
``time.process_time()`` (all its threads) over the calls.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread

from faktory_core.worker.threads import JobThreads

KINDS = ("anyio", "job-threads", "executor")
ARGS = (1, "string", 3)  # a no-op job's args in the worker benchmark


def noop(*args: Any) -> None:
    return None


async def measure(kind: str, calls: int, concurrency: int) -> tuple[float, float]:
    """(µs of CPU per call, calls per second)."""
    limiter = anyio.CapacityLimiter(concurrency)
    loop = asyncio.get_running_loop()
    async with anyio.create_task_group() as tg:
        threads = JobThreads(tg)
        hops: dict[str, Callable[[], Awaitable[Any]]] = {
            "anyio": lambda: anyio.to_thread.run_sync(
                noop, *ARGS, abandon_on_cancel=True, limiter=limiter
            ),
            "job-threads": lambda: threads.run(noop, *ARGS),
            "executor": lambda: loop.run_in_executor(None, noop, *ARGS),
        }
        hop = hops[kind]
        left = [calls]

        async def caller() -> None:
            while left[0] > 0:
                left[0] -= 1
                await hop()

        cpu, wall = time.process_time(), time.monotonic()
        async with anyio.create_task_group() as callers:
            for _ in range(concurrency):
                callers.start_soon(caller)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        threads.close()
    return cpu / calls * 1e6, calls / wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kinds", nargs="*", metavar="KIND", help=f"{' | '.join(KINDS)} (all)")
    p.add_argument("-n", "--calls", type=int, default=20000, help="calls per kind (20000)")
    p.add_argument("-c", "--concurrency", type=int, default=20, help="calling tasks (20)")
    p.add_argument("-r", "--rounds", type=int, default=3, help="rounds (3)")
    args = p.parse_args()
    kinds = args.kinds or list(KINDS)
    if unknown := sorted(set(kinds) - set(KINDS)):
        p.error(f"unknown kind(s): {', '.join(unknown)}")
    for _ in range(args.rounds):
        for kind in kinds:
            cpu, rate = anyio.run(
                measure, kind, args.calls, args.concurrency, backend_options={"use_uvloop": True}
            )
            print(f"{kind:<12} {cpu:6.1f} µs CPU per call, {rate:8.0f} calls/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
