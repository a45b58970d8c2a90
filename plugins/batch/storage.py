"""What the batch plugin needs from a store: the :class:`BatchStorage` protocol.

Each store implements it in a module of its own (``plugins/memory_store/batch.py``,
``plugins/redis_store/batch.py``) and names it in its ``features.py``; the protocol is
structural, so no store imports this plugin. Every method is one atomic step on its store
(one Lua script on Redis, one uninterrupted, journaled step on the memory store), and the
steps that can make a batch finish also enqueue its callback jobs in that same step: a
callback is enqueued exactly once, whichever server runs the step.

The rules every implementation follows (docs/batches.md; enterprise.md §2.7-2.9):

- a member counts once, at push; the first ACK or FAIL of a member takes it out of
  ``pending``; a FAIL puts it in the failed set, an ACK takes it out again;
- ``complete`` is enqueued when the batch is committed, nothing is pending and every child's
  complete callback has been ACKed (a child without one: its own complete condition holds);
- ``success`` likewise, with no failed member, every child's success finished and, when the
  batch has a ``complete`` callback, that callback ACKed;
- a callback is enqueued once: its state goes ``""`` → ``"1"`` (enqueued) → ``"2"`` (ACKed);
- an uncommitted batch is gone :data:`UNCOMMITTED_TTL` seconds after its creation; a
  committed one stays readable until :data:`RETENTION` after creation, and at least
  :data:`FINISHED_TTL` after its last change.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

__all__ = [
    "CALLBACK_KINDS",
    "FINISHED_TTL",
    "RETENTION",
    "UNCOMMITTED_TTL",
    "BatchSpec",
    "BatchStorage",
    "expiry_after_change",
]

#: Seconds an uncommitted batch lives (Faktory Enterprise: 30 minutes).
UNCOMMITTED_TTL = 30 * 60
#: Seconds a committed batch stays readable after its creation, at least.
RETENTION = 7 * 24 * 3600
#: Seconds a batch stays readable after its last change (a callback ACKed), at least.
FINISHED_TTL = 30 * 60
#: The callbacks, in firing order.
CALLBACK_KINDS = ("complete", "success")


@attrs.frozen
class BatchSpec:
    """A new batch as ``BATCH NEW`` defined it, checked.

    ``callbacks`` maps ``complete``/``success`` to the callback job's JSON text (a valid job
    with ``custom._bid``/``_cb``/``_pbid`` set and ``created_at`` stamped, no ``enqueued_at``).
    """

    bid: str
    parent_bid: str
    description: str
    created_at: str
    created: float
    callbacks: dict[str, str]


def expiry_after_change(created: float, now: float) -> float:
    """When a committed batch may be forgotten, given its last change at ``now``."""
    return max(created + RETENTION, now + FINISHED_TTL)


class BatchStorage(Protocol):
    """A store's batches. ``now`` is the server clock's Unix seconds; a bid that is unknown or
    expired is reported (False/None), never raised."""

    async def create(self, spec: BatchSpec, now: float) -> bool:
        """Store a new, uncommitted batch (and link it under its parent). False when the
        parent is unknown or expired (nothing stored)."""

    async def open(self, bid: str, now: float) -> bool:
        """True when the batch exists (reopening changes nothing else: it stays committed)."""

    async def commit(self, bid: str, now: float) -> bool:
        """Mark committed (again: no-op) and enqueue the callbacks now due. False: unknown."""

    async def add_member(self, bid: str, jid: str, now: float) -> bool:
        """Count a pushed member job (once per jid). False: unknown batch."""

    async def member_done(self, bid: str, jid: str, ok: bool, now: float) -> None:
        """A member's ACK (``ok``) or FAIL (retry, death, expired reservation alike)."""

    async def callback_done(self, bid: str, kind: str, now: float) -> None:
        """A callback job of ``kind`` was ACKed: its state becomes ``"2"``; then what it held
        back (``success``, the parent's callbacks) is enqueued when due."""

    async def status(self, bid: str, now: float) -> dict[str, Any] | None:
        """The BATCH STATUS object, plus ``children`` (bids), ``callbacks`` (kind → job dict)
        and ``committed``; None when unknown."""

    async def recent(self, now: float, limit: int) -> list[dict[str, Any]]:
        """The newest batches' :meth:`status` objects, newest first."""

    async def members(self, bid: str, now: float, limit: int) -> tuple[list[str], list[str]] | None:
        """Up to ``limit`` jids of the pending members and up to ``limit`` of the failed ones,
        each list sorted (which ones, past ``limit``, is the store's choice); None when the
        batch is unknown. For the web UI: bounded work, whatever the batch's size."""
