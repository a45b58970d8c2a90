"""The BatchStorage contract, run against the memory store and the Redis store alike; then
what only one of them needs (the memory journal's replay, two servers on one Redis)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from faktory_core.clock import FakeClock
from faktory_core.plugins.batch.definition import parse_definition
from faktory_core.plugins.batch.storage import BatchSpec, BatchStorage
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.memory_store.batch import build as memory_batches
from faktory_core.plugins.memory_store.journal import JournalSettings
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.redis_store.batch import build as redis_batches
from faktory_core.store import Store
from tests.redis.conftest import RedisServer, redis_binary, redis_server

__all__ = ["redis_binary", "redis_server"]

DAY = 24 * 3600


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
async def pair(
    request: pytest.FixtureRequest, clock: FakeClock
) -> AsyncIterator[tuple[Store, BatchStorage]]:
    store: Store
    if request.param == "memory":
        store = MemoryStore(clock)
        await store.open()
        yield store, memory_batches(store)
    else:
        redis: RedisServer = request.getfixturevalue("redis_server")
        with redis.client() as client:
            client.flushall()
        store = RedisStore(clock, RedisSettings(url=redis.url))
        await store.open()
        yield store, redis_batches(store)
    await store.close()


def spec(now: float, parent: str = "", **callbacks: dict[str, Any]) -> BatchSpec:
    body = {"parent_bid": parent, **(callbacks or {"success": {"jobtype": "S"}})}
    return parse_definition(json.dumps(body).encode(), now)


async def queued(store: Store) -> list[dict[str, Any]]:
    return [job.to_dict() for job in await store.queue_page("default", 0, 1000)]


async def test_create_open_status(pair: tuple[Store, BatchStorage], clock: FakeClock) -> None:
    _, batches = pair
    made = spec(clock.now())
    assert await batches.create(made, clock.now())
    assert await batches.open(made.bid, clock.now())
    st = await batches.status(made.bid, clock.now())
    assert st is not None
    assert (st["bid"], st["total"], st["pending"], st["failed"]) == (made.bid, 0, 0, 0)
    assert (st["committed"], st["complete_st"], st["success_st"]) == (False, "", "")
    assert "parent_bid" not in st
    assert st["callbacks"]["success"]["custom"] == {"_bid": made.bid, "_cb": "success"}
    assert await batches.status("b-nope", clock.now()) is None
    assert not await batches.open("b-nope", clock.now())
    assert not await batches.commit("b-nope", clock.now())
    assert not await batches.add_member("b-nope", "j1", clock.now())


async def test_unknown_parent_stores_nothing(
    pair: tuple[Store, BatchStorage], clock: FakeClock
) -> None:
    _, batches = pair
    assert not await batches.create(spec(clock.now(), parent="b-missing"), clock.now())
    assert await batches.recent(clock.now(), 10) == []


async def test_member_counted_once_and_settled(
    pair: tuple[Store, BatchStorage], clock: FakeClock
) -> None:
    store, batches = pair
    now = clock.now()
    made = spec(now)
    await batches.create(made, now)
    for jid in ("j1", "j1", "j2"):
        assert await batches.add_member(made.bid, jid, now)
    await batches.commit(made.bid, now)
    await batches.member_done(made.bid, "j1", False, now)
    st = await batches.status(made.bid, now)
    assert st is not None
    assert (st["total"], st["pending"], st["failed"]) == (2, 1, 1)
    await batches.member_done(made.bid, "j2", True, now)
    assert await queued(store) == []  # j1 failed: no success
    await batches.member_done(made.bid, "j1", True, now)  # its retry succeeded
    jobs = await queued(store)
    assert [job["custom"]["_cb"] for job in jobs] == ["success"]
    assert jobs[0]["enqueued_at"]
    st = await batches.status(made.bid, now)
    assert st is not None
    assert (st["pending"], st["failed"], st["success_st"]) == (0, 0, "1")


async def test_members_lists_pending_and_failed_jids_bounded(
    pair: tuple[Store, BatchStorage], clock: FakeClock
) -> None:
    _, batches = pair
    now = clock.now()
    made = spec(now)
    await batches.create(made, now)
    jids = [f"j{n:03d}" for n in range(250)]
    for jid in jids:
        await batches.add_member(made.bid, jid, now)
    for jid in jids[:120]:
        await batches.member_done(made.bid, jid, jid < "j010", now)
    found = await batches.members(made.bid, now, 50)
    assert found is not None
    pending, failed = found
    assert (len(pending), len(failed)) == (50, 50)
    assert set(pending) <= set(jids[120:])
    assert set(failed) <= set(jids[10:120])
    assert (pending, failed) == (sorted(pending), sorted(failed))
    everything = await batches.members(made.bid, now, 1000)
    assert everything == (jids[120:], jids[10:120])
    assert await batches.members("b-nope", now, 10) is None


async def test_callback_states_and_order(
    pair: tuple[Store, BatchStorage], clock: FakeClock
) -> None:
    store, batches = pair
    now = clock.now()
    made = spec(now, complete={"jobtype": "C"}, success={"jobtype": "S"})
    await batches.create(made, now)
    await batches.commit(made.bid, now)
    assert [job["jobtype"] for job in await queued(store)] == ["C"]
    await batches.callback_done(made.bid, "success", now)  # not enqueued: ignored
    await batches.callback_done(made.bid, "complete", now)
    await batches.callback_done(made.bid, "complete", now)
    assert sorted(job["jobtype"] for job in await queued(store)) == ["C", "S"]
    st = await batches.status(made.bid, now)
    assert st is not None
    assert (st["complete_st"], st["success_st"]) == ("2", "1")


async def test_children_hold_the_parent(pair: tuple[Store, BatchStorage], clock: FakeClock) -> None:
    store, batches = pair
    now = clock.now()
    parent = spec(now, complete={"jobtype": "PC"}, success={"jobtype": "PS"})
    await batches.create(parent, now)
    child = spec(now, parent=parent.bid, success={"jobtype": "CS"})  # no complete callback
    await batches.create(child, now)
    await batches.add_member(child.bid, "c1", now)
    await batches.commit(parent.bid, now)
    assert await queued(store) == []  # the child is not committed
    await batches.commit(child.bid, now)
    await batches.member_done(child.bid, "c1", True, now)
    # The child has no complete callback: its condition holds, the parent's complete fires.
    assert sorted(job["jobtype"] for job in await queued(store)) == ["CS", "PC"]
    await batches.callback_done(parent.bid, "complete", now)
    assert len(await queued(store)) == 2  # PS waits for CS to be ACKed
    await batches.callback_done(child.bid, "success", now)
    assert sorted(job["jobtype"] for job in await queued(store)) == ["CS", "PC", "PS"]
    st = await batches.status(parent.bid, now)
    assert st is not None
    assert st["children"] == [child.bid]
    assert st["total"] == 0


async def test_expiry(pair: tuple[Store, BatchStorage], clock: FakeClock) -> None:
    _, batches = pair
    now = clock.now()
    open_one, committed = spec(now), spec(now + 1)
    await batches.create(open_one, now)
    await batches.create(committed, now + 1)
    await batches.commit(committed.bid, now + 1)
    newest_first = [committed.bid, open_one.bid]
    assert [st["bid"] for st in await batches.recent(now + 1, 10)] == newest_first
    assert [st["bid"] for st in await batches.recent(now + 1, 1)] == newest_first[:1]
    later = now + 30 * 60 + 1
    assert await batches.status(open_one.bid, later) is None
    assert not await batches.add_member(open_one.bid, "j", later)
    assert await batches.status(committed.bid, later) is not None
    assert [st["bid"] for st in await batches.recent(later, 10)] == [committed.bid]
    assert await batches.status(committed.bid, now + 7 * DAY + 1) is None


async def test_memory_journal_replays_batches_without_double_callbacks(
    clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "db" / "memory_store.json"
    store = MemoryStore(clock, path=path, settings=JournalSettings())
    await store.open()
    batches = memory_batches(store)
    now = clock.now()
    made = spec(now)
    await batches.create(made, now)
    await batches.add_member(made.bid, "j1", now)
    await batches.commit(made.bid, now)
    await batches.member_done(made.bid, "j1", True, now)
    assert len(await queued(store)) == 1
    assert store._journal is not None
    os.close(store._journal._fd)  # kill -9: no snapshot, the journal as written
    store._journal = None
    again = MemoryStore(clock, path=path, settings=JournalSettings())
    await again.open()
    replayed = memory_batches(again)
    st = await replayed.status(made.bid, now)
    assert st is not None
    assert (st["pending"], st["success_st"]) == (0, "1")
    assert [job["custom"]["_cb"] for job in await queued(again)] == ["success"]
    await replayed.commit(made.bid, now)
    assert len(await queued(again)) == 1
    await again.close()


async def test_two_servers_on_one_redis_fire_once(
    clock: FakeClock, redis_server: RedisServer
) -> None:
    with redis_server.client() as client:
        client.flushall()
    stores = [RedisStore(clock, RedisSettings(url=redis_server.url)) for _ in range(2)]
    for store in stores:
        await store.open()
    a, b = (redis_batches(store) for store in stores)
    now = clock.now()
    bids = []
    for _ in range(50):
        made = spec(now, complete={"jobtype": "C"})
        await a.create(made, now)
        await a.add_member(made.bid, "j1", now)
        await a.add_member(made.bid, "j2", now)
        await b.commit(made.bid, now)
        bids.append(made.bid)
    async with anyio.create_task_group() as group:
        for bid in bids:
            group.start_soon(a.member_done, bid, "j1", True, now)
            group.start_soon(b.member_done, bid, "j2", True, now)
            group.start_soon(b.commit, bid, now)
    jobs = await queued(stores[0])
    assert sorted(job["custom"]["_bid"] for job in jobs) == sorted(bids)
    for store in stores:
        await store.close()
