"""The ``UniqueLocks`` contract, run against both stores' implementations; the memory store's
locks ride its journal; two servers on one Redis racing for one lock: exactly one gets it."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from faktory_core.plugins import memory_store, redis_store
from faktory_core.plugins.memory_store import JournalSettings, MemoryStore
from faktory_core.plugins.memory_store.unique import SWEEP_MIN, MemoryUniqueLocks
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.unique import UniqueLocks
from faktory_core.testing import FakeClock, FwpSocket, ServerThread

from ..redis.conftest import RedisServer  # noqa: TID252
from .support import NOT_UNIQUE, OK, PLUGINS, either_store, unique_job

module_redis = either_store.module_redis

NOW = 1_750_000_000.0


@pytest.fixture(params=["memory", "redis"])
async def locks(request: pytest.FixtureRequest) -> AsyncIterator[UniqueLocks]:
    clock = FakeClock(NOW)
    if request.param == "memory":
        mem = MemoryStore(clock)
        await mem.open()
        yield memory_store.faktory_core_feature_storage("unique", mem)
        await mem.close()
        return
    server: RedisServer = request.getfixturevalue("module_redis")
    with server.client() as client:
        client.flushall()
    store = RedisStore(clock, RedisSettings(url=server.url))
    await store.open()
    yield redis_store.faktory_core_feature_storage("unique", store)
    await store.close()


async def test_both_stores_follow_the_protocol(locks: UniqueLocks) -> None:
    assert isinstance(locks, UniqueLocks)


async def test_one_holder_at_a_time(locks: UniqueLocks) -> None:
    assert await locks.acquire("k", "jid-a", NOW, NOW + 10)
    assert not await locks.acquire("k", "jid-b", NOW + 9.9, NOW + 20)
    assert await locks.holder("k", NOW + 9.9) == "jid-a"
    assert await locks.acquire("other", "jid-b", NOW, NOW + 10)


async def test_an_expired_lock_is_free(locks: UniqueLocks) -> None:
    assert await locks.acquire("k", "jid-a", NOW, NOW + 0.5)
    assert await locks.holder("k", NOW + 0.5) is None
    assert await locks.acquire("k", "jid-b", NOW + 0.5, NOW + 10)
    assert await locks.holder("k", NOW + 1) == "jid-b"


async def test_only_the_holder_releases(locks: UniqueLocks) -> None:
    assert await locks.acquire("k", "jid-a", NOW, NOW + 10)
    assert not await locks.release("k", "jid-b", NOW)
    assert await locks.holder("k", NOW) == "jid-a"
    assert await locks.release("k", "jid-a", NOW)
    assert await locks.holder("k", NOW) is None
    assert not await locks.release("k", "jid-a", NOW)
    assert await locks.acquire("k", "jid-b", NOW, NOW + 10)


async def test_releasing_an_expired_lock_says_it_was_not_live(locks: UniqueLocks) -> None:
    assert await locks.acquire("k", "jid-a", NOW, NOW + 1)
    assert not await locks.release("k", "jid-a", NOW + 2)
    assert await locks.holder("k", NOW) is None


async def test_many_concurrent_acquires_give_the_lock_once(locks: UniqueLocks) -> None:
    won: list[str] = []

    async def take(jid: str) -> None:
        if await locks.acquire("k", jid, NOW, NOW + 10):
            won.append(jid)

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(take, f"jid-{n}")
    assert len(won) == 1
    assert await locks.holder("k", NOW) == won[0]


# -- the memory store: journal, snapshot, sweep ---------------------------------------------------


async def _opened(path: Path) -> MemoryStore:
    store = MemoryStore(FakeClock(NOW), path=path, settings=JournalSettings())
    await store.open()
    return store


async def test_memory_locks_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "memory_store.json"
    store = await _opened(path)
    locks = MemoryUniqueLocks(store)
    assert await locks.acquire("kept", "jid-a", NOW, NOW + 60)
    assert await locks.acquire("gone", "jid-b", NOW, NOW + 60)
    assert await locks.release("gone", "jid-b", NOW)
    await store.close()
    again = MemoryUniqueLocks(await _opened(path))
    assert await again.holder("kept", NOW) == "jid-a"
    assert await again.holder("gone", NOW) is None
    assert not await again.acquire("kept", "jid-c", NOW + 59, NOW + 120)


async def test_memory_locks_replay_from_the_journal_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "memory_store.json"
    store = await _opened(path)
    locks = MemoryUniqueLocks(store)
    assert await locks.acquire("k", "jid-a", NOW, NOW + 60)
    assert store._journal is not None
    os.close(store._journal._fd)
    store._journal = None  # a crash: no snapshot written, the journal stays as it is
    store._opened = False
    again = MemoryUniqueLocks(await _opened(path))
    assert await again.holder("k", NOW) == "jid-a"


async def test_memory_sweep_drops_expired_locks_only() -> None:
    store = MemoryStore(FakeClock(NOW))
    await store.open()
    locks = MemoryUniqueLocks(store)
    for n in range(SWEEP_MIN - 1):
        assert await locks.acquire(f"old-{n}", "jid", NOW, NOW + 1)
    assert await locks.acquire("live", "jid", NOW + 5, NOW + 60)
    table = locks._table.locks
    assert list(table) == ["live"]
    assert await locks.holder("live", NOW + 5) == "jid"
    await store.close()


# -- two servers on one Redis ----------------------------------------------------------------------

ROUNDS = 20


def test_two_servers_racing_the_same_push_one_wins(
    module_redis: RedisServer,
) -> None:
    with module_redis.client() as client:
        client.flushall()
    clock = FakeClock()
    stores = [RedisStore(clock, RedisSettings(url=module_redis.url)) for _ in range(2)]
    with (
        ServerThread(stores[0], clock=clock, plugins=PLUGINS) as a,
        ServerThread(stores[1], clock=clock, plugins=PLUGINS) as b,
    ):
        conns = [FwpSocket.open(a.port, wid="wa"), FwpSocket.open(b.port, wid="wb")]
        try:
            for round_ in range(ROUNDS):
                replies = _race(conns, unique_job(args=[round_]))
                assert sorted(map(repr, replies)) == sorted(map(repr, [OK, NOT_UNIQUE]))
        finally:
            for conn in conns:
                conn.close()
    with module_redis.client() as client:
        assert client.llen("q:default") == ROUNDS


def _race(conns: list[FwpSocket], job: dict[str, object]) -> list[object]:
    """Both connections push the same unique job (new jids) at the same moment."""
    barrier = threading.Barrier(len(conns))
    replies: list[object] = []

    def push(conn: FwpSocket, jid: str) -> None:
        barrier.wait()
        replies.append(conn.json_command("PUSH", {**job, "jid": jid}))

    threads = [
        threading.Thread(target=push, args=(conn, f"{job['jid']}-{n}"))
        for n, conn in enumerate(conns)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies


def test_a_lock_taken_on_one_server_goes_with_an_ack_on_the_other(
    module_redis: RedisServer,
) -> None:
    with module_redis.client() as client:
        client.flushall()
    clock = FakeClock()
    stores = [RedisStore(clock, RedisSettings(url=module_redis.url)) for _ in range(2)]
    with (
        ServerThread(stores[0], clock=clock, plugins=PLUGINS) as a,
        ServerThread(stores[1], clock=clock, plugins=PLUGINS) as b,
    ):
        on_a, on_b = FwpSocket.open(a.port, wid="wa"), FwpSocket.open(b.port, wid="wb")
        try:
            first = unique_job(600, unique_until="success")
            assert on_a.json_command("PUSH", first) == OK
            assert on_b.json_command("PUSH", unique_job(600)) == NOT_UNIQUE
            fetched = on_b.bulk_json("FETCH", "default")
            assert fetched["jid"] == first["jid"]
            assert on_b.json_command("ACK", {"jid": first["jid"]}) == OK
            assert on_a.json_command("PUSH", unique_job(600)) == OK
        finally:
            on_a.close()
            on_b.close()
