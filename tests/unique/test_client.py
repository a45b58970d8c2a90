"""The Python client's keywords for the Enterprise options, against a real server on both stores,
and the testing modes honouring unique refusals and expiry (docs/enterprise.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

from faktory_core.client import AsyncClient, Client, Job, JobError, ServerError
from faktory_core.testing import FakeClock, jobs
from faktory_core.timefmt import format_ts, parse_ts
from faktory_core.worker import Worker

from .support import Ent, ent, fetch, module_redis, serve

__all__ = ["ent", "module_redis", "serve"]  # the fixtures this module uses

NOWHERE = "tcp://127.0.0.1:1"


def test_the_keywords_go_into_custom() -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    job = Job(
        "Report",
        [1],
        custom={"team": "a"},
        unique_for=3600,
        unique_until="start",
        expires_in=timedelta(minutes=10),
        expires_at=when,
    )
    assert job.to_dict()["custom"] == {
        "team": "a",
        "unique_for": 3600,
        "unique_until": "start",
        "expires_in": 600.0,
        "expires_at": "2030-01-02T01:04:05Z",
    }
    assert Job("R", unique_for=0.5).custom == {"unique_for": 0.5}
    assert Job("R").custom is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unique_for": 0}, "Invalid value for unique_for"),
        ({"unique_for": -1}, "Invalid value for unique_for"),
        ({"unique_for": "600"}, "Invalid value for unique_for"),
        ({"unique_for": True}, "Invalid value for unique_for"),
        ({"unique_for": 1e12}, "Invalid value for unique_for"),
        ({"unique_for": 60, "unique_until": "finish"}, "Invalid value for unique_until"),
        ({"unique_until": "start"}, "unique_until needs unique_for"),
        ({"expires_in": 0}, "Invalid value for expires_in"),
        ({"expires_at": "tomorrow"}, "Invalid value for expires_at"),
        ({"expires_at": datetime(2030, 1, 1)}, "expires_at must be timezone-aware"),
        ({"custom": {"unique_for": "600"}}, "Invalid value for unique_for"),
        ({"custom": {"unique_for": 5}, "unique_for": 6}, "unique_for given both"),
    ],
)
def test_bad_options_fail_where_the_job_is_built(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(JobError, match=message):
        Job("Report", [1], **kwargs)


def test_a_duplicate_push_raises_notunique(ent: Ent) -> None:
    url = f"tcp://127.0.0.1:{ent.running.thread.port}"
    with Client(url) as client:
        client.push(Job("Report", [1], unique_for=60))
        with pytest.raises(ServerError) as refused:
            client.push(Job("Report", [1], unique_for=60))
        assert (refused.value.code, refused.value.message) == ("NOTUNIQUE", "Job not unique")
        twin = Job("Report", [1], unique_for=60)
        assert client.push_bulk([twin]) == {twin.jid: "NOTUNIQUE Job not unique"}


async def test_expires_in_from_the_async_client(ent: Ent) -> None:
    url = f"tcp://127.0.0.1:{ent.running.thread.port}"
    async with AsyncClient(url) as client:
        await client.push(Job("Notify", expires_in=30))
    got = fetch(ent.conn())
    assert parse_ts(got["custom"]["expires_at"]) == ent.running.clock.now() + 30


# -- testing modes -------------------------------------------------------------------------------


def _worker(log: list[Any]) -> Worker:
    worker = Worker(NOWHERE)

    @worker.job("Report")
    def report(n: int) -> None:
        log.append(n)

    @worker.job("Fails")
    def fails() -> None:
        raise RuntimeError("boom")

    return worker


def test_fake_mode_refuses_duplicates_until_the_job_succeeds() -> None:
    log: list[Any] = []
    clock = FakeClock()
    with jobs.fake(clock) as pushed, Client(NOWHERE) as client:
        client.push(Job("Report", [1], unique_for=600))
        with pytest.raises(ServerError, match="NOTUNIQUE Job not unique"):
            client.push(Job("Report", [1], unique_for=600))
        twin = Job("Report", [1], unique_for=600)
        assert client.push_bulk([twin, Job("Report", [2], unique_for=600)]) == {
            twin.jid: "NOTUNIQUE Job not unique"
        }
        assert pushed.drain(_worker(log)) == 2
        client.push(Job("Report", [1], unique_for=600))  # the first one succeeded
        assert len(pushed) == 1


def test_fake_mode_locks_run_out_and_start_locks_go_at_the_start() -> None:
    clock = FakeClock()
    with jobs.fake(clock) as pushed, Client(NOWHERE) as client:
        client.push(Job("Fails", unique_for=60, unique_until="start"))
        with pytest.raises(RuntimeError, match="boom"):
            pushed.drain(_worker([]))
        client.push(Job("Fails", unique_for=60, unique_until="start"))  # went at the start
        client.push(Job("Report", [1], unique_for=60))
        anyio.run(clock.advance, 61)
        client.push(Job("Report", [1], unique_for=60))  # ran out
        assert pushed.jobtypes() == ["Fails", "Report", "Report"]


def test_fake_mode_drops_expired_jobs_at_drain() -> None:
    log: list[Any] = []
    clock = FakeClock()
    with jobs.fake(clock) as pushed, Client(NOWHERE) as client:
        client.push(Job("Report", [1], expires_in=30))
        client.push(Job("Report", [2], expires_at=format_ts(clock.now() + 60)))
        client.push(Job("Report", [3]))
        anyio.run(clock.advance, 45)
        assert pushed.drain(_worker(log)) == 2
    assert log == [2, 3]
    assert [job.args for job in pushed.expired] == [[1]]


def test_inline_mode_keeps_a_failed_jobs_lock_and_skips_expired_jobs() -> None:
    log: list[Any] = []
    clock = FakeClock()
    with jobs.inline(_worker(log), clock) as ran, Client(NOWHERE) as client:
        with pytest.raises(RuntimeError):
            client.push(Job("Fails", unique_for=60))
        with pytest.raises(ServerError, match="NOTUNIQUE"):
            client.push(Job("Fails", unique_for=60))
        client.push(Job("Report", [1], unique_for=60))
        client.push(Job("Report", [1], unique_for=60))  # the first succeeded: unlocked
        past = datetime.fromtimestamp(clock.now() - 1, UTC)
        client.push(Job("Report", [9], expires_at=past))
    assert log == [1, 1]
    assert [job.args for job in ran.expired] == [[9]]
