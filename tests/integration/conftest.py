"""Fixtures for real-socket integration tests: an in-process server on 127.0.0.1 and clients.

``server`` runs on a :class:`FakeClock` (background tasks move only when a test advances the
clock); ``make_server`` builds servers with other settings (password, limits, the real clock).
``connect(srv, **hello)`` opens an identified :class:`Conn`; ``connect_raw(srv)`` a bare TCP
connection that has read nothing yet. Every socket and server is closed at teardown.
"""

from __future__ import annotations

import functools
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import attrs
import pytest

from faktory_core.clock import Clock, FakeClock, SystemClock
from faktory_core.config import Timings
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import NEED_DATA, Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket, ServerThread

OK = SimpleString("OK")
NULL = Bulk(None)
#: Short intervals for tests that run on the real clock.
FAST = Timings(handshake=0.3, fetch_block=0.2)


def err(message: str, code: str = "ERR") -> ErrorReply:
    return ErrorReply(code, message)


def new_jid() -> str:
    return uuid.uuid4().hex[:16]


def make_job(
    jobtype: str = "SomeJob", args: list[Any] | None = None, **extra: Any
) -> dict[str, Any]:
    job: dict[str, Any] = {
        "jid": new_jid(),
        "jobtype": jobtype,
        "args": [] if args is None else args,
    }
    job.update(extra)
    return job


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@attrs.define(eq=False)
class Conn(FwpSocket):
    """FwpSocket plus raw-byte reads and the few assertions every test needs."""

    def read_raw(self) -> bytes:
        """The exact bytes of the next reply (nothing else must be buffered or pending)."""
        raw = bytearray()
        while True:
            reply = self.parser.next_reply()
            if reply is not NEED_DATA:
                return bytes(raw)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"server closed the connection after {bytes(raw)!r}")
            raw += data
            self.parser.receive_data(data)

    def call_raw(self, line: bytes) -> bytes:
        self.send(line)
        return self.read_raw()

    def ok(self, verb: str, value: Any) -> None:
        reply = self.json_command(verb, value)
        assert reply == OK, f"{verb} {value!r} -> {reply!r}"

    def push(self, job: dict[str, Any]) -> None:
        self.ok("PUSH", job)

    def fetch(self, *queues: str) -> dict[str, Any] | None:
        reply = self.command("FETCH", *queues)
        assert isinstance(reply, Bulk), reply
        return None if reply.data is None else json.loads(reply.data)

    def ack(self, jid: str) -> None:
        self.ok("ACK", {"jid": jid})

    def fail(self, jid: str, **extra: Any) -> None:
        self.ok("FAIL", {"jid": jid, "errtype": "RuntimeError", "message": "boom", **extra})

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = self.bulk_json("INFO")
        return data

    def expect_closed(self, timeout: float = 5.0) -> None:
        """Assert the server closes the connection within ``timeout``, sending nothing more."""
        pending = self.parser.next_reply()
        assert pending is NEED_DATA, f"unexpected reply {pending!r}"
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return
        except TimeoutError:
            raise AssertionError(f"server did not close the connection in {timeout}s") from None
        assert data == b"", f"expected the connection closed, got {data!r}"


@attrs.define(eq=False)
class Harness:
    """A running server, its store and its clock."""

    thread: ServerThread
    store: MemoryStore
    clock: Clock
    timings: Timings

    @property
    def port(self) -> int:
        return self.thread.port

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a coroutine function on the server's event loop."""
        return self.thread.call(func, *args)

    def advance(self, seconds: float, step: float | None = None) -> None:
        assert isinstance(self.clock, FakeClock), "advance() needs a FakeClock server"
        self.call(functools.partial(self.clock.advance, seconds, step=step))

    def now(self) -> float:
        return self.clock.now()

    def busy_connections(self) -> int:
        server = self.thread.server
        assert server is not None
        return sum(1 for c in list(server.connections) if c.busy)


def _start(stack: ExitStack, *, real_clock: bool = False, **kwargs: Any) -> Harness:
    clock: Clock = SystemClock() if real_clock else FakeClock()
    timings = kwargs.setdefault("timings", FAST if real_clock else Timings(handshake=0.3))
    store = MemoryStore(clock)
    thread = ServerThread(store, clock=clock, **kwargs)
    stack.enter_context(thread)  # stops its own thread if the server fails to start
    harness = Harness(thread, store, clock, timings)
    if not real_clock:
        # Let a FETCH still blocked on the fake clock finish, so the server stops at once.
        stack.callback(harness.advance, timings.fetch_block + 1)
    return harness


@pytest.fixture
def make_server() -> Iterator[Callable[..., Harness]]:
    """``make_server(real_clock=False, **ServerThread kwargs)`` → a running :class:`Harness`."""
    with ExitStack() as stack:
        yield functools.partial(_start, stack)


@pytest.fixture
def server(make_server: Callable[..., Harness]) -> Harness:
    """A server on a MemoryStore and a FakeClock."""
    return make_server()


@pytest.fixture
def rt_server(make_server: Callable[..., Harness]) -> Harness:
    """A server on the real clock with short timings (FETCH blocks 0.2 s)."""
    return make_server(real_clock=True)


@pytest.fixture
def connections(make_server: Callable[..., Harness]) -> Iterator[list[socket.socket]]:
    """Sockets to close at teardown (requests make_server so they close before the servers)."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


@pytest.fixture
def connect(connections: list[socket.socket]) -> Callable[..., Conn]:
    """``connect(srv, password=..., wid=..., ...)`` → a handshaken :class:`Conn`."""

    def open_conn(srv: Harness, **hello: Any) -> Conn:
        conn = Conn.open(srv.port, **hello)
        connections.append(conn.sock)
        return conn

    return open_conn


@pytest.fixture
def connect_raw(connections: list[socket.socket]) -> Callable[[Harness], Conn]:
    """``connect_raw(srv)`` → a TCP connection that has not read the greeting yet."""

    def open_raw(srv: Harness) -> Conn:
        conn = Conn.connect(srv.port)
        connections.append(conn.sock)
        return conn

    return open_raw
