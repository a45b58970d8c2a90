"""Queue throttles' slots on the memory store (``ThrottleStorage``, plugins/throttle).

Slots are a feature extension of the store (``MemoryStore.extension``): taking and freeing one
is journaled, so after a restart the slots held before are still held, until their jobs are
ACKed or FAILed or their ``timeout`` passes (expiry is an absolute time: a replayed slot expires
when the live one would have). FLUSH frees them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio

from faktory_core.plugins.memory_store.extensions import Extension
from faktory_core.plugins.memory_store.store import MemoryStore

__all__ = ["MemoryThrottle"]


class MemoryThrottle:
    def __init__(self, store: MemoryStore) -> None:
        self._clock = store._clock
        self._slots: dict[str, dict[str, float]] = {}  # group → jid → expiry
        self._owner: dict[str, str] = {}  # jid → group
        self._released: dict[str, anyio.Event] = {}  # queue → event of its waiters
        self._handle: Extension = store.extension("throttle", self)

    def _live(self, group: str, now: float) -> dict[str, float]:
        slots = self._slots.setdefault(group, {})
        for jid in [jid for jid, expires in slots.items() if expires <= now]:
            del slots[jid]
            self._owner.pop(jid, None)
        return slots

    async def taken(self, groups: Sequence[str], now: float) -> list[int]:
        return [len(self._live(group, now)) for group in groups]

    async def take(self, group: str, jid: str, limit: int, now: float, expires: float) -> bool:
        if len(self._live(group, now)) >= limit:
            return False
        self._handle.check()
        self._take(group, jid, expires)
        await self._handle.log("t", group, jid, expires)
        return True

    def _take(self, group: str, jid: str, expires: float) -> None:
        self._slots.setdefault(group, {})[jid] = expires
        self._owner[jid] = group

    async def release(self, jid: str) -> bool:
        if jid not in self._owner:
            return False
        self._handle.check()
        group = self._release(jid)
        await self._handle.log("r", jid)
        event = self._released.pop(group.split("|", 1)[0], None)
        if event is not None:
            event.set()
        return True

    def _release(self, jid: str) -> str:
        group = self._owner.pop(jid)
        self._slots.get(group, {}).pop(jid, None)
        return group

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

    # -- ExtensionState -------------------------------------------------------------------------
    def dump(self) -> Any:
        return {group: dict(slots) for group, slots in self._slots.items() if slots}

    def load(self, data: Any) -> None:
        self.clear()
        for group, slots in data.items():
            for jid, expires in slots.items():
                self._take(group, jid, expires)

    def apply(self, op: str, args: tuple[Any, ...]) -> None:
        if op == "t":
            self._take(*args)
        elif op == "r":
            if args[0] in self._owner:
                self._release(args[0])
        else:
            raise ValueError(f"unknown throttle record {op!r}")

    def clear(self) -> None:
        self._slots.clear()
        self._owner.clear()
