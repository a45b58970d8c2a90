"""The store follows its master through failovers: a coordinated one (``SENTINEL FAILOVER``) and
a crash (SIGKILL, the sentinels promote the replica). Pushes run throughout; every push the
store acknowledged must be on the new master afterwards, and the store serves again by itself.
"""

from __future__ import annotations

import json

import anyio
import pytest

from faktory_core.errors import StoreError
from faktory_core.model import Job
from faktory_core.plugins.redis_store import RedisStore
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import make_job

from .cluster import Node, SentinelCluster
from .conftest import open_store

#: Real seconds the store may take to notice the new master once the sentinels name it.
FOLLOW_SECONDS = 15.0

pytestmark = pytest.mark.slow


class Pusher:
    """Pushes jobs one after another until stopped; remembers which ones were acknowledged."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.acked: list[Job] = []
        self.refused: list[str] = []
        self.stopped = anyio.Event()

    async def run(self) -> None:
        while not self.stopped.is_set():
            job = make_job()
            try:
                with anyio.fail_after(10):  # the store's own deadline is 5 s
                    await self.store.push(job)
            except StoreError as exc:
                self.refused.append(exc.message)
            else:
                self.acked.append(job)
            await anyio.sleep(0.002)


def _queued(node: Node) -> set[str]:

    with node.client() as client:
        return {json.loads(raw)["jid"] for raw in client.lrange("q:default", 0, -1)}


async def _followed(store: RedisStore, new: Node) -> None:
    with anyio.fail_after(FOLLOW_SECONDS):
        while f":{new.port}" not in store.where:  # noqa: ASYNC110 -- polling the store's state
            await anyio.sleep(0.05)


async def _failover_under_pushes(
    store: RedisStore, cluster: SentinelCluster, action: str
) -> tuple[Pusher, Node]:
    pusher = Pusher(store)
    async with anyio.create_task_group() as group:
        group.start_soon(pusher.run)
        await anyio.sleep(0.3)
        before = len(pusher.acked)
        new = await anyio.to_thread.run_sync(getattr(cluster, action))
        await _followed(store, new)
        after = len(pusher.acked)
        with anyio.fail_after(FOLLOW_SECONDS):
            while len(pusher.acked) < after + 20:  # noqa: ASYNC110 -- serves again, by itself
                await anyio.sleep(0.05)
        pusher.stopped.set()
    assert before > 0
    return pusher, new


async def test_coordinated_failover_loses_no_acknowledged_push(
    cluster: SentinelCluster, clock: FakeClock
) -> None:
    store = await open_store(clock, cluster.url())
    try:
        old = cluster.master()
        pusher, new = await _failover_under_pushes(store, cluster, "failover")
        assert new is not old
        assert {job.jid for job in pusher.acked} <= _queued(new)
        # After the switch: fetches and pushes work, the report names the failover.
        got = await store.fetch(["default"], "w1", clock.now(), 1)
        assert got is not None
        assert (await store.ack(got.job.jid, clock.now())) is not None
        stats = await store.stats()
        assert stats.details["sentinel_master"] == f"mymaster {new.address}"
        assert f"{old.address} -> {new.address}" in stats.details["last_failover"]
    finally:
        await store.close()


async def test_killed_master_with_min_replicas_loses_no_acknowledged_push(
    valkey_binary: str, tmp_path_factory: pytest.TempPathFactory, clock: FakeClock
) -> None:
    """Two replicas, so one is left to WAIT for once the other is promoted."""
    cluster = SentinelCluster(valkey_binary, tmp_path_factory.mktemp("kill"), replicas=2)
    cluster.start()
    store = await open_store(clock, cluster.url(), min_replicas=1)
    try:
        pusher, new = await _failover_under_pushes(store, cluster, "kill_master")
        assert {job.jid for job in pusher.acked} <= _queued(new)
        assert any("unreachable" in text or "moved" in text for text in pusher.refused)
    finally:
        await store.close()
        cluster.stop()


async def test_the_subscription_follows_the_master(
    cluster: SentinelCluster, clock: FakeClock
) -> None:
    """After a failover the store's subscription is on the new master, and a push through
    another store wakes a FETCH waiting here (the clock never moves: only a wake-up ends it)."""
    waiting = await open_store(clock, cluster.url())
    try:
        new = await anyio.to_thread.run_sync(cluster.failover)
        await _followed(waiting, new)
        with anyio.fail_after(FOLLOW_SECONDS):
            while True:
                with new.client() as client:
                    if client.pubsub_numsub("fc:pushed")[0][1] >= 1:
                        break
                await anyio.sleep(0.05)
        pusher = await open_store(clock, cluster.url())
        try:
            job = make_job()
            got: list[object] = []

            async def fetch() -> None:
                got.append(await waiting.fetch(["default"], "w1", clock.now(), 30))

            with anyio.fail_after(FOLLOW_SECONDS):
                async with anyio.create_task_group() as group:
                    group.start_soon(fetch)
                    await anyio.wait_all_tasks_blocked()
                    await pusher.push(job)
            assert got[0] is not None
        finally:
            await pusher.close()
    finally:
        await waiting.close()
