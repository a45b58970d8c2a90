"""Cost of the tracking and throttle plugins for a plain job, and of a throttled FETCH.

Same run, interleaved rounds: an in-process server (memory store, real clock) with the plugins
off, with them on, and with them on and the queue throttled (a limit never reached, so every
FETCH takes and every ACK frees a slot). One client connection does PUSH, FETCH, ACK per job;
client and server share the process, so the numbers are round trips on this machine, to be
compared with each other only.

    .venv/bin/python benchmarks/enterprise.py [JOBS] [ROUNDS] [REDIS_URL]

With a REDIS_URL the servers run on the Redis store there (its data is flushed per run).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from typing import Any

import redis

from faktory_core.clock import SystemClock
from faktory_core.plugins import memory_store, redis_store, throttle, tracking
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.store import Store
from faktory_core.testing import FwpSocket, ServerThread

CASES: dict[str, tuple[list[tuple[str, object]], dict[str, Any]]] = {
    "plugins off": ([("memory_store", memory_store)], {}),
    "tracking on": ([("memory_store", memory_store), ("tracking", tracking)], {}),
    "throttle on": ([("memory_store", memory_store), ("throttle", throttle)], {}),
    "tracking+throttle on": (
        [("memory_store", memory_store), ("tracking", tracking), ("throttle", throttle)],
        {},
    ),
    "throttled queue": (
        [("memory_store", memory_store), ("tracking", tracking), ("throttle", throttle)],
        {"throttles": {"default": {"concurrency": 1_000_000, "timeout": 60}}},
    ),
}


def make_store(redis_url: str) -> Store:
    if not redis_url:
        return MemoryStore(SystemClock())
    redis.Redis.from_url(redis_url).flushall()
    return RedisStore(SystemClock(), RedisSettings(url=redis_url))


def one_run(
    plugins: list[tuple[str, object]], toml: dict[str, Any], jobs: int, redis_url: str
) -> float:
    """Microseconds per job for PUSH + FETCH + ACK."""
    if redis_url:
        plugins = [*plugins, ("redis_store", redis_store)]
    with ServerThread(make_store(redis_url), plugins=plugins, toml=toml) as server:
        conn = FwpSocket.open(server.port)
        try:
            started = time.perf_counter()
            for _ in range(jobs):
                jid = uuid.uuid4().hex
                conn.json_command("PUSH", {"jid": jid, "jobtype": "Plain", "args": []})
                conn.command("FETCH", "default")
                conn.json_command("ACK", {"jid": jid})
            return (time.perf_counter() - started) / jobs * 1e6
        finally:
            conn.close()


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    redis_url = sys.argv[3] if len(sys.argv) > 3 else ""
    results: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, (plugins, toml) in CASES.items():
            results[name].append(one_run(plugins, toml, jobs, redis_url))
    for name, values in results.items():
        print(f"{name:22} median {statistics.median(values):7.1f} µs/job  runs {values}")
    store = "redis" if redis_url else "memory"
    print(json.dumps({"store": store, "jobs": jobs, "rounds": rounds, "us_per_job": results}))


if __name__ == "__main__":
    main()
