"""The data of a work server: jobs, failures, reservations, sorted-set entries, workers.

Jobs travel as JSON hashes; :func:`decode_job` checks one the way Faktory 1.10 does (reference
§3.2, §4; decisions.md) and :meth:`Job.encode` writes it back in Go's field order.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Any

import attrs
import msgspec

from faktory_core import jobjson
from faktory_core.errors import MAX_QUEUE_NAME, InvalidJob, messages
from faktory_core.glob import compile_glob
from faktory_core.timefmt import BadTimestamp, format_ts, parse_ts

__all__ = [
    "DEAD_TTL",
    "DEFAULT_QUEUE",
    "DEFAULT_RESERVE_FOR",
    "DEFAULT_RETRY",
    "MAX_RESERVE_FOR",
    "MIN_RESERVE_FOR",
    "Failure",
    "Job",
    "JobFilter",
    "Reservation",
    "SetEntry",
    "SortedSet",
    "WorkerInfo",
    "WorkerState",
    "decode_job",
    "decode_jobs",
    "fast_job",
    "job_from_dict",
    "strict_job",
    "valid_queue_name",
]

DEFAULT_QUEUE = "default"
DEFAULT_RETRY = 25
DEFAULT_RESERVE_FOR = 1800
MIN_RESERVE_FOR = 60
MAX_RESERVE_FOR = 86400
MIN_JID_LENGTH = 8
DEAD_TTL = 180 * 86400

_QUEUE_NAME = re.compile(r"[a-zA-Z0-9._-]+\Z")


def valid_queue_name(name: str) -> bool:
    """Faktory's rule, plus a length limit of our own (``MAX_QUEUE_NAME``, 255)."""
    return len(name) <= MAX_QUEUE_NAME and _QUEUE_NAME.match(name) is not None


class SortedSet(enum.StrEnum):
    """The three job sets that the web UI and MUTATE act on (``working`` is reservations)."""

    SCHEDULED = "scheduled"
    RETRIES = "retries"
    DEAD = "dead"


@attrs.frozen
class Failure:
    """The ``failure`` hash of a failed job (reference §4.2)."""

    retry_count: int = 0
    remaining: int = 0
    failed_at: str = ""
    next_at: str = ""
    message: str = ""
    errtype: str = ""
    backtrace: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "retry_count": self.retry_count,
            "remaining": self.remaining,
            "failed_at": self.failed_at,  # no omitempty in Go's Failure struct
        }
        for key in ("next_at", "message", "errtype"):
            value = getattr(self, key)
            if value:
                data[key] = value
        if self.backtrace:
            data["backtrace"] = list(self.backtrace)
        return data


@attrs.frozen
class Job:
    """A unit of work. Field order is Go's; ``reserve_for``/``backtrace`` 0 means "absent"."""

    jid: str
    jobtype: str
    args: list[Any]
    queue: str = DEFAULT_QUEUE
    retry: int = DEFAULT_RETRY
    created_at: str = ""
    enqueued_at: str = ""
    at: str = ""
    reserve_for: int = 0
    backtrace: int = 0
    custom: dict[str, Any] | None = None
    failure: Failure | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"retry": self.retry}
        if self.failure is not None:
            data["failure"] = self.failure.to_dict()
        if self.custom:
            data["custom"] = self.custom
        data["jid"] = self.jid
        data["queue"] = self.queue
        data["jobtype"] = self.jobtype
        for key in ("created_at", "enqueued_at", "at"):
            value = getattr(self, key)
            if value:
                data[key] = value
        data["args"] = self.args
        if self.reserve_for:
            data["reserve_for"] = self.reserve_for
        if self.backtrace:
            data["backtrace"] = self.backtrace
        return data

    def encode(self) -> bytes:
        """The job's JSON. The fields other than ``args`` and ``custom`` are typed (strings,
        integers, a Failure of strings and integers), so only those two are walked to see
        whether msgspec may encode it (jobjson.dumps_plain): byte for byte the stdlib's."""
        data = self.to_dict()
        if self.failure is None and jobjson.plain(self.args) and jobjson.plain(self.custom):
            return jobjson.dumps_plain(data)
        return jobjson.dumps(data)

    def stamped(self, created_at: str, enqueued_at: str) -> Job:
        """A copy with both timestamps set: the per-PUSH copy, built directly because
        ``attrs.evolve`` introspects every field on each call."""
        return Job(
            self.jid,
            self.jobtype,
            self.args,
            self.queue,
            self.retry,
            created_at,
            enqueued_at,
            self.at,
            self.reserve_for,
            self.backtrace,
            self.custom,
            self.failure,
        )

    @property
    def reservation_seconds(self) -> int:
        """``reserve_for`` as FETCH applies it: 0 → 1800, clamped to [60, 86400]."""
        if not self.reserve_for:
            return DEFAULT_RESERVE_FOR
        return min(max(self.reserve_for, MIN_RESERVE_FOR), MAX_RESERVE_FOR)


@attrs.frozen
class Reservation:
    """A fetched job awaiting ACK or FAIL (a member of ``working``, reference §4.4)."""

    job: Job
    reserved_at: float
    expires_at: float
    wid: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job.to_dict(),
            "reserved_at": format_ts(self.reserved_at),
            "expires_at": format_ts(self.expires_at),
            "wid": self.wid,
        }


@attrs.frozen
class SetEntry:
    """A job in a sorted set with its score (Unix seconds)."""

    score: float
    job: Job

    @property
    def key(self) -> str:
        """Stable address of the entry for the web UI: exact score, then jid."""
        return entry_key(self.score, self.job.jid)


def entry_key(score: float, jid: str) -> str:
    return f"{score!r}|{jid}"


def parse_entry_key(key: str) -> tuple[float, str] | None:
    score, sep, jid = key.partition("|")
    if not sep:
        return None
    try:
        return float(score), jid
    except ValueError:
        return None


@attrs.frozen
class JobFilter:
    """Which jobs of a set to find or act on. Every given field must match.

    ``jids`` overrides the others (as MUTATE does); ``glob`` is a Redis glob over the stored JSON
    (MUTATE's ``regexp``); ``text`` is a substring of the JSON of ``args``; ``error`` a substring
    of the failure's errtype or message.
    """

    jobtype: str = ""
    jids: tuple[str, ...] = ()
    glob: str = ""
    text: str = ""
    error: str = ""

    @property
    def matches_all(self) -> bool:
        return not (self.jobtype or self.jids or self.glob or self.text or self.error)

    def matcher(self) -> JobPredicate:
        """The filter as a predicate over a job and its stored JSON (``None``: the job's own
        encoding, made only when ``glob`` needs it). Built once per scan, called per entry;
        the one definition the stores and the web UI share. ``error`` ignores case."""
        if self.jids:
            jids = frozenset(self.jids)
            return lambda job, raw: job.jid in jids
        pattern = compile_glob(self.glob.encode()) if self.glob else None
        error = self.error.casefold()

        def match(job: Job, raw: bytes | None) -> bool:
            if self.jobtype and job.jobtype != self.jobtype:
                return False
            if pattern is not None and pattern.match(job.encode() if raw is None else raw) is None:
                return False
            if self.text and self.text not in jobjson.dumps(job.args).decode():
                return False
            if error:
                failure = job.failure
                if failure is None:
                    return False
                return error in failure.errtype.casefold() or error in failure.message.casefold()
            return True

        return match


#: ``JobFilter.matcher()``: (job, its stored JSON or None) → whether it matches.
JobPredicate = Callable[["Job", bytes | None], bool]


class WorkerState(enum.StrEnum):
    RUNNING = "running"
    QUIET = "quiet"
    TERMINATE = "terminate"

    def advance(self, requested: WorkerState) -> WorkerState:
        """States only move forward: running → quiet → terminate (reference §3.7)."""
        order = (WorkerState.RUNNING, WorkerState.QUIET, WorkerState.TERMINATE)
        return requested if order.index(requested) > order.index(self) else self


@attrs.frozen
class WorkerInfo:
    """A worker process's heartbeat record, keyed by ``wid``."""

    wid: str
    hostname: str = ""
    pid: int = 0
    labels: tuple[str, ...] = ()
    started_at: float = 0.0
    last_beat: float = 0.0
    rss_kb: int = 0
    state: WorkerState = WorkerState.RUNNING
    connections: int = 0


# -- decoding --------------------------------------------------------------------------------

_STR_FIELDS = ("jid", "jobtype", "queue", "created_at", "enqueued_at", "at")
_INT_FIELDS = ("retry", "reserve_for", "backtrace")


def _type_error(key: str, value: Any, expected: str) -> InvalidJob:
    kind = type(value).__name__
    return InvalidJob(messages.invalid_json(f"cannot use {kind} as {expected} for field {key!r}"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _failure_from(value: Any) -> Failure | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _type_error("failure", value, "an object")
    fields: dict[str, Any] = {}
    for key in ("retry_count", "remaining"):
        item = value.get(key)
        if item is not None:
            if not _is_int(item):
                raise _type_error(f"failure.{key}", item, "an integer")
            fields[key] = item
    for key in ("failed_at", "next_at", "message", "errtype"):
        item = value.get(key)
        if item is not None:
            if not isinstance(item, str):
                raise _type_error(f"failure.{key}", item, "a string")
            fields[key] = item
    trace = value.get("backtrace")
    if trace is not None:
        if not isinstance(trace, list) or not all(isinstance(x, str) for x in trace):
            raise _type_error("failure.backtrace", trace, "an array of strings")
        fields["backtrace"] = tuple(trace)
    return Failure(**fields)


def job_from_dict(data: Any) -> Job:
    """Type-check a decoded job as Go's decoder would, then validate as Faktory's Push does.

    Type errors are ``invalid JSON: ...``; the checks then run in Faktory's order (§3.2).
    Unknown keys are dropped; ``null`` means "absent" everywhere. The type checks run in
    msgspec (``convert`` to :class:`_Fields`) when it accepts the dict; anything it refuses
    (a wrong type, an unknown key) takes the checks below, which name the first bad field.
    ``convert`` would turn a tuple into a list: ``args`` and ``custom`` must be a list and a
    dict already (as JSON gives them) for it to be asked.
    """
    if (
        type(data) is dict
        and type(data.get("args")) in _LIST_OR_NONE
        and type(data.get("custom")) in _DICT_OR_NONE
    ):
        try:
            fields = _convert(data, _Fields)
        except msgspec.ValidationError:
            pass
        else:
            return _job_of(fields)
    return _checked_job(data)


def _checked_job(data: Any) -> Job:
    if not isinstance(data, dict):
        raise _type_error("job", data, "an object")
    fields: dict[str, Any] = {}
    for key in _STR_FIELDS:
        value = data.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise _type_error(key, value, "a string")
            fields[key] = value
    for key in _INT_FIELDS:
        value = data.get(key)
        if value is not None:
            if not _is_int(value):
                raise _type_error(key, value, "an integer")
            fields[key] = value
    args = data.get("args")
    if args is not None and not isinstance(args, list):
        raise _type_error("args", args, "an array")
    custom = data.get("custom")
    if custom is not None and not isinstance(custom, dict):
        raise _type_error("custom", custom, "an object")
    failure = _failure_from(data.get("failure"))
    # Go's len() counts bytes: an 8-byte jid may be fewer than 8 characters.
    if len(fields.get("jid", "").encode("utf-8", "surrogatepass")) < MIN_JID_LENGTH:
        raise InvalidJob(messages.NO_JID)
    if not fields.get("jobtype"):
        raise InvalidJob(messages.NO_JOBTYPE)
    if args is None:
        raise InvalidJob(messages.NO_ARGS)
    if fields.get("reserve_for", 0) > MAX_RESERVE_FOR:
        raise InvalidJob(messages.RESERVE_TOO_LONG)
    if not fields.get("queue"):
        fields["queue"] = DEFAULT_QUEUE
    return Job(args=args, custom=custom or None, failure=failure, **fields)


class _Fields(msgspec.Struct, forbid_unknown_fields=True):
    """A job's keys typed as :func:`job_from_dict` checks them (``null`` is absent), for
    msgspec to decode and type-check in one pass. ``failure`` is checked after, in Python."""

    jid: str | None = None
    jobtype: str | None = None
    args: list[Any] | None = None
    queue: str | None = None
    retry: int | None = None
    created_at: str | None = None
    enqueued_at: str | None = None
    at: str | None = None
    reserve_for: int | None = None
    backtrace: int | None = None
    custom: dict[str, Any] | None = None
    failure: Any = None


_fields_decoder = msgspec.json.Decoder(_Fields)
_convert = msgspec.convert
_LIST_OR_NONE = (list, type(None))
_DICT_OR_NONE = (dict, type(None))


def fast_job(raw: bytes) -> Job | None:
    """:func:`decode_job` in msgspec's C code when that is sure to give the same Job, else
    None (the strict path decides, with its errors). Sure means: the text passes
    ``jobjson.safe_for_fast`` and msgspec decodes it as a job with no unknown key and every
    known key of the right type; the checks that follow are :func:`job_from_dict`'s own."""
    if type(raw) is not bytes or not jobjson.safe_for_fast(raw):
        return None
    try:
        f = _fields_decoder.decode(raw)
    except jobjson.FAST_REFUSALS:
        return None
    return _job_of(f)


def _job_of(f: _Fields) -> Job:
    """The checks of :func:`_checked_job` that follow its type checks, on typed fields."""
    failure = None if f.failure is None else _failure_from(f.failure)
    jid = f.jid or ""
    if len(jid) < MIN_JID_LENGTH and len(jid.encode("utf-8", "surrogatepass")) < MIN_JID_LENGTH:
        raise InvalidJob(messages.NO_JID)
    if not f.jobtype:
        raise InvalidJob(messages.NO_JOBTYPE)
    if f.args is None:
        raise InvalidJob(messages.NO_ARGS)
    if f.reserve_for is not None and f.reserve_for > MAX_RESERVE_FOR:
        raise InvalidJob(messages.RESERVE_TOO_LONG)
    return Job(
        jid,
        f.jobtype,
        f.args,
        f.queue or DEFAULT_QUEUE,
        DEFAULT_RETRY if f.retry is None else f.retry,
        f.created_at or "",
        f.enqueued_at or "",
        f.at or "",
        f.reserve_for or 0,
        f.backtrace or 0,
        f.custom or None,
        failure,
    )


def check_at(job: Job) -> float | None:
    """The job's ``at`` as Unix seconds, None when absent; raises Faktory's error when bad."""
    if not job.at:
        return None
    try:
        return parse_ts(job.at)
    except BadTimestamp as exc:
        raise InvalidJob(messages.invalid_at(job.at, str(exc))) from None


def _loads(raw: bytes) -> Any:
    try:
        return jobjson.loads(raw)
    except jobjson.JSONError as exc:
        raise InvalidJob(messages.invalid_json(str(exc))) from None


def decode_job(raw: bytes) -> Job:
    """A PUSH payload to a valid Job, or :class:`InvalidJob` with Faktory's message."""
    job = fast_job(raw)
    return job if job is not None else strict_job(raw)


def strict_job(raw: bytes) -> Job:
    """:func:`decode_job` on the strict path alone (the reference :func:`fast_job` is held to)."""
    try:
        data = jobjson.strict_loads(raw)
    except jobjson.JSONError as exc:
        raise InvalidJob(messages.invalid_json(str(exc))) from None
    return job_from_dict(data)


def decode_jobs(raw: bytes) -> list[Any]:
    """A PUSHB payload to its list of (not yet validated) job objects."""
    data = _loads(raw)
    if not isinstance(data, list):
        raise _type_error("PUSHB payload", data, "an array of jobs")
    for item in data:
        if not isinstance(item, dict):
            raise _type_error("job", item, "an object")
    return data


def stored_job(raw: bytes | str) -> Job:
    """A job read back from storage (trusted, but checked the same way)."""
    return job_from_dict(jobjson.loads(raw))


def now_ts(seconds: float) -> str:
    return format_ts(seconds)
