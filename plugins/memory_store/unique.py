"""Unique-job locks on the memory store (the ``unique`` feature's ``UniqueLocks``).

The locks are a dict key → ``[jid, until]`` kept in the snapshot and the journal through
``MemoryStore.extension``; ``until`` is an instant of the server's clock, passed in by the
caller, so replaying the journal gives the same table. Expired locks are dropped as they are met,
and by a sweep whenever the table has doubled since the last one (amortised O(1) a lock).
"""

from __future__ import annotations

from typing import Any

from faktory_core.plugins.memory_store.store import MemoryStore

__all__ = ["FEATURE", "LockTable", "MemoryUniqueLocks"]

FEATURE = "unique"
#: The table is swept of expired locks when it reaches this size, then twice its live size.
SWEEP_MIN = 1024


class LockTable:
    """The feature's state: every lock, live or expired but not yet swept."""

    def __init__(self) -> None:
        self.locks: dict[str, tuple[str, float]] = {}

    def dump(self) -> Any:
        return {key: [jid, until] for key, (jid, until) in self.locks.items()}

    def load(self, data: Any) -> None:
        self.locks = {key: (str(jid), float(until)) for key, (jid, until) in data.items()}

    def apply(self, op: str, args: tuple[Any, ...]) -> None:
        if op == "lock":
            key, jid, until = args
            self.locks[key] = (jid, until)
        elif op == "unlock":
            self.locks.pop(args[0], None)
        elif op == "sweep":
            now = args[0]
            self.locks = {k: held for k, held in self.locks.items() if held[1] > now}
        else:
            raise ValueError(f"unknown unique-lock operation {op!r}")

    def clear(self) -> None:
        self.locks.clear()

    def live(self, key: str, now: float) -> str | None:
        held = self.locks.get(key)
        return held[0] if held is not None and held[1] > now else None


class MemoryUniqueLocks:
    """``UniqueLocks`` on a MemoryStore: check, change, then journal, with no await between
    the check and the change (one event loop: that is the atomic step)."""

    def __init__(self, store: MemoryStore) -> None:
        self._table = LockTable()
        self._handle = store.extension(FEATURE, self._table)
        self._sweep_at = SWEEP_MIN

    async def acquire(self, key: str, jid: str, now: float, until: float) -> bool:
        if self._table.live(key, now) is not None:
            return False
        await self._change("lock", key, jid, until)
        if len(self._table.locks) >= self._sweep_at:
            await self._change("sweep", now)
            self._sweep_at = max(SWEEP_MIN, 2 * len(self._table.locks))
        return True

    async def release(self, key: str, jid: str, now: float) -> bool:
        held = self._table.locks.get(key)
        if held is None or held[0] != jid:
            return False
        await self._change("unlock", key)
        return held[1] > now

    async def holder(self, key: str, now: float) -> str | None:
        return self._table.live(key, now)

    async def _change(self, op: str, *args: Any) -> None:
        self._handle.check()
        self._table.apply(op, args)
        await self._handle.log(op, *args)
