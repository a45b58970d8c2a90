"""Issue 20: replies on a plain TCP connection go straight to the asyncio transport (anyio's
``send`` costs two checkpoints per reply); back-pressure and ordering are kept."""

from __future__ import annotations

import json
import socket

import anyio

from faktory_core.clock import SystemClock
from faktory_core.plugins.memory_store.store import MemoryStore
from faktory_core.protocol import Bulk, SimpleString, encode_command, encode_json_command
from faktory_core.testing import FwpSocket, running_server


async def test_plain_tcp_connections_write_to_the_transport() -> None:
    async with running_server(MemoryStore(SystemClock())) as server:
        client = await anyio.to_thread.run_sync(FwpSocket.open, server.port)
        try:
            assert await anyio.to_thread.run_sync(client.command, "INFO")
            (connection,) = server.connections
            assert connection.direct is not None
        finally:
            client.close()


async def test_a_client_that_does_not_read_gets_every_reply_in_order() -> None:
    """Thousands of pipelined commands whose replies fill the socket's buffers: the server
    waits for the drain (nothing lost, nothing reordered) and answers everything once read."""
    count = 3000
    async with running_server(MemoryStore(SystemClock()), max_unsent=4096) as server:
        client = await anyio.to_thread.run_sync(FwpSocket.open, server.port)
        try:
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            jobs = [
                encode_json_command(
                    "PUSH", {"jid": f"direct-{i:06d}", "jobtype": "J", "args": ["x" * 200]}
                )
                for i in range(count)
            ]
            fetches = encode_command("FETCH", "default") * count
            async with anyio.create_task_group() as tg:
                # Sent from another thread: the server stops reading while it waits.
                tg.start_soon(anyio.to_thread.run_sync, client.send, b"".join(jobs) + fetches)
                await anyio.sleep(0.5)  # let the server fill the buffers and wait
                replies = [await anyio.to_thread.run_sync(client.read) for _ in range(2 * count)]
        finally:
            client.close()
    oks, fetched = replies[:count], replies[count:]
    assert all(reply == SimpleString("OK") for reply in oks), oks[:3]
    jids = [json.loads(reply.data)["jid"] for reply in fetched if isinstance(reply, Bulk)]
    assert jids == [f"direct-{i:06d}" for i in range(count)]
