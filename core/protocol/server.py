"""The server half of the FWP engine: bytes in, events out, replies as bytes. No I/O here."""

from __future__ import annotations

from typing import Any

from faktory_core import jobjson
from faktory_core.errors import messages
from faktory_core.protocol import password as pw
from faktory_core.protocol import replies
from faktory_core.protocol.buffer import DEFAULT_MAX_LINE, LineBuffer, LineTooLong
from faktory_core.protocol.events import (
    NEED_DATA,
    Command,
    ConnectionClosed,
    Hello,
    LineTooLongEvent,
    NeedData,
)
from faktory_core.protocol.states import State, transition

__all__ = ["PROTOCOL_VERSION", "ServerConnection", "parse_hello"]

PROTOCOL_VERSION = 2
_HELLO_PREFIX = b"HELLO {"

ServerEvent = Hello | Command | ConnectionClosed | LineTooLongEvent | NeedData


class ServerConnection:
    """One client connection, seen from the server.

    Feed received bytes with :meth:`receive_data` (``b""`` for end of stream) and drain
    :meth:`next_event` until it returns ``NEED_DATA``. Pipelined commands come out in order.
    """

    __slots__ = (
        "_buffer",
        "_closed_reason",
        "_eof",
        "_max_line",
        "challenge",
        "hello",
        "password",
        "state",
    )

    def __init__(
        self,
        password: str | None = None,
        *,
        challenge: tuple[int, str] | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        max_hello_line: int | None = None,
    ) -> None:
        """``challenge`` (iterations, salt) comes from the server's authenticator; given only a
        ``password``, the engine makes its own challenge and :meth:`password_ok` checks it.

        Lines are capped at ``max_hello_line`` (default ``max_line``) until the HELLO is
        accepted, then at ``max_line``."""
        self.state = State.AWAIT_HELLO
        self.password = password or None
        if challenge is None and self.password:
            challenge = pw.new_challenge()
        self.challenge = challenge
        self.hello: Hello | None = None
        self._max_line = max_line
        self._buffer = LineBuffer(min(max_line, max_hello_line or max_line))
        self._eof = False
        self._closed_reason = ""

    # -- handshake -----------------------------------------------------------------------------

    def greeting(self) -> bytes:
        """The ``+HI`` line to send on accept, with ``i`` and ``s`` when a password is set."""
        if self.challenge is None:
            return b'+HI {"v":%d}\r\n' % PROTOCOL_VERSION
        iterations, salt = self.challenge
        return b'+HI {"v":%d,"i":%d,"s":"%b"}\r\n' % (PROTOCOL_VERSION, iterations, salt.encode())

    def password_ok(self, hello: Hello) -> bool:
        """True when no password is set or the HELLO's ``pwdhash`` matches it (§2 step 5)."""
        if self.password is None or self.challenge is None:
            return True
        iterations, salt = self.challenge
        return pw.verify(self.password, salt, iterations, hello.version, hello.pwdhash)

    def accept(self) -> bytes:
        self.state = transition(self.state, "accept")
        self._buffer.max_line = self._max_line
        return replies.OK

    def reject(self, message: str = messages.INVALID_PASSWORD) -> bytes:
        self.state = transition(self.state, "reject")
        return replies.error(f"ERR {message}")

    def close(self) -> None:
        self.state = transition(self.state, "close")

    # -- receiving -----------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes received and not yet taken as lines."""
        return len(self._buffer)

    def over_limit(self) -> bool:
        """True when more than one line's cap is buffered: read no more until lines are
        taken (a client pipelining while a FETCH blocks cannot grow the buffer without bound).
        """
        return self._buffer.over_limit()

    def receive_data(self, data: bytes) -> None:
        if data:
            self._buffer.feed(data)
        else:
            self._eof = True

    def next_event(self) -> ServerEvent:
        state = self.state
        if state is State.READY or state is State.AWAIT_HELLO:
            try:
                line = self._buffer.next_line()
            except LineTooLong as exc:
                self._close("line too long")
                return LineTooLongEvent(exc.limit)
            if line is None:
                return self._close("end of stream") if self._eof else NEED_DATA
            return _command(line) if state is State.READY else self._hello(line)
        if state is State.CLOSED:
            return ConnectionClosed(self._closed_reason)
        # HELLO_RECEIVED: the caller must accept or reject the HELLO before more lines are read.
        return NEED_DATA

    def _hello(self, line: bytes) -> ServerEvent:
        hello = parse_hello(line)
        if hello is None:
            return self._close("invalid HELLO")
        self.hello = hello
        self.state = transition(self.state, "hello")
        return hello

    def _close(self, reason: str) -> ConnectionClosed:
        self._closed_reason = reason
        self.state = transition(self.state, "close")
        return ConnectionClosed(reason)


def _command(line: bytes) -> Command:
    verb, space, payload = line.partition(b" ")
    # tuple.__new__ is Command(...) without the named tuple's Python-level __new__.
    return _new_command(Command, (verb.decode("utf-8", "replace"), payload if space else None))


_new_command = tuple.__new__


_HELLO_FIELDS: dict[str, type | tuple[type, ...]] = {
    "v": int,
    "pwdhash": str,
    "wid": str,
    "hostname": str,
    "pid": int,
    "labels": list,
    "username": str,
}


def parse_hello(line: bytes) -> Hello | None:
    """Decode a ``HELLO {...}`` line as Faktory's Go struct would; None means close silently.

    The JSON is decoded as strictly as a job's (:mod:`faktory_core.jobjson`): nesting is
    bounded, so a small, deeply nested HELLO is just an invalid one.
    """
    if not line.startswith(_HELLO_PREFIX):
        return None
    try:
        data: Any = jobjson.loads(line[6:], lone_surrogates=True)
    except jobjson.JSONError:
        return None
    if not isinstance(data, dict):
        return None
    values: dict[str, Any] = {}
    for key, kind in _HELLO_FIELDS.items():
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            return None
        values[key] = value
    version = values.get("v", 0)
    if not 0 <= version <= 255:  # Go decodes v into a uint8
        return None
    labels = values.get("labels", [])
    if not all(isinstance(label, str) for label in labels):
        return None
    return Hello(
        version=version,
        pwdhash=values.get("pwdhash", ""),
        wid=values.get("wid", ""),
        hostname=values.get("hostname", ""),
        pid=values.get("pid", 0),
        labels=tuple(labels),
        username=values.get("username", ""),
    )
