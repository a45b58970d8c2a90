"""Which servers are alive, so the connections counted through a server that died stop counting.

Several servers may share one Redis, and a worker may hold connections through more than one. Its
record counts them per server: a field ``c:<node>`` per server ("node") it is connected through.
Each store picks a node id when it opens and keeps ``fc:node:<id>`` alive in Redis: set with a
:data:`NODE_TTL_SECONDS` expiry, refreshed every :data:`REFRESH_SECONDS` by a background task
(:mod:`.background`). When a server is killed its key expires; a disconnect of that worker
elsewhere, or any server's worker reaper, drops the dead node's fields, and a record left with
no live connection is removed -- as Faktory removes a record when its last connection closes. A
server that stops cleanly deletes its key.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

import anyio

from faktory_core.plugins.redis_store.background import Background

log = logging.getLogger("faktory_core.plugins.redis_store")

#: Real seconds a node's key lives without a refresh: how long a killed server's connections
#: may still count (plus one worker-reaper interval, 15 s, when nobody disconnects).
NODE_TTL_SECONDS = 15.0
#: Real seconds between refreshes; far below the TTL, so a busy event loop does not look dead.
REFRESH_SECONDS = 2.0


def new_node_id() -> str:
    return secrets.token_hex(6)


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
