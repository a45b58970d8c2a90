"""Per-job timeouts through a real server: async jobs cancelled, plain jobs FAILed and their
thread left to finish; what the server records (errtype JobTimeout)."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import Job
from faktory_core.model import SortedSet
from faktory_core.worker import Worker


def failures(server: Any) -> dict[str, Any]:
    return {job.jid: job for job in server.set_jobs(SortedSet.RETRIES)}


@support.every_store
async def test_jobs_past_their_timeout_fail_with_job_timeout(server: Any) -> None:
    cancelled: list[str] = []
    release = threading.Event()
    thread_done = threading.Event()
    worker = support.make_worker(server.url, job_timeout=0.3)

    @worker.job("Hang", timeout=0.2)
    async def hang() -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append("hang")
            raise

    @worker.job()
    def block() -> None:  # the worker-wide default timeout applies
        release.wait(30)
        thread_done.set()

    @worker.job()
    async def quick() -> None:
        pass

    hung, blocked, fine = Job("Hang"), Job("block"), Job("quick")
    await support.push(server.url, hung, blocked, fine)
    async with support.running(worker):
        await support.async_wait_until(lambda: len(failures(server)) == 2, what="two FAILs")
        assert worker.threads_running == 1  # the plain job's thread runs on
        release.set()
        await support.async_wait_until(thread_done.is_set)
        await support.async_wait_until(lambda: worker.threads_running == 0)
    failed = failures(server)
    assert set(failed) == {hung.jid, blocked.jid}
    assert cancelled == ["hang"]
    hang_failure, block_failure = failed[hung.jid].failure, failed[blocked.jid].failure
    assert (hang_failure.errtype, hang_failure.message) == (
        "JobTimeout",
        "the job ran longer than its timeout of 0.2 s",
    )
    assert block_failure.errtype == "JobTimeout"
    assert block_failure.message == (
        "the job ran longer than its timeout of 0.3 s (its thread was left to finish on its own)"
    )
    assert server.stats()["total_processed"] == 3  # two FAILs and one ACK
    assert server.stats()["sets"]["working"] == 0


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        (0, "timeout must be more than 0"),
        (-1, "timeout must be more than 0"),
        (86400, "at most 86340 s"),
        ("5", "timeout must be a number of seconds, not '5'"),
    ],
)
def test_bad_timeouts_are_refused_at_definition(timeout: Any, message: str) -> None:
    worker = Worker()
    with pytest.raises((ValueError, TypeError), match=message):
        worker.register("Job", lambda: None, timeout=timeout)
    with pytest.raises((ValueError, TypeError), match=message):
        Worker(job_timeout=timeout)
