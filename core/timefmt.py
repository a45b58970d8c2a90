"""Timestamps as Faktory writes and reads them (reference §4.3).

Written: UTC RFC 3339 with ``Z`` and the fraction's trailing zeros trimmed, like Go's
``time.RFC3339Nano`` (``2025-01-02T03:04:05.12Z``). Read (``at``): exactly Go's layout
``2006-01-02T15:04:05.999999999Z07:00`` -- ``T`` separator, optional fraction, zone required.
Internally every instant is a float of Unix seconds (the sorted-set score).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["BadTimestamp", "format_ts", "parse_ts", "utc_day"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,  # Go takes only '0'-'9' as digits; without this \d also matches e.g. '٢'
)


class BadTimestamp(ValueError):
    """Not a timestamp in Go's RFC 3339 layout; the text says what is wrong."""


@functools.lru_cache(maxsize=4)
def _second_prefix(whole: int) -> str:
    # Every job stamps created_at and enqueued_at; within one second only the fraction
    # changes, so the date-time text is formatted once per second.
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def format_ts(seconds: float) -> str:
    """Unix seconds as Go's RFC3339Nano in UTC (microsecond precision, zeros trimmed)."""
    whole = int(seconds // 1)
    micros = round((seconds - whole) * 1_000_000)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    if micros:
        return f"{_second_prefix(whole)}.{micros:06d}".rstrip("0") + "Z"
    return _second_prefix(whole) + "Z"


def parse_ts(text: str) -> float:
    """Go-layout RFC 3339 text to Unix seconds; raises :class:`BadTimestamp`."""
    match = _RFC3339.match(text)
    if match is None:
        raise BadTimestamp('cannot parse as RFC 3339 "2006-01-02T15:04:05.999999999Z07:00"')
    year, month, day, hour, minute, second, fraction, zulu, sign, zh, zm = match.groups()
    if zulu:
        zone = UTC
    else:
        if int(zh) > 23 or int(zm) > 59:
            raise BadTimestamp("time zone offset out of range")
        offset = timedelta(hours=int(zh), minutes=int(zm))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=zone
        )
    except ValueError as exc:
        raise BadTimestamp(str(exc)) from None
    nanos = int((fraction or "0").ljust(9, "0"))
    return moment.timestamp() + nanos / 1e9


def utc_day(seconds: float) -> str:
    """The UTC date ``YYYY-MM-DD`` of an instant (daily counters use UTC, decisions.md)."""
    return _day(int(seconds // 86400))


@functools.lru_cache(maxsize=4)
def _day(day_number: int) -> str:
    # Called on every ACK and FAIL for the daily counters: format each day once.
    return datetime.fromtimestamp(day_number * 86400, UTC).strftime("%Y-%m-%d")
