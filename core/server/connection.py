"""One client connection: a thin anyio loop around the sans-IO engine.

Reads arrive in raw chunks and feed the engine; every reply to the commands found in one chunk
is written with a single send, so pipelined commands cost one syscall each way. On anyio's
plain asyncio TCP stream, replies go straight to the transport (:func:`direct_writer`) and reads
come from the connection's own protocol (:mod:`faktory_core.server.reader`), not from anyio's
``receive``, which pauses and resumes the transport around every read; TLS streams and other
backends use anyio's stream for both.

Nothing raised while serving one connection may end the server: :meth:`Connection.run` logs
any ``Exception`` with the peer's address, answers ``-ERR internal error`` if it still can and
closes (cancellation, a ``BaseException``, goes through). What one connection may hold is
bounded (docs/running.md, "Limits"): its line buffer (``max_hello_line`` before the HELLO,
``max_line`` after, also while a FETCH blocks), its unsent replies (``max_unsent``: sent before
anything more is read) and, with every other connection, ``max_buffered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import anyio.abc

from faktory_core.errors import INTERNAL_ERROR, FaktoryError, messages
from faktory_core.model import WorkerInfo
from faktory_core.protocol import (
    NEED_DATA,
    Command,
    Hello,
    LineTooLongEvent,
    ServerConnection,
    replies,
)
from faktory_core.server.commands import CLOSE, MissingPayload, Session
from faktory_core.server.guard import peer_host, peer_name, release_memory
from faktory_core.server.reader import PlainReader

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = ["Connection"]

log = logging.getLogger("faktory_core.connection")

RECEIVE_SIZE = 65536
#: A connection that buffered this much gives the memory back to the system when it closes.
RELEASE_AFTER = 1024 * 1024
#: How long a last error reply may take to send to a connection that is being closed.
FAREWELL_SECONDS = 1.0
T = TypeVar("T")
#: The peer has gone: reading answers end of stream.
_EOF = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)
_GONE = (*_EOF, OSError)


class _Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def is_closing(self) -> bool: ...

    def get_write_buffer_size(self) -> int: ...


def direct_writer(stream: anyio.abc.ByteStream) -> _Transport | None:
    """The asyncio transport under anyio's plain TCP stream; None for any other stream (TLS,
    another backend), which is then written through ``stream.send``.

    anyio's ``send`` enters two checkpoints around each write (a cancel scope and a pass of the
    event loop): about a tenth of a PUSH's CPU (docs/performance.md, issue 20). Writing to the
    transport directly keeps what the reply loop needs from it -- the bytes handed over in
    order, and back-pressure: whatever the socket did not take at once sends the connection
    through anyio's ``send`` of nothing, which waits for the drain (:meth:`Connection._send`).
    """
    transport: Any = getattr(stream, "_transport", None)
    protocol: Any = getattr(stream, "_protocol", None)
    if (
        not isinstance(getattr(protocol, "write_event", None), asyncio.Event)
        or not callable(getattr(transport, "write", None))
        or not callable(getattr(transport, "is_closing", None))
        or not callable(getattr(transport, "get_write_buffer_size", None))
    ):
        return None
    return transport  # type: ignore[no-any-return]


class Connection:
    __slots__ = (
        "buffered",
        "busy",
        "counted",
        "direct",
        "engine",
        "evicted",
        "handshaking",
        "hello",
        "idle_since",
        "peak",
        "peer",
        "reader",
        "scope",
        "server",
        "session",
        "stream",
    )

    def __init__(self, server: Server, stream: anyio.abc.ByteStream) -> None:
        self.server = server
        self.stream = stream
        config = server.config
        self.engine = ServerConnection(
            challenge=server.authenticator.challenge(),
            max_line=config.max_line,
            max_hello_line=config.max_hello_line,
        )
        self.session = Session()
        self.hello: Hello | None = None
        self.busy = False
        self.scope = anyio.CancelScope()
        self.peer = peer_name(stream)
        #: Bytes of this connection counted in ``server.buffered``.
        self.buffered = 0
        #: The most this connection has buffered at once.
        self.peak = 0
        self.counted = False
        self.handshaking = True
        self.evicted = False
        self.direct = direct_writer(stream)
        #: Reads of a plain TCP connection (see :mod:`faktory_core.server.reader`); None: anyio's.
        self.reader = PlainReader.attach(stream) if self.direct is not None else None
        #: ``time.monotonic()`` when a connection without a ``wid`` began waiting for its next
        #: command; 0 while it is not waiting (see :meth:`Server.close_idle`).
        self.idle_since = 0.0

    def close(self) -> None:
        self.scope.cancel()

    def idle_for(self, now: float) -> float:
        """Seconds this connection (without a ``wid``) has waited for a command; 0: not waiting."""
        return now - self.idle_since if self.idle_since else 0.0

    def time_out(self, timeout: float) -> None:
        """Close a connection silent for ``idle_timeout`` seconds (the server's sweep)."""
        log.info("closing the connection from %s: no command for %ss", self.peer, timeout)
        self.close()

    def evict(self) -> int:
        """Close this connection to give back the memory it holds; returns how much."""
        released, self.buffered, self.evicted = self.buffered, 0, True
        self.peak = max(self.peak, released)
        log.warning(
            "closing the connection from %s: it holds %d bytes and all connections together "
            "hold more than max_buffered (%d)",
            self.peer,
            released,
            self.server.config.max_buffered,
        )
        self.close()
        return released

    async def run(self) -> None:
        try:
            with self.scope:
                try:
                    await self._serve()
                except _GONE:
                    pass
                except Exception:
                    log.exception("connection from %s failed; closing it", self.peer)
                    await self._farewell(replies.error(f"ERR {INTERNAL_ERROR}"))
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._leave()
        finally:
            self._handshake_over()
            self._account(0)
            if self.peak >= RELEASE_AFTER:
                self.engine = ServerConnection()  # drop the buffer before trimming
                release_memory()
            # Also when the whole server is being cancelled: never leak the socket.
            with anyio.CancelScope(shield=True):
                try:
                    await self.stream.aclose()
                except Exception:
                    log.debug("closing the connection from %s failed", self.peer, exc_info=True)

    async def _serve(self) -> None:
        try:
            accepted = await self._handshake()
        finally:
            self._handshake_over()
        if not accepted:
            return
        self.counted = True
        self.server.stats.connections += 1
        if await self._admit():
            self.session.waiting = self._watching
            await self._commands()

    def _handshake_over(self) -> None:
        if self.handshaking:
            self.handshaking = False
            self.server.handshaking -= 1

    async def _farewell(self, reply: bytes) -> None:
        """Send a last reply if the peer still reads within a second; never raise."""
        with anyio.move_on_after(FAREWELL_SECONDS):
            with contextlib.suppress(Exception):
                await self.stream.send(reply)

    async def _watching(self, blocked: Awaitable[T]) -> T:
        """Await a blocking command (FETCH) while still reading the socket.

        Bytes that arrive meanwhile (the next pipelined command) go to the engine, up to one
        line's cap (then reading waits for the FETCH); end of stream marks the session gone,
        so a job fetched for a client that has left is put back instead of being reserved for
        nobody.
        """
        error: Exception | None = None
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while not self.engine.over_limit():
                    if not await self._receive():
                        self.session.gone = True
                        return

            tg.start_soon(watch)
            try:
                result = await blocked
            except Exception as exc:
                # Raised from here it would leave the task group wrapped in an ExceptionGroup,
                # and a store's error (Redis away) would answer "internal error".
                error = exc
            finally:
                tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return result

    async def _receive(self) -> bytes:
        """Feed the engine one read; ``b""`` (end of stream) once the peer has gone."""
        engine = self.engine
        size = engine.buffered
        if size != self.buffered:
            self._account(size)
        if self.reader is not None:
            data = await self.reader.receive(RECEIVE_SIZE)
        else:
            try:
                data = await self.stream.receive(RECEIVE_SIZE)
            except _EOF:
                data = b""
        engine.receive_data(data)
        if data:
            self._account(engine.buffered)
        return data

    def _account(self, size: int) -> None:
        """Count this connection's buffered bytes in the server's total (see max_buffered)."""
        if self.evicted:
            return
        self.server.buffered += size - self.buffered
        self.buffered = size
        self.peak = max(self.peak, size)
        if size and self.server.buffered > self.server.config.max_buffered:
            self.server.shed_buffers()

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
            await self._refuse()
            return False
        self.server.auth_failures.succeeded(peer_host(self.peer))
        self.hello = hello
        return True

    async def _refuse(self) -> None:
        """A wrong password: log it (at most once a second), wait longer for each failure in a
        row from the same address, then answer ``-ERR Invalid password``."""
        failures = self.server.auth_failures
        now = anyio.current_time()
        count, delay = failures.failed(peer_host(self.peer), now)
        unlogged = failures.may_log(now)
        if unlogged is not None:
            log.warning(
                "authentication failed from %s (%d in a row from there%s)",
                self.peer,
                count,
                f"; {unlogged} other failures not logged" if unlogged else "",
            )
        await anyio.sleep(delay)
        await self.stream.send(self.engine.reject())

    async def _admit(self) -> bool:
        """Refuse connections over the limit; register a worker's wid; answer ``+OK``.

        A store that fails while registering the worker (an outage) is answered ``-ERR`` with
        its message, and the connection closed; the server goes on.
        """
        count = self.server.stats.connections
        if count > self.server.config.max_connections:
            await self.stream.send(replies.error(f"ERR {messages.too_many_connections(count)}"))
            return False
        try:
            await self._register()
        except FaktoryError as exc:
            log.warning("cannot admit the worker from %s: %s", self.peer, exc.message)
            await self.stream.send(replies.error(exc.wire_text()))
            return False
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

    async def _leave(self) -> None:
        await self._put_back_unsent()
        if self.counted:
            self.counted = False
            self.server.stats.connections -= 1
        if self.session.wid:
            try:
                await self.server.store.worker_disconnect(self.session.wid)
            except Exception:
                log.exception(
                    "could not unregister worker %s (connection from %s)",
                    self.session.wid,
                    self.peer,
                )

    async def _put_back_unsent(self) -> None:
        """Jobs fetched for replies that never reached the socket go back to their queues."""
        unsent, self.session.unsent = self.session.unsent, []
        for jid in unsent:
            try:
                if await self.server.store.unreserve(jid):
                    log.info("put %s back: its FETCH reply to %s could not be sent", jid, self.peer)
            except Exception:
                log.exception("could not put %s back (its FETCH reply was not sent)", jid)

    async def _send(self, out: list[bytes]) -> None:
        data = b"".join(out)
        direct = self.direct
        if direct is not None and not direct.is_closing():
            direct.write(data)
            if direct.get_write_buffer_size():
                # Not all taken by the socket: anyio's send of nothing lets the loop flush
                # (uvloop pauses the protocol only then) and waits for the drain once paused,
                # so a client that never reads makes the server wait, not buffer. (anyio's
                # protocol replaces its write event when it pauses: only the buffer tells.)
                await self.stream.send(b"")
        else:
            await self.stream.send(data)
        out.clear()
        self.session.unsent.clear()

    async def _commands(self) -> None:
        """Answer commands until END, the peer's end of stream or a line too long.

        The verb's handler runs here, not in a helper: one coroutine less per command. A
        connection without a ``wid`` (a producer, or a client that never identified) is closed
        by the server's sweep once it has waited ``idle_timeout`` seconds for its next command
        (``idle_since``: a timestamp, not a cancel scope per read)."""
        engine, server = self.engine, self.server
        out: list[bytes] = []
        unsent = 0
        table, session, stats = server.table, self.session, server.stats
        max_unsent = server.config.max_unsent
        while True:
            event = engine.next_event()
            if event is NEED_DATA:
                if out:
                    await self._send(out)
                    unsent = 0
                if not session.wid:
                    self.idle_since = time.monotonic()
                try:
                    await self._receive()
                finally:
                    self.idle_since = 0.0
                continue
            if type(event) is not Command:
                if isinstance(event, LineTooLongEvent):
                    out.append(replies.error(f"ERR {messages.line_too_long(event.limit)}"))
                break
            if server.shutting_down:
                out.append(replies.error(f"ERR {messages.SHUTDOWN}"))
                break
            handler = table.get(event.verb)
            if handler is None:
                reply = replies.error(f"ERR {messages.unknown_command(event.verb)}")
            else:
                self.busy = True
                try:
                    reply = await handler(session, event.payload)
                except FaktoryError as exc:
                    reply = replies.error(exc.wire_text())
                except MissingPayload:
                    reply = replies.error(f"ERR {INTERNAL_ERROR}")
                except Exception:
                    log.exception("command %s from %s failed", event.verb, self.peer)
                    reply = replies.error(f"ERR {INTERNAL_ERROR}")
                finally:
                    self.busy = False
                stats.command_count += 1
                if reply == CLOSE:
                    break
            out.append(reply)
            unsent += len(reply)
            if unsent >= max_unsent:
                # Back-pressure: a client that pipelines and never reads waits here (the send
                # blocks once the socket's buffers are full), and nothing more is read.
                await self._send(out)
                unsent = 0
        if out:
            await self._send(out)
