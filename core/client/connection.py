"""One connection to the server, blocking (:class:`Connection`) or async (:class:`AsyncConnection`).

Each is a short I/O loop around the sans-IO engine: send the command line, feed whatever arrives
to :class:`~faktory_core.protocol.ReplyParser` until it yields a reply. The handshake is the same
engine: ``parse_hi`` reads the greeting and ``encode_hello`` writes the answer. Any failure during
I/O closes the connection, since we no longer know where the next reply starts.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
from typing import TypeVar

import anyio
import anyio.abc
import attrs

from faktory_core.client.commands import Request
from faktory_core.client.errors import (
    AuthenticationError,
    ServerError,
    connecting,
    map_exceptions,
    no_greeting,
)
from faktory_core.client.settings import Settings
from faktory_core.protocol import (
    ErrorReply,
    NeedData,
    Reply,
    ReplyParser,
    SimpleString,
    encode_hello,
    parse_hi,
)

__all__ = ["AsyncConnection", "Connection", "Identity"]

T = TypeVar("T")

_RECEIVE_SIZE = 65536
_END = b"END\r\n"


@attrs.frozen
class Identity:
    """What HELLO says about us. A worker process sets ``wid`` (and labels) on every connection;
    a producer leaves it empty and must never BEAT."""

    wid: str = ""
    labels: tuple[str, ...] = ()
    hostname: str = attrs.field(factory=socket.gethostname)
    pid: int = attrs.field(factory=os.getpid)

    def hello(self, greeting: Reply, password: str | None) -> bytes:
        """The HELLO line answering the server's ``+HI`` greeting."""
        hi = parse_hi(greeting)
        if hi.salt is not None and not password:
            raise AuthenticationError("ERR", "the server requires a password and none was given")
        return encode_hello(
            hi,
            password=password,
            wid=self.wid or None,
            hostname=self.hostname,
            pid=self.pid,
            labels=list(self.labels) if self.wid else None,
        )


def _check_welcome(reply: Reply) -> None:
    if isinstance(reply, ErrorReply):
        if "password" in reply.message.lower():
            raise AuthenticationError.from_reply(reply)
        raise ServerError.from_reply(reply)
    if reply != SimpleString("OK"):
        raise ServerError("ERR", f"unexpected reply to HELLO: {reply!r}")


def _has_pending_input(sock: socket.socket) -> bool:
    """An idle FWP connection has nothing to read: readable means EOF or garbage, so stale."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class Connection:
    """A blocking connection. Not thread-safe: the pool gives each thread its own."""

    __slots__ = ("_parser", "_sock", "closed")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._parser = ReplyParser()
        self.closed = False

    @classmethod
    def open(cls, settings: Settings, identity: Identity) -> Connection:
        with connecting(settings.host, settings.port) as where:
            sock = socket.create_connection(
                (settings.host, settings.port), timeout=settings.connect_timeout
            )
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                context = settings.make_ssl_context()
                if context is not None:
                    sock = context.wrap_socket(sock, server_hostname=settings.host)
                conn = cls(sock)
                conn._send(identity.hello(conn._greeting(settings, where), settings.password))
                _check_welcome(conn._read())
            except BaseException:
                sock.close()
                raise
        sock.settimeout(settings.timeout)
        return conn

    def execute(self, request: Request[T]) -> T:
        return request.parse(self.call(request.line))

    def call(self, line: bytes) -> Reply:
        """Send one command line and read its reply."""
        try:
            with map_exceptions():
                self._send(line)
                return self._read()
        except BaseException:
            self.close(polite=False)
            raise

    def _send(self, line: bytes) -> None:
        self._sock.sendall(line)

    def _greeting(self, settings: Settings, where: str) -> Reply:
        """The ``+HI``, which a Faktory server sends at once; silence means something else
        listens there (an HTTP server such as the web UI waits for a request)."""
        seconds = settings.greeting_seconds
        self._sock.settimeout(seconds)
        try:
            return self._read()
        except TimeoutError:
            raise no_greeting(where, f"no answer within {seconds:g} s") from None
        except ConnectionResetError:
            raise no_greeting(where, "the connection was closed") from None
        finally:
            self._sock.settimeout(settings.connect_timeout)

    def _read(self) -> Reply:
        while isinstance(reply := self._parser.next_reply(), NeedData):
            data = self._sock.recv(_RECEIVE_SIZE)
            if not data:
                raise ConnectionResetError("the server closed the connection")
            self._parser.receive_data(data)
        return reply

    def is_stale(self) -> bool:
        if self.closed:
            return True
        pending = isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0
        return pending or _has_pending_input(self._sock)

    def close(self, *, polite: bool = True) -> None:
        """Close; ``polite`` says END first so the server logs a clean goodbye."""
        if self.closed:
            return
        self.closed = True
        if polite:
            # Already gone? Then closing is all that is left to do.
            with contextlib.suppress(OSError):
                self._sock.sendall(_END)
        self._sock.close()


async def _connect_stream(
    settings: Settings, context: ssl.SSLContext | None
) -> anyio.abc.ByteStream:
    if context is None:
        return await anyio.connect_tcp(settings.host, settings.port)
    return await anyio.connect_tcp(
        settings.host,
        settings.port,
        ssl_context=context,
        tls_hostname=settings.host,
        # Faktory closes without a TLS close_notify; that is not a truncation attack here.
        tls_standard_compatible=False,
    )


class AsyncConnection:
    """An anyio connection. One task at a time: the async pool hands each task its own."""

    __slots__ = ("_parser", "_stream", "_timeout", "closed")

    def __init__(self, stream: anyio.abc.ByteStream, timeout: float) -> None:
        self._stream = stream
        self._parser = ReplyParser()
        self._timeout = timeout
        self.closed = False

    @classmethod
    async def open(cls, settings: Settings, identity: Identity) -> AsyncConnection:
        context = settings.make_ssl_context()
        with (
            connecting(settings.host, settings.port) as where,
            anyio.fail_after(settings.connect_timeout),
        ):
            stream = await _connect_stream(settings, context)
            conn = cls(stream, settings.timeout)
            try:
                hello = identity.hello(await conn._greeting(settings, where), settings.password)
                await stream.send(hello)
                _check_welcome(await conn._read())
            except BaseException:
                await anyio.aclose_forcefully(stream)
                raise
        return conn

    async def execute(self, request: Request[T]) -> T:
        return request.parse(await self.call(request.line))

    async def call(self, line: bytes) -> Reply:
        """Send one command line and read its reply, within the read timeout."""
        # A bare deadline scope, not fail_after(): same effect, less work on every command.
        deadline = anyio.CancelScope(deadline=anyio.current_time() + self._timeout)
        try:
            with map_exceptions():
                with deadline:
                    await self._stream.send(line)
                    return await self._read()
                raise TimeoutError(f"no reply within {self._timeout} s")
        except BaseException:
            # Cancelled or failed half-way: the next bytes could belong to this reply.
            self.closed = True
            await anyio.aclose_forcefully(self._stream)
            raise

    async def _read(self) -> Reply:
        while isinstance(reply := self._parser.next_reply(), NeedData):
            self._parser.receive_data(await self._stream.receive(_RECEIVE_SIZE))
        return reply

    async def _greeting(self, settings: Settings, where: str) -> Reply:
        """As :meth:`Connection._greeting`."""
        seconds = settings.greeting_seconds
        try:
            with anyio.move_on_after(seconds):
                return await self._read()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            raise no_greeting(where, "the connection was closed") from None
        raise no_greeting(where, f"no answer within {seconds:g} s")

    def is_stale(self) -> bool:
        if self.closed:
            return True
        sock = self._stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        return sock is None or _has_pending_input(sock)

    async def aclose(self, *, polite: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        if polite:
            gone = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
            with anyio.move_on_after(1.0, shield=True), contextlib.suppress(*gone):
                await self._stream.send(_END)
        await anyio.aclose_forcefully(self._stream)
