"""Batch storage on the memory store (the batch plugin's ``BatchStorage`` protocol).

State lives in one :class:`BatchState`, attached with ``MemoryStore.extension("batch", ...)``
so it is snapshotted and journaled. Each change is one uninterrupted step: the state change,
and the callback jobs it makes due, are applied before the first ``await``; the journal then
gets the batch record and the store's own push record of each callback in one group commit.
On replay the batch record changes the state only (the push records put the callbacks back).
"""

from __future__ import annotations

import heapq
import json
from typing import Any

from faktory_core.batchstate import BatchState
from faktory_core.model import job_from_dict
from faktory_core.plugins.memory_store.store import MemoryStore, _encode, job_fields
from faktory_core.timefmt import format_ts

__all__ = ["BatchState", "MemoryBatches", "build"]

EXTENSION = "batch"


class MemoryBatches:
    """``BatchStorage`` on a :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.state = BatchState()
        self.handle = store.extension(EXTENSION, self.state)

    async def _change(self, op: str, *args: Any) -> None:
        """Apply ``op`` live (callbacks enqueued), then journal it with their pushes."""
        self.handle.check()
        pushed: list[Any] = []

        def emit(text: str) -> None:
            data = json.loads(text)
            stamp = format_ts(args[-1])
            job = job_from_dict(data).stamped(data.get("created_at") or stamp, stamp)
            self.store._enqueue(job)
            pushed.append(job_fields(job))

        getattr(self.state, "op_" + op)(*args, emit=emit)
        records = [("X", EXTENSION, op, list(args)), *(("j", job) for job in pushed)]
        await _write(self.store, [_encode(record) for record in records])

    async def create(self, spec: Any, now: float) -> bool:
        if spec.parent_bid and self.state.get(spec.parent_bid, now) is None:
            return False
        record = {
            "bid": spec.bid,
            "parent_bid": spec.parent_bid,
            "description": spec.description,
            "created_at": spec.created_at,
            "created": spec.created,
            "callbacks": dict(spec.callbacks),
        }
        await self._change("new", record, now)
        return True

    async def open(self, bid: str, now: float) -> bool:
        return self.state.get(bid, now) is not None

    async def commit(self, bid: str, now: float) -> bool:
        if self.state.get(bid, now) is None:
            return False
        await self._change("commit", bid, now)
        return True

    async def add_member(self, bid: str, jid: str, now: float) -> bool:
        rec = self.state.get(bid, now)
        if rec is None:
            return False
        if jid not in rec["pending"]:
            await self._change("add", bid, jid, now)
        return True

    async def member_done(self, bid: str, jid: str, ok: bool, now: float) -> None:
        rec = self.state.get(bid, now)
        if rec is None:
            return
        if jid in rec["pending"] or (jid in rec["failed"]) != (not ok):
            await self._change("done", bid, jid, ok, now)

    async def callback_done(self, bid: str, kind: str, now: float) -> None:
        rec = self.state.get(bid, now)
        if rec is not None and kind in rec["callbacks"] and rec["st"][kind] == "1":
            await self._change("cb", bid, kind, now)

    async def status(self, bid: str, now: float) -> dict[str, Any] | None:
        rec = self.state.get(bid, now)
        return None if rec is None else self.state.status(rec)

    async def members(self, bid: str, now: float, limit: int) -> tuple[list[str], list[str]] | None:
        rec = self.state.get(bid, now)
        if rec is None:
            return None
        return heapq.nsmallest(limit, rec["pending"]), heapq.nsmallest(limit, rec["failed"])

    async def recent(self, now: float, limit: int) -> list[dict[str, Any]]:
        alive = [rec for rec in self.state.batches.values() if rec["x"] > now]
        alive.sort(key=lambda rec: rec["created"], reverse=True)
        return [self.state.status(rec) for rec in alive[:limit]]


async def _write(store: MemoryStore, payloads: list[bytes]) -> None:
    """The records of one change: one group commit (``always``), else written at once."""
    journal = store._journal
    if journal is None:
        return
    if journal.grouped:
        for payload in payloads:
            journal.append(payload)
        await journal.commit()
    else:
        for payload in payloads:
            journal.write_now(payload)
    if journal.size >= store.settings.compact_bytes:
        store._maybe_compact()


def build(store: MemoryStore) -> MemoryBatches:
    return MemoryBatches(store)
