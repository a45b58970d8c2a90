"""Which servers are alive, so the connections counted through a server that died stop counting.

Several servers may share one Redis, and a worker may hold connections through more than one. Its
record counts them per server: a field ``c:<node>`` per server ("node") it is connected through.
Each store picks a node id when it opens and keeps ``fc:node:<id>`` alive in Redis: set with a
:data:`NODE_TTL_SECONDS` expiry, refreshed every :data:`REFRESH_SECONDS` by a background task
(:mod:`.background`). When a server is killed its key expires; a disconnect of that worker
elsewhere, or any server's worker reaper, drops the dead node's fields, and a record left with
no live connection is removed -- as Faktory removes a record when its last connection closes. A
server that stops cleanly deletes its key.

A server that is alive can still see its key lapse: Redis unreachable, or the server stalled,
for longer than the TTL. Its workers' counts (and a record left with none) may then have been
dropped by another server. So each store also keeps its own count per wid (:class:`Mine`), with
the last record it saw; when a refresh finds the key gone (``SET ... GET`` answers nil), it puts
its counts back, and a record that went is written again from what it last saw.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator

import anyio
import attrs

from faktory_core.model import WorkerInfo
from faktory_core.plugins.redis_store.background import Background

log = logging.getLogger("faktory_core.plugins.redis_store")

#: Real seconds a node's key lives without a refresh: how long a killed server's connections
#: may still count (plus one worker-reaper interval, 15 s, when nobody disconnects).
NODE_TTL_SECONDS = 15.0
#: Real seconds between refreshes; far below the TTL, so a busy event loop does not look dead.
REFRESH_SECONDS = 2.0


def new_node_id() -> str:
    return secrets.token_hex(6)


@attrs.define
class Mine:
    """This server's connections per worker, with the last record of each it saw.

    A reap deletes a record with its counts, while this server's connections of that worker may
    stay open a while: they become *stale* -- no longer counted in Redis -- and the disconnects
    that follow use up stale ones first, so they never count down a registration made since
    (the store cannot tell one connection of a wid from another; the totals come out right)."""

    _workers: dict[str, tuple[WorkerInfo, int]] = attrs.field(factory=dict)
    _stale: dict[str, int] = attrs.field(factory=dict)

    def connected(self, record: WorkerInfo) -> None:
        _, count = self._workers.get(record.wid, (record, 0))
        self._workers[record.wid] = (record, count + 1)

    def disconnected(self, wid: str) -> bool:
        """Count one connection down; False when Redis has nothing to count down for it (a
        stale one, or one never counted here)."""
        stale = self._stale.pop(wid, 0)
        if stale:
            if stale > 1:
                self._stale[wid] = stale - 1
            return False
        record, count = self._workers.pop(wid, (None, 0))
        if record is None:
            return False
        if count > 1:
            self._workers[wid] = (record, count - 1)
        return True

    def reaped(self, wid: str) -> None:
        """The record is gone, with the counts of this server's connections of ``wid``."""
        _, count = self._workers.pop(wid, (None, 0))
        if count:
            self._stale[wid] = self._stale.get(wid, 0) + count

    def seen(self, record: WorkerInfo) -> None:
        """A newer record (a BEAT's answer), kept for a re-registration."""
        if record.wid in self._workers:
            self._workers[record.wid] = (record, self._workers[record.wid][1])

    def __iter__(self) -> Iterator[tuple[WorkerInfo, int]]:
        return iter(list(self._workers.values()))


class NodeBeat:
    """Keeps this server's node key alive by calling ``refresh`` every REFRESH_SECONDS."""

    def __init__(self, refresh: Callable[[], Awaitable[None]]) -> None:
        self._refresh = refresh
        self._task = Background()

    async def start(self) -> None:
        """Set the key now (so no connection is counted for a node that looks dead), then
        refresh it in the background."""
        await self._refresh()
        self._task.start(self._run())

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        """Nothing but cancellation ends this task; a failed refresh (Redis away) is retried at
        the next beat, and the commands themselves report the outage."""
        while True:
            await anyio.sleep(REFRESH_SECONDS)
            try:
                await self._refresh()
            except Exception as exc:
                log.debug("refreshing this server's node key failed: %s", exc)
