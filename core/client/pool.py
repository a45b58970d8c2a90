"""Connection pools: :class:`Pool` (threads) and :class:`AsyncPool` (anyio tasks).

Connections open lazily, at most ``settings.connections`` at once, and are reused last-in first
out. Reconnection:

- an idle connection the server closed (a restart, an idle reaper) is noticed before it is used
  (it has become readable) and replaced, so nothing is sent on it;
- a connection that breaks *during* a command is closed; the command is sent once more on a
  fresh connection only when :attr:`Request.retry` says that is safe (see
  :mod:`faktory_core.client.commands`), otherwise :class:`ConnectionLost` reaches the caller,
  because the server may have applied it.
"""

from __future__ import annotations

import threading
from typing import TypeVar

import anyio

from faktory_core.client.commands import Request
from faktory_core.client.connection import AsyncConnection, Connection, Identity
from faktory_core.client.errors import PoolTimeout, TransportError
from faktory_core.client.settings import Settings

__all__ = ["AsyncPool", "Pool"]

T = TypeVar("T")


class Pool:
    """A thread-safe pool of blocking connections."""

    def __init__(self, settings: Settings, identity: Identity | None = None) -> None:
        self.settings = settings
        self._identity = identity or Identity()
        self._slots = threading.BoundedSemaphore(settings.connections)
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def execute(self, request: Request[T]) -> T:
        if not self._slots.acquire(timeout=self.settings.pool_timeout):
            raise PoolTimeout(f"no connection free after {self.settings.pool_timeout} s")
        try:
            conn = self._checkout()
            try:
                reply = conn.call(request.line)
            except TransportError:
                if not request.retry:
                    raise
                conn = self._open()
                reply = conn.call(request.line)
            self._checkin(conn)
        finally:
            self._slots.release()
        return request.parse(reply)

    def _open(self) -> Connection:
        return Connection.open(self.settings, self._identity)

    def _checkout(self) -> Connection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._open()
            if not conn.is_stale():
                return conn
            conn.close(polite=False)

    def _checkin(self, conn: Connection) -> None:
        with self._lock:
            if not self._closed and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; those in use close when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class AsyncPool:
    """A pool of anyio connections for the tasks of one event loop."""

    def __init__(self, settings: Settings, identity: Identity | None = None) -> None:
        self.settings = settings
        self._identity = identity or Identity()
        self._slots = anyio.Semaphore(settings.connections)
        self._idle: list[AsyncConnection] = []
        self._closed = False

    async def execute(self, request: Request[T]) -> T:
        try:
            with anyio.fail_after(self.settings.pool_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolTimeout(f"no connection free after {self.settings.pool_timeout} s") from None
        try:
            conn = await self._checkout()
            try:
                reply = await conn.call(request.line)
            except TransportError:
                if not request.retry:
                    raise
                conn = await self._open()
                reply = await conn.call(request.line)
            await self._checkin(conn)
        finally:
            self._slots.release()
        return request.parse(reply)

    async def _open(self) -> AsyncConnection:
        return await AsyncConnection.open(self.settings, self._identity)

    async def _checkout(self) -> AsyncConnection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_stale():
                return conn
            await conn.aclose(polite=False)
        return await self._open()

    async def _checkin(self, conn: AsyncConnection) -> None:
        if self._closed or conn.closed:
            await conn.aclose()
        else:
            self._idle.append(conn)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.aclose()
