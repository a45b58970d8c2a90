"""The Store: the one seam every storage backend implements.

Every method is a coroutine. Each method that moves a job does so in one atomic step (one Lua
script or MULTI/EXEC on Redis; one uninterrupted stretch of code in the memory store), so a
server stopped at any instant loses no job, and two servers sharing a store never move one job
twice. The contract suite in :mod:`faktory_core.testing` pins down the behaviour; run it against
any new store.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from faktory_core.model import (
    Job,
    JobFilter,
    Reservation,
    SetEntry,
    SortedSet,
    WorkerInfo,
    WorkerState,
)

__all__ = ["HISTORY_DAYS", "DayCount", "FailureOutcome", "Store", "StoreStats"]

#: Daily processed/failed counters are kept this many days (decisions.md).
HISTORY_DAYS = 180


@attrs.frozen
class FailureOutcome:
    """Where a failed job goes: ``destination`` None means it is dropped (``retry: 0``)."""

    job: Job
    destination: SortedSet | None
    score: float = 0.0


@attrs.frozen
class StoreStats:
    """Everything INFO needs from the store, read in one round trip without walking sets."""

    queues: dict[str, int]
    scheduled: int
    retries: int
    dead: int
    working: int
    processed: int
    failures: int
    workers: int
    #: Optional, store-specific details (the memory store: its journal's size, fsync policy,
    #: last compaction), shown as INFO's ``server.store`` when not empty.
    details: Mapping[str, Any] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class DayCount:
    day: str  # YYYY-MM-DD, UTC
    processed: int
    failures: int


@runtime_checkable
class Store(Protocol):
    """Storage for queues, job sets, reservations, counters, key-values and workers."""

    #: Short name shown on the debug page ("memory", "redis").
    name: str

    # -- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect or load saved state. Raises a clear error rather than starting empty."""

    async def close(self) -> None:
        """Save state (memory store) and release connections."""

    async def flush(self) -> None:
        """Empty everything that is data: queues, registry, paused list, sets, reservations,
        counters, kv. Workers' records stay, with their quiet/terminate state: they describe
        live processes (Faktory keeps them in memory, where FLUSH never reaches), and with
        several servers on one store none of them could re-register the others' workers."""

    # -- queues ---------------------------------------------------------------------------------
    async def push(self, job: Job) -> None:
        """Append a job (``enqueued_at`` already set) to its queue, registering the queue."""

    async def push_many(self, jobs: Sequence[Job]) -> None:
        """``push`` each job, in order: PUSHB's jobs that no middleware looks at, up to 1,000
        at a time. A store that can does it in one step rather than one round trip a job.
        When it raises, the caller reports every one of these jobs as failed."""

    async def fetch(
        self, queues: Sequence[str], wid: str, now: float, timeout: float
    ) -> Reservation | None:
        """Pop the oldest job of the first non-empty, unpaused queue, in argument order, and
        reserve it for ``job.reservation_seconds`` -- pop and reservation in one step.

        When nothing is available, wait up to ``timeout`` seconds (of the store's clock) and
        wake as soon as a job is pushed to one of the queues; no busy polling.

        A ``wid`` whose worker record is quiet or terminated gets nothing (§3.4): the call
        reserves no job, waits out ``timeout`` and returns None. The state is read in the same
        step as the pop (a Redis store: in the fetch script), so FETCH costs one round trip;
        a wid without a record, or ``""``, fetches normally.
        """

    async def unreserve(self, jid: str) -> bool:
        """Put a reserved job back at the head of its queue (the next to be fetched)."""

    async def release(self, jid: str) -> bool:
        """Drop a reservation and its job without counting it (fetch middleware's DISCARD)."""

    async def queue_names(self) -> list[str]:
        """Registered queues, sorted by name."""

    async def queue_size(self, name: str) -> int: ...

    async def queue_page(self, name: str, offset: int, count: int) -> list[Job]:
        """Jobs of a queue newest first (the web UI's order)."""

    async def queue_delete(self, name: str, jids: Collection[str]) -> int:
        """Delete the queued jobs with these jids; returns how many were removed."""

    async def queue_oldest(self, name: str) -> Job | None:
        """The next job to be fetched (for QUEUE LATENCY), without removing it."""

    async def pause(self, names: Collection[str]) -> None:
        """Pause the named queues that exist (unknown names are ignored)."""

    async def resume(self, names: Collection[str]) -> None: ...

    async def remove(self, names: Collection[str]) -> None:
        """Delete existing queues with their jobs, unregister and unpause them."""

    async def paused(self) -> set[str]: ...

    # -- sorted sets (scheduled, retries, dead) ---------------------------------------------------
    async def set_add(self, which: SortedSet, score: float, job: Job) -> None: ...

    async def set_size(self, which: SortedSet) -> int: ...

    async def set_page(
        self, which: SortedSet, offset: int, count: int, *, reverse: bool = False
    ) -> list[SetEntry]:
        """Entries by score (ascending, or descending with ``reverse``), by index."""

    async def set_get(self, which: SortedSet, key: str) -> SetEntry | None:
        """One entry by its :attr:`SetEntry.key`."""

    async def set_scan(
        self, which: SortedSet, where: JobFilter, cursor: str, count: int
    ) -> tuple[list[SetEntry], str]:
        """Up to ``count`` matching entries examined after ``cursor`` ("" to start).

        Returns the matches and the next cursor ("" when the walk is complete). A scan may return
        fewer than ``count`` matches (even none) before it is complete.
        """

    async def set_remove(self, which: SortedSet, keys: Collection[str]) -> int: ...

    async def set_clear(self, which: SortedSet) -> int: ...

    async def set_enqueue(self, which: SortedSet, keys: Collection[str], now: float) -> int:
        """Move entries to their queues with a fresh ``enqueued_at``."""

    async def set_kill(self, which: SortedSet, keys: Collection[str], score: float) -> int:
        """Move entries to ``dead`` at ``score``."""

    async def enqueue_due(self, which: SortedSet, now: float, limit: int) -> int:
        """Move up to ``limit`` entries with score ≤ now to their queues."""

    async def purge(self, which: SortedSet, now: float) -> int:
        """Delete every entry with score ≤ now (the dead set's expiry)."""

    # -- reservations ---------------------------------------------------------------------------
    async def reservation(self, jid: str) -> Reservation | None: ...

    async def reservations(self) -> list[Reservation]: ...

    async def working_size(self) -> int: ...

    async def ack(self, jid: str, now: float) -> Reservation | None:
        """Release a reservation and count one processed job; None if it was not reserved."""

    async def settle_failure(
        self, jid: str, outcome: FailureOutcome, now: float, *, expired_only: bool = False
    ) -> bool:
        """Release the reservation, count processed and failed, and place the job.

        False (and nothing changed) when the jid is no longer reserved -- or, with
        ``expired_only``, when its reservation has been extended past ``now``.
        """

    async def extend(self, jid: str, until: float) -> bool:
        """Push a reservation's expiry out to ``until`` (never shortens it)."""

    async def expired(self, now: float, limit: int) -> list[Reservation]:
        """Reservations whose expiry is ≤ now, oldest first (not removed)."""

    # -- counters and history -------------------------------------------------------------------
    async def history(self, days: int, today: float) -> list[DayCount]:
        """Daily counts for the ``days`` UTC days ending with ``today``, oldest first."""

    async def stats(self) -> StoreStats: ...

    # -- key-value space ------------------------------------------------------------------------
    async def kv_get(self, key: str) -> bytes | None: ...

    async def kv_set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def kv_claim(self, key: str, value: bytes, ttl: float) -> bool:
        """Set ``key`` only if absent (atomically); True if this call set it."""

    async def kv_delete(self, key: str) -> bool: ...

    # -- workers --------------------------------------------------------------------------------
    async def worker_connect(self, info: WorkerInfo) -> WorkerInfo:
        """Register a connection of worker ``info.wid`` (creating the record if new)."""

    async def worker_disconnect(self, wid: str) -> None:
        """One connection of ``wid`` closed; the record goes with its last connection."""

    async def worker_beat(
        self, wid: str, rss_kb: int, requested: WorkerState | None, now: float
    ) -> WorkerInfo | None:
        """Record a heartbeat; None for an unknown wid."""

    async def worker_signal(self, wids: Collection[str] | None, state: WorkerState) -> int:
        """Move workers (all when ``wids`` is None) forward to ``state``."""

    async def worker_get(self, wid: str) -> WorkerInfo | None: ...

    async def workers(self) -> list[WorkerInfo]: ...

    async def reap_workers(self, older_than: float) -> list[str]:
        """Remove records whose last heartbeat is before ``older_than``; returns their wids."""
