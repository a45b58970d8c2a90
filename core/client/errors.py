"""Everything the client and the worker raise, and the one place foreign errors are translated.

Exception tree::

    ClientError                 base of every error raised by faktory_core.client
    ├── ConfigError             bad FAKTORY_URL / FAKTORY_PROVIDER / argument (also ValueError)
    ├── JobError                a job that fails validation before it is sent (also ValueError)
    ├── PoolTimeout             no pooled connection became free in time
    ├── TransportError          the connection failed; a command in flight may or may not have run
    │   ├── ConnectFailed       could not connect (refused, unreachable, TLS handshake failed)
    │   └── ConnectionLost      the connection broke during a command (EOF, reset, timeout)
    ├── ProtocolError           the server sent bytes that are not the reply FWP promises
    └── ServerError             the server answered ``-CODE message``: ``.code``, ``.message``
        └── AuthenticationError the handshake was refused (bad or missing password)

:class:`ServerError` is also a :class:`faktory_core.errors.CodedError`, so ``.code`` is ``"ERR"``
for ``-ERR ...`` and the code itself otherwise (``-NOTUNIQUE Job not unique`` has code
``NOTUNIQUE``). Errors from sockets, anyio and the protocol engine never escape the client: they
are translated by :func:`map_exceptions` at the edge, where the I/O happens.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from types import TracebackType

import anyio

from faktory_core.errors import CodedError
from faktory_core.protocol import ErrorReply, LineTooLong, ProtocolViolation

__all__ = [
    "CONNECT_ERRORS",
    "IO_ERRORS",
    "USUAL_PORTS",
    "AuthenticationError",
    "ClientError",
    "ConfigError",
    "ConnectFailed",
    "ConnectionLost",
    "JobError",
    "PoolTimeout",
    "ProtocolError",
    "ServerError",
    "TransportError",
    "connecting",
    "map_exceptions",
    "no_greeting",
]

#: Where Faktory usually listens, named when something else answers (the web UI's port).
USUAL_PORTS = "Faktory takes commands on port 7419 and serves its web UI on 7420"


class ClientError(Exception):
    """Base of every error raised by :mod:`faktory_core.client`."""


class ConfigError(ClientError, ValueError):
    """The client cannot be configured as asked (FAKTORY_URL, FAKTORY_PROVIDER, arguments)."""


class JobError(ClientError, ValueError):
    """A job that the server would refuse, caught before it is sent."""


class PoolTimeout(ClientError):
    """Every pooled connection stayed busy for the whole pool timeout."""


class TransportError(ClientError):
    """The connection failed; a command in flight may or may not have been applied."""


class ConnectFailed(TransportError):
    """No connection could be opened (refused, unreachable, TLS handshake failed, timeout)."""


class ConnectionLost(TransportError):
    """An open connection broke during a command (EOF, reset, read timeout)."""


class ProtocolError(ClientError):
    """The server sent something that is not the reply the protocol promises."""


class ServerError(ClientError, CodedError):
    """The server answered ``-CODE message``; ``code`` is ``ERR`` for generic errors."""

    @classmethod
    def from_reply(cls, reply: ErrorReply) -> ServerError:
        return cls(reply.code, reply.message)

    def __str__(self) -> str:
        return self.wire_text()


class AuthenticationError(ServerError):
    """The server refused the handshake (``-ERR Invalid password``), or wants a password that
    was not given (then ``code`` is ``ERR`` and nothing was sent). ``server`` is the
    ``host:port`` tried, named in the message."""

    server: str | None = None

    def __str__(self) -> str:
        if self.server is None:
            return self.wire_text()
        return (
            f"cannot authenticate to Faktory at {self.server}: {self.message}; check the "
            "password in FAKTORY_URL (tcp://:password@host:port) or the url/password given"
        )


#: Foreign errors at the I/O edge and what they become (first match wins: order matters,
#: ``ssl.SSLError`` and ``TimeoutError`` are both ``OSError``).
IO_ERRORS: Mapping[type[BaseException], type[ClientError]] = {
    ProtocolViolation: ProtocolError,
    LineTooLong: ProtocolError,
    anyio.EndOfStream: ConnectionLost,
    anyio.BrokenResourceError: ConnectionLost,
    anyio.ClosedResourceError: ConnectionLost,
    ssl.SSLError: ConnectionLost,
    OSError: ConnectionLost,  # includes TimeoutError, ConnectionResetError, BrokenPipeError
}


class map_exceptions:  # lowercase: it is used like the function it is in httpcore
    """``with map_exceptions():`` re-raises a foreign exception as the client error ``mapping``
    names for it (httpcore's ``map_exceptions``); client errors and cancellation pass through.

    A class rather than a ``@contextmanager`` generator: it wraps every command on the hot path
    and a generator costs several times more to enter and leave.
    """

    __slots__ = ("_mapping",)

    def __init__(
        self, mapping: Mapping[type[BaseException], type[ClientError]] = IO_ERRORS
    ) -> None:
        self._mapping = mapping

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, ClientError) or not isinstance(exc, Exception):
            return
        for source, target in self._mapping.items():
            if isinstance(exc, source):
                raise target(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


#: The mapping used while a connection is being opened: transport failures are ConnectFailed.
CONNECT_ERRORS: Mapping[type[BaseException], type[ClientError]] = {
    source: ConnectFailed if target is ConnectionLost else target
    for source, target in IO_ERRORS.items()
}


def no_greeting(where: str, why: str) -> ConnectFailed:
    """Something answered on ``where`` but not with Faktory's ``+HI`` (the web UI's port?)."""
    return ConnectFailed(
        f"cannot connect to Faktory at {where}: {why}, without the +HI greeting a Faktory "
        f"server sends first. Is that the web UI's port? {USUAL_PORTS}"
    )


def _reason(exc: BaseException) -> str:
    """Why a connection could not be opened, in a few words."""
    cause = exc.__cause__  # anyio: "All connection attempts failed" from the last error
    if isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[-1]
    if isinstance(exc, OSError) and isinstance(cause, OSError):
        exc = cause
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running, on that port?)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ProtocolViolation):
        return f"{exc}. Is it a Faktory server? {USUAL_PORTS}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {_describe(exc)}"
    return _describe(exc)


class connecting:
    """``with connecting(host, port):`` around opening a connection: a foreign error becomes
    the client error :data:`CONNECT_ERRORS` names, with a message that names ``host:port``
    (``cannot connect to Faktory at localhost:7419: connection refused``), and an
    :class:`AuthenticationError` learns which server refused it."""

    __slots__ = ("where",)

    def __init__(self, host: str, port: int) -> None:
        self.where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def __enter__(self) -> str:
        return self.where

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, AuthenticationError):
            exc.server = self.where
            return
        if exc is None or isinstance(exc, ClientError) or not isinstance(exc, Exception):
            return
        for source, target in CONNECT_ERRORS.items():
            if isinstance(exc, source):
                message = f"cannot connect to Faktory at {self.where}: {_reason(exc)}"
                raise target(message) from exc
