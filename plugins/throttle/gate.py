"""The throttles' fetch gate (core/gate.py): full queues are skipped, slots taken at FETCH and
freed at ACK, FAIL, reservation expiry -- or after the throttle's ``timeout``."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import attrs

from faktory_core.clock import Clock
from faktory_core.model import Job, Reservation
from faktory_core.plugins.throttle.config import Throttle
from faktory_core.plugins.throttle.storage import ThrottleStorage

__all__ = ["ThrottleGate"]


@attrs.define(eq=False)
class ThrottleGate:
    clock: Clock
    throttles: dict[str, Throttle]
    storage: ThrottleStorage | None = None

    def _store(self) -> ThrottleStorage:
        if self.storage is None:
            raise RuntimeError("throttles are not started")
        return self.storage

    def limits(self, queue: str) -> bool:
        """Whether ``queue`` has a throttle (core/gate.py: the others skip the gate)."""
        return queue in self.throttles

    async def closed(self, queues: Sequence[str], wid: str) -> Collection[str]:
        limited = [self.throttles[name] for name in queues if name in self.throttles]
        if not limited:
            return ()
        groups = [throttle.group(wid) for throttle in limited]
        held = await self._store().taken(groups, self.clock.now())
        return {t.queue for t, count in zip(limited, held, strict=True) if count >= t.limit}

    async def admit(self, reservation: Reservation) -> bool:
        throttle = self.throttles.get(reservation.job.queue)
        if throttle is None:
            return True
        now = self.clock.now()
        group = throttle.group(reservation.wid)
        jid = reservation.job.jid
        return await self._store().take(group, jid, throttle.limit, now, now + throttle.timeout)

    async def release(self, job: Job) -> None:
        if job.queue in self.throttles:
            await self._store().release(job.jid)

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        groups = [name for name in queues if name in self.throttles]
        await self._store().wait(groups, timeout)
