"""Batch storage on the memory store (the batch plugin's ``BatchStorage`` protocol).

State lives in one :class:`BatchState`, attached with ``MemoryStore.extension("batch", ...)``
so it is snapshotted and journaled. Each change is one uninterrupted step: the state change,
and the callback jobs it makes due, are applied before the first ``await``; the journal then
gets the batch record and the store's own push record of each callback in one group commit.
On replay the batch record changes the state only (the push records put the callbacks back).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from faktory_core.model import job_from_dict
from faktory_core.plugins.memory_store.store import MemoryStore, _encode
from faktory_core.timefmt import format_ts

__all__ = ["BatchState", "MemoryBatches", "build"]

EXTENSION = "batch"
UNCOMMITTED_TTL = 30 * 60
RETENTION = 7 * 24 * 3600
FINISHED_TTL = 30 * 60
#: Batches created between two sweeps of the expired ones.
SWEEP_EVERY = 256

Emit = Callable[[str], None]


def _alive(record: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    return record if record is not None and record["x"] > now else None


class BatchState:
    """Every batch by bid: plain dicts of JSON values, pending/failed as sets."""

    def __init__(self) -> None:
        self.batches: dict[str, dict[str, Any]] = {}
        self.created = 0

    # -- ExtensionState ---------------------------------------------------------------------
    def dump(self) -> Any:
        return {
            bid: {**rec, "pending": sorted(rec["pending"]), "failed": sorted(rec["failed"])}
            for bid, rec in self.batches.items()
        }

    def load(self, data: Any) -> None:
        self.batches = {
            bid: {**rec, "pending": set(rec["pending"]), "failed": set(rec["failed"])}
            for bid, rec in (data or {}).items()
        }

    def clear(self) -> None:
        self.batches.clear()

    def apply(self, op: str, args: tuple[Any, ...]) -> None:
        getattr(self, "op_" + op)(*args, emit=None)

    # -- the changes (live and replayed) ----------------------------------------------------
    def get(self, bid: str, now: float) -> dict[str, Any] | None:
        return _alive(self.batches.get(bid), now)

    def op_new(self, spec: dict[str, Any], now: float, emit: Emit | None) -> None:
        self.created += 1
        if self.created % SWEEP_EVERY == 0:
            self.sweep(now)
        self.batches[spec["bid"]] = {
            **spec,
            "x": spec["created"] + UNCOMMITTED_TTL,
            "committed": False,
            "total": 0,
            "pending": set(),
            "failed": set(),
            "st": {"complete": "", "success": ""},
            "children": [],
        }
        parent = self.get(spec["parent_bid"], now) if spec["parent_bid"] else None
        if parent is not None:
            parent["children"].append(spec["bid"])

    def op_commit(self, bid: str, now: float, emit: Emit | None) -> None:
        rec = self.batches[bid]
        rec["committed"] = True
        self._touch(rec, now)
        self.check(bid, now, emit)

    def op_add(self, bid: str, jid: str, now: float, emit: Emit | None) -> None:
        rec = self.batches[bid]
        if jid not in rec["pending"]:
            rec["pending"].add(jid)
            rec["total"] += 1

    def op_done(self, bid: str, jid: str, ok: bool, now: float, emit: Emit | None) -> None:
        rec = self.batches[bid]
        rec["pending"].discard(jid)
        if ok:
            rec["failed"].discard(jid)
        else:
            rec["failed"].add(jid)
        if rec["committed"]:
            self._touch(rec, now)
        self.check(bid, now, emit)

    def op_cb(self, bid: str, kind: str, now: float, emit: Emit | None) -> None:
        rec = self.batches[bid]
        rec["st"][kind] = "2"
        self._touch(rec, now)
        self.check(bid, now, emit)

    # -- rules ------------------------------------------------------------------------------
    def _touch(self, rec: dict[str, Any], now: float) -> None:
        rec["x"] = max(rec["x"], rec["created"] + RETENTION, now + FINISHED_TTL)

    def _children(self, rec: dict[str, Any], now: float) -> list[dict[str, Any]]:
        found = (self.get(bid, now) for bid in rec["children"])
        return [child for child in found if child is not None]

    def _finished(self, rec: dict[str, Any], kind: str, now: float) -> bool:
        if kind in rec["callbacks"]:
            return bool(rec["st"][kind] == "2")
        return self._due(rec, kind, now)

    def _due(self, rec: dict[str, Any], kind: str, now: float) -> bool:
        if not rec["committed"] or rec["pending"]:
            return False
        if kind == "success" and (rec["failed"] or self._complete_open(rec)):
            return False
        return all(self._finished(child, kind, now) for child in self._children(rec, now))

    def _complete_open(self, rec: dict[str, Any]) -> bool:
        """A complete callback not ACKed yet holds success back."""
        return "complete" in rec["callbacks"] and rec["st"]["complete"] != "2"

    def check(self, bid: str, now: float, emit: Emit | None) -> None:
        """Enqueue the callbacks of ``bid`` now due, then look at its ancestors."""
        rec = self.get(bid, now)
        while rec is not None:
            for kind in ("complete", "success"):
                job = rec["callbacks"].get(kind)
                if job is not None and rec["st"][kind] == "" and self._due(rec, kind, now):
                    rec["st"][kind] = "1"
                    if emit is not None:
                        emit(job)
            rec = self.get(rec["parent_bid"], now) if rec["parent_bid"] else None

    def sweep(self, now: float) -> None:
        for bid in [bid for bid, rec in self.batches.items() if rec["x"] <= now]:
            del self.batches[bid]

    def status(self, rec: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {"bid": rec["bid"]}
        if rec["parent_bid"]:
            data["parent_bid"] = rec["parent_bid"]
        data.update(
            description=rec["description"],
            created_at=rec["created_at"],
            total=rec["total"],
            pending=len(rec["pending"]),
            failed=len(rec["failed"]),
            complete_st=rec["st"]["complete"],
            success_st=rec["st"]["success"],
            committed=rec["committed"],
            children=list(rec["children"]),
            callbacks={kind: json.loads(job) for kind, job in rec["callbacks"].items()},
        )
        return data


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
            pushed.append(job.to_dict())

        getattr(self.state, "op_" + op)(*args, emit=emit)
        records = [("X", EXTENSION, op, list(args)), *(("p", job) for job in pushed)]
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
