"""FAKTORY_PROCESS_JOBS: ``false``/``0``/``no`` makes the worker command, ``Worker.run()`` and
``Worker.serve()`` process nothing (log once why, return, exit 0); pushing still works."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import Client, ConfigError, Job
from faktory_core.worker import Worker
from faktory_core.worker.worker import processing_jobs

EXECUTABLE = Path(sys.executable).parent / "faktory-core"
APP = """
import os, sys

from faktory_core.client import Client, Job
from faktory_core.worker import Worker

worker = Worker(concurrency=1, heartbeat_interval=0.1, reconnect_delay=0.2)


@worker.job()
def record(value):
    with open(os.environ["TEST_OUTPUT"], "a") as out:
        out.write(f"{value}\\n")


if __name__ == "__main__":
    # The same application pushes, then runs its worker: with processing off, run() returns.
    with Client() as client:
        client.push(Job("record", ["pushed by the app"]))
    worker.run()
    print("run() returned")
"""


def run_app(
    tmp_path: Path, url: str, value: str | None, *argv: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "myapp.py").write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKTORY_")}
    env.update(FAKTORY_URL=url, TEST_OUTPUT=str(tmp_path / "ran.txt"))
    if value is not None:
        env["FAKTORY_PROCESS_JOBS"] = value
    return subprocess.run(
        list(argv), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def queued(server: Any) -> int:
    count: int = server.stats()["queues"].get("default", 0)
    return count


@pytest.mark.parametrize("value", ["false", "0", "no", "FALSE"])
def test_the_worker_command_processes_nothing_and_exits_0(
    server: Any, tmp_path: Path, value: str
) -> None:
    with Client(server.url) as client:
        client.push(Job("record", ["waiting"]))
    done = run_app(tmp_path, server.url, value, str(EXECUTABLE), "worker", "myapp:worker")
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "job processing is off" in line]
    assert len(said) == 1, done.stderr
    assert f"FAKTORY_PROCESS_JOBS={value}" in said[0]
    assert not (tmp_path / "ran.txt").exists()
    assert queued(server) == 1
    assert server.call(server.store.workers) == []  # it never registered


def test_worker_run_returns_and_the_app_still_pushes(server: Any, tmp_path: Path) -> None:
    done = run_app(tmp_path, server.url, "false", sys.executable, "myapp.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "run() returned\n"
    assert done.stderr.count("job processing is off") == 1
    assert queued(server) == 1  # pushed, and left for a worker that processes jobs


def test_a_value_that_is_not_a_boolean_is_refused(server: Any, tmp_path: Path) -> None:
    done = run_app(tmp_path, server.url, "sometimes", str(EXECUTABLE), "worker", "myapp:worker")
    assert done.returncode == 1
    assert "FAKTORY_PROCESS_JOBS must be true or false (1/0, yes/no), not 'sometimes'" in (
        done.stderr
    )


async def test_serve_returns_at_once_when_processing_is_off(
    server: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FAKTORY_PROCESS_JOBS", "no")
    worker = Worker(server.url)
    await worker.serve()
    assert [r.message for r in caplog.records].count(
        f"FAKTORY_PROCESS_JOBS=no: job processing is off, so worker {worker.wid} fetches "
        "nothing and returns (pushing jobs still works); unset it or set it to true to "
        "process jobs"
    ) == 1


@pytest.mark.parametrize("value", ["", "true", "1", "yes", "TRUE"])
def test_unset_or_true_processes_jobs(value: str) -> None:
    assert processing_jobs({"FAKTORY_PROCESS_JOBS": value})
    assert processing_jobs({})


def test_true_processes_jobs_through_the_command(server: Any, tmp_path: Path) -> None:
    """With ``true`` the command works as without the variable (stopped by SIGTERM)."""
    with Client(server.url) as client:
        client.push(Job("record", ["done"]))
    (tmp_path / "myapp.py").write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKTORY_")}
    env.update(
        FAKTORY_URL=server.url, FAKTORY_PROCESS_JOBS="true", TEST_OUTPUT=str(tmp_path / "ran.txt")
    )
    proc = subprocess.Popen(
        [str(EXECUTABLE), "worker", "myapp:worker"],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        support.wait_until(lambda: server.stats()["total_processed"] == 1, timeout=30)
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert (tmp_path / "ran.txt").read_text() == "done\n"


def test_the_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        processing_jobs({"FAKTORY_PROCESS_JOBS": "2"})
