"""How long one ``GET /metrics`` takes with many job types and queues (docs/performance.md).

    .venv/bin/python benchmarks/metrics_scrape.py --types 1000 --queues 1000 --scrapes 20

Starts an in-process server on the memory store (or ``--store redis``: a local Redis) with the
metrics plugin, pushes two jobs of each job type, spread over ``--queues`` queues (so
``max(types, queues)`` (queue, jobtype) pairs), fetches and ACKs one of each (so every job type
has an execution-time histogram) and leaves the other queued, then times
``--scrapes`` scrapes over HTTP on the plugin's own port; prints the median, the range and the
size of the answer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import anyio

from faktory_core.clock import SystemClock
from faktory_core.model import job_from_dict
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.metrics import MetricsPlugin
from faktory_core.plugins.redis_store import RedisStore, resolve_settings
from faktory_core.store import Store
from faktory_core.testing import running_server


async def fill(server: object, types: int, queues: int) -> None:
    manager = server.manager  # type: ignore[attr-defined]
    count = max(types, queues)
    for copy in range(2):
        for index in range(count):
            job = {"jid": f"job-{copy}-{index:08}", "jobtype": f"Type{index % types}", "args": []}
            await manager.push(job_from_dict({**job, "queue": f"queue{index % queues}"}))
    for index in range(count):
        fetched = await manager.fetch([f"queue{index % queues}"], wait=False)
        assert fetched is not None
        await manager.ack(fetched.jid)


def scrape(port: int) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        size = len(response.read())
    return time.perf_counter() - started, size


async def main(args: argparse.Namespace) -> None:
    plugin = MetricsPlugin(environ={})
    toml = {"metrics": {"listen": "127.0.0.1:0"}}
    store: Store = MemoryStore(SystemClock())
    if args.store == "redis":  # a local Redis the store starts in a temporary folder
        folder = Path(tempfile.mkdtemp(prefix="faktory-bench-scrape-"))
        store = RedisStore(SystemClock(), resolve_settings({}, {}), storage=folder / "redis")
    async with running_server(store, plugins=[("metrics", plugin)], toml=toml) as server:
        await fill(server, args.types, args.queues)
        state = plugin.state(server)
        assert state is not None
        assert state.port is not None
        timings, size = [], 0
        for _ in range(args.scrapes):
            seconds, size = await anyio.to_thread.run_sync(scrape, state.port)
            timings.append(seconds * 1000)
    print(
        f"{args.store}: {args.types} job types, {args.queues} queues: scrape median "
        f"{statistics.median(timings):.1f} ms ({min(timings):.1f}-{max(timings):.1f}), "
        f"{size:,} bytes"
    )
    print(json.dumps({"types": args.types, "queues": args.queues, "ms": timings, "bytes": size}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="metrics_scrape.py", description=__doc__.splitlines()[0])
    parser.add_argument("--types", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    anyio.run(main, parser.parse_args(sys.argv[1:]), backend_options={"use_uvloop": True})
