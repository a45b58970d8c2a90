"""The background loops (reference §5.6), each owned by the server's task group.

Every interval comes from :class:`~faktory_core.config.Timings` and every sleep from the clock,
so tests run hours of schedule by advancing a FakeClock. A failing cycle (a store outage) is
logged and the loop carries on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from faktory_core.info import TaskStats
from faktory_core.model import SortedSet

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = ["TASK_NAMES", "run_task", "task_bodies"]

log = logging.getLogger("faktory_core.tasks")

TASK_NAMES = ("Busy", "Dead", "Retries", "Scheduled", "Workers")


def task_bodies(server: Server) -> dict[str, tuple[float, Callable[[], Awaitable[int]]]]:
    """Each task: its interval and one cycle, returning how many jobs or workers it moved."""
    manager, timings = server.manager, server.config.timings

    async def scheduled() -> int:
        return await manager.enqueue_due(SortedSet.SCHEDULED)

    async def retries() -> int:
        return await manager.enqueue_due(SortedSet.RETRIES)

    async def dead() -> int:
        return await manager.store.purge(SortedSet.DEAD, manager.clock.now())

    async def busy() -> int:
        return await manager.reap_reservations()

    async def workers() -> int:
        return await server.reap_workers()

    return {
        "Scheduled": (timings.scheduled_every, scheduled),
        "Retries": (timings.retries_every, retries),
        "Dead": (timings.dead_every, dead),
        "Busy": (timings.busy_every, busy),
        "Workers": (timings.workers_every, workers),
    }


async def run_task(
    name: str,
    every: float,
    body: Callable[[], Awaitable[int]],
    stats: TaskStats,
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    while True:
        await sleep(every)
        started = time.perf_counter()
        try:
            moved = await body()
        except Exception:
            log.exception("background task %s failed; it runs again in %ss", name, every)
            continue
        stats.cycles += 1
        stats.wall_time_sec += time.perf_counter() - started
        if name in ("Busy", "Workers"):
            stats.reaped += moved
        else:
            stats.enqueued += moved
