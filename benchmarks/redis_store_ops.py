"""The Redis store alone, in one process: PUSH and FETCH+ACK through ``RedisStore``, no FWP.

    .venv/bin/python benchmarks/redis_store_ops.py -n 20000 -c 4

The store starts its own local Redis (as ``faktory-core --plugin redis_store`` does, AOF on) in
a temporary directory. ``-c`` tasks each push their share of ``-n`` jobs one at a time, then
fetch and ack as many. Prints CPU µs per job of this process and of its Redis child. Tasks in
one process send back to back, so more commands share an event-loop pass than with real
clients: use it to compare builds of the store, not as a server figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import proc
import uvloop

from faktory_core.clock import SystemClock
from faktory_core.model import Job
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.timefmt import format_ts


def _cpu() -> dict[str, float]:
    return proc.cpu_seconds_by_name(os.getpid())


def _per_job(before: dict[str, float], after: dict[str, float], jobs: int) -> str:
    me = sum(after.values()) - sum(before.values())
    redis = sum(v - before.get(k, 0.0) for k, v in after.items() if "server" in k)
    return f"{me / jobs * 1e6:6.1f} us/job (Redis {redis / jobs * 1e6:5.1f})"


async def main(jobs: int, conns: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fc-ops-") as tmp:
        store = RedisStore(SystemClock(), RedisSettings(), storage=Path(tmp))
        await store.open()
        try:
            stamp = format_ts(time.time())
            work = [
                Job(jid=f"job-{i:08d}", jobtype="T", args=[i], queue="ops").stamped(stamp, stamp)
                for i in range(jobs)
            ]
            share = [work[i::conns] for i in range(conns)]

            async def push(mine: list[Job]) -> None:
                for job in mine:
                    await store.push(job)

            async def fetch_ack(count: int) -> None:
                for _ in range(count):
                    res = await store.fetch(["ops"], "", time.time(), 0)
                    assert res is not None
                    assert await store.ack(res.job.jid, time.time()) is not None

            before = _cpu()
            await asyncio.gather(*(push(mine) for mine in share))
            after = _cpu()
            print(f"push      {_per_job(before, after, jobs)}")
            before = _cpu()
            await asyncio.gather(*(fetch_ack(len(mine)) for mine in share))
            after = _cpu()
            print(f"fetch+ack {_per_job(before, after, jobs)}")
        finally:
            await store.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--jobs", type=int, default=20000)
    p.add_argument("-c", "--conns", type=int, default=4)
    a = p.parse_args()
    uvloop.run(main(a.jobs, a.conns))
    sys.exit(0)
