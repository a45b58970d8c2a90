"""What the unique feature needs from a store: named locks, each held by one jid until an
instant of the server's clock. Each store plugin implements it in a module of its own, named in
its ``features`` table (``faktory_core_feature_storage``); the protocol is structural, so no
store imports this plugin, nor this plugin a store."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["FEATURE", "UniqueLocks"]

#: The name the feature's storage goes by (``faktory_core_feature_storage``).
FEATURE = "unique"


@runtime_checkable
class UniqueLocks(Protocol):
    """Locks named by a uniqueness key (``faktory_core.options.unique_key``).

    A lock is live while ``now < until``; an expired lock is as good as absent. Every method is
    one atomic step, also across servers sharing the store.
    """

    async def acquire(self, key: str, jid: str, now: float, until: float) -> bool:
        """Take ``key`` for ``jid`` until ``until`` unless a live lock holds it; True if taken."""
        ...

    async def release(self, key: str, jid: str, now: float) -> bool:
        """Drop ``key`` if ``jid`` holds it (never a newer holder's lock); True if it was live."""
        ...

    async def holder(self, key: str, now: float) -> str | None:
        """The jid holding a live lock on ``key``, or None."""
        ...
