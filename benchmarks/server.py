"""The server under test: started here as a subprocess, or one already running (by port and pid).

Started here means faktory-core from a venv (:func:`started_server`), or Faktory itself from a
binary built elsewhere (:func:`started_faktory`), which starts its own Redis.
"""

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

import proc
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


def server_command(
    port: int, storage: Path, plugins: Sequence[str], python: str | None = None
) -> list[str]:
    """``faktory-core`` from the venv of ``python`` (default: the one running this script), on
    loopback, without the web UI."""
    python = python or sys.executable
    exe = Path(python).with_name("faktory-core")
    base = [str(exe)] if exe.exists() else [python, "-m", "faktory_core.cli"]
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


def _spawn(
    command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """``command`` (in ``cwd``, if given) with its output (both streams) in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)


@contextlib.contextmanager
def started_server(
    plugins: Sequence[str], grace: float, python: str | None = None
) -> Iterator[Target]:
    """A fresh server with HOME and storage in a temporary directory, stopped on exit."""
    tmp = Path(tempfile.mkdtemp(prefix="faktory-bench-"))
    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "HOME": str(tmp)}
    process = _spawn(server_command(port, tmp, plugins, python), env, log)
    try:
        wait_until_ready(port, process, log)
        yield Target(port=port, pid=process.pid)
    finally:
        stop(process, grace)
        shutil.rmtree(tmp, ignore_errors=True)


def faktory_command(binary: Path, port: int, web_port: int, tmp: Path) -> list[str]:
    """Faktory (Go) on loopback: command and web UI ports, the development environment (no
    password unless the empty config directory sets one), storage and config under ``tmp``."""
    return [
        str(binary),
        "-b",
        f"{HOST}:{port}",
        "-w",
        f"{HOST}:{web_port}",
        "-e",
        "development",
        "-d",
        str(tmp / "db"),
        "-c",
        str(tmp / "conf"),
    ]


@contextlib.contextmanager
def started_faktory(binary: Path, redis_server: Path, grace: float) -> Iterator[Target]:
    """A fresh Faktory (Go) server; its Redis child and its storage are left behind by none.

    Faktory starts Redis by running ``redis-server`` from PATH (on a Unix socket in its storage
    directory, no TCP port), so PATH starts with a directory holding only a ``redis-server``
    link to ``redis_server``. On exit: SIGTERM (Faktory stops its Redis), then any child still
    alive is ended by pid, but only if its command line names this run's directory.
    """
    tmp = Path(tempfile.mkdtemp(prefix="faktory-go-bench-"))
    links = tmp / "bin"
    links.mkdir()
    (links / "redis-server").symlink_to(redis_server.resolve())
    (tmp / "conf").mkdir()
    port, web_port = free_port(), free_port()
    log = tmp / "server.log"
    env = {
        **os.environ,
        "HOME": str(tmp),
        "PATH": os.pathsep.join([str(links), os.environ.get("PATH", "")]),
    }
    process = _spawn(faktory_command(binary, port, web_port, tmp), env, log, tmp)
    children: set[int] = set()
    try:
        wait_until_ready(port, process, log)
        children.update(proc.descendants(process.pid))
        yield Target(port=port, pid=process.pid)
    finally:
        if process.poll() is None:
            children.update(proc.descendants(process.pid))
        stop(process, grace)
        for pid in children:
            _end_leftover(pid, str(tmp), grace)
        shutil.rmtree(tmp, ignore_errors=True)


def _end_leftover(pid: int, mark: str, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds, a child that outlived its server, while
    its command line still names ``mark`` (a zombie's is empty; a reused pid's is another)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _is_ours(pid, mark):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while _is_ours(pid, mark) and time.monotonic() < deadline:
            time.sleep(0.05)


def _is_ours(pid: int, mark: str) -> bool:
    try:
        cmdline = (proc.PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    return mark.encode() in cmdline
