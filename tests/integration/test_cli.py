"""The ``faktory-core`` command as a real process: graceful shutdown with a snapshot, restart,
version, environments and the password rule (reference §10)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faktory_core.protocol import parse_hi
from tests.integration.conftest import Conn, make_job

EXE = Path(sys.executable).with_name("faktory-core")
PASSWORD_REQUIRED = (
    "faktory requires a password to be set in staging or production, see the Security wiki page"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAKTORY_")}
    clean["HOME"] = str(home)
    return clean


class Daemon:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [str(EXE), *args], env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def wait_listening(self, port: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"not listening on {port} after {timeout}s: {self.output()}")

    def terminate(self, timeout: float = 10.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        assert "Traceback" not in self.output()
        return code

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._out.close()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()


def start(daemons: list[Daemon], args: list[str], env: dict[str, str], log: Path) -> Daemon:
    daemon = Daemon(args, env, log)
    daemons.append(daemon)
    return daemon


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_graceful_shutdown_keeps_the_jobs(tmp_path, env, daemons):
    data = tmp_path / "data"
    port = free_port()
    args = ["-b", f"127.0.0.1:{port}", "-d", str(data), "-w", ":0"]
    first = start(daemons, args, env, tmp_path / "first.log")
    first.wait_listening(port)
    conn = Conn.open(port)
    try:
        reserved = make_job(args=["reserved"])
        jobs = [make_job(args=[n]) for n in range(3)]
        for job in (reserved, *jobs):
            conn.push(job)
        conn.push(make_job(queue="other"))
        assert conn.fetch("default")["jid"] == reserved["jid"]
        assert conn.info()["faktory"]["queues"] == {"default": 3, "other": 1}
        # The connection stays open: shutdown must not wait for it.
        assert first.terminate() == 0, first.output()
    finally:
        conn.close()
    assert (data / "memory_store.json").is_file()

    second = start(daemons, args, env, tmp_path / "second.log")
    second.wait_listening(port)
    conn = Conn.open(port)
    try:
        faktory = conn.info()["faktory"]
        assert faktory["queues"] == {"default": 3, "other": 1}
        assert faktory["sets"]["working"] == 1
        assert [conn.fetch("default")["jid"] for _ in range(3)] == [j["jid"] for j in jobs]
        assert conn.fetch("other") is not None
        # The reservation survived too: its ACK counts.
        conn.ack(reserved["jid"])
        assert conn.info()["faktory"]["total_processed"] == 1
    finally:
        conn.close()
    assert second.terminate() == 0, second.output()


def test_version(env):
    result = run(["-v"], env)
    assert result.returncode == 0, result.stderr
    assert "faktory-core" in result.stdout
    assert "1.10.0" in result.stdout


def test_bogus_environment(env):
    result = run(["-e", "bogus"], env)
    assert result.returncode != 0
    assert 'Invalid environment "bogus": legal values are development, staging or production' in (
        result.stdout + result.stderr
    )


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_production_needs_a_password(tmp_path, env, environment):
    port = free_port()
    result = run(["-e", environment, "-b", f"127.0.0.1:{port}", "-d", str(tmp_path)], env)
    assert result.returncode != 0
    assert PASSWORD_REQUIRED in result.stdout + result.stderr


def test_production_with_a_password_starts(tmp_path, env, daemons):
    port = free_port()
    env = env | {"FAKTORY_PASSWORD": "s3cret"}
    args = ["-e", "production", "-b", f"127.0.0.1:{port}", "-d", str(tmp_path / "d"), "-w", ":0"]
    daemon = start(daemons, args, env, tmp_path / "prod.log")
    daemon.wait_listening(port)
    probe = Conn.connect(port)
    try:
        hi = parse_hi(probe.read())
        assert hi.salt is not None
        assert hi.iterations is not None
    finally:
        probe.close()
    conn = Conn.open(port, password="s3cret")
    try:
        assert conn.info()["server"]["faktory_version"] == "1.10.0"
    finally:
        conn.close()
    assert daemon.terminate() == 0, daemon.output()
