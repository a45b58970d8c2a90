"""Time, injectable: every "now", sleep and timeout in the server comes from a Clock.

:class:`SystemClock` is real time. :class:`FakeClock` (exported by ``faktory_core.testing``)
only moves when a test calls :meth:`FakeClock.advance`, so hours of schedule run in
milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds (wall clock: stored in jobs and sorted-set scores)."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait(self, event: anyio.Event, timeout: float) -> bool:
        """Wait for ``event`` at most ``timeout`` seconds; True if it was set."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    async def wait(self, event: anyio.Event, timeout: float) -> bool:
        with anyio.move_on_after(timeout):
            await event.wait()
        return event.is_set()


class FakeClock:
    """A clock that stands still until :meth:`advance` moves it; sleepers wake in order."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def _timer(self, seconds: float) -> anyio.Event:
        event = anyio.Event()
        if seconds <= 0:
            event.set()
        else:
            heapq.heappush(self._timers, (self._now + seconds, next(self._seq), event))
        return event

    async def sleep(self, seconds: float) -> None:
        await self._timer(seconds).wait()

    async def wait(self, event: anyio.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        timer = self._timer(timeout)
        async with anyio.create_task_group() as tg:

            async def watch(trigger: anyio.Event) -> None:
                await trigger.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(watch, event)
            tg.start_soon(watch, timer)
        return event.is_set()

    async def advance(self, seconds: float, *, step: float | None = None) -> None:
        """Move time forward, waking each due sleeper in deadline order.

        With ``step``, time moves in increments of ``step`` seconds, letting woken tasks run
        between increments (background loops that re-arm their sleep see every tick).
        """
        target = self._now + seconds
        increment = step or seconds
        while True:
            self._now = min(target, self._now + increment) if step else target
            while self._timers and self._timers[0][0] <= self._now:
                _, _, event = heapq.heappop(self._timers)
                event.set()
            # Let woken tasks run (and re-arm their timers) before time moves on.
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            if self._now >= target:
                return
