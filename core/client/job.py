"""The job builder: a frozen :class:`Job`, checked against the server's rules when it is built.

A job the server would refuse (reference §3.2, §4.1) never leaves the process: bad queue names,
short jids, ``reserve_for`` over a day, ``args`` that are not a list and values JSON cannot carry
all raise :class:`~faktory_core.client.errors.JobError` at construction, where the mistake is.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from faktory_core.client.errors import JobError
from faktory_core.client.options import with_options
from faktory_core.errors import messages
from faktory_core.model import DEFAULT_QUEUE, MAX_RESERVE_FOR, MIN_JID_LENGTH, valid_queue_name
from faktory_core.timefmt import BadTimestamp, format_ts, parse_ts

__all__ = ["Job", "new_jid"]

# Strict like the server's job JSON (decisions.md): no NaN/Infinity, nothing Python-only.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def new_jid() -> str:
    """24 random hex characters (96 bits), comfortably above the 8-byte minimum."""
    return secrets.token_hex(12)


def _check_jobtype(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise JobError(f"jobtype must be a non-empty string, not {value!r}")


def _check_queue(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, str) or not valid_queue_name(value):
        raise JobError(f"invalid queue name {value!r}: {messages.QUEUE_NAME_RULE}")


def _check_jid(_: Any, __: Any, value: Any) -> None:
    # The server counts bytes, as Go's len() does.
    if not isinstance(value, str) or len(value.encode("utf-8", "surrogatepass")) < MIN_JID_LENGTH:
        raise JobError(f"jid must be a string of at least {MIN_JID_LENGTH} bytes, not {value!r}")


def _check_optional_int(low: int | None, high: int | None) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool) or not _within(value, low, high):
            bounds = f" between {low} and {high}" if low is not None and high is not None else ""
            raise JobError(f"{attribute.name} must be an integer{bounds}, not {value!r}")

    return check


def _within(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _to_args(value: object) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise JobError(f"args must be a list, not {type(value).__name__}")
    return list(value)


def _to_custom(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise JobError(f"custom must be a mapping with string keys, not {value!r}")
    return dict(value)


def _to_at(value: object) -> str:
    """A datetime (with a time zone) or RFC 3339 text, as the RFC 3339 text the server reads."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise JobError("at must be timezone-aware (e.g. datetime.now(UTC)), not naive")
        return format_ts(value.timestamp())
    if isinstance(value, str):
        try:
            parse_ts(value)
        except BadTimestamp as exc:
            raise JobError(f"invalid timestamp for 'at': {value!r}: {exc}") from None
        return value
    raise JobError(f"at must be a datetime or RFC 3339 text, not {type(value).__name__}")


def _delay_seconds(delay: float | timedelta) -> float:
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise JobError(f"delay must be a non-negative number of seconds, not {delay!r}")
    return float(seconds)


@attrs.frozen(init=False, hash=False)
class Job:
    """One unit of work to push.

    ``Job("SendEmail", [42, "hi"], queue="mail", delay=60, retry=3)``; change one with
    ``attrs.evolve(job, queue="other")`` (it is validated again). ``at`` takes a timezone-aware
    datetime or RFC 3339 text; ``delay`` (seconds or a timedelta) sets ``at`` from now. ``retry``
    and ``reserve_for`` left as None use the server's defaults (25 retries, 1800 s).
    ``unique_for``/``unique_until`` and ``expires_in``/``expires_at`` are the Enterprise options
    (docs/enterprise.md), sent in ``custom``.
    ``track=True`` asks the server to keep a tracking record (``custom.track``).
    """

    jobtype: str = attrs.field(validator=_check_jobtype)
    args: list[Any] = attrs.field(converter=_to_args)
    queue: str = attrs.field(validator=_check_queue)
    jid: str = attrs.field(validator=_check_jid)
    at: str = attrs.field(converter=_to_at)
    retry: int | None = attrs.field(validator=_check_optional_int(None, None))
    reserve_for: int | None = attrs.field(validator=_check_optional_int(1, MAX_RESERVE_FOR))
    backtrace: int | None = attrs.field(validator=_check_optional_int(0, None))
    custom: dict[str, Any] | None = attrs.field(converter=_to_custom)

    def __init__(
        self,
        jobtype: str,
        args: Sequence[Any] = (),
        *,
        queue: str = DEFAULT_QUEUE,
        jid: str | None = None,
        at: datetime | str | None = None,
        delay: float | timedelta | None = None,
        retry: int | None = None,
        reserve_for: int | None = None,
        backtrace: int | None = None,
        custom: Mapping[str, Any] | None = None,
        unique_for: float | timedelta | None = None,
        unique_until: str | None = None,
        expires_in: float | timedelta | None = None,
        expires_at: datetime | str | None = None,
        track: bool = False,
    ) -> None:
        custom = with_options(custom, unique_for=unique_for, unique_until=unique_until,
                              expires_in=expires_in, expires_at=expires_at)  # fmt: skip
        if track:  # Enterprise job tracking: custom.track = 1 (docs/tracking.md)
            custom = {**(custom or {}), "track": 1}
        if delay is not None:
            if at:
                raise JobError("give either at or delay, not both")
            at = format_ts(time.time() + _delay_seconds(delay))
        self.__attrs_init__(
            jobtype, args, queue, new_jid() if jid is None else jid, at, retry, reserve_for,
            backtrace, custom,
        )  # fmt: skip

    def __attrs_post_init__(self) -> None:
        # Encode once here so a value JSON cannot carry fails at the call that built the job.
        try:
            _ENCODER.encode(self.args)
            if self.custom is not None:
                _ENCODER.encode(self.custom)
        except (TypeError, ValueError) as exc:
            raise JobError(f"job {self.jobtype!r} is not JSON-encodable: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The payload as sent: fields left to the server's defaults are omitted."""
        data: dict[str, Any] = {
            "jid": self.jid,
            "jobtype": self.jobtype,
            "args": self.args,
            "queue": self.queue,
        }
        if self.at:
            data["at"] = self.at
        for key in ("retry", "reserve_for", "backtrace", "custom"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data
