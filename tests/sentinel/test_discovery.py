"""Finding the master through the sentinels, and the errors at start when that cannot work."""

from __future__ import annotations

import pytest

from faktory_core.plugins.redis_store import RedisSetupError
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import make_job

from .cluster import SentinelCluster, free_port
from .conftest import open_store


async def test_the_store_finds_the_master_and_works(
    steady: SentinelCluster, clock: FakeClock
) -> None:
    store = await open_store(clock, steady.url())
    try:
        master = steady.master()
        assert f"127.0.0.1:{master.port}" in store.where
        job = make_job()
        await store.push(job)
        got = await store.fetch(["default"], "w1", clock.now(), 1)
        assert got is not None
        assert got.job.jid == job.jid
        stats = await store.stats()
        assert stats.details["sentinel_master"] == f"mymaster 127.0.0.1:{master.port}"
        assert stats.details["last_failover"] == "none"
        debug = await store.debug_info()
        assert debug["sentinel_master"] == f"mymaster 127.0.0.1:{master.port}"
    finally:
        await store.close()


async def test_a_dead_first_sentinel_is_skipped(steady: SentinelCluster, clock: FakeClock) -> None:
    hosts = ",".join([f"127.0.0.1:{free_port()}", *(s.address for s in steady.sentinels)])
    store = await open_store(clock, f"redis+sentinel://{hosts}/mymaster")
    try:
        assert str(steady.master().port) in store.where
    finally:
        await store.close()


async def test_unreachable_sentinels_are_an_error_at_start(clock: FakeClock) -> None:
    hosts = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    with pytest.raises(RedisSetupError, match=r"no sentinel .* is reachable"):
        await open_store(clock, f"redis+sentinel://{hosts}/mymaster")


async def test_an_unknown_master_name_is_an_error_at_start(
    steady: SentinelCluster, clock: FakeClock
) -> None:
    with pytest.raises(RedisSetupError, match="know no master named 'nosuch'"):
        await open_store(clock, steady.url(master="nosuch"))
