"""The benchmarks still run: each is started as docs/performance.md starts it, on a tiny load,
and must finish cleanly. Nothing is timed here -- this only keeps the scripts from rotting
(the web UI benchmark once answered 403 for weeks after the UI began checking ``Host``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
TIMEOUT = 120


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _runs(output: str) -> dict[str, dict[str, object]]:
    line = output.strip().splitlines()[-1]
    return {run["mode"]: run for run in json.loads(line)["runs"]}


def test_loadgen_against_a_fresh_server() -> None:
    runs = _runs(_run("loadgen.py", "push", "fetch-ack", "pushb", "mixed", "-n", "200", "-c", "2"))
    assert set(runs) == {"push", "fetch-ack", "pushb", "mixed"}
    assert all(run["jobs"] == 200 for run in runs.values())


def test_the_floor_answers_loadgen() -> None:
    port = _free_port()
    floor = subprocess.Popen(
        [sys.executable, "floor.py", "--port", str(port)],
        cwd=BENCHMARKS,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert floor.stdout is not None
        assert floor.stdout.readline().startswith("floor: pid")
        output = _run(
            "loadgen.py", "push", "fetch-ack", "-n", "200", "-c", "2",
            "--port", str(port), "--server-pid", str(floor.pid),
        )  # fmt: skip
        assert set(_runs(output)) == {"push", "fetch-ack"}
    finally:
        os.kill(floor.pid, signal.SIGTERM)
        floor.wait(TIMEOUT)
        if floor.stdout is not None:
            floor.stdout.close()


def test_the_web_ui_pages() -> None:
    output = _run("webui_pages.py", "--size", "300", "--store", "memory")
    assert "/retries page 1 of 300 entries" in output, output
