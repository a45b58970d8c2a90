"""Issue 20: a plain TCP connection is read through its own protocol (PlainReader), not anyio's
``receive``; bytes, their order, back-pressure, the end of the stream, cancellation and anyio's
write side are kept. Real sockets on 127.0.0.1, on asyncio's own loop and on uvloop."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest

from faktory_core.clock import SystemClock
from faktory_core.plugins.memory_store.store import MemoryStore
from faktory_core.protocol import Bulk, SimpleString
from faktory_core.server.reader import HOLD, PlainReader
from faktory_core.testing import FwpSocket, running_server

#: The most one read of the loop hands over (uvloop's buffer, asyncio's max_size).
ONE_READ = 256 * 1024
BIG = 32 * 1024 * 1024  # more than loopback's socket buffers hold


@pytest.fixture(params=[False, True], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return "asyncio", {"use_uvloop": request.param}


@asynccontextmanager
async def tcp_pair() -> AsyncIterator[tuple[anyio.abc.SocketStream, anyio.abc.SocketStream]]:
    """(client, server) anyio streams of one real loopback connection."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        (one,) = listener.listeners
        port = one.extra(anyio.abc.SocketAttribute.local_port)
        async with (
            await anyio.connect_tcp("127.0.0.1", port) as client,
            await one.accept() as server,
        ):
            yield client, server


async def until(condition: Callable[[], object]) -> None:
    """Wait for what the loop's callbacks set (no event to wait on), at most 10 s."""
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


def start_sending(
    tg: anyio.abc.TaskGroup, stream: anyio.abc.SocketStream, data: bytes
) -> anyio.Event:
    """Send ``data`` in a task of ``tg``; the event is set once the send has returned."""
    sent = anyio.Event()

    async def send() -> None:
        await stream.send(data)
        sent.set()

    tg.start_soon(send)
    return sent


def attach(stream: anyio.abc.SocketStream) -> PlainReader:
    reader = PlainReader.attach(stream)
    assert reader is not None
    return reader


def pattern(size: int) -> bytes:
    """Numbered 8-byte words: a lost, doubled or reordered chunk shows."""
    return b"".join(struct.pack(">Q", n) for n in range(size // 8))


async def read_all(reader: PlainReader, size: int, max_bytes: int = 65536) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        data = await reader.receive(max_bytes)
        assert data, f"end of stream after {got} of {size} bytes"
        assert len(data) <= max_bytes
        parts.append(data)
        got += len(data)
    return b"".join(parts)


async def test_bytes_anyio_received_before_the_swap_come_first() -> None:
    async with tcp_pair() as (client, server):
        await client.send(b"early ")
        protocol: Any = server._protocol  # type: ignore[attr-defined]
        await until(lambda: protocol.read_queue)
        reader = attach(server)
        await client.send(b"late")
        assert await read_all(reader, 10) == b"early late"


async def test_reading_pauses_while_hold_bytes_wait_and_every_byte_arrives_in_order() -> None:
    data = pattern(BIG)
    async with tcp_pair() as (client, server):
        reader = attach(server)
        async with anyio.create_task_group() as tg:
            sent = start_sending(tg, client, data)
            await until(lambda: reader._paused)
            await anyio.sleep(0.2)  # nothing more is read while paused
            assert HOLD <= reader._held <= HOLD + ONE_READ
            assert not sent.is_set()  # the sender waits: back-pressure reaches the peer
            assert await read_all(reader, len(data), max_bytes=10_000) == data
        assert not reader._paused


async def test_end_of_stream_and_a_reset_read_as_empty() -> None:
    async with tcp_pair() as (client, server):
        reader = attach(server)
        await client.send(b"last words")
        await client.send_eof()
        assert await read_all(reader, 10) == b"last words"
        assert await reader.receive(65536) == b""
        assert await reader.receive(65536) == b""
        await server.send(b"still writable\n")  # a half-closed peer still gets a reply
        assert await client.receive() == b"still writable\n"
    async with tcp_pair() as (client, server):
        reader = attach(server)
        raw: socket.socket = client.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await client.aclose()  # a reset
        assert await reader.receive(65536) == b""


async def test_a_cancelled_read_loses_nothing_and_closing_wakes_a_reader() -> None:
    async with tcp_pair() as (client, server):
        reader = attach(server)
        with anyio.move_on_after(0.05) as scope:
            await reader.receive(65536)
        assert scope.cancelled_caught
        await client.send(b"after")
        assert await read_all(reader, 5) == b"after"

        async def close_soon() -> None:
            await anyio.sleep(0.05)
            await server.aclose()

        async with anyio.create_task_group() as tg:
            tg.start_soon(close_soon)
            with anyio.fail_after(10):
                assert await reader.receive(65536) == b""


async def test_a_read_with_bytes_waiting_is_still_a_checkpoint() -> None:
    """A connection whose client pipelines still yields at each read, and stops there once
    cancelled (eviction, the idle sweep, shutdown); the bytes stay for the next read."""
    async with tcp_pair() as (client, server):
        reader = attach(server)
        await client.send(b"waiting")
        await until(lambda: reader._held)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await reader.receive(65536)
        assert scope.cancelled_caught
        assert await read_all(reader, 7) == b"waiting"


async def test_a_send_waiting_for_the_drain_ends_when_the_peer_resets() -> None:
    async with tcp_pair() as (client, server):
        attach(server)
        raw: socket.socket = client.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        async def reset_soon() -> None:
            await anyio.sleep(0.2)
            await client.aclose()

        async with anyio.create_task_group() as tg:
            tg.start_soon(reset_soon)
            with anyio.fail_after(10), pytest.raises(anyio.BrokenResourceError):
                await server.send(pattern(BIG))


async def test_anyio_send_still_waits_for_the_peer_to_read() -> None:
    """Write flow control goes on to anyio's protocol: a large send waits for the drain."""
    data = pattern(BIG)
    async with tcp_pair() as (client, server):
        attach(server)
        async with anyio.create_task_group() as tg:
            sent = start_sending(tg, server, data)
            await anyio.sleep(0.2)
            assert not sent.is_set()
            received = bytearray()
            while len(received) < len(data):
                received += await client.receive()
        assert sent.is_set()
        assert received == data


async def test_a_server_connection_reads_through_its_reader() -> None:
    async with running_server(MemoryStore(SystemClock())) as server:
        sock = await anyio.to_thread.run_sync(FwpSocket.connect, server.port)
        try:
            # The HELLO and a command sent before the greeting is read: nothing is lost.
            sock.send(b'HELLO {"v":2}\r\nINFO\r\n')
            replies = [await anyio.to_thread.run_sync(sock.read) for _ in range(3)]
            (connection,) = server.connections
            assert connection.reader is not None
            sock.send(b"END\r\n")
            assert await anyio.to_thread.run_sync(sock.closed_by_peer)
        finally:
            sock.close()
    assert [type(reply) for reply in replies] == [SimpleString, SimpleString, Bulk]
    assert replies[1] == SimpleString("OK")
