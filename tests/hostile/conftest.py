"""Hostile clients against a server in its own process: the server is a subprocess
(tests/hostile/serve.py), so "the process died" is a failure the test sees, and its memory is
its RSS. ``spawn(**options)`` starts one; every one is stopped at teardown, and a server that
died or logged a traceback it should not have fails the test there.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from faktory_core.testing import stop_process
from tests.integration.conftest import Conn, make_job
from tests.redis.conftest import redis_binary, redis_factory  # the Redis of item 2's tests

SERVE = Path(__file__).with_name("serve.py")
START_SECONDS = 20.0
ROOT = Path(__file__).parents[2]


class Spawned:
    """One server process: its port, log, liveness and RSS."""

    def __init__(self, options: dict[str, Any], log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVE), json.dumps(options)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )
        self.port = 0
        self.web_port = 0
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_SECONDS
        while not self.port:
            line = self.proc.stdout.readline().decode()
            if not line or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start: {self.log()}")
            kind, _, value = line.partition(" ")
            if kind == "port":
                self.port = int(value)
        if options.get("web_binding", ":0") != ":0":
            kind, _, value = self.proc.stdout.readline().decode().partition(" ")
            assert kind == "web", self.log()
            self.web_port = int(value)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def assert_alive(self) -> None:
        assert self.alive(), f"the server died ({self.proc.returncode}): {self.log()}"

    def rss(self) -> int:
        """Resident memory of the server process, in bytes."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def connect(self, **hello: Any) -> Conn:
        return Conn.open(self.port, **hello)

    def raw(self) -> socket.socket:
        """A TCP connection that has read nothing (not even the greeting)."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self) -> int:
        stop_process(self.proc)
        self._log.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Spawned]]:
    started: list[Spawned] = []

    def start(**options: Any) -> Spawned:
        options.setdefault("timings", {"fetch_block": 0.2})
        server = Spawned(options, tmp_path / f"server{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        died = not server.alive()
        server.stop()
        assert not died, f"the server died: {server.log()}"


def push_jobs(server: Spawned, count: int = 20, queue: str = "default") -> set[str]:
    """Push ``count`` jobs before an attack; their jids, to check with :func:`assert_jobs`."""
    conn = server.connect()
    jids = set()
    for _ in range(count):
        job = make_job(queue=queue)
        conn.push(job)
        jids.add(job["jid"])
    conn.close()
    return jids


def assert_jobs(server: Spawned, jids: set[str], queue: str = "default") -> None:
    """The server is alive, answers a new client, and every job in ``jids`` is still queued."""
    server.assert_alive()
    conn = server.connect()
    found = set()
    while True:
        job = conn.fetch(queue)
        if job is None:
            break
        found.add(job["jid"])
        conn.ack(job["jid"])
    conn.close()
    assert jids <= found, f"lost {len(jids - found)} jobs"


__all__ = ["Spawned", "assert_jobs", "push_jobs", "redis_binary", "redis_factory"]
