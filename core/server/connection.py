"""One client connection: a thin anyio loop around the sans-IO engine.

Reads arrive in raw chunks and feed the engine; every reply to the commands found in one chunk
is written with a single send, so pipelined commands cost one syscall each way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.abc

from faktory_core.errors import INTERNAL_ERROR, messages
from faktory_core.model import WorkerInfo
from faktory_core.protocol import (
    NEED_DATA,
    Command,
    Hello,
    LineTooLongEvent,
    ServerConnection,
    replies,
)
from faktory_core.server.commands import CLOSE, Session, dispatch

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = ["Connection"]

log = logging.getLogger("faktory_core.connection")

RECEIVE_SIZE = 65536
T = TypeVar("T")
#: The peer has gone: reading answers end of stream.
_EOF = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)
_GONE = (*_EOF, OSError)


class Connection:
    __slots__ = ("busy", "engine", "hello", "scope", "server", "session", "stream")

    def __init__(self, server: Server, stream: anyio.abc.SocketStream) -> None:
        self.server = server
        self.stream = stream
        self.engine = ServerConnection(
            challenge=server.authenticator.challenge(), max_line=server.config.max_line
        )
        self.session = Session()
        self.hello: Hello | None = None
        self.busy = False
        self.scope = anyio.CancelScope()

    def close(self) -> None:
        self.scope.cancel()

    async def run(self) -> None:
        counted = False
        try:
            with self.scope:
                try:
                    if await self._handshake():
                        counted = True
                        self.server.stats.connections += 1
                        if await self._admit():
                            self.session.waiting = self._watching
                            await self._commands()
                except _GONE:
                    pass
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._leave(counted)
        finally:
            # Also when the whole server is being cancelled: never leak the socket.
            with anyio.CancelScope(shield=True):
                await self.stream.aclose()

    async def _watching(self, blocked: Awaitable[T]) -> T:
        """Await a blocking command (FETCH) while still reading the socket.

        Bytes that arrive meanwhile (the next pipelined command) go to the engine; end of
        stream marks the session gone, so a job fetched for a client that has left is put
        back instead of being reserved for nobody.
        """
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while await self._receive():
                    pass
                self.session.gone = True

            tg.start_soon(watch)
            try:
                result = await blocked
            finally:
                tg.cancel_scope.cancel()
        return result

    async def _receive(self) -> bytes:
        """Feed the engine one read; ``b""`` (end of stream) once the peer has gone."""
        try:
            data = await self.stream.receive(RECEIVE_SIZE)
        except _EOF:
            data = b""
        self.engine.receive_data(data)
        return data

    async def _handshake(self) -> bool:
        """HI, then a valid HELLO within the deadline and the right password (§2)."""
        await self.stream.send(self.engine.greeting())
        hello = None
        with anyio.move_on_after(self.server.config.timings.handshake):
            while True:
                event = self.engine.next_event()
                if event is NEED_DATA:
                    await self._receive()
                    continue
                hello = event if isinstance(event, Hello) else None
                break
        if hello is None:
            return False
        if not await self.server.authenticator.authenticate(hello, self.engine.challenge):
            await self.stream.send(self.engine.reject())
            return False
        self.hello = hello
        return True

    async def _admit(self) -> bool:
        """Refuse connections over the limit; register a worker's wid; answer ``+OK``."""
        count = self.server.stats.connections
        if count > self.server.config.max_connections:
            await self.stream.send(replies.error(f"ERR {messages.too_many_connections(count)}"))
            return False
        await self._register()
        await self.stream.send(self.engine.accept())
        return True

    async def _register(self) -> None:
        hello = self.hello
        if hello is None or not hello.wid:
            return
        info = WorkerInfo(
            wid=hello.wid, hostname=hello.hostname, pid=hello.pid, labels=hello.labels
        )
        await self.server.manager.connect_worker(info)
        self.session.wid = hello.wid  # only once counted: leaving counts it down

    async def _leave(self, counted: bool) -> None:
        if counted:
            self.server.stats.connections -= 1
        if self.session.wid:
            try:
                await self.server.store.worker_disconnect(self.session.wid)
            except Exception:
                log.exception("could not unregister worker %s", self.session.wid)

    async def _commands(self) -> None:
        engine, server = self.engine, self.server
        out: list[bytes] = []
        table, session, stats = server.table, self.session, server.stats
        while True:
            event = engine.next_event()
            if event is NEED_DATA:
                if out:
                    await self.stream.send(b"".join(out))
                    out.clear()
                await self._receive()
                continue
            if type(event) is not Command:
                if isinstance(event, LineTooLongEvent):
                    out.append(replies.error(f"ERR {messages.line_too_long(event.limit)}"))
                break
            if server.shutting_down:
                out.append(replies.error(f"ERR {messages.SHUTDOWN}"))
                break
            self.busy = True
            try:
                reply, known = await dispatch(table, session, event.verb, event.payload)
            except Exception:
                log.exception("command %s failed", event.verb)
                reply, known = replies.error(f"ERR {INTERNAL_ERROR}"), True
            finally:
                self.busy = False
            if known:
                stats.command_count += 1
            if reply == CLOSE:
                break
            out.append(reply)
        if out:
            await self.stream.send(b"".join(out))
