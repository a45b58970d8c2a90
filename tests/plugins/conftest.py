"""Fixtures for the plugin tests: ``serve(*plugins)`` starts a real server on 127.0.0.1 with
those (name, plugin) pairs registered beside the built-ins; ``connect(running, **hello)`` opens
a handshaken client. Sockets close before their server; everything stops at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from faktory_core.clock import FakeClock
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.testing import ServerThread

from .harness import Client, Running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def serve(stack: ExitStack, clock: FakeClock) -> Callable[..., Running]:
    """``serve(("name", plugin), ..., **ServerThread kwargs)`` → a running server."""

    def start(*plugins: tuple[str, object], **kwargs: Any) -> Running:
        store = MemoryStore(clock)
        thread = ServerThread(store, clock=clock, plugins=list(plugins), **kwargs)
        return Running(stack.enter_context(thread), store, clock)

    return start


@pytest.fixture
def connect(stack: ExitStack) -> Callable[..., Client]:
    """``connect(running, wid=..., ...)`` → a client that has completed HELLO."""

    def open_client(running: Running, **hello: Any) -> Client:
        client = Client.open(running.port, **hello)
        stack.callback(client.close)
        assert isinstance(client, Client)
        return client

    return open_client
