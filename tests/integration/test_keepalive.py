"""FWP sockets have TCP keepalive on, as Go enables it (issue 13), so a half-open peer is found."""

from __future__ import annotations

import socket
from collections.abc import Callable

import anyio.abc

from faktory_core.server.guard import KEEPALIVE_SECONDS
from tests.integration.conftest import Conn, Harness


def test_accepted_sockets_have_keepalive(server: Harness, connect: Callable[..., Conn]) -> None:
    conn = connect(server)
    assert conn.info()
    running = server.thread.server
    assert running is not None
    (connection,) = list(running.connections)
    sock = connection.stream.extra(anyio.abc.SocketAttribute.raw_socket)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_SECONDS
