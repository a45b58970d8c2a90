"""Interoperability with pyfaktory (0.2.13, from PyPI), through a real faktory-core.

Our client's jobs are processed by a pyfaktory worker (a subprocess), and pyfaktory's pushed jobs
by our worker; each job must run exactly once, within bounded waits.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]

from faktory_core.client import Client, Job

WORKER_SCRIPT = Path(__file__).with_name("pyfaktory_worker.py")
QUEUE = "interop"
COUNT = 12


def import_pyfaktory() -> ModuleType:
    """Import pyfaktory without keeping the SIGTERM handler its import installs in this process
    (pebble's ``@sighandler`` runs when pyfaktory's Consumer class is defined)."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        import pyfaktory
    finally:
        signal.signal(signal.SIGTERM, previous)
    return pyfaktory


def distinct_args(count: int) -> list[list[Any]]:
    return [
        [f"job-{n}", n, n * 1.5, n % 2 == 0, None, {"n": n, "s": f"café {n}"}] for n in range(count)
    ]


@contextmanager
def pyfaktory_worker(url: str, directory: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    output, log = directory / "jobs.jsonl", directory / "worker.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), url, str(output), QUEUE],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, output
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(20)


def lines(output: Path) -> list[dict[str, Any]]:
    if not output.exists():
        return []
    # A line counts once its newline is written.
    text = output.read_text()
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


@support.every_store
def test_our_jobs_run_once_on_a_pyfaktory_worker(server: Any, tmp_path: Path) -> None:
    args = distinct_args(COUNT)
    with Client(server.url) as client:
        jids = [client.push(Job("record", a, queue=QUEUE)) for a in args[:6]]
        batch = [Job("record", a, queue=QUEUE) for a in args[6:]]
        assert client.push_bulk(batch) == {}
    jids += [job.jid for job in batch]

    with pyfaktory_worker(server.url, tmp_path) as (proc, output):

        def all_ran() -> bool:
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            stats = server.stats()
            return stats["total_processed"] >= COUNT and stats["sets"]["working"] == 0

        support.wait_until(all_ran, timeout=60, what=f"{COUNT} jobs acknowledged by pyfaktory")
    ran = lines(output)
    assert Counter(line["jid"] for line in ran) == Counter(jids)  # each exactly once
    assert {line["jid"]: line["args"] for line in ran} == dict(zip(jids, args, strict=True))
    stats = server.stats()
    assert (stats["total_processed"], stats["total_failures"]) == (COUNT, 0)


@support.every_store
async def test_pyfaktory_jobs_run_once_on_our_worker(server: Any) -> None:
    pyfaktory = import_pyfaktory()
    args = distinct_args(COUNT)
    with pyfaktory.Client(faktory_url=server.url, role="producer") as producer_client:
        producer = pyfaktory.Producer(client=producer_client)
        jobs = [pyfaktory.Job(jobtype="record", args=a, queue=QUEUE) for a in args]
        for job in jobs[:6]:
            assert producer.push(job) is True
        assert producer.push_bulk(jobs[6:]) == {}

    ran: list[tuple[str, list[Any]]] = []
    worker = support.make_worker(server.url, queues=[QUEUE], concurrency=4)

    @worker.job("record", context=True)
    def record(ctx: Any, *job_args: Any) -> None:
        ran.append((ctx.jid, list(job_args)))

    async with support.running(worker):
        await support.async_wait_until(
            lambda: server.stats()["total_processed"] >= COUNT, timeout=30, what="all ACKs"
        )
    assert Counter(jid for jid, _ in ran) == Counter(job.jid for job in jobs)
    assert dict(ran) == {job.jid: a for job, a in zip(jobs, args, strict=True)}
    stats = server.stats()
    assert (stats["total_processed"], stats["total_failures"], stats["sets"]["working"]) == (
        COUNT,
        0,
        0,
    )
