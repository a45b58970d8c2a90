"""Several servers on one Redis: two RedisStore objects share every job, flag and record, each
job moves once, and a push through one wakes a fetch blocked on the other without polling."""

from __future__ import annotations

import anyio
import pytest
import redis

from faktory_core.errors import StoreError
from faktory_core.model import Reservation, SortedSet, WorkerInfo, WorkerState
from faktory_core.plugins.redis_store import RedisSettings, RedisStore, nodes
from faktory_core.plugins.redis_store.wakeup import POLL_SECONDS
from faktory_core.store import FailureOutcome
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import failed, make_job

from .conftest import WAKE_SECONDS, fetch_during, open_store


async def test_fetched_on_one_acked_on_the_other(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    now = clock.now()
    await a.push(make_job())
    res = await a.fetch(["default"], "w1", now, 0)
    assert res is not None
    assert await b.reservation(res.job.jid) == res
    assert await b.ack(res.job.jid, now) == res
    assert await a.ack(res.job.jid, now) is None
    assert (await a.stats()).processed == 1


async def test_fetched_on_one_failed_on_the_other(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    now = clock.now()
    await b.push(make_job())
    res = await b.fetch(["default"], "w1", now, 0)
    assert res is not None
    outcome = FailureOutcome(failed(res.job), SortedSet.RETRIES, now + 30)
    assert await a.settle_failure(res.job.jid, outcome, now)
    assert not await b.settle_failure(res.job.jid, outcome, now)
    assert (await b.set_size(SortedSet.RETRIES), await b.working_size()) == (1, 0)


async def test_pause_on_one_is_seen_by_the_other(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    await a.push(make_job())
    await a.pause(["default"])
    assert await b.paused() == {"default"}
    assert await b.fetch(["default"], "w1", clock.now(), 0) is None
    await b.resume(["default"])
    assert await a.fetch(["default"], "w1", clock.now(), 0) is not None


async def test_quiet_on_one_reaches_the_worker_on_the_other(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    now = clock.now()
    await b.worker_connect(WorkerInfo("wid-1", "host", 7, started_at=now, last_beat=now))
    assert await a.worker_signal(["wid-1"], WorkerState.QUIET) == 1
    seen = await b.worker_get("wid-1")
    assert seen is not None
    assert seen.state is WorkerState.QUIET
    beat = await b.worker_beat("wid-1", 10, None, now + 15)
    assert beat is not None
    assert beat.state is WorkerState.QUIET
    await a.worker_connect(WorkerInfo("wid-1", "host", 7))
    assert [info.connections for info in await b.workers()] == [2]
    assert await a.reap_workers(now + 16) == ["wid-1"]
    assert await b.workers() == []


async def test_two_reapers_settle_each_job_once(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    now = clock.now()
    jobs = [make_job(reserve_for=60) for _ in range(50)]
    for job in jobs:
        await a.push(job)
        assert await a.fetch(["default"], "w1", now, 0) is not None
    settled: list[str] = []

    async def reap(store: RedisStore) -> None:
        for res in await store.expired(now + 60, 100):
            outcome = FailureOutcome(failed(res.job), SortedSet.RETRIES, now + 90)
            if await store.settle_failure(res.job.jid, outcome, now + 60, expired_only=True):
                settled.append(res.job.jid)

    async with anyio.create_task_group() as group:
        group.start_soon(reap, a)
        group.start_soon(reap, b)
    assert sorted(settled) == sorted(job.jid for job in jobs)
    stats = await a.stats()
    assert (stats.working, stats.retries, stats.failures, stats.processed) == (0, 50, 50, 50)


async def test_two_fetches_race_for_one_job(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    got: list[Reservation | None] = []

    async def take(store: RedisStore) -> None:
        got.append(await store.fetch(["default"], "w", clock.now(), 0))

    for _ in range(20):
        await a.push(make_job())
        got.clear()
        async with anyio.create_task_group() as group:
            group.start_soon(take, a)
            group.start_soon(take, b)
        assert sum(res is not None for res in got) == 1
    assert await a.working_size() == 20


async def test_push_on_one_wakes_a_fetch_blocked_on_the_other(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    job = make_job()
    results, waited = await fetch_during(b, clock, lambda: a.push(job))
    assert waited < WAKE_SECONDS
    assert [res.job if res else None for res in results] == [job]


async def test_a_lost_wake_up_is_covered_by_the_poll(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock, redis_url: str
) -> None:
    """A job that arrives without a message (a raw LPUSH) still reaches a waiting fetch within
    the fallback poll's period."""
    _, b = pair
    job = make_job()

    async def unannounced() -> None:
        with redis.Redis.from_url(redis_url) as raw:
            raw.lpush("q:default", job.encode())

    results, waited = await fetch_during(b, clock, unannounced)
    assert waited < POLL_SECONDS * 2 + WAKE_SECONDS
    assert [res.job if res else None for res in results] == [job]


async def test_idle_fetches_use_no_connections_and_no_polling(
    clock: FakeClock, redis_url: str
) -> None:
    """200 blocked FETCHes: no more connections than the pool allows (not one each), and about
    one poll a second while they wait."""
    b = RedisStore(clock, RedisSettings(url=redis_url, pool_size=4))
    await b.open()
    raw = redis.Redis.from_url(redis_url)
    raw.config_resetstat()
    waiting = 200
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:

            async def wait(n: int) -> None:
                await b.fetch([f"q{n % 7}"], f"w{n}", clock.now(), 3600)

            for n in range(waiting):
                group.start_soon(wait, n)
            await anyio.sleep(0.5)
            calls_before = _evalsha_calls(raw)
            await anyio.sleep(2.0)
            calls = _evalsha_calls(raw) - calls_before
            clients = int(raw.info("clients")["connected_clients"])
            group.cancel_scope.cancel()
    await b.close()
    raw.close()
    assert calls <= 4, calls  # the fallback poll: one script a second
    assert clients <= 4 + 1, clients  # the pool (the subscription is one of it) and this client


def _evalsha_calls(raw: redis.Redis) -> int:
    stats = raw.info("commandstats").get("cmdstat_evalsha", {"calls": 0})
    return int(stats["calls"])


async def test_a_burst_wakes_as_many_waiters_as_jobs(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    """Jobs pushed into a non-empty queue send no message; the fetch that takes one wakes the
    next waiter while jobs remain."""
    a, b = pair
    jobs = [make_job() for _ in range(10)]

    async def push_all() -> None:
        for job in jobs:
            await a.push(job)

    results, waited = await fetch_during(b, clock, push_all, fetches=len(jobs))
    assert waited < WAKE_SECONDS * 2
    assert sorted(res.job.jid for res in results if res) == sorted(job.jid for job in jobs)


async def test_reservations_survive_a_restart(clock: FakeClock, redis_url: str) -> None:
    first = await open_store(clock, redis_url)
    await first.push(make_job())
    res = await first.fetch(["default"], "w1", clock.now(), 0)
    assert res is not None
    await first.close()
    second = await open_store(clock, redis_url)
    try:
        assert await second.ack(res.job.jid, clock.now()) == res
    finally:
        await second.close()


async def test_prefixes_keep_deployments_apart(clock: FakeClock, redis_url: str) -> None:
    a = await open_store(clock, redis_url, prefix="blue:")
    b = await open_store(clock, redis_url, prefix="green:")
    try:
        await a.push(make_job())
        await a.set_add(SortedSet.DEAD, 1.0, make_job())
        await a.kv_set("k", b"v")
        await a.worker_connect(WorkerInfo("wid", last_beat=clock.now()))
        await a.pause(["default"])
        res = await a.fetch(["other"], "w", clock.now(), 0)
        assert res is None
        assert (await b.queue_names(), await b.set_size(SortedSet.DEAD)) == ([], 0)
        assert (await b.kv_get("k"), await b.workers(), await b.paused()) == (None, [], set())
        await b.flush()
        assert await a.queue_size("default") == 1
        # Processes, not data: the servers' node keys and blue's worker outlive a FLUSH.
        kept = {
            f"blue:fc:node:{a.node}",
            f"green:fc:node:{b.node}",
            "blue:fc:workers",
            "blue:fc:worker:wid",
        }
        with redis.Redis.from_url(redis_url) as raw:
            keys = {key.decode() for key in raw.keys("*")}
        assert keys > kept
        assert all(key.startswith("blue:") for key in keys - kept), keys
        await a.flush()
        with redis.Redis.from_url(redis_url) as raw:
            assert {key.decode() for key in raw.keys("*")} == kept
    finally:
        await a.close()
        await b.close()


# -- servers that die: their connections stop counting ------------------------------------------


async def _crash(store: RedisStore, raw: redis.Redis) -> None:
    """What SIGKILL does to a store, as far as Redis can tell: its node key is no longer
    refreshed and expires (here: at once); it never counts its connections down."""
    beat = store._beat
    assert beat is not None
    await beat.stop()
    raw.delete(f"fc:node:{store.node}")


async def test_connections_through_a_dead_server_stop_counting(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock, redis_url: str
) -> None:
    a, b = pair
    info = WorkerInfo("wid-9", "host", 7, last_beat=clock.now())
    await a.worker_connect(info)
    await a.worker_connect(info)
    await b.worker_connect(info)
    assert [w.connections for w in await b.workers()] == [3]
    with redis.Redis.from_url(redis_url) as raw:
        await _crash(a, raw)
    # The worker's last live connection closes: the record goes, as when the last one closes
    # anywhere; a's two are not waited for until the heartbeat reaper (60 s).
    await b.worker_disconnect("wid-9")
    assert await b.workers() == []


async def test_the_reaper_drops_a_record_whose_servers_are_all_gone(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock, redis_url: str
) -> None:
    a, b = pair
    now = clock.now()
    await a.worker_connect(WorkerInfo("wid-a", last_beat=now))
    await b.worker_connect(WorkerInfo("wid-b", last_beat=now))
    with redis.Redis.from_url(redis_url) as raw:
        await _crash(a, raw)
    # Nothing to close anywhere, so it is not reported; the live worker stays.
    assert await b.reap_workers(now - 60) == []
    assert [w.wid for w in await b.workers()] == ["wid-b"]


async def test_a_worker_reaped_on_one_is_closed_on_the_other(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    now = clock.now()
    await a.worker_connect(WorkerInfo("wid-s", last_beat=now))
    await b.worker_connect(WorkerInfo("wid-s", last_beat=now))
    assert await a.reap_workers(now + 61) == ["wid-s"]
    with anyio.fail_after(WAKE_SECONDS * 10):
        while not (closing := await b.reap_workers(now + 61)):  # noqa: ASYNC110 -- polling what a server polls
            await anyio.sleep(0.01)
    assert closing == ["wid-s"]
    assert await b.reap_workers(now + 61) == []  # once
    assert await a.reap_workers(now + 61) == []  # its own message is not news to it


async def test_a_node_key_lives_while_its_server_does(
    clock: FakeClock, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nodes, "REFRESH_SECONDS", 0.02)
    store = await open_store(clock, redis_url)
    key = f"fc:node:{store.node}"
    with redis.Redis.from_url(redis_url) as raw:
        assert 0 < raw.pttl(key) <= nodes.NODE_TTL_SECONDS * 1000
        raw.delete(key)
        with anyio.fail_after(5):
            while not raw.exists(key):  # noqa: ASYNC110 -- Redis sends no event for it
                await anyio.sleep(0.01)
        await store.flush()
        assert raw.exists(key)  # FLUSH deletes data, not the servers' presence
        await store.close()
        assert not raw.exists(key)  # a clean stop leaves nothing to expire


async def test_flush_on_one_keeps_the_workers_of_the_other(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    now = clock.now()
    await b.worker_connect(WorkerInfo("wid-f", "host", 7, last_beat=now))
    await b.worker_signal(["wid-f"], WorkerState.QUIET)
    await a.push(make_job())
    await a.flush()
    assert await b.queue_names() == []
    beat = await b.worker_beat("wid-f", 10, None, now + 1)
    assert beat is not None
    assert (beat.state, beat.connections) == (WorkerState.QUIET, 1)


async def test_a_live_server_whose_key_lapsed_registers_its_workers_again(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock, redis_url: str
) -> None:
    """a is alive but its key lapsed (Redis out of reach, or a stalled a, for over 15 s): b
    drops a's counts and the record. a's next refresh finds its key gone and puts back its
    counts, and the record as a last saw it -- quiet stays quiet."""
    a, b = pair
    now = clock.now()
    await a.worker_connect(WorkerInfo("wid-l", "host", 7, last_beat=now))
    await a.worker_connect(WorkerInfo("wid-l", "host", 7, last_beat=now))
    await b.worker_signal(["wid-l"], WorkerState.QUIET)
    assert await a.worker_beat("wid-l", 10, None, now + 1) is not None  # a sees "quiet"
    with redis.Redis.from_url(redis_url) as raw:
        raw.delete(f"fc:node:{a.node}")
    assert await b.reap_workers(now - 60) == []
    assert await b.workers() == []
    await a.reap_workers(now - 60)  # refreshes a's key first, as its beat task does
    [record] = await b.workers()
    assert (record.wid, record.connections, record.state) == ("wid-l", 2, WorkerState.QUIET)
    await a.worker_disconnect("wid-l")
    await a.worker_disconnect("wid-l")
    assert await b.workers() == []


async def test_a_worker_back_since_its_reap_elsewhere_is_left_alone(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    now = clock.now()
    await b.worker_connect(WorkerInfo("wid-r", last_beat=now))
    assert await a.reap_workers(now + 61) == ["wid-r"]
    await a.worker_connect(WorkerInfo("wid-r", last_beat=now + 62))  # it reconnected, to a
    with anyio.fail_after(WAKE_SECONDS * 10):
        while "wid-r" not in b._reaped_elsewhere:  # noqa: ASYNC110 -- the message is in
            await anyio.sleep(0.01)
    assert await b.reap_workers(now + 61) == []


async def test_a_connection_left_from_before_a_reap_does_not_count_down_a_new_registration(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    """W's old connection on a outlives W's reap on b; W registers again through b; then the
    old connection closes: the new registration keeps its count."""
    a, b = pair
    now = clock.now()
    await a.worker_connect(WorkerInfo("wid-o", last_beat=now))
    assert await b.reap_workers(now + 61) == ["wid-o"]
    with anyio.fail_after(WAKE_SECONDS * 10):
        while "wid-o" not in a._reaped_elsewhere:  # noqa: ASYNC110 -- the message is in
            await anyio.sleep(0.01)
    await b.worker_connect(WorkerInfo("wid-o", last_beat=now + 62))
    await a.worker_disconnect("wid-o")  # the old connection
    [record] = await b.workers()
    assert record.connections == 1
    await b.worker_disconnect("wid-o")
    assert await b.workers() == []


async def test_counts_written_back_after_a_lapse_race_no_connect(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock, redis_url: str
) -> None:
    a, _ = pair
    now = clock.now()
    info = WorkerInfo("wid-c", last_beat=now)
    await a.worker_connect(info)
    with redis.Redis.from_url(redis_url) as raw:
        raw.delete(f"fc:node:{a.node}")
        raw.hdel("fc:worker:wid-c", f"c:{a.node}")
        async with anyio.create_task_group() as group:
            group.start_soon(a.reap_workers, now - 60)  # refreshes, finds the lapse
            for _ in range(5):
                group.start_soon(a.worker_connect, info)
        assert raw.hget("fc:worker:wid-c", f"c:{a.node}") == b"6"


async def test_a_failed_write_back_is_tried_again(
    pair: tuple[RedisStore, RedisStore],
    clock: FakeClock,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, _ = pair
    now = clock.now()
    await a.worker_connect(WorkerInfo("wid-t", last_beat=now))
    original = RedisStore._reassert
    calls: list[int] = []

    async def fails_once(self: RedisStore) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise StoreError("Redis went away half way")
        await original(self)

    monkeypatch.setattr(RedisStore, "_reassert", fails_once)
    with redis.Redis.from_url(redis_url) as raw:
        raw.delete(f"fc:node:{a.node}")
        raw.hdel("fc:worker:wid-t", f"c:{a.node}")
        with pytest.raises(StoreError):
            await a.reap_workers(now - 60)
        assert raw.exists(f"fc:node:{a.node}")  # the key is back, the count not yet
        await a.reap_workers(now - 60)
        assert raw.hget("fc:worker:wid-t", f"c:{a.node}") == b"1"
