"""Event counters that plugins bump and the metrics plugin reads at scrape time.

One event loop owns the server, so a counter is a dictionary entry: no lock, no registry call.
A plugin counts an event with ``server.counters.add("expired", queue="default")``; names are
bare (``expired``, ``unique_denied``, ``throttled``, ``batch_callbacks``): the metrics plugin
adds its prefix and suffixes and documents each one.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

__all__ = ["Counters", "Labels"]

#: A counter's labels, sorted by name: ``(("queue", "default"),)``.
Labels = tuple[tuple[str, str], ...]


@attrs.define
class Counters:
    """Named counters with labels, kept for the life of the process."""

    _values: dict[tuple[str, Labels], float] = attrs.field(factory=dict)

    def add(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self._values[key] = self._values.get(key, 0) + amount

    def get(self, name: str, **labels: str) -> float:
        return self._values.get((name, tuple(sorted(labels.items()))), 0)

    def items(self) -> Iterator[tuple[str, Labels, float]]:
        """Every counter as (name, labels, value), a snapshot safe to iterate while adding."""
        for (name, labels), value in list(self._values.items()):
            yield name, labels, value
