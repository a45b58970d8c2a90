"""A real faktory-core process: SIGHUP with a broken conf.d file, then a fixed one, then SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs POSIX signals"),
]

EXECUTABLE = Path(sys.executable).parent / "faktory-core"
WAIT = 20.0  # seconds; every wait below is bounded by this


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(
    log: Path, proc: subprocess.Popen[bytes], found: Callable[[str], bool], what: str
) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if found(text):
            return text
        if proc.poll() is not None:
            pytest.fail(f"faktory-core exited ({proc.returncode}) waiting for {what}:\n{text}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text(errors='replace')}")


def _greeting(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        return sock.recv(100)


def test_sighup_reloads_and_survives_a_broken_file(tmp_path: Path) -> None:
    assert EXECUTABLE.exists(), EXECUTABLE
    conf = tmp_path / "conf"
    (conf / "conf.d").mkdir(parents=True)
    (conf / "conf.d" / "a.toml").write_text('[web]\npassword = "first"\n')
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKTORY_")}
    env["HOME"] = str(tmp_path)
    log = tmp_path / "faktory.log"
    argv = [str(EXECUTABLE), "-b", f"127.0.0.1:{port}", "-w", ":0", "-d", str(tmp_path / "db")]
    with log.open("wb") as out:
        proc = subprocess.Popen([*argv, "-c", str(conf)], stdout=out, stderr=out, env=env)
    try:
        _wait_for(log, proc, lambda text: "listening on" in text, "the server to listen")
        assert _greeting(port).startswith(b"+HI ")

        broken = conf / "conf.d" / "b.toml"
        broken.write_text("[[cron]]\nschedule = \n")
        proc.send_signal(signal.SIGHUP)
        text = _wait_for(
            log, proc, lambda text: f"{broken}: " in text, "the error naming the broken file"
        )
        error = next(line for line in text.splitlines() if str(broken) in line)
        assert error.startswith("E ")
        assert "line 2" in error
        assert "keeping the previous one" in error
        assert "configuration reloaded" not in text
        assert proc.poll() is None
        assert _greeting(port).startswith(b"+HI ")

        broken.write_text('[[cron]]\nschedule = "*/5 * * * *"\n')
        proc.send_signal(signal.SIGHUP)
        text = _wait_for(
            log, proc, lambda text: "configuration reloaded" in text, "the reload to succeed"
        )
        reloaded = next(line for line in text.splitlines() if "configuration reloaded" in line)
        assert reloaded.startswith("I ")
        assert proc.poll() is None

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT) == 0
        assert "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=WAIT)
