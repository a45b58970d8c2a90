"""An in-process faktory-core server and a small blocking FWP client for tests.

Both use the project's own sans-IO engine. The server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs

from faktory_core.clock import Clock, SystemClock
from faktory_core.config import Config, Timings
from faktory_core.kernel import load_kernel
from faktory_core.protocol import (
    NEED_DATA,
    Bulk,
    ErrorReply,
    Reply,
    ReplyParser,
    encode_command,
    encode_hello,
    encode_json_command,
    parse_hi,
)
from faktory_core.retry import RetryPolicy
from faktory_core.server.app import Server
from faktory_core.store import Store

__all__ = ["FwpSocket", "ServerThread", "running_server"]


@asynccontextmanager
async def running_server(
    store: Store,
    *,
    clock: Clock | None = None,
    password: str = "",
    retry_policy: RetryPolicy | None = None,
    timings: Timings | None = None,
    plugins: Sequence[tuple[str, object]] = (),
    **config: Any,
) -> AsyncIterator[Server]:
    """Serve ``store`` on 127.0.0.1 with an ephemeral port; ``server.port`` tells which.

    ``plugins`` are (name, plugin object or module) pairs registered beside the built-ins; no
    entry-point plugin is loaded.
    """
    # The web UI is off unless the test asks for it (e.g. web_binding="127.0.0.1:0").
    config = {"binding": "127.0.0.1:0", "web_binding": ":0", **config}
    settings = Config(password=password, timings=timings or Timings(), **config)
    kernel = load_kernel(plugins=list(plugins))
    server = Server.create(
        settings, kernel, clock or SystemClock(), store=store, retry_policy=retry_policy
    )
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        try:
            yield server
        finally:
            server.stop()


class ServerThread:
    """Run a server on its own event loop in a background thread, for synchronous tests.

    ``call(fn, *args)`` runs a coroutine function on the server's loop (e.g.
    ``thread.call(clock.advance, 60)``).
    """

    def __init__(self, store: Store, **kwargs: Any) -> None:
        self._store = store
        self._kwargs = kwargs
        self._stack: Any = None
        self.server: Server | None = None
        self.portal: Any = None

    def __enter__(self) -> ServerThread:
        from contextlib import ExitStack

        from anyio.from_thread import start_blocking_portal

        with ExitStack() as stack:
            self.portal = stack.enter_context(
                start_blocking_portal("asyncio", backend_options={"use_uvloop": True})
            )
            self.server = stack.enter_context(
                self.portal.wrap_async_context_manager(running_server(self._store, **self._kwargs))
            )
            # Started: keep the portal and server running until __exit__. If starting failed,
            # the with-block has already stopped the portal's thread.
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.__exit__(*exc)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    def call(self, func: Any, *args: Any) -> Any:
        return self.portal.call(func, *args)


@attrs.define(eq=False)
class FwpSocket:
    """A blocking FWP connection for tests and benchmarks: send lines, read parsed replies."""

    sock: socket.socket
    parser: ReplyParser = attrs.field(factory=ReplyParser)

    @classmethod
    def connect(cls, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> FwpSocket:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock)

    @classmethod
    def open(cls, port: int, *, password: str | None = None, **hello: Any) -> FwpSocket:
        """Connect and complete the handshake; raises if the server does not answer +OK."""
        conn = cls.connect(port)
        try:
            hi = parse_hi(conn.read())
            reply = conn.call(encode_hello(hi, password=password, **hello))
        except BaseException:
            conn.close()  # a server that dies mid-handshake must not leak the socket
            raise
        if isinstance(reply, ErrorReply):
            conn.close()
            raise ConnectionError(f"{reply.code} {reply.message}")
        return conn

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> Reply:
        while True:
            reply = self.parser.next_reply()
            if reply is not NEED_DATA:
                return reply  # type: ignore[return-value]
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.parser.receive_data(data)

    def call(self, line: bytes) -> Reply:
        self.send(line)
        return self.read()

    def command(self, verb: str, *args: str) -> Reply:
        return self.call(encode_command(verb, *args))

    def json_command(self, verb: str, value: Any) -> Reply:
        return self.call(encode_json_command(verb, value))

    def bulk_json(self, verb: str, *args: str) -> Any:
        import json

        reply = self.command(verb, *args)
        if not isinstance(reply, Bulk) or reply.data is None:
            raise AssertionError(f"expected a bulk reply to {verb}, got {reply!r}")
        return json.loads(reply.data)

    def closed_by_peer(self) -> bool:
        """True if the server closes the connection (EOF or reset) within the socket timeout
        without sending anything; False if bytes arrive or it stays open."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()
