"""The tracking feature's storage on the memory store (``TrackStorage``, plugins/tracking).

Records by jid in last-change order: every change moves a record to the end, and since every
record lives the same ``ttl`` after its last change, the expired ones are always at the front,
dropped there by the next change. Changes are journaled with their ``now`` and replayed through
the same code, so the replayed state is the live one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faktory_core.plugins.memory_store.extensions import Extension
from faktory_core.plugins.memory_store.store import MemoryStore

__all__ = ["MemoryTracking"]

NAME = "track"


class MemoryTracking:
    """Tracking records of one MemoryStore (built once per store by ``features``)."""

    def __init__(self, store: MemoryStore) -> None:
        #: jid → record (state, updated_at, expires, percent?, desc?), oldest change first.
        self._records: dict[str, dict[str, Any]] = {}
        self._handle: Extension = store.extension(NAME, self)

    # -- TrackStorage ---------------------------------------------------------------------------
    async def get(self, jid: str, now: float) -> dict[str, Any] | None:
        record = self._records.get(jid)
        if record is None or record["expires"] <= now:
            return None
        return {key: value for key, value in record.items() if key != "expires"}

    async def set_state(self, jid: str, state: str, now: float, ttl: float) -> None:
        self._handle.check()
        self._set_state(jid, state, now, ttl)
        await self._handle.log("s", jid, state, now, ttl)

    async def set_progress(
        self, jid: str, fields: Mapping[str, Any], now: float, ttl: float
    ) -> bool:
        self._handle.check()
        if not self._set_progress(jid, dict(fields), now, ttl):
            return False
        await self._handle.log("p", jid, dict(fields), now, ttl)
        return True

    # -- changes (live and replayed) ------------------------------------------------------------
    def _touch(self, jid: str, now: float, ttl: float) -> dict[str, Any]:
        self._purge(now)
        record = self._records.pop(jid, None) or {}
        record.update(updated_at=now, expires=now + ttl)
        self._records[jid] = record
        return record

    def _set_state(self, jid: str, state: str, now: float, ttl: float) -> None:
        self._touch(jid, now, ttl)["state"] = state

    def _set_progress(self, jid: str, fields: dict[str, Any], now: float, ttl: float) -> bool:
        record = self._records.get(jid)
        if record is None or record["expires"] <= now:
            return False
        self._touch(jid, now, ttl).update(fields)
        return True

    def _purge(self, now: float) -> None:
        records = self._records
        while records:
            jid = next(iter(records))
            if records[jid]["expires"] > now:
                return
            del records[jid]

    # -- ExtensionState -------------------------------------------------------------------------
    def dump(self) -> Any:
        return [[jid, record] for jid, record in self._records.items()]

    def load(self, data: Any) -> None:
        self._records = {jid: dict(record) for jid, record in data}

    def apply(self, op: str, args: tuple[Any, ...]) -> None:
        if op == "s":
            self._set_state(*args)
        elif op == "p":
            self._set_progress(*args)
        else:
            raise ValueError(f"unknown tracking record {op!r}")

    def clear(self) -> None:
        self._records.clear()
