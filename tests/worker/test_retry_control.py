"""Retry and Discard raised from jobs, and what the server sees; failure logs."""

from __future__ import annotations

import logging
from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import Job
from faktory_core.model import SortedSet
from faktory_core.timefmt import parse_ts
from faktory_core.worker import Discard, JobContext, Retry
from faktory_core.worker.outcomes import rescheduled, retries_left


@support.every_store
async def test_retry_in_seconds_reschedules_the_same_job_counting_toward_its_limit(
    server: Any,
) -> None:
    worker = support.make_worker(server.url)
    runs: list[int] = []

    @worker.job("RateLimited", context=True)
    def rate_limited(ctx: JobContext) -> None:
        runs.append(ctx.retry_count)
        raise Retry("rate limited", in_seconds=0 if len(runs) < 2 else 3600)

    job = Job("RateLimited", retry=5)
    await support.push(server.url, job)
    async with support.running(worker):
        await support.async_wait_until(lambda: server.stats()["sets"]["scheduled"] == 1)
        await support.async_wait_until(lambda: server.stats()["total_processed"] == 2)
    assert runs == [0, 1]
    [later] = server.set_jobs(SortedSet.SCHEDULED)
    assert later.jid == job.jid  # the same job, re-pushed
    failure = later.failure
    assert (failure.errtype, failure.message) == ("Retry", "rate limited")
    assert (failure.retry_count, failure.remaining) == (1, 4)  # as two FAILs would leave it
    assert parse_ts(later.at) - parse_ts(failure.failed_at) == pytest.approx(3600, abs=1)
    stats = server.stats()
    # On the wire: PUSH of the copy, then ACK of the original (processed, not a failure).
    assert (stats["total_processed"], stats["total_failures"]) == (2, 0)
    assert stats["sets"]["retries"] == 0


@support.every_store
async def test_retry_past_the_limit_or_without_a_time_is_a_plain_fail(server: Any) -> None:
    worker = support.make_worker(server.url)
    runs: list[str] = []

    @worker.job("Flaky", context=True)
    async def flaky(ctx: JobContext, mode: str) -> None:
        runs.append(mode)
        raise Retry("try later", in_seconds=0) if mode == "limited" else Retry("backoff")

    limited, backoff = Job("Flaky", ["limited"], retry=1), Job("Flaky", ["backoff"])
    await support.push(server.url, limited, backoff)
    async with support.running(worker):
        await support.async_wait_until(
            lambda: server.stats()["sets"]["dead"] == 1 and server.stats()["sets"]["retries"] == 1
        )
    assert sorted(runs) == ["backoff", "limited", "limited"]
    [dead] = server.set_jobs(SortedSet.DEAD)
    assert (dead.jid, dead.failure.errtype, dead.failure.retry_count) == (limited.jid, "Retry", 1)
    [retried] = server.set_jobs(SortedSet.RETRIES)  # the server's backoff decides when
    assert (retried.jid, retried.failure.errtype, retried.failure.message) == (
        backoff.jid,
        "Retry",
        "backoff",
    )


async def test_discard_acknowledges_and_logs(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "faktory_core.worker")
    worker = support.make_worker(server.url)

    @worker.job()
    def obsolete(user_id: int) -> None:
        raise Discard(f"user {user_id} was deleted")

    job = Job("obsolete", [7])
    await support.push(server.url, job)
    async with support.running(worker):
        await support.async_wait_until(lambda: server.stats()["total_processed"] == 1)
    stats = server.stats()
    assert stats["total_failures"] == 0
    assert stats["sets"] == {"scheduled": 0, "retries": 0, "dead": 0, "working": 0}
    assert f"job {job.jid} (obsolete) discarded: user 7 was deleted" in caplog.messages


async def test_failures_are_logged_with_their_fields_and_traceback(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "faktory_core.worker")
    worker = support.make_worker(server.url)

    @worker.job()
    async def explode() -> None:
        raise ValueError("boom")

    job = Job("explode")
    await support.push(server.url, job)
    async with support.running(worker):
        await support.async_wait_until(lambda: server.stats()["sets"]["retries"] == 1)
    [line] = [r for r in caplog.records if r.levelno == logging.WARNING and "failed" in r.message]
    assert line.message == f"job {job.jid} (explode) failed: ValueError: boom"
    assert line.exc_info is None  # one line at warning level
    assert line.faktory_failure == {
        "jid": job.jid,
        "jobtype": "explode",
        "errtype": "ValueError",
        "message": "boom",
    }
    [trace] = [r for r in caplog.records if r.levelno == logging.DEBUG and "traceback" in r.message]
    assert trace.message == f"traceback of job {job.jid} (explode):"
    assert trace.exc_info is not None
    assert isinstance(trace.exc_info[1], ValueError)


def test_the_traceback_level_is_configurable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "faktory_core.worker")
    quiet = support.make_worker("tcp://127.0.0.1:1", traceback_level=None)
    loud = support.make_worker("tcp://127.0.0.1:1", traceback_level=logging.ERROR)
    error = KeyError("k")
    quiet.log_failure("jid-1", "T", "KeyError", "'k'", error)
    loud.log_failure("jid-2", "T", "KeyError", "'k'", error)
    assert [(r.levelno, r.exc_info is not None) for r in caplog.records] == [
        (logging.WARNING, False),
        (logging.WARNING, False),
        (logging.ERROR, True),
    ]


def test_rescheduled_copies_follow_the_servers_failure_counting() -> None:
    first = {"jid": "j" * 12, "jobtype": "T", "args": [], "retry": 2, "enqueued_at": "x"}
    copy = rescheduled(first, Retry("r", in_seconds=10), now=1_000_000_000.0)
    assert "enqueued_at" not in copy
    assert copy["at"] == "2001-09-09T01:46:50Z"
    assert copy["failure"] == {
        "retry_count": 0,
        "remaining": 2,
        "failed_at": "2001-09-09T01:46:40Z",
        "next_at": "2001-09-09T01:46:50Z",
        "errtype": "Retry",
        "message": "r",
    }
    assert retries_left(first)
    assert retries_left(copy)
    second = rescheduled(copy, Retry("r", in_seconds=10), now=1_000_000_000.0)
    assert (second["failure"]["retry_count"], second["failure"]["remaining"]) == (1, 1)
    assert not retries_left(second)  # a third failure is past retry=2: FAIL, the server decides
    assert not retries_left({"retry": 0})
    with pytest.raises(ValueError, match="in_seconds must be a non-negative number"):
        Retry(in_seconds=-1)
