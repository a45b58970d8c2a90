"""Issue 13, items 4-6: what one client, or many, can make the server hold is bounded.

Each test measures the server process's RSS (or counts what it accepted) while the attack is
on, and checks afterwards that the process lives and every job pushed before is still there.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from faktory_core.protocol import ErrorReply, encode_hello, parse_hi
from tests.hostile.conftest import Spawned, assert_jobs, push_jobs
from tests.integration.conftest import NULL, OK, Conn, err

MiB = 1024 * 1024


def stream_bytes(sock: socket.socket, total: int, seconds: float = 2.0) -> int:
    """Send up to ``total`` bytes without a line end, for at most ``seconds`` (a send that
    blocks because the server stopped reading ends it); returns how many were sent."""
    chunk = b"x" * 65536
    sent = 0
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while sent < total and time.monotonic() < deadline:
        try:
            sent += sock.send(chunk)
        except TimeoutError:
            continue
        except OSError:
            break  # closed by the server
    sock.settimeout(10)
    return sent


def test_bytes_sent_while_a_fetch_blocks_are_capped(spawn: Callable[..., Spawned]) -> None:
    """Item 4: the socket watcher of a blocked FETCH used to buffer without the line limit."""
    server = spawn(max_line=MiB, timings={"fetch_block": 3.0})
    jids = push_jobs(server, queue="other")
    before = server.rss()
    conn = server.connect(wid="w1")
    conn.send(b"FETCH empty\r\n")
    time.sleep(0.2)  # the FETCH is blocking
    sent = stream_bytes(conn.sock, 200 * MiB, seconds=2.0)
    grown = server.rss() - before
    assert grown < 24 * MiB, f"the server grew {grown / MiB:.0f} MiB while {sent} bytes came"
    assert sent < 100 * MiB  # it stopped reading: the client could not send them all
    assert conn.read() == NULL  # the FETCH ends as usual
    assert conn.read() == err("line too long: the limit is 1048576 bytes")
    conn.close()
    assert_jobs(server, jids, queue="other")


def test_replies_a_client_never_reads_are_not_piled_up(spawn: Callable[..., Spawned]) -> None:
    """Item 5: 10,000 pipelined INFO never read used to take 1.5 GB."""
    server = spawn()
    conn = server.connect()
    jids: set[str] = set()
    for n in range(100):  # long queue names make a ~25 KB INFO
        queue = f"{n:03d}" + "q" * 250
        conn.push({"jid": f"job-{n:08d}", "jobtype": "J", "args": [], "queue": queue})
        jids.add(f"job-{n:08d}")
    size = len(conn.call(b"INFO\r\n").data or b"")  # type: ignore[union-attr]
    before = server.rss()
    greedy = server.connect()
    greedy.send(b"INFO\r\n" * 10_000)  # ~250 MB of replies, never read
    time.sleep(1.5)
    grown = server.rss() - before
    assert grown < 32 * MiB, f"grew {grown / MiB:.0f} MiB for {10_000 * size / MiB:.0f} MiB"
    greedy.close()
    server.assert_alive()
    assert conn.info()  # the other connection was served all along
    conn.close()
    found = 0
    check = server.connect()
    for n in range(100):
        job = check.fetch(f"{n:03d}" + "q" * 250)
        assert job is not None
        found += 1
    check.close()
    assert found == len(jids)


def test_queue_names_are_limited_and_checked(spawn: Callable[..., Spawned]) -> None:
    """Item 5: a queue name is at most 255 characters; QUEUE PAUSE/RESUME/REMOVE check names."""
    server = spawn(max_fetch_queues=10)
    conn = server.connect()
    assert conn.json_command("PUSH", {"jid": "longest-ok", "jobtype": "J", "args": [],
                                      "queue": "q" * 255}) == OK  # fmt: skip
    reply = conn.json_command("PUSH", {"jid": "too-long-1", "jobtype": "J", "args": [],
                                       "queue": "q" * 256})  # fmt: skip
    assert reply == err(f'cannot get "{"q" * 64}..." queue: queue names are at most 255 characters')
    for sub in ("PAUSE", "RESUME", "REMOVE"):
        reply = conn.command("QUEUE", sub, "default", "c&c")
        assert reply == err('cannot get "c&c" queue: queue names must match \\A[a-zA-Z0-9._-]+\\z')
        if sub != "REMOVE":  # (REMOVE * would delete the job below)
            assert conn.command("QUEUE", sub, "*") == OK
    reply = conn.command("FETCH", *(f"q{n}" for n in range(11)))
    assert reply == err("too many queues: 11 (the limit is 10, max_fetch_queues)")
    assert isinstance(conn.command("QUEUE", "LATENCY", *(f"q{n}" for n in range(11))), ErrorReply)
    assert conn.fetch(*(f"q{n}" for n in range(9)), "q" * 255)["jid"] == "longest-ok"  # type: ignore[index]
    conn.close()


def _hold_partial_line(server: Spawned, size: int, *, hello: bool) -> socket.socket:
    conn = Conn.connect(server.port)
    if hello:
        hi = parse_hi(conn.read())
        assert conn.call(encode_hello(hi)) == OK
    stream_bytes(conn.sock, size, seconds=1.0)
    return conn.sock


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except TimeoutError:
        return False
    except OSError:
        return True


def test_many_partial_lines_stay_within_the_global_budget(spawn: Callable[..., Spawned]) -> None:
    """Item 6: 100 connections holding a line just under the cap used to keep 2.5 GB."""
    server = spawn(max_line=4 * MiB, max_buffered=16 * MiB)
    jids = push_jobs(server)
    before = server.rss()
    held: list[socket.socket] = []
    threads = [
        threading.Thread(
            target=lambda: held.append(_hold_partial_line(server, 4 * MiB - 10, hello=True))
        )
        for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    closed = sum(_closed(sock) for sock in held)
    assert closed >= 20 - 16 // 4, closed  # the largest holders were closed: 80 MiB > 16 MiB
    grown = server.rss() - before
    # 20 x 4 MiB = 80 MiB held without the budget; with it, 16 MiB plus the allocator's slack.
    assert grown < 60 * MiB, f"grew {grown / MiB:.0f} MiB"
    for sock in held:
        sock.close()
    time.sleep(0.5)
    after = server.rss() - before
    # The memory goes back to the system (malloc_trim), not kept at the peak.
    assert after < grown / 2, f"still {after / MiB:.0f} of {grown / MiB:.0f} MiB after closing"
    assert "hold more than max_buffered (16777216)" in server.log()
    assert_jobs(server, jids)


def test_lines_before_hello_are_capped_much_lower(spawn: Callable[..., Spawned]) -> None:
    """Item 6: 40 connections before HELLO used to peak at 1.15 GB."""
    server = spawn()
    jids = push_jobs(server)
    before = server.rss()
    held = [_hold_partial_line(server, 4 * MiB, hello=False) for _ in range(40)]
    grown = server.rss() - before
    assert all(_closed(sock) for sock in held)  # each closed after 64 KiB
    assert grown < 16 * MiB, f"grew {grown / MiB:.0f} MiB"
    for sock in held:
        sock.close()
    assert_jobs(server, jids)
