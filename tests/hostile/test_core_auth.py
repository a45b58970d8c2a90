"""Issue 13, item 9 and the smaller items: wrong passwords are logged (rate-limited) and slowed
down per address; connections without a wid time out when idle; outside values cannot forge
log lines."""

from __future__ import annotations

import time
from collections.abc import Callable

from faktory_core.protocol import ErrorReply, encode_hello, parse_hi
from faktory_core.server.guard import AUTH_DELAY_MAX, AUTH_DELAY_MIN, AuthFailures
from tests.hostile.conftest import Spawned, assert_jobs, push_jobs
from tests.integration.conftest import Conn

PASSWORD = "s3cret"


def hello(server: Spawned, password: str) -> object:
    conn = Conn.connect(server.port)
    try:
        hi = parse_hi(conn.read())
        return conn.call(encode_hello(hi, password=password))
    finally:
        conn.close()


def test_wrong_passwords_are_logged_once_a_second_with_the_address(
    spawn: Callable[..., Spawned],
) -> None:
    server = spawn(password=PASSWORD)
    jids = push_jobs_with_password(server)
    for _ in range(4):  # waits 0.1 + 0.2 + 0.4 + 0.8 s in all: one log line
        assert hello(server, "wrong") == ErrorReply("ERR", "Invalid password")
    log = server.log()
    assert log.count("authentication failed from 127.0.0.1:") == 1, log
    assert "(1 in a row from there)" in log
    assert hello(server, PASSWORD) is not None
    server.assert_alive()
    conn = server.connect(password=PASSWORD)
    found = {conn.fetch("default")["jid"] for _ in jids}  # type: ignore[index]
    conn.close()
    assert found == jids


def push_jobs_with_password(server: Spawned) -> set[str]:
    conn = server.connect(password=PASSWORD)
    jids = set()
    for n in range(5):
        jid = f"auth-job-{n}"
        conn.push({"jid": jid, "jobtype": "J", "args": []})
        jids.add(jid)
    conn.close()
    return jids


def test_the_delay_grows_per_address_and_the_table_is_bounded() -> None:
    failures = AuthFailures(size=3)
    delays = [failures.failed("10.0.0.1", now=float(n))[1] for n in range(10)]
    assert delays[0] == AUTH_DELAY_MIN
    assert delays == sorted(delays)
    assert delays[-1] == AUTH_DELAY_MAX
    assert failures.failed("10.0.0.2", now=10.0) == (1, AUTH_DELAY_MIN)  # its own count
    for host in ("a", "b", "c", "d"):
        failures.failed(host, now=11.0)
    assert len(failures) == 3  # the oldest addresses are forgotten
    assert failures.failed("10.0.0.1", now=12.0)[0] == 1
    failures.succeeded("d")  # a success forgets the address
    assert len(failures) == 2
    assert failures.may_log(0.0) == 0
    assert failures.may_log(0.5) is None
    assert failures.may_log(1.5) == 1


def test_idle_connections_without_a_wid_are_closed(spawn: Callable[..., Spawned]) -> None:
    server = spawn(idle_timeout=1)
    jids = push_jobs(server)
    producer = server.connect()
    worker = server.connect(wid="w-idle")
    time.sleep(1.5)
    producer.expect_closed()
    assert worker.info()  # a worker keeps its connection (its heartbeat rules apply)
    worker.close()
    producer.close()
    assert "no command for 1s" in server.log()
    assert_jobs(server, jids)


def test_a_blocked_fetch_without_a_wid_is_not_idle(spawn: Callable[..., Spawned]) -> None:
    """The idle clock runs only while a connection waits for its next command: a FETCH that
    blocks longer than idle_timeout (2 s against 1 s) is answered, and the connection stays."""
    server = spawn(idle_timeout=1)
    conn = server.connect()
    assert conn.fetch("empty") is None  # blocks for the 2 s fetch timeout
    assert conn.info()  # still open: only the time between commands counts
    time.sleep(1.5)
    conn.expect_closed()
    conn.close()
    assert "no command for 1s" in server.log()


def test_outside_values_cannot_forge_log_lines(spawn: Callable[..., Spawned]) -> None:
    server = spawn(faults={"worker_disconnect": "bug"})
    conn = server.connect(wid="faulty-\nE 2026-01-01T00:00:00.000Z FORGED\x00")
    conn.close()
    time.sleep(0.3)
    server.assert_alive()
    log = server.log()
    assert "faulty-\\nE 2026-01-01T00:00:00.000Z FORGED\\x00" in log
    assert not any(line.startswith("E 2026-01-01") for line in log.splitlines())
    assert "\x00" not in log
