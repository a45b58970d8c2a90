"""Faktory's data, both ways: a Redis written in Faktory 1.10's layout (with raw commands, as the
Go server writes it) is served, what the store writes reads back in that layout, and Faktory
≤ 1.9's bare queue keys are migrated at open."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator

import pytest
import redis

from faktory_core.model import DEAD_TTL, Failure, SortedSet
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.redis_store.scripts import _RFC3339
from faktory_core.store import FailureOutcome
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import failed, make_job
from faktory_core.timefmt import format_ts, parse_ts, utc_day

NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z
#: Jobs as Go's json.Marshal writes them: struct field order, omitempty, <>& escaped, floats.
GO_JOB = (
    '{"retry":25,"jid":"go-job-00000001","queue":"default","jobtype":"SendEmail",'
    '"created_at":"2025-06-15T15:06:39.123456789Z","enqueued_at":"2025-06-15T15:06:39.5Z",'
    '"args":[1,"a\\u003cb\\u0026c",1e+21,{"k":0.5}]}'
)
GO_RETRY = (
    '{"retry":25,"failure":{"retry_count":0,"remaining":25,'
    '"failed_at":"2025-06-15T15:00:00Z","next_at":"2025-06-15T15:06:00Z","message":"boom",'
    '"errtype":"RuntimeError","backtrace":["app.rb:1"]},"jid":"go-retry-0000001",'
    '"queue":"mail","jobtype":"Retried","created_at":"2025-06-15T14:00:00Z","args":[]}'
)
GO_DEAD = (
    '{"retry":0,"failure":{"retry_count":3,"remaining":0,"failed_at":"2025-06-15T15:00:00Z",'
    '"message":"gone","errtype":"KeyError"},"jid":"go-dead-00000001","queue":"default",'
    '"jobtype":"Dead","args":["x"]}'
)
GO_SCHEDULED = (
    '{"retry":25,"jid":"go-sched-0000001","queue":"default","jobtype":"Later",'
    '"at":"2025-06-15T16:00:00Z","args":[]}'
)
GO_RESERVED = (
    '{"retry":25,"jid":"go-busy-00000001","queue":"default","jobtype":"Busy",'
    '"enqueued_at":"2025-06-15T15:00:00Z","args":[2],"reserve_for":600}'
)


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def opened(clock: FakeClock, redis_url: str) -> AsyncIterator[list[RedisStore]]:
    """Stores opened by the test (``await _open(...)``), closed at the end."""
    stores: list[RedisStore] = []
    yield stores
    for store in stores:
        await store.close()


async def _open(opened: list[RedisStore], clock: FakeClock, url: str) -> RedisStore:
    store = RedisStore(clock, RedisSettings(url=url))
    await store.open()
    opened.append(store)
    return store


def _write_faktory_110(raw: redis.Redis) -> None:
    """The keys of a Faktory 1.10 server in the middle of its work (reference §8)."""
    raw.sadd("queues", "default", "mail")
    raw.lpush("q:default", GO_JOB)
    raw.zadd("retries", {GO_RETRY: parse_ts("2025-06-15T15:06:00Z")})
    raw.zadd("dead", {GO_DEAD: NOW + DEAD_TTL})
    raw.zadd("scheduled", {GO_SCHEDULED: parse_ts("2025-06-15T16:00:00Z")})
    reservation = (
        '{"job":' + GO_RESERVED + ',"reserved_at":"2025-06-15T15:06:30Z",'
        '"expires_at":"2025-06-15T15:16:30Z","wid":"go-worker"}'
    )
    raw.zadd("working", {reservation: parse_ts("2025-06-15T15:16:30Z")})
    raw.set("processed", 41)
    raw.set("failures", 4)
    raw.set("processed:2025-06-15", 7)


async def test_faktory_data_is_served(
    raw: redis.Redis, clock: FakeClock, redis_url: str, opened: list[RedisStore]
) -> None:
    _write_faktory_110(raw)
    store = await _open(opened, clock, redis_url)
    stats = await store.stats()
    assert stats.queues == {"default": 1, "mail": 0}
    assert (stats.scheduled, stats.retries, stats.dead, stats.working) == (1, 1, 1, 1)
    assert (stats.processed, stats.failures) == (41, 4)

    res = await store.fetch(["default"], "w1", NOW, 0)
    assert res is not None
    assert res.job.jid == "go-job-00000001"
    assert res.job.args == [1, "a<b&c", 1e21, {"k": 0.5}]
    assert res.job.created_at == "2025-06-15T15:06:39.123456789Z"
    assert await store.ack(res.job.jid, NOW) is not None

    # The reservation Faktory made before it stopped: ACK works here.
    busy = await store.reservation("go-busy-00000001")
    assert busy is not None
    assert (busy.wid, busy.expires_at, busy.job.reserve_for) == ("go-worker", NOW + 590, 600)
    assert await store.ack("go-busy-00000001", NOW) == busy
    assert (await store.stats()).processed == 43
    assert (await store.history(1, NOW))[0].processed == 9

    # Retries and scheduled jobs come due; the dead set reads.
    assert await store.enqueue_due(SortedSet.RETRIES, NOW, 10) == 1
    retried = await store.fetch(["mail"], "w1", NOW, 0)
    assert retried is not None
    assert retried.job.failure == Failure(
        0, 25, "2025-06-15T15:00:00Z", "2025-06-15T15:06:00Z", "boom", "RuntimeError",
        ("app.rb:1",),
    )  # fmt: skip
    assert await store.enqueue_due(SortedSet.SCHEDULED, NOW, 10) == 0
    assert await store.enqueue_due(SortedSet.SCHEDULED, NOW + 3600, 10) == 1
    [dead] = await store.set_page(SortedSet.DEAD, 0, 10)
    assert (dead.job.jid, dead.score) == ("go-dead-00000001", NOW + DEAD_TTL)
    assert await store.set_get(SortedSet.DEAD, dead.key) == dead


async def test_faktory_reservation_expires_and_fails(
    raw: redis.Redis, clock: FakeClock, redis_url: str, opened: list[RedisStore]
) -> None:
    _write_faktory_110(raw)
    store = await _open(opened, clock, redis_url)
    [expired] = await store.expired(NOW + 600, 10)
    outcome = FailureOutcome(failed(expired.job), SortedSet.RETRIES, NOW + 700)
    assert await store.settle_failure(expired.job.jid, outcome, NOW + 600, expired_only=True)
    assert await store.working_size() == 0
    assert await store.set_size(SortedSet.RETRIES) == 2


async def test_what_we_write_is_faktory_layout(
    raw: redis.Redis, clock: FakeClock, redis_url: str, opened: list[RedisStore]
) -> None:
    store = await _open(opened, clock, redis_url)
    job = make_job(queue="mail", reserve_for=600, args=["<b>", 2**70])
    await store.push(job)
    assert raw.smembers("queues") == {b"mail"}
    [queued] = raw.lrange("q:mail", 0, -1)
    assert json.loads(queued) == job.to_dict()

    res = await store.fetch(["mail"], "wid-9", NOW + 0.25, 0)
    assert res is not None
    [(member, expiry)] = raw.zrange("working", 0, -1, withscores=True)
    reservation = json.loads(member)
    assert list(reservation) == ["job", "reserved_at", "expires_at", "wid"]
    assert reservation["job"] == job.to_dict()
    assert reservation["wid"] == "wid-9"
    assert reservation["reserved_at"] == "2025-06-15T15:06:40.25Z"
    assert reservation["expires_at"] == "2025-06-15T15:16:40.25Z"
    assert expiry == parse_ts(reservation["expires_at"]) == res.expires_at

    retried = failed(res.job)
    outcome = FailureOutcome(retried, SortedSet.RETRIES, NOW + 60)
    assert await store.settle_failure(job.jid, outcome, NOW)
    assert raw.zrange("working", 0, -1) == []
    [(entry, at)] = raw.zrange("retries", 0, -1, withscores=True)
    assert (json.loads(entry), at) == (retried.to_dict(), NOW + 60)
    day = utc_day(NOW)
    counters = raw.mget("processed", "failures", f"processed:{day}", f"failures:{day}")
    assert counters == [b"1", b"1", b"1", b"1"]
    assert 179 * 86400 < raw.ttl(f"processed:{day}") <= 180 * 86400

    await store.pause(["mail"])
    assert raw.smembers("paused") == {b"mail"}
    await store.remove(["mail"])
    assert (raw.smembers("paused"), raw.smembers("queues")) == (set(), set())


async def test_faktory_19_queues_are_migrated(
    raw: redis.Redis,
    clock: FakeClock,
    redis_url: str,
    opened: list[RedisStore],
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = [make_job(queue="critical", args=[n]) for n in range(3)]
    newer = make_job(queue="default", args=["new"])
    older = make_job(queue="default", args=["old"])
    raw.sadd("queues", "critical", "default", "retries")
    for job in old:
        raw.lpush("critical", job.encode())  # Faktory ≤ 1.9: the queue is a bare key
    raw.lpush("default", older.encode())
    raw.lpush("q:default", newer.encode())  # and a 1.10 server wrote here since
    raw.zadd("retries", {make_job().encode(): 1.0})  # a queue named like a set: not a list

    with caplog.at_level(logging.INFO, logger="faktory_core.plugins.redis_store"):
        store = await _open(opened, clock, redis_url)
    assert "migrated 2 queue(s)" in caplog.text
    assert "critical, default" in caplog.text
    assert raw.exists("critical", "default") == 0
    assert raw.get("v") == b"1"
    assert raw.type("retries") == b"zset"
    fetched = [await store.fetch(["critical"], "w", NOW, 0) for _ in old]
    assert [res.job if res else None for res in fetched] == old
    first = await store.fetch(["default"], "w", NOW, 0)
    second = await store.fetch(["default"], "w", NOW, 0)
    assert (first and first.job, second and second.job) == (older, newer)

    await store.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="faktory_core.plugins.redis_store"):
        await _open(opened, clock, redis_url)
    assert "migrated" not in caplog.text
    assert raw.get("v") == b"1"


def test_lua_timestamps_match_python(raw: redis.Redis) -> None:
    """The fetch script writes ``expires_at`` itself; it must read as Python writes it."""
    script = raw.register_script(_RFC3339 + "return rfc3339(tonumber(ARGV[1]))")
    rng = random.Random(7)
    moments = [0.0, NOW, NOW + 0.5, NOW + 0.123456, 951_782_400.0, 4_102_444_800.0]
    moments += [NOW + 0.9999996, 253_402_300_799.0, 68_256_000.25]
    moments += [rng.uniform(0, 4e9) for _ in range(300)]
    for moment in moments:
        assert script(args=[repr(moment)]).decode() == format_ts(moment), moment
