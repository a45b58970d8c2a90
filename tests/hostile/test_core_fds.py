"""Issue 13, item 3: running out of file descriptors does not end the server.

The server runs with a low RLIMIT_NOFILE (soft = hard, so it cannot raise it); idle connections
use every descriptor; accepts fail with EMFILE, the server backs off, logs it once, and serves
again when descriptors are free.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable

from tests.hostile.conftest import Spawned, assert_jobs, push_jobs

NOFILE = 64
#: More connections than the server has descriptors.
FLOOD = 100


def flood(server: Spawned, count: int = FLOOD) -> list[socket.socket]:
    return [server.raw() for _ in range(count)]


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_out_of_descriptors_the_server_backs_off_and_recovers(
    spawn: Callable[..., Spawned],
) -> None:
    server = spawn(nofile=[NOFILE, NOFILE], timings={"handshake": 30, "fetch_block": 0.2})
    jids = push_jobs(server)
    held = flood(server)
    wait_for(lambda: "cannot accept connections" in server.log(), "EMFILE")
    time.sleep(0.5)  # the burst goes on: accepts keep failing while nothing is freed
    server.assert_alive()
    for sock in held:
        sock.close()
    wait_for(lambda: "accepting connections again" in server.log(), "recovery")
    assert_jobs(server, jids)
    log = server.log()
    assert log.count("cannot accept connections") == 1, log  # once per burst
    assert "Too many open files" in log


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one(
    spawn: Callable[..., Spawned],
) -> None:
    server = spawn(nofile=[NOFILE, 4 * NOFILE])
    assert f"raised the open-file limit from {NOFILE} to {4 * NOFILE}" in server.log()
    held = flood(server)  # more than the soft limit it started with
    conn = server.connect()
    assert conn.info()
    conn.close()
    for sock in held:
        sock.close()
    server.assert_alive()


def test_connections_in_their_handshake_are_capped(spawn: Callable[..., Spawned]) -> None:
    server = spawn(max_handshaking=5, timings={"handshake": 30, "fetch_block": 0.2})
    held = flood(server, 5)
    for sock in held:
        assert sock.recv(100).startswith(b"+HI")
    extra = server.raw()
    assert extra.recv(100) == b""  # closed at once: five are already in their handshake
    extra.close()
    for sock in held:
        sock.close()
    wait_for(lambda: _greeted(server), "a free handshake slot")
    assert "already in their handshake (max_handshaking)" in server.log()


def _greeted(server: Spawned) -> bool:
    with server.raw() as sock:
        return sock.recv(100).startswith(b"+HI")


def test_the_web_ui_survives_running_out_of_descriptors(spawn: Callable[..., Spawned]) -> None:
    server = spawn(
        nofile=[NOFILE, NOFILE],
        web_binding="127.0.0.1:0",
        timings={"handshake": 30, "fetch_block": 0.2},
    )
    url = f"http://127.0.0.1:{server.web_port}/"
    assert urllib.request.urlopen(url, timeout=10).status == 200
    held = flood(server)
    wait_for(lambda: "cannot accept connections" in server.log(), "EMFILE")
    web = [socket.create_connection(("127.0.0.1", server.web_port)) for _ in range(5)]
    time.sleep(0.5)
    for sock in held + web:
        sock.close()
    wait_for(lambda: "accepting connections again" in server.log(), "recovery")
    wait_for(lambda: _page(url), "the web UI answering again")
    server.assert_alive()


def _page(url: str) -> bool:
    try:
        return bool(urllib.request.urlopen(url, timeout=2).status == 200)
    except OSError:
        return False
