"""What a scrape (or a statsd report) reads from the server and its store, in one go.

The store's numbers come from ``Store.stats()`` (what INFO reads), each queue's latency from
``Store.queue_oldest`` (queried concurrently, so a thousand queues on Redis cost a few pipelined
round trips), and the workers from ``Store.workers()``.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING

import anyio
import attrs

from faktory_core.counters import Labels
from faktory_core.model import WorkerState
from faktory_core.store import StoreStats
from faktory_core.timefmt import BadTimestamp, parse_ts

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = ["Snapshot", "take_snapshot"]


@attrs.frozen
class Snapshot:
    stats: StoreStats
    #: queue → seconds since its oldest job was enqueued (0 when empty).
    latencies: dict[str, float]
    #: worker state (running, quiet, terminate) → how many workers.
    workers: dict[str, int]
    connections: int
    handshaking: int
    #: Seconds the store took to answer the stats read (one round trip on Redis).
    store_seconds: float
    counters: list[tuple[str, Labels, float]]
    uptime: float
    description: str
    store: str


async def take_snapshot(server: Server, latency_of: Collection[str] | None = None) -> Snapshot:
    """Read everything at once; ``latency_of`` limits the latency reads (all queues if None)."""
    started = time.perf_counter()
    stats = await server.store.stats()
    store_seconds = time.perf_counter() - started
    names = stats.queues if latency_of is None else [q for q in latency_of if q in stats.queues]
    workers = {state.value: 0 for state in WorkerState}
    for worker in await server.store.workers():
        workers[worker.state.value] = workers.get(worker.state.value, 0) + 1
    now = server.clock.now()
    return Snapshot(
        stats=stats,
        latencies=await _latencies(server, names, now),
        workers=workers,
        connections=server.stats.connections,
        handshaking=server.handshaking,
        store_seconds=store_seconds,
        counters=list(server.counters.items()),
        uptime=max(0.0, now - server.stats.started_at),
        description=server.stats.description,
        store=server.store.name,
    )


async def _latencies(server: Server, names: Collection[str], now: float) -> dict[str, float]:
    found: dict[str, float] = {}

    async def one(name: str) -> None:
        job = await server.store.queue_oldest(name)
        found[name] = _age(job.enqueued_at if job is not None else "", now)

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(one, name)
    return dict(sorted(found.items()))


def _age(enqueued_at: str, now: float) -> float:
    if not enqueued_at:
        return 0.0
    try:
        return max(0.0, now - parse_ts(enqueued_at))
    except BadTimestamp:
        return 0.0
