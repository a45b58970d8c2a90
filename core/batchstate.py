"""The batch rules as a state machine of plain JSON values (docs/batches.md).

:class:`BatchState` holds every batch by bid and applies each change (``op_*``) with the rules of
``faktory_core.plugins.batch.storage``: members counted at push, the first ACK or FAIL settling
them, callbacks enqueued once — through ``emit`` — when their batch and its children allow.
It does no I/O: the memory store journals its changes, and the testing modes
(:mod:`faktory_core.testing.jobs`) run batches with it without a server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = [
    "FINISHED_TTL",
    "RETENTION",
    "SWEEP_EVERY",
    "UNCOMMITTED_TTL",
    "BatchState",
    "Emit",
    "no_such_batch",
    "status_reply",
]

#: Seconds an uncommitted batch lives (Faktory Enterprise: 30 minutes).
UNCOMMITTED_TTL = 30 * 60
#: Seconds a committed batch stays readable after its creation, at least.
RETENTION = 7 * 24 * 3600
#: Seconds a batch stays readable after its last change, at least.
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
        return status_reply(
            bid=rec["bid"],
            parent_bid=rec["parent_bid"],
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


def status_reply(
    *,
    bid: str,
    parent_bid: str,
    description: str,
    created_at: str,
    total: int,
    pending: int,
    failed: int,
    complete_st: str,
    success_st: str,
    committed: bool,
    children: list[str],
    callbacks: dict[str, Any],
) -> dict[str, Any]:
    """``BATCH STATUS``'s hash in Enterprise's key order (``parent_bid`` only when set): one
    shape for every store, whatever record it reads it from."""
    data: dict[str, Any] = {"bid": bid}
    if parent_bid:
        data["parent_bid"] = parent_bid
    data.update(
        description=description,
        created_at=created_at,
        total=total,
        pending=pending,
        failed=failed,
        complete_st=complete_st,
        success_st=success_st,
        committed=committed,
        children=children,
        callbacks=callbacks,
    )
    return data


def no_such_batch(bid: str) -> str:
    """The error text for a bid no batch has (or had, and it expired): ``-ERR <text>``."""
    return f"No such batch {bid}"
