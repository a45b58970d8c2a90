"""The job builder refuses what the server would refuse, before anything is sent."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from faktory_core.client import Job, JobError, new_jid
from faktory_core.model import job_from_dict
from faktory_core.timefmt import parse_ts


def test_minimal_job_payload() -> None:
    job = Job("SendEmail", [42, "hi"])
    assert job.to_dict() == {
        "jid": job.jid,
        "jobtype": "SendEmail",
        "args": [42, "hi"],
        "queue": "default",
    }
    assert len(job.jid) == 24


def test_every_option_reaches_the_payload() -> None:
    job = Job(
        "Report",
        ("a",),
        queue="critical",
        jid="jid-12345678",
        at="2030-01-02T03:04:05Z",
        retry=3,
        reserve_for=600,
        backtrace=5,
        custom={"tenant": 7},
    )
    assert job.to_dict() == {
        "jid": "jid-12345678",
        "jobtype": "Report",
        "args": ["a"],
        "queue": "critical",
        "at": "2030-01-02T03:04:05Z",
        "retry": 3,
        "reserve_for": 600,
        "backtrace": 5,
        "custom": {"tenant": 7},
    }


def test_payload_is_a_job_the_server_accepts() -> None:
    job = Job("Report", [1, {"x": [None, True]}], retry=-1, custom={"k": "v"}, delay=30)
    decoded = job_from_dict(job.to_dict())
    assert (decoded.jid, decoded.jobtype, decoded.args) == (job.jid, "Report", job.args)
    assert (decoded.retry, decoded.at) == (-1, job.at)


def test_at_from_an_aware_datetime_is_utc_rfc3339() -> None:
    when = datetime(2030, 1, 2, 5, 4, 5, 120000, tzinfo=timezone(timedelta(hours=2)))
    assert Job("T", at=when).at == "2030-01-02T03:04:05.12Z"


def test_delay_sets_at_from_now() -> None:
    before = time.time()
    job = Job("T", delay=timedelta(minutes=5))
    assert before + 300 <= parse_ts(job.at) <= time.time() + 300
    assert parse_ts(Job("T", delay=60).at) >= before + 60


def test_evolve_keeps_the_jid_and_validates_again() -> None:
    job = Job("T", [1])
    moved = attrs.evolve(job, queue="other")
    assert (moved.jid, moved.queue, moved.args) == (job.jid, "other", [1])
    with pytest.raises(JobError, match="invalid queue name"):
        attrs.evolve(job, queue="no spaces")


def test_jobs_compare_by_value() -> None:
    assert Job("T", [1], jid="same-jid-1") == Job("T", (1,), jid="same-jid-1")


def test_new_jids_are_unique() -> None:
    assert len({new_jid() for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"jobtype": ""}, "jobtype must be a non-empty string"),
        ({"jobtype": 7}, "jobtype must be a non-empty string"),
        ({"args": {"a": 1}}, "args must be a list, not dict"),
        ({"args": "abc"}, "args must be a list, not str"),
        ({"queue": "user@example.com"}, "invalid queue name"),
        ({"queue": ""}, "invalid queue name"),
        ({"jid": "short"}, "at least 8 bytes"),
        ({"jid": "ééé"}, "at least 8 bytes"),
        ({"reserve_for": 86401}, "reserve_for must be an integer between 1 and 86400"),
        ({"reserve_for": 0}, "reserve_for must be an integer between 1 and 86400"),
        ({"reserve_for": 60.5}, "reserve_for must be an integer"),
        ({"retry": True}, "retry must be an integer"),
        ({"retry": "3"}, "retry must be an integer"),
        ({"backtrace": -1}, "backtrace must be an integer"),
        ({"custom": ["not", "a", "map"]}, "custom must be a mapping"),
        ({"custom": {1: "x"}}, "custom must be a mapping with string keys"),
        ({"args": [float("nan")]}, "not JSON-encodable"),
        ({"args": [object()]}, "not JSON-encodable"),
        ({"args": [{1, 2}]}, "not JSON-encodable"),
        ({"custom": {"when": datetime.now(UTC)}}, "not JSON-encodable"),
        ({"at": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"at": "2030-01-01 10:00:00Z"}, "invalid timestamp for 'at'"),
        ({"at": 1234567890}, "at must be a datetime or RFC 3339 text"),
        ({"at": "2030-01-01T00:00:00Z", "delay": 5}, "either at or delay"),
        ({"delay": -1}, "delay must be a non-negative number"),
    ],
)
def test_invalid_jobs_are_refused_at_construction(kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("jobtype", "T")
    jobtype = kwargs.pop("jobtype")
    with pytest.raises(JobError, match=message):
        Job(jobtype, **kwargs)


def test_job_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="args"):
        Job("T", 5)  # type: ignore[arg-type]
