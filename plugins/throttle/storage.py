"""What queue throttles need from a store: slots that expire, taken and freed atomically.

A *group* is what one limit counts: a queue (``concurrency``) or a queue and a worker
(``worker``). Each store implements :class:`ThrottleStorage` in a module of its own and names
it ``"throttle"`` in its ``features`` module (structural: no store imports this plugin).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["FEATURE", "ThrottleStorage"]

FEATURE = "throttle"


@runtime_checkable
class ThrottleStorage(Protocol):
    async def taken(self, groups: Sequence[str], now: float) -> list[int]:
        """Slots held now in each group (expired ones no longer count)."""

    async def take(self, group: str, jid: str, limit: int, now: float, expires: float) -> bool:
        """Hold a slot of ``group`` for ``jid`` until ``expires`` if fewer than ``limit`` are
        held -- check and take in one step, across every server on the store."""

    async def release(self, jid: str) -> bool:
        """Free the slot ``jid`` holds (True), and wake fetches waiting on its group's queue
        (the part of the group before ``|``)."""

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Until a slot of one of ``queues`` is released, or ``timeout`` seconds (of the
        store's clock) pass."""
