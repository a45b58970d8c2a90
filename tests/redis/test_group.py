"""Group commit (plugins/redis_store/group.py): calls made in one event-loop pass share one
script call, and each caller still gets its own answer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import pytest
import redis

from faktory_core.errors import StoreError
from faktory_core.model import Job, WorkerInfo, WorkerState
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import make_job
from faktory_core.timefmt import utc_day


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
async def store(clock: FakeClock, redis_url: str) -> AsyncIterator[RedisStore]:
    async with _opened(RedisStore(clock, RedisSettings(url=redis_url))) as store:
        yield store


@contextlib.asynccontextmanager
async def _opened(store: RedisStore) -> AsyncIterator[RedisStore]:
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _evalsha_calls(raw: redis.Redis) -> int:
    calls: int = raw.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    return calls


async def _together(*calls: object) -> list[object]:
    """Start every call in the same event-loop pass; their results in order."""
    results: list[object] = [None] * len(calls)

    async def one(i: int, call: object) -> None:
        try:
            results[i] = await call  # type: ignore[misc]
        except StoreError as exc:
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(one, i, call)
    return results


async def _reserve(store: RedisStore, clock: FakeClock, count: int) -> list[Job]:
    jobs = [make_job(args=[n]) for n in range(count)]
    await store.push_many(jobs)
    for _ in jobs:
        assert await store.fetch(["default"], "w1", clock.now(), 0) is not None
    return jobs


async def test_acks_in_one_pass_are_one_script_call_with_an_answer_each(
    store: RedisStore, clock: FakeClock, raw: redis.Redis
) -> None:
    warm, *jobs = await _reserve(store, clock, 4)
    assert await store.ack(warm.jid, clock.now()) is not None  # the script is loaded
    raw.config_resetstat()
    jids = [jobs[0].jid, "not-reserved-1", jobs[1].jid, jobs[0].jid, jobs[2].jid]
    results = await _together(*(store.ack(jid, clock.now()) for jid in jids))
    assert _evalsha_calls(raw) == 1
    got = [None if res is None else res.job for res in results]  # type: ignore[attr-defined]
    # the second ACK of jobs[0] comes after the first, in the same call: nothing left
    assert got == [jobs[0], None, jobs[1], None, jobs[2]]
    assert int(raw.get("processed") or 0) == 4
    day = f"processed:{utc_day(clock.now())}"
    assert int(raw.get(day) or 0) == 4
    assert raw.ttl(day) > 0
    assert raw.zcard("working") == 0
    assert raw.hlen("fc:reservations") == 0


async def test_a_group_that_redis_no_longer_knows_is_sent_again_with_its_source(
    store: RedisStore, clock: FakeClock, raw: redis.Redis
) -> None:
    jobs = await _reserve(store, clock, 2)
    raw.script_flush()
    results = await _together(*(store.ack(job.jid, clock.now()) for job in jobs))
    assert [res.job for res in results] == jobs  # type: ignore[attr-defined]
    assert int(raw.get("processed") or 0) == 2


async def test_a_group_whose_connection_fails_fails_every_caller(
    store: RedisStore, clock: FakeClock, raw: redis.Redis
) -> None:
    jobs = await _reserve(store, clock, 2)
    # Redis refuses the scripts' writes: every caller of the one call gets the error.
    raw.config_set("min-replicas-to-write", 1)
    try:
        results = await _together(*(store.ack(job.jid, clock.now()) for job in jobs))
    finally:
        raw.config_set("min-replicas-to-write", 0)
    assert all(isinstance(res, StoreError) for res in results), results
    assert raw.zcard("working") == 2  # nothing was acked
    results = await _together(*(store.ack(job.jid, clock.now()) for job in jobs))
    assert [res.job for res in results] == jobs  # type: ignore[attr-defined]


async def test_fetches_in_one_pass_are_one_script_call_with_an_answer_each(
    store: RedisStore, clock: FakeClock, raw: redis.Redis
) -> None:
    queues = ["a", "broken"]
    await store.fetch(queues, "w0", clock.now(), 0)  # the script is loaded
    jobs = [make_job(queue="a", args=[n]) for n in range(2)]
    await store.push_many(jobs)
    raw.set("q:broken", "not a list")  # a fetch that gets that far fails (WRONGTYPE)
    quiet = WorkerInfo(wid="quiet", hostname="h", pid=1, started_at=clock.now())
    await store.worker_connect(quiet)
    assert await store.worker_signal(["quiet"], WorkerState.QUIET) == 1
    raw.config_resetstat()
    wids = ["w1", "quiet", "w2", "w3"]
    results = await _together(*(store.fetch(queues, wid, clock.now(), 0) for wid in wids))
    assert _evalsha_calls(raw) == 1
    first, refused, second, failed = results
    assert [first.job, second.job] == jobs  # type: ignore[attr-defined]
    assert [first.wid, second.wid] == ["w1", "w2"]  # type: ignore[attr-defined]
    assert refused is None  # a quiet worker gets nothing, and takes nothing
    assert isinstance(failed, StoreError)
    assert "WRONGTYPE" in str(failed)
    assert raw.zcard("working") == 2  # the failed call reserved nothing
    assert {res.job.jid for res in await store.reservations()} == {job.jid for job in jobs}
