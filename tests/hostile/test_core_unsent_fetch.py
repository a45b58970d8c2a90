"""A FETCH whose reply never reached the socket does not leave its job reserved: a worker that
pipelines FETCHes, stops reading and resets the connection gets the jobs of the replies the
server could not send put back in their queue (else they waited out ``reserve_for``, 30 min)."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable

from .conftest import Spawned

JOBS = 60
ARG = "x" * 64 * 1024  # ~64 KB per reply: the replies fill the socket buffers


def _handshaken(server: Spawned) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    greeting = b""
    while not greeting.endswith(b"\r\n"):
        greeting += sock.recv(1)
    hello = {"v": 2, "wid": "greedy", "hostname": "h", "pid": 1, "labels": []}
    sock.sendall(b"HELLO " + json.dumps(hello).encode() + b"\r\n")
    assert sock.recv(5) == b"+OK\r\n"
    return sock


def test_jobs_of_replies_that_could_not_be_sent_go_back(spawn: Callable[..., Spawned]) -> None:
    server = spawn()
    producer = server.connect()
    for n in range(JOBS):
        producer.push({"jid": f"unsent-{n:03d}", "jobtype": "J", "args": [ARG]})
    producer.close()

    greedy = _handshaken(server)
    greedy.sendall(b"FETCH default\r\n" * JOBS)
    time.sleep(1.0)  # the server fetches until its send blocks on the full buffers
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    greedy.close()  # a reset: the blocked send fails

    deadline = time.monotonic() + 10
    while "could not be sent" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "could not be sent" in server.log(), server.log()
    server.assert_alive()
    conn = server.connect()
    back = set()
    while (job := conn.fetch("default")) is not None:
        back.add(job["jid"])
        conn.ack(job["jid"])
    conn.close()
    # Some replies reached the socket before the reset (those stay reserved, as in Faktory);
    # the rest are back in the queue, none lost.
    assert 0 < len(back) < JOBS
