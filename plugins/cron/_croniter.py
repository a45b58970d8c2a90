"""The one module that touches croniter (which ships no type information), behind typed functions.

Everything else in the plugin asks two questions, both pure functions of their arguments so
that every server sharing a store computes the same tick instants:

- :func:`check`: is this 5-field expression valid, and does it ever match?
- :func:`next_after`: the first tick strictly after a Unix instant, in a time zone.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from croniter import CroniterError, croniter  # type: ignore[import-untyped]

__all__ = ["ScheduleError", "check", "next_after"]


class ScheduleError(ValueError):
    """croniter refused the expression; the message is croniter's, for a person."""


def _iterator(expression: str, after: float, zone: tzinfo) -> croniter:
    start = datetime.fromtimestamp(after, zone)
    try:
        return croniter(expression, start)
    except CroniterError as exc:
        raise ScheduleError(str(exc)) from None


def next_after(expression: str, after: float, zone: tzinfo) -> float:
    """The first instant (Unix seconds) strictly after ``after`` at which ``expression``, read
    as wall-clock time in ``zone``, fires. Daylight-saving gaps and repeats follow croniter."""
    try:
        found: float = _iterator(expression, after, zone).get_next(float)
    except CroniterError as exc:
        raise ScheduleError(str(exc)) from None
    return found


def check(expression: str, zone: tzinfo, now: float) -> None:
    """Raise :class:`ScheduleError` unless the expression parses and fires at least once in
    croniter's search window (50 years) after ``now``."""
    next_after(expression, now, zone)
