"""Jobs as Faktory decodes, validates and re-encodes them (reference §3.2, §4; decisions.md)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from faktory_core import model
from faktory_core.errors import FaktoryError, InvalidJob
from faktory_core.model import (
    DEAD_TTL,
    DEFAULT_QUEUE,
    DEFAULT_RESERVE_FOR,
    DEFAULT_RETRY,
    MAX_RESERVE_FOR,
    MIN_RESERVE_FOR,
    Failure,
    Job,
    JobFilter,
    Reservation,
    SetEntry,
    SortedSet,
    WorkerInfo,
    WorkerState,
    check_at,
    decode_job,
    decode_jobs,
    entry_key,
    job_from_dict,
    parse_entry_key,
    stored_job,
    valid_queue_name,
)
from faktory_core.timefmt import parse_ts

JID = "0123456789abcdef"
INVALID_JSON = "invalid JSON: "


def raw(**fields: Any) -> bytes:
    data: dict[str, Any] = {"jid": JID, "jobtype": "Thing", "args": [1]}
    data.update(fields)
    return json.dumps({k: v for k, v in data.items() if v is not _DROP}).encode()


_DROP = object()


def rejected(payload: bytes) -> str:
    with pytest.raises(InvalidJob) as info:
        decode_job(payload)
    assert info.value.code == "ERR"
    return info.value.message


def test_constants() -> None:
    assert DEFAULT_QUEUE == "default"
    assert DEFAULT_RETRY == 25
    assert DEFAULT_RESERVE_FOR == 1800
    assert MIN_RESERVE_FOR == 60
    assert MAX_RESERVE_FOR == 86400
    assert DEAD_TTL == 180 * 86400


# -- decode_job: the happy path and defaults ----------------------------------------------------


def test_minimal_job() -> None:
    job = decode_job(b'{"jid":"0123456789abcdef","jobtype":"Thing","args":[1]}')
    assert job == Job(jid=JID, jobtype="Thing", args=[1])
    assert job.queue == "default"
    assert job.retry == 25
    assert job.reserve_for == 0
    assert job.backtrace == 0
    assert (job.created_at, job.enqueued_at, job.at) == ("", "", "")
    assert job.custom is None
    assert job.failure is None


def test_full_job() -> None:
    payload = {
        "jid": JID,
        "jobtype": "Thing",
        "args": [1, "two", {"three": 3}],
        "queue": "critical",
        "retry": 3,
        "reserve_for": 600,
        "backtrace": 10,
        "created_at": "2025-01-02T03:04:05.12Z",
        "enqueued_at": "2025-01-02T03:04:06Z",
        "at": "2025-01-03T00:00:00Z",
        "custom": {"unique_for": 60},
        "failure": {
            "retry_count": 2,
            "remaining": 1,
            "failed_at": "2025-01-02T03:04:07Z",
            "next_at": "2025-01-02T03:05:00Z",
            "message": "boom",
            "errtype": "RuntimeError",
            "backtrace": ["a.rb:1", "b.rb:2"],
        },
    }
    job = decode_job(json.dumps(payload).encode())
    assert job.queue == "critical"
    assert (job.retry, job.reserve_for, job.backtrace) == (3, 600, 10)
    assert job.custom == {"unique_for": 60}
    assert job.failure == Failure(
        2,
        1,
        "2025-01-02T03:04:07Z",
        "2025-01-02T03:05:00Z",
        "boom",
        "RuntimeError",
        ("a.rb:1", "b.rb:2"),
    )
    assert json.loads(job.encode()) == payload


def test_args_may_be_empty() -> None:
    assert decode_job(raw(args=[])).args == []


@pytest.mark.parametrize("retry", [None, _DROP])
def test_retry_null_or_absent_is_25(retry: object) -> None:
    assert decode_job(raw(retry=retry)).retry == 25


@pytest.mark.parametrize("retry", [0, 1, 25, 100, -1, -5])
def test_retry_kept(retry: int) -> None:
    assert decode_job(raw(retry=retry)).retry == retry


@pytest.mark.parametrize("queue", [None, "", _DROP])
def test_queue_defaults(queue: object) -> None:
    assert decode_job(raw(queue=queue)).queue == "default"


def test_queue_is_not_validated_when_decoding() -> None:
    # The name rule is checked where the queue is used (the manager), with its own error.
    assert decode_job(raw(queue="c&c")).queue == "c&c"


def test_null_means_absent() -> None:
    payload = raw(
        created_at=None, enqueued_at=None, at=None, reserve_for=None, backtrace=None,
        custom=None, failure=None,
    )  # fmt: skip
    assert decode_job(payload) == Job(jid=JID, jobtype="Thing", args=[1])


def test_empty_custom_is_none() -> None:
    assert decode_job(raw(custom={})).custom is None


def test_unknown_keys_are_dropped() -> None:
    job = decode_job(raw(priority=9, whatever={"x": 1}))
    assert b"priority" not in job.encode()
    assert b"whatever" not in job.encode()


def test_keys_are_exact_case() -> None:
    # decisions.md: "JID" is not "jid" (Go would accept it).
    payload = json.dumps({"JID": JID, "jobtype": "Thing", "args": []}).encode()
    assert rejected(payload) == "jobs must have a reasonable jid parameter"
    payload = json.dumps({"jid": JID, "JobType": "Thing", "args": []}).encode()
    assert rejected(payload) == "jobs must have a jobtype parameter"
    payload = json.dumps({"jid": JID, "jobtype": "T", "Args": [], "RETRY": 1}).encode()
    assert rejected(payload) == "jobs must have an args parameter"


def test_big_integers_survive() -> None:
    job = decode_job(raw(args=[12345678901234567890, 2**53 + 1], custom={"n": 10**30}))
    assert job.args == [12345678901234567890, 2**53 + 1]
    assert b"[12345678901234567890,9007199254740993]" in job.encode()
    assert decode_job(job.encode()) == job


def test_unicode_survives() -> None:
    job = decode_job(raw(args=["\u00e9\U0001f600<&>"]))
    assert decode_job(job.encode()) == job
    assert "\u00e9\U0001f600<&>".encode() in job.encode()


# -- validation, in Faktory's order -------------------------------------------------------------


@pytest.mark.parametrize("jid", ["", "id", "shortid", None, _DROP])
def test_jid_too_short(jid: object) -> None:
    assert rejected(raw(jid=jid)) == "jobs must have a reasonable jid parameter"


def test_jid_of_eight_bytes() -> None:
    assert decode_job(raw(jid="12345678")).jid == "12345678"


def test_jid_length_is_in_bytes() -> None:
    # Go's len(): four 2-byte characters are 8 bytes.
    assert decode_job(raw(jid="\u00e9\u00e9\u00e9\u00e9")).jid == "\u00e9\u00e9\u00e9\u00e9"
    assert rejected(raw(jid="\u00e9\u00e9\u00e9")) == "jobs must have a reasonable jid parameter"


@pytest.mark.parametrize("jobtype", ["", None, _DROP])
def test_jobtype_missing(jobtype: object) -> None:
    assert rejected(raw(jobtype=jobtype)) == "jobs must have a jobtype parameter"


@pytest.mark.parametrize("args", [None, _DROP])
def test_args_missing(args: object) -> None:
    assert rejected(raw(args=args)) == "jobs must have an args parameter"


def test_reserve_for_limit() -> None:
    assert decode_job(raw(reserve_for=86400)).reserve_for == 86400
    assert rejected(raw(reserve_for=86401)) == "jobs cannot be reserved for more than one day"
    assert decode_job(raw(reserve_for=-5)).reserve_for == -5  # clamped at FETCH, not here


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"jid": "", "jobtype": "", "args": None, "reserve_for": 99999}, "reasonable jid"),
        ({"jobtype": "", "args": None, "reserve_for": 99999}, "jobtype"),
        ({"args": None, "reserve_for": 99999}, "args"),
        ({"reserve_for": 99999}, "reserved for more than one day"),
        # Type errors come first: they are Go's decoding errors.
        ({"jid": "", "retry": "3"}, INVALID_JSON),
        ({"jobtype": "", "args": {}}, INVALID_JSON),
        ({"args": None, "custom": []}, INVALID_JSON),
        ({"jid": "", "failure": {"retry_count": "1"}}, INVALID_JSON),
    ],
)
def test_validation_order(fields: dict[str, Any], message: str) -> None:
    assert message in rejected(raw(**fields))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retry", 3.0),
        ("retry", 3.5),
        ("retry", "3"),
        ("retry", True),
        ("retry", []),
        ("reserve_for", 60.0),
        ("reserve_for", "60"),
        ("reserve_for", False),
        ("backtrace", "1"),
        ("backtrace", 1.0),
        ("jid", 12345678),
        ("jid", ["0123456789"]),
        ("jobtype", 1),
        ("queue", 1),
        ("queue", True),
        ("created_at", 0),
        ("enqueued_at", {}),
        ("at", 1735787045),
        ("args", {}),
        ("args", "a"),
        ("args", 1),
        ("custom", []),
        ("custom", "x"),
        ("failure", []),
        ("failure", "boom"),
        ("failure", {"retry_count": 1.0}),
        ("failure", {"remaining": "1"}),
        ("failure", {"remaining": True}),
        ("failure", {"message": 1}),
        ("failure", {"errtype": []}),
        ("failure", {"failed_at": 1}),
        ("failure", {"next_at": False}),
        ("failure", {"backtrace": "a"}),
        ("failure", {"backtrace": [1]}),
    ],
)
def test_wrong_types_are_invalid_json(key: str, value: Any) -> None:
    assert rejected(raw(**{key: value})).startswith(INVALID_JSON)


def test_retry_float_literal_is_invalid_json() -> None:
    # json.dumps cannot write "3.0" for an int; write the payload by hand.
    payload = b'{"jid":"0123456789abcdef","jobtype":"T","args":[],"retry":3.0}'
    assert rejected(payload).startswith(INVALID_JSON)
    payload = b'{"jid":"0123456789abcdef","jobtype":"T","args":[],"retry":3e0}'
    assert rejected(payload).startswith(INVALID_JSON)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"   ",
        b"{",
        b"[]",
        b"null",
        b"1",
        b'"job"',
        b'{"jid":"0123456789abcdef","jobtype":"T","args":[NaN]}',
        b'{"jid":"0123456789abcdef","jobtype":"T","args":[Infinity]}',
        b'{"jid":"0123456789abcdef","jobtype":"T","args":[-Infinity]}',
        b'{"jid":"0123456789abcdef","jobtype":"T","args":[1e400]}',
        b'{"jid":"0123456789abcdef","jobtype":"T","args":["\\ud800"]}',
        b'{"jid":"0123456789abcdef","jobtype":"T","args":[],"custom":{"\\udc00":1}}',
        b'{"jid":"0123456789abcdef","jobtype":"T","args":[' + b"[" * 100 + b"]" * 100 + b"]}",
        b'{"jid":"0123456789abcdef","jobtype":"T","args":['
        + b"[" * 100_000
        + b"]" * 100_000
        + b"]}",
        b'{"jid":"0123456789abcdef","jobtype":"T","args":["\xff"]}',
    ],
)
def test_invalid_json(payload: bytes) -> None:
    assert rejected(payload).startswith(INVALID_JSON)


def test_empty_payload_message() -> None:
    assert rejected(b"") == "invalid JSON: unexpected end of JSON input"


def test_valid_surrogate_pair_is_accepted() -> None:
    job = decode_job(b'{"jid":"0123456789abcdef","jobtype":"T","args":["\\ud83d\\ude00"]}')
    assert job.args == ["\U0001f600"]


def test_nesting_limit_counts_the_whole_document() -> None:
    # The job object is level 1, args level 2: 98 more levels inside args is the most.
    ok = b'{"jid":"0123456789abcdef","jobtype":"T","args":[' + b"[" * 98 + b"]" * 98 + b"]}"
    assert decode_job(ok).jid == JID
    bad = b'{"jid":"0123456789abcdef","jobtype":"T","args":[' + b"[" * 99 + b"]" * 99 + b"]}"
    assert rejected(bad).startswith(INVALID_JSON)


def test_job_from_dict_needs_an_object() -> None:
    for value in ([], "job", None, 1):
        with pytest.raises(InvalidJob, match=r"^invalid JSON: "):
            job_from_dict(value)


def test_stored_job() -> None:
    job = Job(jid=JID, jobtype="T", args=[1], enqueued_at="2025-01-02T03:04:05Z")
    assert stored_job(job.encode()) == job
    assert stored_job(job.encode().decode()) == job


# -- decode_jobs (PUSHB) ------------------------------------------------------------------------


def test_decode_jobs() -> None:
    items = decode_jobs(b'[{"jid":"x"},{"jobtype":"T"}]')
    assert items == [{"jid": "x"}, {"jobtype": "T"}]  # validated one by one later
    assert decode_jobs(b"[]") == []


@pytest.mark.parametrize(
    "payload", [b"", b"{}", b'{"jid":"x"}', b"[1]", b"[[]]", b"[null]", b"[", b"[NaN]"]
)
def test_decode_jobs_rejects(payload: bytes) -> None:
    with pytest.raises(InvalidJob, match=r"^invalid JSON: "):
        decode_jobs(payload)


# -- encoding -----------------------------------------------------------------------------------


def test_encode_key_order_is_gos() -> None:
    job = Job(
        jid=JID,
        jobtype="Thing",
        args=[1],
        queue="q",
        retry=3,
        created_at="c",
        enqueued_at="e",
        at="a",
        reserve_for=600,
        backtrace=5,
        custom={"k": "v"},
        failure=Failure(retry_count=1, remaining=2, failed_at="f"),
    )
    assert list(json.loads(job.encode())) == [
        "retry", "failure", "custom", "jid", "queue", "jobtype",
        "created_at", "enqueued_at", "at", "args", "reserve_for", "backtrace",
    ]  # fmt: skip


def test_encode_omits_empty_optional_fields() -> None:
    job = Job(jid=JID, jobtype="Thing", args=[])
    assert job.encode() == (
        b'{"retry":25,"jid":"0123456789abcdef","queue":"default","jobtype":"Thing","args":[]}'
    )
    assert Job(jid=JID, jobtype="T", args=[], custom={}).to_dict().keys() == job.to_dict().keys()


def test_encode_exact_bytes() -> None:
    job = Job(
        jid=JID,
        jobtype="Thing",
        args=[123],
        created_at="2025-01-02T03:04:05.12Z",
        enqueued_at="2025-01-02T03:04:06Z",
    )
    assert job.encode() == (
        b'{"retry":25,"jid":"0123456789abcdef","queue":"default","jobtype":"Thing",'
        b'"created_at":"2025-01-02T03:04:05.12Z","enqueued_at":"2025-01-02T03:04:06Z",'
        b'"args":[123]}'
    )


def test_encode_keeps_retry_zero_and_negative() -> None:
    assert json.loads(Job(jid=JID, jobtype="T", args=[], retry=0).encode())["retry"] == 0
    assert json.loads(Job(jid=JID, jobtype="T", args=[], retry=-1).encode())["retry"] == -1


def test_encode_keeps_negative_reserve_for() -> None:
    # Go's omitempty only drops zero.
    assert (
        json.loads(Job(jid=JID, jobtype="T", args=[], reserve_for=-1).encode())["reserve_for"] == -1
    )


def test_failure_to_dict() -> None:
    assert Failure().to_dict() == {"retry_count": 0, "remaining": 0, "failed_at": ""}
    full = Failure(1, 24, "f", "n", "m", "e", ("l1", "l2"))
    assert list(full.to_dict().items()) == [
        ("retry_count", 1),
        ("remaining", 24),
        ("failed_at", "f"),
        ("next_at", "n"),
        ("message", "m"),
        ("errtype", "e"),
        ("backtrace", ["l1", "l2"]),
    ]
    assert Failure(remaining=-1, failed_at="f", message="m").to_dict() == {
        "retry_count": 0,
        "remaining": -1,
        "failed_at": "f",
        "message": "m",
    }


def test_failure_round_trip() -> None:
    failure = Failure(3, 22, "2025-01-02T03:04:05Z", "2025-01-02T03:06:00Z", "m", "E", ("x",))
    job = Job(jid=JID, jobtype="T", args=[], failure=failure)
    assert decode_job(job.encode()).failure == failure
    bare = Job(jid=JID, jobtype="T", args=[], failure=Failure())
    assert decode_job(bare.encode()) == bare


def test_job_is_frozen() -> None:
    job = Job(jid=JID, jobtype="T", args=[])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        job.retry = 1  # type: ignore[misc]
    assert attrs.evolve(job, retry=1).retry == 1


# -- reservation_seconds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reserve_for", "seconds"),
    [
        (0, 1800),
        (20, 60),
        (50, 60),
        (59, 60),
        (60, 60),
        (61, 61),
        (1800, 1800),
        (86399, 86399),
        (86400, 86400),
        (86401, 86400),
        (100000, 86400),
        (-5, 60),
    ],
)
def test_reservation_seconds(reserve_for: int, seconds: int) -> None:
    assert (
        Job(jid=JID, jobtype="T", args=[], reserve_for=reserve_for).reservation_seconds == seconds
    )


# -- queue names (reference §6) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-",
        "-",
        "A",
        "a",
        "default",
        "critical.high_priority-1",
        "...",
        "9",
    ],
)
def test_valid_queue_names(name: str) -> None:
    assert valid_queue_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "default?page=1",
        "user@example.com",
        "c&c",
        "priority|high",
        "",
        "a b",
        " a",
        "a\n",  # \z, not $: a trailing newline is not allowed
        "a\nb",
        "caf\u00e9",
        "\u0661",  # an Arabic-Indic digit is not [0-9]
        "q:default",
        "a/b",
        "*",
    ],
)
def test_invalid_queue_names(name: str) -> None:
    assert not valid_queue_name(name)


# -- at (reference §4.3) ------------------------------------------------------------------------


def _with_at(at: str) -> Job:
    return Job(jid=JID, jobtype="T", args=[], at=at)


def test_check_at_absent() -> None:
    assert check_at(_with_at("")) is None


@pytest.mark.parametrize(
    ("at", "seconds"),
    [
        ("2025-01-02T03:04:05Z", 1735787045.0),
        ("2025-01-02T03:04:05.5Z", 1735787045.5),
        ("2025-01-02T03:04:05.123456789Z", 1735787045.123456789),
        ("2025-01-02T05:04:05+02:00", 1735787045.0),
        ("2025-01-01T20:04:05-07:00", 1735787045.0),
        ("2025-01-02T03:04:05.25+00:00", 1735787045.25),
        ("1970-01-01T00:00:00Z", 0.0),
    ],
)
def test_check_at_accepts(at: str, seconds: float) -> None:
    assert check_at(_with_at(at)) == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize(
    "at",
    [
        "2025-01-02t03:04:05Z",  # lowercase t
        "2025-01-02 03:04:05Z",  # space instead of T
        "2025-01-02T03:04:05",  # no zone
        "2025-01-02T03:04:05z",
        "2025-01-02",
        "tomorrow",
        "1735787045",
        "2025-01-02T03:04:05.Z",
        "2025-01-02T03:04Z",
        "2025-01-02T03:04:05+0200",
        "2025-01-02T03:04:05 +02:00",
        "2025-13-02T03:04:05Z",
        "2025-02-30T03:04:05Z",
        "2025-01-02T25:04:05Z",
        "2025-01-02T03:04:05ZZ",
        " 2025-01-02T03:04:05Z",
    ],
)
def test_check_at_rejects(at: str) -> None:
    with pytest.raises(InvalidJob) as info:
        check_at(_with_at(at))
    prefix = f"invalid timestamp for 'at': \"{at}\": "
    assert info.value.message.startswith(prefix)
    assert len(info.value.message) > len(prefix)
    assert info.value.wire_text().startswith("ERR invalid timestamp for 'at': ")


def test_check_at_matches_parse_ts() -> None:
    at = "2030-06-30T12:00:00.000001Z"
    assert check_at(_with_at(at)) == parse_ts(at)


# -- sorted-set entries, reservations, filters, workers -----------------------------------------


@pytest.mark.parametrize("score", [1735787045.0, 1735787045.123456, 0.1, 1e16, 1750000000.999999])
def test_entry_key_round_trip(score: float) -> None:
    key = entry_key(score, JID)
    assert parse_entry_key(key) == (score, JID)


def test_entry_key_format() -> None:
    assert entry_key(1735787045.5, "abc") == "1735787045.5|abc"
    job = Job(jid="a|b|c", jobtype="T", args=[])
    entry = SetEntry(12.25, job)
    assert entry.key == "12.25|a|b|c"
    assert parse_entry_key(entry.key) == (12.25, "a|b|c")  # a '|' in the jid survives


@pytest.mark.parametrize("key", ["", "nopipe", "abc|jid", "|jid", "1..2|jid"])
def test_parse_entry_key_rejects(key: str) -> None:
    assert parse_entry_key(key) is None


def test_reservation_to_dict() -> None:
    job = Job(jid=JID, jobtype="T", args=[])
    reservation = Reservation(job, 1735787045.0, 1735788845.5, "w1")
    assert reservation.to_dict() == {
        "job": job.to_dict(),
        "reserved_at": "2025-01-02T03:04:05Z",
        "expires_at": "2025-01-02T03:34:05.5Z",
        "wid": "w1",
    }
    assert list(reservation.to_dict()) == ["job", "reserved_at", "expires_at", "wid"]
    assert Reservation(job, 0.0, 1.0).to_dict()["wid"] == ""


def test_job_filter() -> None:
    assert JobFilter().matches_all
    for field in ("jobtype", "glob", "text", "error"):
        assert not JobFilter(**{field: "x"}).matches_all
    assert not JobFilter(jids=("a",)).matches_all


def test_sorted_sets() -> None:
    assert [s.value for s in SortedSet] == ["scheduled", "retries", "dead"]
    assert SortedSet("dead") is SortedSet.DEAD


@pytest.mark.parametrize(
    ("current", "requested", "result"),
    [
        ("running", "running", "running"),
        ("running", "quiet", "quiet"),
        ("running", "terminate", "terminate"),
        ("quiet", "running", "quiet"),  # never backwards
        ("quiet", "quiet", "quiet"),
        ("quiet", "terminate", "terminate"),
        ("terminate", "running", "terminate"),
        ("terminate", "quiet", "terminate"),
        ("terminate", "terminate", "terminate"),
    ],
)
def test_worker_state_advance(current: str, requested: str, result: str) -> None:
    assert WorkerState(current).advance(WorkerState(requested)) is WorkerState(result)


def test_worker_info_defaults() -> None:
    info = WorkerInfo("w1")
    assert info.state is WorkerState.RUNNING
    assert (info.rss_kb, info.connections, info.labels) == (0, 0, ())


def test_now_ts() -> None:
    assert model.now_ts(1735787045.12) == "2025-01-02T03:04:05.12Z"


def test_invalid_job_is_a_faktory_error() -> None:
    assert issubclass(InvalidJob, FaktoryError)


def test_job_filter_matcher() -> None:
    """The one predicate the stores and the web UI share: jids override the rest; the glob
    runs over the stored JSON when given, else over the job's own encoding."""
    failed = job_from_dict(
        {
            "jid": "job-00000001",
            "jobtype": "Mailer",
            "args": ["ada@example.com"],
            "failure": {"retry_count": 0, "errtype": "TimeoutError", "message": "slow"},
        }
    )
    plain = job_from_dict({"jid": "job-00000002", "jobtype": "Other", "args": [1]})
    cases = [
        (JobFilter(), [True, True]),
        (JobFilter(jids=("job-00000002",), jobtype="Mailer"), [False, True]),
        (JobFilter(jobtype="Mailer"), [True, False]),
        (JobFilter(glob='*"jobtype":"Other"*'), [False, True]),
        (JobFilter(text="ada@"), [True, False]),
        (JobFilter(error="TIMEOUT"), [True, False]),
        (JobFilter(jobtype="Mailer", text="bob"), [False, False]),
    ]
    for where, expected in cases:
        match = where.matcher()
        assert [match(job, None) for job in (failed, plain)] == expected, where
    # A stored member is matched as stored, not re-encoded.
    assert JobFilter(glob="*stored*").matcher()(plain, b'{"stored":1}')
    assert not JobFilter(glob="*stored*").matcher()(plain, None)
