"""``worker.run()`` as a program uses it (logging, exit with threads left running), and the
warnings about jobs that may run twice."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import Client, Job
from faktory_core.model import SortedSet
from faktory_core.protocol import SimpleString
from faktory_core.testing import FwpSocket
from faktory_core.worker import JobContext

PROGRAM = """
import threading

from faktory_core.worker import Worker

worker = Worker(grace_period=0.3, heartbeat_interval=0.1, reconnect_delay=0.2)


@worker.job()
def block():
    threading.Event().wait()  # never returns: its thread outlives the grace period


worker.run()
print("run() returned")
"""


def test_run_sets_up_logging_and_exits_despite_a_job_thread_still_running(
    server: Any, tmp_path: Path
) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(PROGRAM))
    env = {**os.environ, "FAKTORY_URL": server.url}
    env.pop("FAKTORY_PROVIDER", None)
    with subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            with Client(server.url) as client:
                client.push(Job("block"))
            support.wait_until(lambda: server.stats()["sets"]["working"] == 1, timeout=30)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0
    assert out == ""  # run() did not return: it ended the process
    lines = err.splitlines()
    assert any(" I faktory_core.worker worker " in line and "processing" in line for line in lines)
    assert any(line.endswith("exiting with 1 job thread(s) still running") for line in lines)
    [failed] = server.set_jobs(SortedSet.RETRIES)
    assert failed.failure.errtype == "Shutdown"


async def test_a_job_back_after_its_reservation_expired_is_logged(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """What Faktory's reaper leaves (reference §4.2), pushed as is over the wire."""
    caplog.set_level(logging.WARNING, "faktory_core.worker")
    worker = support.make_worker(server.url)
    ran: list[str] = []
    worker.register("Reaped", lambda: ran.append("again"))
    payload = {
        "jid": "reaped-job-0001",
        "jobtype": "Reaped",
        "args": [],
        "queue": "default",
        "failure": {
            "retry_count": 0,
            "remaining": 25,
            "failed_at": "2026-12-05T10:00:00Z",
            "errtype": "ReservationExpired",
            "message": "Faktory job reservation expired",
        },
    }
    conn = FwpSocket.open(server.port)
    try:
        assert conn.json_command("PUSH", payload) == SimpleString("OK")
    finally:
        conn.close()
    async with support.running(worker):
        await support.async_wait_until(lambda: ran)
    assert (
        "job reaped-job-0001 (Reaped) is back after its reservation expired (failed at "
        "2026-12-05T10:00:00Z): if its earlier run did not die, it ran or runs twice"
    ) in caplog.messages


async def test_a_job_reported_after_its_reservation_ended_is_logged(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "faktory_core.worker")
    worker = support.make_worker(server.url)

    @worker.job("Slow", context=True)
    async def slow(ctx: JobContext) -> None:
        running = worker.running_job(ctx.jid)
        assert running is not None
        assert running.reserved_until - running.started == 1800  # the server's default
        running.reserved_until = time.monotonic() - 1  # as if it had run past it

    job = Job("Slow")
    await support.push(server.url, job)
    async with support.running(worker):
        await support.async_wait_until(lambda: server.stats()["total_processed"] == 1)
    [warning] = [m for m in caplog.messages if "past its reservation" in m]
    assert warning.startswith(f"job {job.jid} (Slow) reported after ")
    assert warning.endswith(
        "past its reservation: the server may have reaped it and run it again (a duplicate "
        "run); give it a longer reserve_for or a timeout"
    )


async def test_a_timeout_longer_than_the_reservation_is_warned_once_per_type(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "faktory_core.worker")
    worker = support.make_worker(server.url, concurrency=1)
    ran: list[int] = []

    @worker.job("Long", timeout=120)
    def long(n: int) -> None:
        ran.append(n)

    # Pushed without the handle, reserved for less than the timeout: one warning per type.
    short = [Job("Long", [1], reserve_for=60), Job("Long", [2], reserve_for=90)]
    await support.push(server.url, *short)
    await support.push(server.url, long.job(3))  # the handle reserves 180 s: no warning
    async with support.running(worker):
        await support.async_wait_until(lambda: len(ran) == 3)
    warnings = [m for m in caplog.messages if "reserved for" in m]
    assert warnings == [
        "jobs of type Long may run 120.0 s (their timeout) but are reserved for 60 s: the "
        "server may hand one out again while it runs; push them with a reserve_for longer "
        "than the timeout (job handles do); warned once per type"
    ]
