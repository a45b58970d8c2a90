"""Queue throttles over real sockets, on both stores, and across two servers on one Redis."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from faktory_core.clock import FakeClock, SystemClock
from faktory_core.config import Config, Timings
from faktory_core.kernel import load_kernel
from faktory_core.plugins import memory_store, redis_store, throttle
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.memory_store.throttle import MemoryThrottle
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.throttle import ThrottleConfigError, gate_of
from faktory_core.plugins.throttle.config import parse_throttles
from faktory_core.protocol import Bulk, SimpleString
from faktory_core.server.app import Server
from faktory_core.testing import FwpSocket, ServerThread

from ..redis import either_store  # noqa: TID252
from ..redis.conftest import RedisServer  # noqa: TID252
from ..redis.either_store import Running, job  # noqa: TID252

module_redis = either_store.module_redis
serve = either_store.serve

OK = SimpleString("OK")
Connect = Callable[[Running], FwpSocket]
PLUGINS: list[tuple[str, object]] = [
    ("memory_store", memory_store),
    ("redis_store", redis_store),
    ("throttle", throttle),
]


def _toml(**throttles: dict[str, Any]) -> dict[str, Any]:
    return {"throttles": throttles}


def start(serve: Callable[..., Running], **throttles: dict[str, Any]) -> Running:
    return serve(plugins=PLUGINS, toml=_toml(**throttles))


def fetched(conn: FwpSocket, *queues: str) -> dict[str, Any] | None:
    reply = conn.command("FETCH", *queues)
    assert isinstance(reply, Bulk), reply
    return None if reply.data is None else dict(json.loads(reply.data))


def push(conn: FwpSocket, count: int, queue: str = "limited", **extra: Any) -> list[str]:
    jids = []
    for _ in range(count):
        item = job(queue=queue, **extra)
        assert conn.json_command("PUSH", item) == OK
        jids.append(item["jid"])
    return jids


def test_a_full_queue_is_skipped_for_the_next_one(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve, limited={"concurrency": 2, "timeout": 60})
    conn = connect(running)
    limited = push(conn, 4)
    other = push(conn, 1, queue="default")
    got = [fetched(conn, "limited", "default") for _ in range(3)]
    assert [g["jid"] for g in got if g] == [*limited[:2], other[0]]
    # The job that lost its place was put back at the head: order is kept.
    assert conn.json_command("ACK", {"jid": limited[0]}) == OK
    assert fetched(conn, "limited", "default")["jid"] == limited[2]  # type: ignore[index]


def test_slots_come_back_on_ack_fail_and_expiry(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve, limited={"concurrency": 1, "timeout": 600})
    conn = connect(running)
    jids = push(conn, 4, reserve_for=60)
    push(conn, 4, queue="default")
    assert fetched(conn, "limited", "default")["jid"] == jids[0]  # type: ignore[index]
    assert fetched(conn, "limited", "default")["queue"] == "default"  # type: ignore[index]
    conn.json_command("ACK", {"jid": jids[0]})
    assert fetched(conn, "limited", "default")["jid"] == jids[1]  # type: ignore[index]
    conn.json_command("FAIL", {"jid": jids[1], "message": "boom"})
    assert fetched(conn, "limited", "default")["jid"] == jids[2]  # type: ignore[index]
    running.advance(61)  # the reservation expires: the reaper fails it, the slot comes back
    running.wait_for(lambda: running.call(_reserved, running, jids[2]) is False, "the reaper")
    assert fetched(conn, "limited", "default")["jid"] == jids[3]  # type: ignore[index]


async def _reserved(running: Running, jid: str) -> bool:
    return await running.store.reservation(jid) is not None


def test_a_vanished_worker_s_slot_comes_back_after_timeout(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve, limited={"concurrency": 1, "timeout": 30})
    conn = connect(running)
    jids = push(conn, 2)
    push(conn, 1, queue="default")
    assert fetched(conn, "limited", "default")["jid"] == jids[0]  # type: ignore[index]
    assert fetched(conn, "limited", "default")["queue"] == "default"  # type: ignore[index]
    running.advance(30)  # the job is still reserved (1800 s), its slot timed out
    assert fetched(conn, "limited", "default")["jid"] == jids[1]  # type: ignore[index]


def test_a_fetch_on_full_queues_waits_and_is_woken_by_a_release(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve, limited={"concurrency": 1, "timeout": 60})
    conn, waiting = connect(running), connect(running)
    jids = push(conn, 2)
    assert fetched(conn, "limited")["jid"] == jids[0]  # type: ignore[index]
    got: list[dict[str, Any] | None] = []
    blocked = threading.Thread(target=lambda: got.append(fetched(waiting, "limited")))
    blocked.start()
    running.wait_for(lambda: running.call(_waiting, running), "the FETCH to wait")
    assert conn.json_command("ACK", {"jid": jids[0]}) == OK  # no clock moves: only the wake
    blocked.join(10)
    assert [g and g["jid"] for g in got] == [jids[1]]


async def _waiting(running: Running) -> bool:
    server = running.thread.server
    assert server is not None
    return any(c.busy for c in server.connections)


def test_per_worker_limits_count_each_worker(serve: Callable[..., Running]) -> None:
    running = start(serve, limited={"worker": 1, "timeout": 60})
    one, two = running.conn(), running.conn()  # two wids
    try:
        jids = push(one, 3)
        push(one, 1, queue="default")
        assert fetched(one, "limited", "default")["jid"] == jids[0]  # type: ignore[index]
        assert fetched(two, "limited", "default")["jid"] == jids[1]  # type: ignore[index]
        assert fetched(one, "limited", "default")["queue"] == "default"  # type: ignore[index]
    finally:
        one.close()
        two.close()


def test_sighup_reloads_the_table(serve: Callable[..., Running], connect: Connect) -> None:
    running = start(serve, limited={"concurrency": 1, "timeout": 60})
    conn = connect(running)
    jids = push(conn, 3)
    push(conn, 3, queue="default")
    fetched(conn, "limited", "default")
    assert fetched(conn, "limited", "default")["queue"] == "default"  # type: ignore[index]
    server = running.thread.server
    assert server is not None
    wider = Config(toml=_toml(limited={"concurrency": 2, "timeout": 60}))
    running.call(server.reload, wider)
    assert fetched(conn, "limited", "default")["jid"] == jids[1]  # type: ignore[index]
    bad = Config(toml=_toml(limited={"concurrency": 0, "timeout": 60}))
    running.call(server.reload, bad)  # logged; the running table is kept
    gate = gate_of(server)
    assert gate is not None
    assert gate.throttles["limited"].limit == 2


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"q": {"timeout": 5}}, "give exactly one of concurrency or worker"),
        ({"q": {"concurrency": 1, "worker": 1, "timeout": 5}}, "exactly one"),
        ({"q": {"concurrency": 0, "timeout": 5}}, "concurrency must be a whole number ≥ 1"),
        ({"q": {"concurrency": "4", "timeout": 5}}, "concurrency must be a whole number"),
        ({"q": {"worker": True, "timeout": 5}}, "worker must be a whole number"),
        ({"q": {"concurrency": 2}}, "timeout (seconds > 0) is required"),
        ({"q": {"concurrency": 2, "timeout": -1}}, "timeout (seconds > 0) is required"),
        ({"q": {"concurrency": 2, "timeout": 5, "burst": 1}}, "unknown key(s) burst"),
        ({"q": 4}, "expected { concurrency = N, timeout = S }"),
        ({"bad queue": {"concurrency": 1, "timeout": 5}}, "not a valid queue name"),
    ],
)
def test_a_bad_table_is_a_clear_error_at_start_up(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ThrottleConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_throttles({"throttles": table})
    config = Config(toml={"throttles": table})
    with pytest.raises(ThrottleConfigError):
        Server.create(
            config,
            load_kernel(PLUGINS),
            SystemClock(),
            store=MemoryStore(SystemClock()),
        )


def test_throttles_must_be_a_table() -> None:
    with pytest.raises(ThrottleConfigError, match=r"\[throttles\] must be a table"):
        parse_throttles({"throttles": [1]})


# -- two servers on one Redis -------------------------------------------------------------------


@pytest.fixture
def two_servers(module_redis: RedisServer) -> Iterator[list[ServerThread]]:
    with module_redis.client() as client:
        client.flushall()
    toml = _toml(limited={"concurrency": 3, "timeout": 60})
    timings = Timings(fetch_block=0.3)
    threads = [
        ServerThread(
            RedisStore(SystemClock(), RedisSettings(url=module_redis.url)),
            clock=SystemClock(),
            plugins=PLUGINS,
            toml=toml,
            timings=timings,
        )
        for _ in range(2)
    ]
    with threads[0], threads[1]:
        yield threads


def test_two_servers_never_hand_out_more_than_the_limit(two_servers: list[ServerThread]) -> None:
    producer = FwpSocket.open(two_servers[0].port)
    try:
        jids = push(producer, 20)
    finally:
        producer.close()
    handed: list[str] = []
    lock = threading.Lock()

    def fetcher(port: int) -> None:
        conn = FwpSocket.open(port)
        try:
            while (got := fetched(conn, "limited")) is not None:
                with lock:
                    handed.append(got["jid"])
        finally:
            conn.close()

    workers = [threading.Thread(target=fetcher, args=(t.port,)) for t in two_servers * 4]
    for each in workers:
        each.start()
    for each in workers:
        each.join(30)
    assert len(handed) == 3
    assert set(handed) <= set(jids)
    # An ACK through one server frees a slot for a FETCH through the other.
    one, other = FwpSocket.open(two_servers[0].port), FwpSocket.open(two_servers[1].port)
    try:
        assert one.json_command("ACK", {"jid": handed[0]}) == OK
        got = fetched(other, "limited")
        assert got is not None
        assert got["jid"] not in handed
    finally:
        one.close()
        other.close()


async def test_memory_slots_survive_a_restart_until_released_or_timed_out(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    path = tmp_path / "memory_store.json"
    store = MemoryStore(clock, path=path)
    await store.open()
    slots = MemoryThrottle(store)
    now = clock.now()
    assert await slots.take("q", "a", 2, now, now + 60)
    assert await slots.take("q", "b", 2, now, now + 30)
    assert not await slots.take("q", "c", 2, now, now + 60)
    assert await slots.release("b")
    await store.close()
    store = MemoryStore(clock, path=path)
    await store.open()
    again = MemoryThrottle(store)
    assert await again.taken(["q"], now) == [1]
    assert await again.take("q", "c", 2, now, now + 60)
    assert not await again.take("q", "d", 2, now, now + 60)
    assert await again.taken(["q"], now + 60) == [0]  # both timed out
    await store.flush()
    assert not await again.release("c")
    await store.close()
