"""Servers with the batch plugin on either store, over real sockets (a FakeClock each); a
Redis of the session's own (tests/redis/conftest.py's), flushed per test."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import anyio
import attrs
import httpx
import pytest

from faktory_core.clock import FakeClock
from faktory_core.config import Timings
from faktory_core.plugins import memory_store, redis_store, webui
from faktory_core.plugins.batch import BatchPlugin
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.store import Store
from faktory_core.testing import FwpSocket, ServerThread
from tests.redis.conftest import RedisServer, redis_binary, redis_server

__all__ = ["Running", "raw", "redis_binary", "redis_server", "serve"]


def raw(conn: FwpSocket, line: bytes) -> bytes:
    """Send one command line, return the exact bytes of the reply (one RESP reply)."""
    conn.send(line)
    data = b""
    while True:
        chunk = conn.sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
        if _complete(data):
            return data


def _complete(data: bytes) -> bool:
    head, sep, rest = data.partition(b"\r\n")
    if not sep:
        return False
    if head[:1] != b"$" or head == b"$-1":
        return True
    return len(rest) >= int(head[1:]) + 2


@attrs.define(eq=False)
class Running:
    thread: ServerThread
    store: Store
    clock: FakeClock
    stack: ExitStack
    plugin: BatchPlugin

    def conn(self) -> FwpSocket:
        conn = FwpSocket.open(self.thread.port)  # no wid: clock jumps reap no worker
        self.stack.callback(conn.close)
        return conn

    def web_get(self, path: str) -> httpx.Response:
        port = webui.web_port(self.thread.server)  # type: ignore[arg-type]
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)

    def advance(self, seconds: float) -> None:
        self.thread.call(self.clock.advance, seconds)

    def queued(self, queue: str = "default") -> list[dict[str, Any]]:
        async def page() -> list[Any]:
            return await self.store.queue_page(queue, 0, 1000)

        return [job.to_dict() for job in self.thread.call(page)]


def start_server(
    stack: ExitStack, kind: str, clock: FakeClock, redis: RedisServer | None, **config: Any
) -> Running:
    store: Store
    if kind == "memory":
        store, module = MemoryStore(clock), memory_store
    else:
        assert redis is not None
        store, module = RedisStore(clock, RedisSettings(url=redis.url)), redis_store
    plugin = BatchPlugin()
    plugins: list[tuple[str, object]] = [(kind + "_store", module), ("batch", plugin)]
    if config.get("web_binding"):
        plugins.append(("webui", webui))
    thread = ServerThread(
        store, clock=clock, timings=Timings(handshake=0.3), plugins=plugins, **config
    )
    stack.enter_context(thread)
    running = Running(thread, store, clock, stack, plugin)
    stack.callback(running.advance, Timings().fetch_block + 1)
    return running


@pytest.fixture(params=["memory", "redis"])
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[..., Running]]:
    """``serve()`` starts a server (again: a second one on the same store kind, and on Redis
    the same Redis, sharing one FakeClock)."""
    kind = request.param
    redis: RedisServer | None = None
    if kind == "redis":
        redis = request.getfixturevalue("redis_server")
        with redis.client() as client:
            client.flushall()
    clock = FakeClock()
    with ExitStack() as stack:

        def start(**config: Any) -> Running:
            return start_server(stack, kind, clock, redis, **config)

        yield start


def job(jobtype: str = "Member", **extra: Any) -> dict[str, Any]:
    return {"jid": uuid.uuid4().hex[:16], "jobtype": jobtype, "args": [], **extra}


def fetch(conn: FwpSocket, queue: str = "default") -> dict[str, Any] | None:
    reply = raw(conn, f"FETCH {queue}\r\n".encode())
    if reply == b"$-1\r\n":
        return None
    assert reply.startswith(b"$"), reply
    return dict(json.loads(reply.partition(b"\r\n")[2][:-2]))


def status(conn: FwpSocket, bid: str) -> dict[str, Any]:
    reply = raw(conn, f"BATCH STATUS {bid}\r\n".encode())
    assert reply.startswith(b"$"), reply
    return dict(json.loads(reply.partition(b"\r\n")[2][:-2]))


def new(conn: FwpSocket, definition: dict[str, Any]) -> str:
    reply = raw(conn, b"BATCH NEW " + json.dumps(definition).encode() + b"\r\n")
    assert reply.startswith(b"$16\r\nb-"), reply
    return reply[5:-2].decode()


def ack(conn: FwpSocket, jid: str) -> None:
    assert raw(conn, b'ACK {"jid":"' + jid.encode() + b'"}\r\n') == b"+OK\r\n"


def fail(conn: FwpSocket, jid: str) -> None:
    line = b'FAIL {"jid":"' + jid.encode() + b'","errtype":"E","message":"boom"}\r\n'
    assert raw(conn, line) == b"+OK\r\n"


def push(conn: FwpSocket, payload: dict[str, Any]) -> bytes:
    return raw(conn, b"PUSH " + json.dumps(payload).encode() + b"\r\n")


def wait(predicate: Callable[[], bool]) -> None:
    for _ in range(200):
        if predicate():
            return
        anyio.run(anyio.sleep, 0.01)
    raise AssertionError("condition never held")
