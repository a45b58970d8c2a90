"""Enterprise job options in ``custom``: reading and checking them, and the uniqueness key.

One module for the server plugins (``unique``, ``expiring``), the client's ``Job`` keywords and
the testing modes, so the three agree on what a valid value is (enterprise.md §3, §4):

- ``unique_for``: seconds, any number > 0 (``0.5`` works), at most :data:`MAX_SECONDS`; not a
  string, not a bool.
- ``unique_until``: ``"success"`` (the default) or ``"start"``.
- ``expires_at``: RFC 3339 text in any offset, nanoseconds allowed.
- ``expires_in``: seconds (a number or numeric text) > 0, at most :data:`MAX_SECONDS`; turned into
  ``expires_at`` at PUSH. When both are given, ``expires_at`` wins.

A bad value raises :class:`OptionError` (a ``ValueError``) whose text the server answers as
``-ERR <text>`` and the client raises as a ``JobError``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from faktory_core.timefmt import BadTimestamp, parse_ts

__all__ = [
    "EXPIRES_AT",
    "EXPIRES_IN",
    "MAX_SECONDS",
    "UNIQUE_FOR",
    "UNIQUE_UNTIL",
    "UNTIL_START",
    "UNTIL_SUCCESS",
    "OptionError",
    "Uniqueness",
    "expires_at",
    "expires_in",
    "unique_key",
    "uniqueness",
]

UNIQUE_FOR = "unique_for"
UNIQUE_UNTIL = "unique_until"
EXPIRES_AT = "expires_at"
EXPIRES_IN = "expires_in"
UNTIL_SUCCESS = "success"
UNTIL_START = "start"
#: The longest ``unique_for`` / ``expires_in`` accepted: ten years (more is a unit mistake).
MAX_SECONDS = 10 * 365 * 86400
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class OptionError(ValueError):
    """A job option with a value the server refuses; ``str()`` is the reply text."""


@attrs.frozen
class Uniqueness:
    """A job's ``unique_for`` (seconds) and ``unique_until`` policy."""

    seconds: float
    until: str = UNTIL_SUCCESS


def _seconds(name: str, value: Any, *, text_ok: bool) -> float:
    """A number of seconds in (0, MAX_SECONDS]; numeric text only when ``text_ok``."""
    number: Any = value
    if text_ok and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if (
        not isinstance(number, int | float)
        or isinstance(number, bool)
        or not math.isfinite(number)
        or not 0 < number <= MAX_SECONDS
    ):
        raise OptionError(
            f"Invalid value for {name}: expected a number of seconds > 0 and at most "
            f"{MAX_SECONDS}, got {json.dumps(value, default=repr)}"
        )
    return float(number)


def uniqueness(custom: Mapping[str, Any] | None) -> Uniqueness | None:
    """The job's uniqueness, or None when it has no ``unique_for`` (it bypasses the locks)."""
    if not custom or UNIQUE_FOR not in custom:
        return None
    seconds = _seconds(UNIQUE_FOR, custom[UNIQUE_FOR], text_ok=False)
    until = custom.get(UNIQUE_UNTIL, UNTIL_SUCCESS)
    if until not in (UNTIL_SUCCESS, UNTIL_START):
        raise OptionError(
            f'Invalid value for {UNIQUE_UNTIL}: expected "{UNTIL_SUCCESS}" or "{UNTIL_START}", '
            f"got {json.dumps(until, default=repr)}"
        )
    return Uniqueness(seconds, until)


def expires_at(custom: Mapping[str, Any] | None) -> float | None:
    """The instant (Unix seconds) ``custom.expires_at`` names, or None when it has none."""
    if not custom or EXPIRES_AT not in custom:
        return None
    value = custom[EXPIRES_AT]
    if isinstance(value, str):
        try:
            return parse_ts(value)
        except BadTimestamp:
            pass
    raise OptionError(
        f"Invalid value for {EXPIRES_AT}: expected an RFC 3339 timestamp such as "
        f'"2030-01-02T15:04:05Z", got {json.dumps(value, default=repr)}'
    )


def expires_in(custom: Mapping[str, Any] | None) -> float | None:
    """``custom.expires_in`` in seconds, or None when it has none."""
    if not custom or EXPIRES_IN not in custom:
        return None
    return _seconds(EXPIRES_IN, custom[EXPIRES_IN], text_ok=True)


def _canonical(value: Any) -> Any:
    """``value`` with integral floats as integers (``1.0`` is ``1``, as Go prints it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


def unique_key(jobtype: str, args: Any, queue: str) -> str:
    """The lock's name for (jobtype, args, queue): a SHA-256 of a canonical JSON, so the order
    of object keys and ``1`` versus ``1.0`` do not make two jobs different (§3.2)."""
    text = _CANONICAL.encode([queue, jobtype, _canonical(args)])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
