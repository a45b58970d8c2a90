"""``min_replicas``: every script is followed by ``WAIT``; too few replicas is a clear error."""

from __future__ import annotations

import pytest

from faktory_core.errors import StoreError
from faktory_core.plugins.redis_store import RedisSetupError
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import make_job

from .cluster import SentinelCluster
from .conftest import open_store


async def test_writes_wait_for_the_replica(steady: SentinelCluster, clock: FakeClock) -> None:
    store = await open_store(clock, steady.url(), min_replicas=1)
    try:
        job = make_job()
        await store.push(job)
        replica = next(node for node in steady.data if node is not steady.master())
        with replica.client() as client:  # WAIT returned: the replica has it already
            assert client.llen("q:default") >= 1
    finally:
        await store.flush()
        await store.close()


async def test_too_few_replicas_is_an_error_not_an_acknowledgement(
    steady: SentinelCluster, clock: FakeClock
) -> None:
    store = await open_store(clock, steady.url())
    store._r.min_replicas = 2  # one replica exists: every write now falls short
    store._r.wait_ms = 50
    try:
        with pytest.raises(StoreError, match=r"reached 1 of the 2 replica\(s\) required"):
            await store.push(make_job())
    finally:
        store._r.min_replicas = 0
        await store.flush()
        await store.close()


async def test_too_few_replicas_at_start_is_an_error_at_start(
    steady: SentinelCluster, clock: FakeClock
) -> None:
    with pytest.raises(RedisSetupError, match=r"reached 1 of the 3 replica\(s\)"):
        await open_store(clock, steady.url(), min_replicas=3, replica_timeout=0.05)
