"""A blocking FWP client for the load generator: a raw socket around the project's own engine.

The bytes are made and read only by ``faktory_core.protocol`` (the encoders and
:class:`ReplyParser`), so the benchmark exercises the same client engine as the tests; the
loop here is the ~10 lines of I/O the sans-IO design leaves to its caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from typing import Any

from faktory_core.protocol import (
    NEED_DATA,
    Bulk,
    ErrorReply,
    Reply,
    ReplyParser,
    SimpleString,
    encode_command,
    encode_hello,
    encode_json_command,
    parse_hi,
)

#: The harness talks to the loopback interface only.
HOST = "127.0.0.1"
RECEIVE_SIZE = 65536
OK = SimpleString("OK")


class FwpError(Exception):
    """The server answered something the benchmark did not expect: the run is invalid."""


class Conn:
    """One identified connection: greeting read, HELLO sent, ``+OK`` received."""

    def __init__(
        self,
        port: int,
        *,
        timeout: float | None = None,
        password: str | None = None,
        wid: str | None = None,
    ) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        # Request/response traffic: Nagle would hold each small command for the previous ACK.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = ReplyParser()
        hi = parse_hi(self.read())
        hostname = "bench" if wid else None
        pid = os.getpid() if wid else None
        hello = encode_hello(hi, password=password, wid=wid, hostname=hostname, pid=pid)
        self.expect_ok(hello)

    def read(self) -> Reply:
        parser, sock = self.parser, self.sock
        while True:
            reply = parser.next_reply()
            if reply is not NEED_DATA:
                return reply
            data = sock.recv(RECEIVE_SIZE)
            if not data:
                raise FwpError("the server closed the connection")
            parser.receive_data(data)

    def call(self, command: bytes) -> Reply:
        self.sock.sendall(command)
        return self.read()

    def expect_ok(self, command: bytes) -> None:
        reply = self.call(command)
        if reply != OK:
            raise FwpError(f"{command[:60]!r} answered {describe(reply)}")

    def call_json(self, command: bytes) -> Any:
        """A command whose answer is a JSON bulk string (INFO, PUSHB)."""
        reply = self.call(command)
        if not isinstance(reply, Bulk) or reply.data is None:
            raise FwpError(f"{command[:60]!r} answered {describe(reply)}")
        return json.loads(reply.data)

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.call_json(encode_command("INFO"))
        return info

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already gone: closing is all that is left
            self.sock.sendall(encode_command("END"))
        self.sock.close()


def describe(reply: Reply) -> str:
    if isinstance(reply, ErrorReply):
        return f"-{reply.code} {reply.message}"
    return repr(reply)[:200]


def mutate(conn: Conn, op: dict[str, Any]) -> None:
    conn.expect_ok(encode_json_command("MUTATE", op))
