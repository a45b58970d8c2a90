"""The client half of the FWP engine: command encoders and a RESP reply parser. No I/O here.

The Python client, the worker, the tests and the benchmarks all read replies with
:class:`ReplyParser`; there is no second parser.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeGuard

import attrs

from faktory_core.protocol import password as pw
from faktory_core.protocol.buffer import DEFAULT_MAX_LINE, LineBuffer
from faktory_core.protocol.events import NEED_DATA, NeedData

__all__ = [
    "Bulk",
    "ErrorReply",
    "Hi",
    "Integer",
    "ProtocolViolation",
    "Reply",
    "ReplyParser",
    "SimpleString",
    "encode_command",
    "encode_hello",
    "encode_json_command",
    "parse_hi",
]


class ProtocolViolation(Exception):
    """The server sent bytes that are not a RESP reply."""


@attrs.frozen
class SimpleString:
    text: str


@attrs.frozen
class Bulk:
    """A bulk string; ``data`` is None for the null bulk ``$-1``."""

    data: bytes | None


@attrs.frozen
class Integer:
    value: int


@attrs.frozen
class ErrorReply:
    """``-CODE message``; ``code`` is ``ERR`` for generic errors."""

    code: str
    message: str


Reply = SimpleString | Bulk | Integer | ErrorReply


class ReplyParser:
    """Feed bytes, take replies. ``next_reply()`` returns ``NEED_DATA`` until one is complete."""

    __slots__ = ("_buffer", "_pending_bulk")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._buffer = LineBuffer(max_line)
        self._pending_bulk: int | None = None

    def receive_data(self, data: bytes) -> None:
        self._buffer.feed(data)

    def next_reply(self) -> Reply | NeedData:
        if self._pending_bulk is not None:
            return self._bulk_body(self._pending_bulk)
        line = self._buffer.next_line()
        if line is None:
            return NEED_DATA
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return SimpleString(rest.decode("utf-8", "replace"))
        if kind == b"-":
            text = rest.decode("utf-8", "replace")
            code, _, message = text.partition(" ")
            return ErrorReply(code, message)
        if kind == b"$":
            length = _int(rest)
            if length == -1:
                return Bulk(None)
            if length < 0:
                raise ProtocolViolation(f"bad bulk length {length}")
            return self._bulk_body(length)
        if kind == b":":
            return Integer(_int(rest))
        raise ProtocolViolation(f"unexpected reply line {line[:80]!r}")

    def _bulk_body(self, length: int) -> Bulk | NeedData:
        body = self._buffer.read_exact(length + 2)
        if body is None:
            self._pending_bulk = length
            return NEED_DATA
        self._pending_bulk = None
        if body[-2:] != b"\r\n":
            raise ProtocolViolation("bulk string not terminated by CRLF")
        return Bulk(body[:-2])


_INTEGER = re.compile(rb"-?[0-9]+")


def _int(raw: bytes) -> int:
    # int() alone would also take b" 12", b"+12" and b"1_2"; RESP integers are plain digits.
    if _INTEGER.fullmatch(raw) is None:
        raise ProtocolViolation(f"bad integer {raw[:40]!r}")
    return int(raw)


@attrs.frozen
class Hi:
    """The server's greeting: protocol version and, with a password, the hash parameters."""

    version: int
    iterations: int | None = None
    salt: str | None = None


def parse_hi(reply: Reply) -> Hi:
    if not isinstance(reply, SimpleString) or not reply.text.startswith("HI "):
        raise ProtocolViolation(f"expected +HI, got {reply!r}")
    try:
        data = json.loads(reply.text[3:])
    except ValueError as exc:
        raise ProtocolViolation(f"bad HI {reply.text!r}") from exc
    if not isinstance(data, dict):
        raise ProtocolViolation(f"bad HI {reply.text!r}")
    version, iterations, salt = data.get("v"), data.get("i"), data.get("s")
    if (
        not _is_int(version)
        or not (iterations is None or _is_int(iterations))
        or not (salt is None or isinstance(salt, str))
    ):
        raise ProtocolViolation(f"bad HI {reply.text!r}")
    return Hi(version, iterations, salt)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode_command(verb: str, *args: str) -> bytes:
    """``VERB arg1 arg2\\r\\n``: arguments are joined with single spaces."""
    return " ".join((verb, *args)).encode() + b"\r\n"


def encode_json_command(verb: str, value: Any) -> bytes:
    """``VERB {json}\\r\\n`` with compact JSON (MUTATE needs no spaces in its JSON)."""
    return verb.encode() + b" " + _compact(value) + b"\r\n"


def encode_hello(
    hi: Hi,
    *,
    password: str | None = None,
    wid: str | None = None,
    hostname: str | None = None,
    pid: int | None = None,
    labels: list[str] | None = None,
) -> bytes:
    """The HELLO for a greeting: with ``pwdhash`` when the server asked for one."""
    data: dict[str, Any] = {"v": 2}
    if hi.salt is not None:
        if password is None:
            raise ValueError("the server requires a password")
        data["pwdhash"] = pw.hash_password(password, hi.salt, hi.iterations or 1)
    for key, value in (("wid", wid), ("hostname", hostname), ("pid", pid), ("labels", labels)):
        if value is not None:
            data[key] = value
    return encode_json_command("HELLO", data)
