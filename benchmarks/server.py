"""The server under test: started here as a subprocess, or one already running (by port and pid)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from fwp import HOST, Conn

START_TIMEOUT = 20.0


@dataclass(frozen=True)
class Target:
    """Where the load goes and whose CPU it costs."""

    port: int
    pid: int
    password: str | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(port: int, storage: Path, plugins: Sequence[str]) -> list[str]:
    """``faktory-core`` from the venv running this script, on loopback, without the web UI."""
    exe = Path(sys.executable).with_name("faktory-core")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "faktory_core.cli"]
    command = [*base, "-b", f"{HOST}:{port}", "-w", ":0", "-d", str(storage)]
    for name in plugins:
        command += ["--plugin", name]
    return command


def wait_until_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the server answers ``+HI`` (and accepts our HELLO)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            Conn(port, timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not answer +HI within {START_TIMEOUT} s")


def stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM (the server saves its store and exits), then SIGKILL after ``grace`` seconds."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def started_server(plugins: Sequence[str], grace: float) -> Iterator[Target]:
    """A fresh server with HOME and storage in a temporary directory, stopped on exit."""
    tmp = Path(tempfile.mkdtemp(prefix="faktory-bench-"))
    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "HOME": str(tmp)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            server_command(port, tmp, plugins), env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_ready(port, process, log)
        yield Target(port=port, pid=process.pid)
    finally:
        stop(process, grace)
        shutil.rmtree(tmp, ignore_errors=True)
