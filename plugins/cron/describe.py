"""Readable descriptions of common crontab expressions, for the web UI and ``cron check``.

:func:`describe` knows the shapes people write most (every minute, every N minutes, hourly at a
minute, daily, weekly on named days, monthly, yearly) and returns None for anything else, so
the caller shows the raw expression instead of a wrong sentence.
"""

from __future__ import annotations

import re

__all__ = ["NAMED_SCHEDULES", "describe", "describe_or_raw"]

#: The ``@name`` forms accepted in ``schedule``, as the 5-field expressions they stand for.
NAMED_SCHEDULES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_DAY_NAMES = {name[:3].lower(): index for index, name in enumerate(_DAYS)}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_NAMES = {name[:3].lower(): index + 1 for index, name in enumerate(_MONTHS)}
_NUMBER = re.compile(r"\d{1,2}\Z", re.ASCII)
_EVERY = re.compile(r"\*/(\d{1,2})\Z", re.ASCII)
_RANGE = re.compile(r"(\w+)-(\w+)\Z", re.ASCII)


def _number(text: str, names: dict[str, int] | None = None) -> int | None:
    if _NUMBER.match(text):
        return int(text)
    if names is not None:
        return names.get(text.lower())
    return None


def _days(field: str) -> str | None:
    """``1-5`` → "Monday to Friday", ``1,3`` → "Monday and Wednesday"; None if unusual."""
    found = _RANGE.match(field)
    if found:
        first, last = _number(found[1], _DAY_NAMES), _number(found[2], _DAY_NAMES)
        if first is None or last is None or not 0 <= first < last <= 7:
            return None
        return f"{_DAYS[first % 7]} to {_DAYS[last % 7]}"
    numbers = [_number(part, _DAY_NAMES) for part in field.split(",")]
    if any(n is None or n > 7 for n in numbers):
        return None
    names = [_DAYS[n % 7] for n in numbers if n is not None]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _at(minute: int, hour: int) -> str:
    return f"at {hour:02d}:{minute:02d}"


def _minutes_only(minute: str) -> str | None:
    """Expressions of the form ``<minute> * * * *``."""
    if minute == "*":
        return "every minute"
    every = _EVERY.match(minute)
    if every:
        step = int(every[1])
        return "every minute" if step == 1 else f"every {step} minutes"
    value = _number(minute)
    if value is not None and value < 60:
        return "every hour, on the hour" if value == 0 else f"every hour at minute {value}"
    return None


def describe(expression: str) -> str | None:
    """A sentence for ``expression`` (5 fields or an ``@name``), or None when it is unusual."""
    expression = NAMED_SCHEDULES.get(expression.strip().lower(), expression)
    fields = expression.split()
    if len(fields) != 5:
        return None
    minute, hour, day, month, weekday = fields
    if (hour, day, month, weekday) == ("*", "*", "*", "*"):
        return _minutes_only(minute)
    m = _number(minute)
    if m is None or m > 59:
        return None
    every_hours = _EVERY.match(hour)
    if every_hours and (day, month, weekday) == ("*", "*", "*"):
        return f"every {int(every_hours[1])} hours at minute {m}"
    h = _number(hour)
    if h is None or h > 23:
        return None
    at = _at(m, h)
    if (day, month) == ("*", "*"):
        if weekday == "*":
            return f"every day {at}"
        days = _days(weekday)
        return f"every {days} {at}" if days else None
    if weekday != "*":
        return None
    d = _number(day)
    if d is None or not 1 <= d <= 31:
        return None
    if month == "*":
        return f"on the {_ordinal(d)} of every month {at}"
    mo = _number(month, _MONTH_NAMES)
    if mo is None or not 1 <= mo <= 12:
        return None
    return f"every year on {d} {_MONTHS[mo - 1]} {at}"


def describe_or_raw(expression: str) -> str:
    """:func:`describe`, falling back to the expression itself."""
    return describe(expression) or expression
