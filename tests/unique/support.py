"""Shared by tests/unique and tests/expiring: servers on either store (memory, Redis) with the
Enterprise job-option plugins registered, on a FakeClock, over real sockets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from faktory_core.plugins import expiring, memory_store, redis_store, unique
from faktory_core.protocol import Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket

# tests/ is no package: a relative import is the way to share the Redis test helpers.
from ..redis import either_store  # noqa: TID252
from ..redis.either_store import Running, job  # noqa: TID252

__all__ = [
    "NOT_UNIQUE",
    "OK",
    "PLUGINS",
    "Ent",
    "Running",
    "ent",
    "fetch",
    "job",
    "module_redis",
    "serve",
    "unique_job",
]

OK = SimpleString("OK")
NOT_UNIQUE = ErrorReply("NOTUNIQUE", "Job not unique")
#: Both stores' modules answer the feature-storage hook for their own store.
PLUGINS = [
    ("memory_store", memory_store),
    ("redis_store", redis_store),
    ("unique", unique),
    ("expiring", expiring),
]


#: Seconds of fake time between two heartbeats in Ent.advance.
BEAT_EVERY = 30

module_redis = either_store.module_redis
serve = either_store.serve


@attrs.define(eq=False)
class Ent:
    """A server with the plugins, and the connections a test opened to it."""

    serve: Callable[..., Running]
    extra: list[tuple[str, object]] = attrs.field(factory=list)
    running: Running = attrs.field(init=False)
    opened: list[tuple[FwpSocket, str]] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        self.running = self.serve(plugins=[*PLUGINS, *self.extra])

    def conn(self) -> FwpSocket:
        wid = uuid.uuid4().hex[:8]
        conn = FwpSocket.open(self.running.thread.port, wid=wid)
        self.opened.append((conn, wid))
        return conn

    def advance(self, seconds: float) -> None:
        """Move the clock, beating for every connection on the way (the heartbeat reaper
        closes a worker silent for 60 s)."""
        while seconds > 0:
            step = min(seconds, BEAT_EVERY)
            self.running.advance(step)
            seconds -= step
            for conn, wid in self.opened:
                assert conn.json_command("BEAT", {"wid": wid}) is not None

    def close(self) -> None:
        for conn, _ in self.opened:
            conn.close()


@pytest.fixture
def ent(serve: Callable[..., Running]) -> Iterator[Ent]:
    """A server on either store (the ``serve`` parameter) with every option plugin."""
    made = Ent(serve)
    yield made
    made.close()


def unique_job(seconds: float = 60, args: list[Any] | None = None, **custom: Any) -> dict[str, Any]:
    args = [1, "x"] if args is None else args
    return job("Report", args=args, custom={"unique_for": seconds, **custom})


def fetch(conn: FwpSocket, *queues: str) -> dict[str, Any]:
    reply = conn.command("FETCH", *(queues or ("default",)))
    assert isinstance(reply, Bulk), reply
    assert reply.data is not None
    return dict(json.loads(reply.data))
