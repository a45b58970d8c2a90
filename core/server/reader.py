"""Reading a plain TCP connection without anyio's per-read flow control (issue 20).

anyio's ``SocketStream.receive`` on asyncio keeps the transport paused between reads: every
call resumes reading, waits on an ``asyncio.Event`` and pauses reading again. On uvloop each
pause and resume is an ``epoll_ctl`` (batched through ``io_uring_enter``), and the event's wait
asks for the running loop, which costs a ``getpid`` in CPython's C ``get_running_loop``. For a
server that reads once per command that is a syscall or two, two checkpoints and a dozen
Python frames per command for nothing: the connection reads again as soon as it has replied.

:class:`PlainReader` is the connection's own ``asyncio.Protocol``, swapped in on the transport
under anyio's plain TCP stream (``transport.set_protocol``). It only holds the bytes that
arrive and wakes the connection's task with a future made by the loop; it runs no task and
parses nothing, so the sans-IO engine stays the only parser and the connection's task, under
the server's task group, the only thing that serves the client. What it keeps from anyio's
stream:

- **Back-pressure.** Reading stays on while the connection has taken what arrived; once
  :data:`HOLD` bytes wait untaken, reading pauses until the task takes them. So what a
  connection can hold beyond its engine's buffer is bounded as before (one read of the loop
  plus :data:`HOLD`), and every cap the engine applies (``max_line``, ``max_hello_line``,
  ``max_buffered``) sees the bytes exactly as anyio's ``receive`` handed them over: at most
  ``max_bytes`` per call.
- **A checkpoint per read.** When bytes are already waiting, :meth:`PlainReader.receive` still
  passes through the loop once (``asyncio.sleep(0)``): a client that pipelines cannot keep its
  connection's task from yielding, and a cancelled connection (eviction, the idle sweep, server
  shutdown) stops at its next read, as before.
- **Writing.** The transport's flow control (``pause_writing``/``resume_writing``) and its
  end (``connection_lost``) are passed on to anyio's protocol, so ``stream.send`` and the
  direct writer of :mod:`faktory_core.server.connection` behave as before, and
  ``stream.aclose()`` still closes the transport.

End of stream, a reset and a closed transport all read as ``b""``, which is what the connection
made of anyio's ``EndOfStream``/``BrokenResourceError``. TLS streams and other backends have no
such transport and keep anyio's ``receive``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import anyio.abc

__all__ = ["HOLD", "PlainReader"]

#: Bytes received and not yet taken by the connection at which reading pauses.
HOLD = 65536


class PlainReader(asyncio.Protocol):
    """The protocol of one plain TCP connection's transport: holds received bytes for the
    connection's task (see the module's docstring)."""

    __slots__ = (
        "_chunks",
        "_ended",
        "_held",
        "_inner",
        "_loop",
        "_paused",
        "_transport",
        "_waiter",
    )

    def __init__(self, transport: Any, inner: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        #: anyio's protocol: it still gets the write side's calls.
        self._inner = inner
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        # What anyio's protocol received before the swap comes first.
        self._chunks: deque[bytes] = deque(inner.read_queue)
        inner.read_queue.clear()
        self._held = sum(len(chunk) for chunk in self._chunks)
        self._ended = bool(inner.is_at_eof or inner.exception is not None or transport.is_closing())
        self._paused = not transport.is_reading()
        transport.set_protocol(self)
        self._pace()

    @classmethod
    def attach(cls, stream: anyio.abc.ByteStream) -> PlainReader | None:
        """Swap a reader in under anyio's plain asyncio TCP stream; None for any other stream
        (TLS, another backend), which is then read with ``stream.receive``."""
        transport: Any = getattr(stream, "_transport", None)
        inner: Any = getattr(stream, "_protocol", None)
        needed = ("set_protocol", "is_reading", "pause_reading", "resume_reading", "is_closing")
        if (
            transport is None
            or not all(callable(getattr(transport, name, None)) for name in needed)
            or not isinstance(getattr(inner, "read_queue", None), deque)
            or not hasattr(inner, "is_at_eof")
        ):
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return cls(transport, inner, loop)

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._held += len(data)
        if self._held >= HOLD and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._ended = True
        self._wake()
        return True  # keep the transport open: a last reply may still be written

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        self._wake()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # -- the connection's side ------------------------------------------------------------------

    async def receive(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` received bytes, waiting for some; ``b""`` once the peer has gone
        (end of stream, reset) or the transport is closed."""
        if self._chunks:
            await asyncio.sleep(0)
        elif not self._ended:
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        chunks = self._chunks
        if len(chunks) == 1 and len(chunks[0]) <= max_bytes:
            # The usual case, one command's bytes: no join, no split.
            data = chunks.popleft()
            self._held -= len(data)
            if self._paused:
                self._pace()
            return data
        return self._take(max_bytes)

    def _take(self, max_bytes: int) -> bytes:
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks.popleft()
        if len(data) > max_bytes:
            data, rest = data[:max_bytes], data[max_bytes:]
            chunks.appendleft(rest)
        elif chunks and len(data) + len(chunks[0]) <= max_bytes:
            parts = [data]
            size = len(data)
            while chunks and size + len(chunks[0]) <= max_bytes:
                part = chunks.popleft()
                parts.append(part)
                size += len(part)
            data = b"".join(parts)
        self._held -= len(data)
        self._pace()
        return data

    def _pace(self) -> None:
        """Read while less than :data:`HOLD` waits untaken."""
        if self._paused and self._held < HOLD and not self._ended:
            self._paused = False
            self._transport.resume_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
