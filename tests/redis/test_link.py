"""The Link: the store's pipelined connections to Redis (replies in order, errors as redis-py's
exceptions, a bounded number of connections, an outage watchdog), and the store's memory of
the reservations it made (:class:`Made`), which must never answer for someone else's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import pytest
import redis
import redis.exceptions as rex

from faktory_core.model import SortedSet, WorkerInfo, WorkerState
from faktory_core.plugins.redis_store import RedisStore, link
from faktory_core.plugins.redis_store.link import DEPTH, Link, Script
from faktory_core.store import FailureOutcome
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import failed, make_job

from .conftest import RedisServer

#: Real seconds any test here may take before it counts as hung.
GUARD = 10.0


@pytest.fixture
async def conn(redis_url: str) -> AsyncIterator[Link]:
    made = Link(redis_url, 4, "test")
    yield made
    await made.aclose()


def _clients(redis_url: str, name: str) -> int:
    """Connections named ``name`` (other tests' connections may still be closing)."""
    with redis.Redis.from_url(redis_url) as raw:
        return sum(1 for client in raw.client_list() if client.get("name") == name)


async def test_replies_come_back_to_their_callers(conn: Link) -> None:
    """Hundreds of commands in flight at once (several writes' worth, a few connections):
    each caller gets its own reply."""
    results: dict[int, bytes] = {}
    with anyio.fail_after(GUARD):
        async with anyio.create_task_group() as group:

            async def echo(n: int) -> None:
                results[n] = await conn.execute("ECHO", f"n{n}")

            for n in range(DEPTH * 5):
                group.start_soon(echo, n)
    assert results == {n: f"n{n}".encode() for n in range(DEPTH * 5)}
    assert 1 <= conn.connections <= conn.size


async def test_connections_are_bounded_and_opened_on_demand(redis_url: str) -> None:
    named = f"{redis_url}{'&' if '?' in redis_url else '?'}client_name=bounded-link"
    bounded = Link(named, 2, "test")
    try:
        assert bounded.connections == 0
        assert await bounded.execute("PING") == b"PONG"
        assert bounded.connections == 1
        with anyio.fail_after(GUARD):
            async with anyio.create_task_group() as group:
                for _ in range(DEPTH * 8):
                    group.start_soon(bounded.execute, "INCR", "counter")
        assert bounded.connections <= 2
        assert 1 <= _clients(redis_url, "bounded-link") <= 2
        assert await bounded.execute("GET", "counter") == str(DEPTH * 8).encode()
    finally:
        await bounded.aclose()
    assert bounded.connections == 0


async def test_a_caller_that_gives_up_leaves_the_order_intact(conn: Link) -> None:
    """A cancelled command still has its reply read (and dropped); the next caller gets its
    own answer, not the cancelled one's."""
    with anyio.fail_after(GUARD):
        async with anyio.create_task_group() as group:
            group.start_soon(conn.execute, "ECHO", "abandoned")
            group.cancel_scope.cancel()
        assert await conn.execute("ECHO", "mine") == b"mine"
        assert await conn.many([("ECHO", "a"), ("ECHO", "b")]) == [b"a", b"b"]


async def test_error_replies_are_redis_py_exceptions(conn: Link) -> None:
    await conn.execute("SET", "text", "x")
    with pytest.raises(rex.ResponseError, match="WRONGTYPE"):
        await conn.execute("LPUSH", "text", "y")
    with pytest.raises(rex.NoScriptError):
        await conn.execute("EVALSHA", "0" * 40, 0)
    with pytest.raises(rex.ResponseError, match="WRONGTYPE"):
        await conn.many([("GET", "text"), ("LLEN", "text")])
    assert await conn.execute("GET", "text") == b"x"  # the connection is still fine


async def test_a_script_redis_forgot_is_sent_again(conn: Link) -> None:
    script = Script(conn, "return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await script(keys=["n"], args=[2]) == 2
    await conn.execute("SCRIPT", "FLUSH")
    assert await script(keys=["n"], args=[3]) == 5  # NOSCRIPT: it had not run; EVAL, once
    assert await script(keys=["n"], args=[1]) == 6


async def test_bulky_commands_keep_off_the_first_connection(conn: Link) -> None:
    await conn.execute("PING")
    await conn.execute("RPUSH", "long", *range(1000))
    with anyio.fail_after(GUARD):
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: conn.execute("LRANGE", "long", 0, -1, bulky=True))
            await anyio.wait_all_tasks_blocked()
            assert await conn.execute("PING") == b"PONG"
    assert conn.connections == 2


async def test_a_dropped_connection_fails_its_commands_then_reconnects(
    redis_factory: Callable[..., RedisServer],
) -> None:
    server = redis_factory()
    made = Link(server.url, 2, "test")
    try:
        await made.execute("SET", "k", "v")
        server.stop()
        with pytest.raises(rex.ConnectionError):
            await made.execute("GET", "k")
        with pytest.raises(rex.ConnectionError, match="Error connecting"):
            await made.execute("GET", "k")
        server.start()
        assert await made.execute("PING") == b"PONG"
        assert made.connections == 1
    finally:
        await made.aclose()


async def test_no_reply_in_time_is_an_outage(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis that stops answering: the watchdog fails the pending commands with a
    TimeoutError and drops the connection; the next command opens a new one."""
    monkeypatch.setattr(link, "COMMAND_TIMEOUT", 0.3)
    monkeypatch.setattr(link, "WATCH_SECONDS", 0.1)
    made = Link(redis_url, 2, "test")
    try:
        await made.execute("PING")
        with redis.Redis.from_url(redis_url) as raw:
            raw.execute_command("CLIENT", "PAUSE", 500, "ALL")
        with anyio.fail_after(GUARD), pytest.raises(rex.TimeoutError, match="no reply"):
            await made.execute("PING")
        assert made.connections == 0
        await anyio.sleep(0.6)  # the pause is over
        with anyio.fail_after(GUARD):
            assert await made.execute("PING") == b"PONG"
    finally:
        await made.aclose()


async def test_a_closed_link_refuses_commands(redis_url: str) -> None:
    made = Link(redis_url, 2, "test")
    await made.execute("PING")
    await made.aclose()
    with pytest.raises(rex.ConnectionError, match="closed"):
        await made.execute("PING")


# -- the reservations a store made ---------------------------------------------------------------


async def test_a_job_fetched_again_elsewhere_is_acked_as_that_reservation(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    """A fetches a job; its reservation expires and the job, retried, is fetched again through
    B by another worker. ACK through A answers B's reservation (with the failure the retry
    recorded), not the one A remembers."""
    a, b = pair
    now = clock.now()
    await a.push(make_job(reserve_for=60))
    first = await a.fetch(["default"], "worker-a", now, 0)
    assert first is not None
    outcome = FailureOutcome(failed(first.job), SortedSet.RETRIES, now + 61)
    assert await b.settle_failure(first.job.jid, outcome, now + 61, expired_only=True)
    assert await b.enqueue_due(SortedSet.RETRIES, now + 61, 10) == 1
    second = await b.fetch(["default"], "worker-b", now + 62, 0)
    assert second is not None
    assert second.job.failure is not None
    assert await a.reservation(first.job.jid) == second
    acked = await a.ack(first.job.jid, now + 63)
    assert acked == second
    assert acked.wid == "worker-b"


async def test_an_extended_reservation_is_acked_with_its_new_expiry(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    a, b = pair
    now = clock.now()
    await a.push(make_job(reserve_for=60))
    res = await a.fetch(["default"], "w1", now, 0)
    assert res is not None
    assert await b.extend(res.job.jid, now + 500)
    reread = await a.reservation(res.job.jid)
    assert reread is not None
    assert (reread.job, reread.wid, reread.expires_at) == (res.job, "w1", now + 500)
    acked = await a.ack(res.job.jid, now)
    assert acked == reread


async def test_a_quiet_worker_fetches_nothing_through_any_server(
    pair: tuple[RedisStore, RedisStore], clock: FakeClock
) -> None:
    """QUIET through A: the worker's FETCH through B reserves nothing (read in the fetch
    script itself: one round trip)."""
    a, b = pair
    now = clock.now()
    await b.worker_connect(WorkerInfo("wid-q", started_at=now, last_beat=now))
    await a.push(make_job())
    assert await a.worker_signal(["wid-q"], WorkerState.QUIET) == 1
    assert await b.fetch(["default"], "wid-q", now, 0) is None
    assert await b.queue_size("default") == 1
    assert await b.fetch(["default"], "other", now, 0) is not None
