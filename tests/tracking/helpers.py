"""Servers with the Enterprise plugins under test, on either store (tests/redis/either_store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from faktory_core.plugins import memory_store, redis_store, tracking
from faktory_core.protocol import Bulk
from faktory_core.testing import FwpSocket

# tests/ is no package: a relative import is the way to share the Redis test helpers.
from ..redis.either_store import Running  # noqa: TID252

#: The store plugins (for the feature storage hook) and the tracking plugin.
PLUGINS: list[tuple[str, object]] = [
    ("memory_store", memory_store),
    ("redis_store", redis_store),
    ("tracking", tracking),
]


def start(serve: Callable[..., Running], *more: tuple[str, object], **kwargs: Any) -> Running:
    return serve(plugins=[*PLUGINS, *more], **kwargs)


def track_get(conn: FwpSocket, jid: str) -> dict[str, Any]:
    reply = conn.command("TRACK", "GET", jid)
    assert isinstance(reply, Bulk), reply
    assert reply.data is not None
    return dict(json.loads(reply.data))


def track_set(conn: FwpSocket, **fields: Any) -> Any:
    return conn.call(b"TRACK SET " + json.dumps(fields).encode() + b"\r\n")
