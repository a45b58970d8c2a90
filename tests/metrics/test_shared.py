"""Several servers on one Redis show one Metrics history (plugins/metrics/shared.py): each saves
its newest minutes under its node name every SHARE_EVERY seconds, a page adds up everyone's,
a restarted server still shows what it counted before, and a Redis outage leaves the page on
this server's own numbers. The memory store has no shared minutes: its page is its own."""

from __future__ import annotations

import json
import logging
import signal
import time
from contextlib import ExitStack
from typing import Any

import pytest

from faktory_core.clock import FakeClock
from faktory_core.config import Timings
from faktory_core.plugins import redis_store, webui
from faktory_core.plugins.metrics import MetricsPlugin
from faktory_core.plugins.metrics.shared import SHARE_EVERY
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.testing import ServerThread

from ..redis import either_store  # noqa: TID252
from ..redis.conftest import RedisServer  # noqa: TID252
from ..redis.either_store import Running  # noqa: TID252
from .support import Metrics, get

module_redis = either_store.module_redis


@pytest.fixture
def redis(module_redis: RedisServer) -> RedisServer:
    with module_redis.client() as client:
        client.flushall()
    return module_redis


def start(stack: ExitStack, redis: RedisServer) -> Metrics:
    """A server on the shared Redis, its own fake clock (all start at the same instant)."""
    clock, plugin = FakeClock(), MetricsPlugin(environ={})
    store = RedisStore(clock, RedisSettings(url=redis.url))
    plugins = [("redis_store", redis_store), ("webui", webui), ("metrics", plugin)]
    thread = ServerThread(
        store,
        clock=clock,
        timings=Timings(handshake=0.3),
        plugins=plugins,
        web_binding="127.0.0.1:0",
    )
    stack.enter_context(thread)
    return Metrics(Running(thread, store, clock), plugin)


def run_jobs(server: Metrics, jobtype: str, count: int, *, failed: int = 0) -> None:
    conn = server.conn()
    try:
        for n in range(count):
            jid = server.push(conn, jobtype)
            server.fetch(conn)
            (server.fail if n < failed else server.ack)(conn, jid)
    finally:
        conn.close()


def totals(server: Metrics) -> dict[str, tuple[int, int]]:
    status, _, body = get(server.url("/metrics/jobs.json"))
    assert status == 200, body
    rows: list[dict[str, Any]] = json.loads(body)["jobtypes"]
    return {row["jobtype"]: (row["processed"], row["failed"]) for row in rows}


def shared(server: Metrics) -> None:
    """Let ``server``'s sharer run once, and wait until its save has reached Redis."""
    store = server.running.store
    assert isinstance(store, RedisStore)
    key = f"fc:metrics:{int(server.running.clock.now() // 60)}"
    server.advance(SHARE_EVERY)
    server.running.wait_for(lambda: _saved(server, key, store.node), "the minutes to be shared")


def _saved(server: Metrics, key: str, node: str) -> bool:
    found: bool = server.running.call(server.running.store._r.execute, "HEXISTS", key, node)  # type: ignore[attr-defined]
    return found


def test_two_servers_show_every_servers_executions(redis: RedisServer) -> None:
    with ExitStack() as stack:
        one, two = start(stack, redis), start(stack, redis)
        run_jobs(one, "Report", 3, failed=1)
        run_jobs(two, "Report", 2)
        run_jobs(two, "Mail", 4)
        assert totals(one) == {"Report": (3, 1)}  # nothing shared yet: its own
        shared(two)
        assert totals(one) == {"Report": (5, 1), "Mail": (4, 0)}
        assert totals(two) == {"Report": (2, 0), "Mail": (4, 0)}  # one has not shared yet
        shared(one)
        assert totals(two) == {"Report": (5, 1), "Mail": (4, 0)}
        run_jobs(two, "Mail", 1)  # this server's newest executions: live, not yet shared
        assert totals(two) == {"Report": (5, 1), "Mail": (5, 0)}
        assert totals(one) == {"Report": (5, 1), "Mail": (4, 0)}
        shared(two)  # a second save replaces the first: nothing counted twice
        assert totals(one) == {"Report": (5, 1), "Mail": (5, 0)}


def test_a_restarted_server_keeps_its_history(redis: RedisServer) -> None:
    with ExitStack() as first:
        run_jobs(start(first, redis), "Report", 2)
    # The server stopped: its shutdown saved its minutes.
    with ExitStack() as second:
        assert totals(start(second, redis)) == {"Report": (2, 0)}


@pytest.mark.slow
def test_a_store_outage_leaves_this_servers_own_numbers(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """While Redis hangs, every page answers 503 (the web UI's store check); the shared
    minutes themselves fall back to this server's, and a failed save is logged and retried."""
    with ExitStack() as stack:
        one, two = start(stack, redis), start(stack, redis)
        run_jobs(two, "Mail", 1)
        shared(two)
        run_jobs(one, "Report", 1)
        sharer = one.state.sharer
        assert sharer is not None
        assert redis.process is not None
        redis.process.send_signal(signal.SIGSTOP)
        try:
            with caplog.at_level(logging.WARNING, "faktory_core.plugins.metrics"):
                view = one.running.call(sharer.minutes, 60)
                one.advance(SHARE_EVERY)  # a save that cannot reach the store
                deadline = time.monotonic() + 30  # the store's 5 s deadline, then the log
                while "could not share" not in caplog.text:
                    assert time.monotonic() < deadline, "the failed save was not logged"
                    time.sleep(0.05)
        finally:
            redis.process.send_signal(signal.SIGCONT)
        assert {jobtype for _, rows in view.window(60) for jobtype in rows} == {"Report"}
        assert "showing this server's minutes only" in caplog.text
        assert totals(one) == {"Report": (1, 0), "Mail": (1, 0)}
        shared(one)  # the sharer goes on after the failure
        assert totals(two) == {"Report": (1, 0), "Mail": (1, 0)}
