"""Fixtures of the tracking tests: ``connect(running)`` opens a connection closed at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from faktory_core.testing import FwpSocket

from ..redis.either_store import Running  # noqa: TID252


@pytest.fixture
def connect() -> Iterator[Callable[[Running], FwpSocket]]:
    opened: list[FwpSocket] = []

    def open_one(running: Running) -> FwpSocket:
        conn = FwpSocket.open(running.thread.port)  # no wid: no heartbeat to miss
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        conn.close()
