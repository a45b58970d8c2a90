"""Queue throttles' slots on the memory store (``ThrottleStorage``, plugins/throttle).

Slots are in memory only, like Faktory Enterprise's leases: after a restart the slots held
before are gone (the jobs still reserved then hold none), so for at most one ``timeout`` a
queue can hand out up to twice its limit. One object per store (shared by servers on it).
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from faktory_core.plugins.memory_store.store import MemoryStore

__all__ = ["MemoryThrottle"]


class MemoryThrottle:
    def __init__(self, store: MemoryStore) -> None:
        self._clock = store._clock
        self._slots: dict[str, dict[str, float]] = {}  # group → jid → expiry
        self._owner: dict[str, str] = {}  # jid → group
        self._released: dict[str, anyio.Event] = {}  # queue → event of its waiters

    def _live(self, group: str, now: float) -> dict[str, float]:
        slots = self._slots.setdefault(group, {})
        for jid in [jid for jid, expires in slots.items() if expires <= now]:
            del slots[jid]
            self._owner.pop(jid, None)
        return slots

    async def taken(self, groups: Sequence[str], now: float) -> list[int]:
        return [len(self._live(group, now)) for group in groups]

    async def take(self, group: str, jid: str, limit: int, now: float, expires: float) -> bool:
        slots = self._live(group, now)
        if len(slots) >= limit:
            return False
        slots[jid] = expires
        self._owner[jid] = group
        return True

    async def release(self, jid: str) -> bool:
        group = self._owner.pop(jid, None)
        if group is None or self._slots.get(group, {}).pop(jid, None) is None:
            return False
        event = self._released.pop(group.split("|", 1)[0], None)
        if event is not None:
            event.set()
        return True

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        event = anyio.Event()
        for queue in queues:
            self._released[queue] = self._released.get(queue) or event
        waited = [self._released[queue] for queue in queues]
        if len(set(map(id, waited))) == 1:
            await self._clock.wait(waited[0], timeout)
            return
        async with anyio.create_task_group() as tg:  # several queues with their own waiters

            async def one(each: anyio.Event) -> None:
                await self._clock.wait(each, timeout)
                tg.cancel_scope.cancel()

            for each in set(waited):
                tg.start_soon(one, each)
