"""faktory-core on the memory store killed with SIGKILL at random instants under load.

Pushers send single PUSHes and PUSHB batches, workers FETCH and ACK, while the test kills the
server (``kill -9``) at random moments and starts it again on the same storage directory, as
the Redis store's crash test does (tests/redis/test_crash.py). Every client records what was
answered: a push answered ``+OK`` (or a PUSHB answered ``{}``) is *acknowledged*; one whose
answer never came is *uncertain* and may or may not exist. After the last round the server is
stopped gracefully and its snapshot read: every acknowledged push is in its queue, reserved
(fetched but not ACKed) or was ACKed; no job whose ACK was answered ``+OK`` is anywhere; the
``processed`` counter counts every answered ACK and at most the uncertain ones besides.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import pytest

from faktory_core.protocol.client import Bulk, SimpleString
from faktory_core.testing import FwpSocket, stop_process

QUEUE = "crash"
KILLS = 6
GAP = (0.1, 0.6)
START_SECONDS = 30.0
PUSHERS = 2
WORKERS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define
class Server:
    folder: Path
    fsync: str
    port: int = attrs.field(factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAKTORY_")}
        env["FAKTORY_MEMORY_FSYNC"] = self.fsync
        command = [
            sys.executable, "-m", "faktory_core.cli", "-b", f"127.0.0.1:{self.port}",
            "-w", ":0", "-d", str(self.folder / "db"), "-c", str(self.folder),
        ]  # fmt: skip
        with (self.folder / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited:\n{self.log()[-3000:]}")
            try:
                FwpSocket.open(self.port).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer:\n{self.log()}") from None
                time.sleep(0.02)

    def log(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")


@attrs.define
class Ledger:
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    pushed: set[str] = attrs.field(factory=set)
    uncertain: set[str] = attrs.field(factory=set)
    acked: set[str] = attrs.field(factory=set)
    uncertain_acks: set[str] = attrs.field(factory=set)
    errors: list[str] = attrs.field(factory=list)


def _connect(server: Server, stop: threading.Event, **hello: Any) -> FwpSocket | None:
    while not stop.is_set():
        try:
            conn = FwpSocket.open(server.port, **hello)
            conn.sock.settimeout(START_SECONDS)
            return conn
        except OSError:
            time.sleep(0.02)
    return None


def _closed(conn: FwpSocket | None) -> None:
    if conn is not None:
        conn.close()


def produce(server: Server, ledger: Ledger, stop: threading.Event, name: str) -> None:
    conn: FwpSocket | None = None
    number = 0
    while not stop.is_set():
        jobs = [
            {"jid": f"{name}-{number + i:06d}", "jobtype": "Plain", "args": [], "queue": QUEUE}
            for i in range(10)
        ]
        number += 10
        try:
            conn = conn or _connect(server, stop)
            if conn is None:
                return
            if number % 20:
                reply = conn.json_command("PUSHB", jobs)
                if isinstance(reply, Bulk) and reply.data == b"{}":
                    with ledger.lock:
                        ledger.pushed.update(job["jid"] for job in jobs)
                else:
                    ledger.errors.append(f"PUSHB: {reply!r}")
            else:
                for job in jobs:
                    with ledger.lock:
                        ledger.uncertain.add(job["jid"])
                    reply = conn.json_command("PUSH", job)
                    if reply != SimpleString("OK"):
                        ledger.errors.append(f"PUSH: {reply!r}")
                    with ledger.lock:
                        ledger.pushed.add(job["jid"])
                        ledger.uncertain.discard(job["jid"])
        except (OSError, ConnectionError):
            with ledger.lock:
                ledger.uncertain.update(j["jid"] for j in jobs if j["jid"] not in ledger.pushed)
            conn = _closed(conn)
        time.sleep(0.005)
    _closed(conn)


def work(server: Server, ledger: Ledger, stop: threading.Event, wid: str) -> None:
    conn: FwpSocket | None = None
    while not stop.is_set():
        jid = None
        try:
            conn = conn or _connect(server, stop, wid=wid)
            if conn is None:
                return
            reply = conn.command("FETCH", QUEUE)
            if not isinstance(reply, Bulk) or reply.data is None:
                continue
            jid = json.loads(reply.data)["jid"]
            with ledger.lock:
                ledger.uncertain_acks.add(jid)
            if conn.json_command("ACK", {"jid": jid}) == SimpleString("OK"):
                with ledger.lock:
                    ledger.acked.add(jid)
                    ledger.uncertain_acks.discard(jid)
        except (OSError, ConnectionError):
            conn = _closed(conn)
    _closed(conn)


def _account(state: dict[str, Any], ledger: Ledger) -> None:
    queued = {job["jid"] for job in state["queues"].get(QUEUE, [])}
    reserved = {res["job"]["jid"] for res in state["reservations"]}
    assert not queued & reserved
    present = queued | reserved
    lost = ledger.pushed - present - ledger.acked - ledger.uncertain_acks
    assert not lost, f"{len(lost)} acknowledged pushes lost, e.g. {sorted(lost)[:5]}"
    back = ledger.acked & present
    assert not back, f"{len(back)} ACKed jobs came back, e.g. {sorted(back)[:5]}"
    unknown = present - ledger.pushed - ledger.uncertain
    assert not unknown, f"jobs nobody pushed: {sorted(unknown)[:5]}"
    processed = state["counters"]["processed"]
    assert len(ledger.acked) <= processed <= len(ledger.acked) + len(ledger.uncertain_acks)
    assert state["counters"]["failures"] == 0
    assert not any(state["sets"].values())


@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_kill_9_under_load_loses_no_acknowledged_change(tmp_path: Path, fsync: str) -> None:
    server = Server(tmp_path, fsync)
    server.start()
    ledger, stop, rng = Ledger(), threading.Event(), random.Random()
    pushers = [(produce, f"p{n}") for n in range(PUSHERS)]
    workers = [(work, f"w{n}") for n in range(WORKERS)]
    threads = [
        threading.Thread(target=body, args=(server, ledger, stop, name))
        for body, name in [*pushers, *workers]
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(*GAP))
            stop_process(server.proc, kill=True, seconds=START_SECONDS)
            server.start()
        time.sleep(rng.uniform(*GAP))
    finally:
        stop.set()
        for thread in threads:
            thread.join(START_SECONDS)
        stop_process(server.proc, seconds=START_SECONDS)
    assert server.proc is not None
    assert server.proc.returncode == 0, server.log()[-3000:]
    assert not ledger.errors, ledger.errors[:5]
    assert len(ledger.pushed) > 500
    assert len(ledger.acked) > 100
    state = json.loads((tmp_path / "db" / "memory_store.json").read_bytes())
    _account(state, ledger)
