"""The order a worker asks for its queues in: strict, or shuffled by weight on every FETCH.

FETCH takes jobs from the first non-empty queue it names, so the order *is* the priority.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

import attrs

from faktory_core.model import valid_queue_name

__all__ = ["QueueOrder", "Strict", "Weighted", "queue_order"]


def _check_names(names: Sequence[str]) -> None:
    if not names:
        raise ValueError("a worker needs at least one queue")
    for name in names:
        if not valid_queue_name(name):
            raise ValueError(f"invalid queue name {name!r}")


@attrs.frozen
class Strict:
    """Always the same order: a queue is served only when those before it are empty."""

    queues: tuple[str, ...]

    def __attrs_post_init__(self) -> None:
        _check_names(self.queues)

    def order(self) -> Sequence[str]:
        return self.queues


@attrs.frozen
class Weighted:
    """A fresh order per FETCH in which each queue comes first with probability
    weight / total (Efraimidis-Spirakis: sort by ``u ** (1 / weight)``, u uniform in [0, 1))."""

    weights: tuple[tuple[str, float], ...]
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_names([name for name, _ in self.weights])
        for name, weight in self.weights:
            if not weight > 0:
                raise ValueError(f"queue {name!r} needs a positive weight, not {weight!r}")

    def order(self) -> Sequence[str]:
        draw = self.random
        keyed = [(draw() ** (1.0 / weight), name) for name, weight in self.weights]
        keyed.sort(reverse=True)
        return [name for _, name in keyed]


QueueOrder = Strict | Weighted


def queue_order(queues: Sequence[str] | Mapping[str, float]) -> QueueOrder:
    """A list means strict order; a mapping of name to weight means weighted."""
    if isinstance(queues, Mapping):
        return Weighted(tuple((name, float(weight)) for name, weight in queues.items()))
    if isinstance(queues, str):
        return Strict((queues,))
    return Strict(tuple(queues))
