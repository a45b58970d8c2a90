"""The Enterprise job options as ``Job`` keywords: ``unique_for``, ``unique_until``,
``expires_in`` and ``expires_at`` go into ``custom`` under their wire names, checked by the same
rules the server plugins apply (:mod:`faktory_core.options`), so a value the server would refuse
raises :class:`~faktory_core.client.errors.JobError` where the job is built."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from faktory_core import options
from faktory_core.client.errors import JobError
from faktory_core.timefmt import format_ts

__all__ = ["with_options"]

_Seconds = float | timedelta


def _seconds(value: _Seconds) -> Any:
    return value.total_seconds() if isinstance(value, timedelta) else value


def _instant(value: datetime | str) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise JobError("expires_at must be timezone-aware (e.g. datetime.now(UTC)), not naive")
        return format_ts(value.timestamp())
    return value


def with_options(
    custom: Mapping[str, Any] | None,
    *,
    unique_for: _Seconds | None = None,
    unique_until: str | None = None,
    expires_in: _Seconds | None = None,
    expires_at: datetime | str | None = None,
) -> Mapping[str, Any] | None:
    """``custom`` with the options given added; every Enterprise option in it checked."""
    given = {
        options.UNIQUE_FOR: None if unique_for is None else _seconds(unique_for),
        options.UNIQUE_UNTIL: unique_until,
        options.EXPIRES_IN: None if expires_in is None else _seconds(expires_in),
        options.EXPIRES_AT: None if expires_at is None else _instant(expires_at),
    }
    added = {key: value for key, value in given.items() if value is not None}
    if not added and not (isinstance(custom, Mapping) and any(k in custom for k in given)):
        return custom
    if not isinstance(custom, Mapping | None):
        return custom  # Job's own check explains what custom must be
    twice = sorted(set(added) & set(custom or {}))
    if twice:
        raise JobError(f"{', '.join(twice)} given both as a keyword and in custom")
    if unique_until is not None and unique_for is None:
        raise JobError("unique_until needs unique_for")
    merged = {**(custom or {}), **added}
    try:
        options.uniqueness(merged)
        options.expires_at(merged)
        options.expires_in(merged)
    except options.OptionError as exc:
        raise JobError(str(exc)) from None
    return merged
