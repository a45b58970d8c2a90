"""``[throttles]`` from conf.d (enterprise.md §6), checked whole at start-up and on SIGHUP.

::

    [throttles]
    instagram = { concurrency = 4, timeout = 60 }   # at most 4 running across the cluster
    bulk = { worker = 5, timeout = 60 }             # at most 5 running per worker process
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from faktory_core.model import valid_queue_name

__all__ = ["Throttle", "ThrottleConfigError", "parse_throttles"]

TABLE = "throttles"
_KINDS = ("concurrency", "worker")


class ThrottleConfigError(ValueError):
    """A ``[throttles]`` entry the server cannot use; the message names it and the field."""


@attrs.frozen
class Throttle:
    queue: str
    limit: int
    #: True: ``worker`` (per worker process); False: ``concurrency`` (cluster-wide).
    per_worker: bool
    timeout: float

    @property
    def kind(self) -> str:
        return f"{self.limit} per worker" if self.per_worker else f"{self.limit} concurrent"

    def group(self, wid: str) -> str:
        return f"{self.queue}|{wid}" if self.per_worker else self.queue


def _entry(queue: str, raw: Any) -> Throttle:
    where = f"[throttles] {queue!r}"
    if not valid_queue_name(queue):
        raise ThrottleConfigError(f"{where}: not a valid queue name")
    if not isinstance(raw, Mapping):
        raise ThrottleConfigError(f"{where}: expected {{ concurrency = N, timeout = S }}")
    unknown = sorted(set(raw) - {*_KINDS, "timeout"})
    if unknown:
        raise ThrottleConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kinds = [kind for kind in _KINDS if kind in raw]
    if len(kinds) != 1:
        raise ThrottleConfigError(f"{where}: give exactly one of concurrency or worker")
    limit = raw[kinds[0]]
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ThrottleConfigError(f"{where}: {kinds[0]} must be a whole number ≥ 1, not {limit!r}")
    timeout = raw.get("timeout")
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ThrottleConfigError(f"{where}: timeout (seconds > 0) is required, not {timeout!r}")
    return Throttle(queue, limit, kinds[0] == "worker", float(timeout))


def parse_throttles(toml: Mapping[str, Any]) -> dict[str, Throttle]:
    """Queue → throttle from the merged conf.d TOML; ThrottleConfigError for any bad entry."""
    table = toml.get(TABLE, {})
    if not isinstance(table, Mapping):
        raise ThrottleConfigError("[throttles] must be a table of queue = { ... } entries")
    return {queue: _entry(queue, raw) for queue, raw in table.items()}
