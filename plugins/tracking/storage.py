"""What the tracking feature needs from a store: records by jid that expire on the clock.

Each store implements :class:`TrackStorage` in a module of its own
(``plugins/memory_store/tracking.py``, ``plugins/redis_store/tracking.py``) and names it under
``"track"`` in its ``features`` module. The protocol is structural: no store imports this
plugin.

A record is a plain dict: ``state``, ``updated_at`` (Unix seconds), and ``percent``/``desc``
once set. Every change sets ``updated_at = now`` and keeps the record ``ttl`` seconds more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["FEATURE", "TrackStorage"]

#: The name a store's ``features`` module gives this storage.
FEATURE = "track"


@runtime_checkable
class TrackStorage(Protocol):
    async def get(self, jid: str, now: float) -> dict[str, Any] | None:
        """The live record of ``jid`` (None when there is none or it expired by ``now``)."""

    async def set_state(self, jid: str, state: str, now: float, ttl: float) -> None:
        """Create or update the record with ``state``; percent and desc are kept."""

    async def set_progress(
        self, jid: str, fields: Mapping[str, Any], now: float, ttl: float
    ) -> bool:
        """Update ``percent``/``desc`` (the keys present in ``fields``) of a live record, in
        one step; False (nothing stored) when there is no live record."""
