"""The metrics feature's storage on Redis (``MinuteStorage``, plugins/metrics/shared.py).

One HASH per minute, ``<prefix>fc:metrics:<minute>`` (Unix time // 60): field = the server's
node name, value = that server's rows for the minute as JSON (job type → list of numbers). A
server replaces only its own field, so servers never overwrite each other; each key expires
once it is older than the page's longest period. FLUSH's ``fc:*`` sweep removes them too.
"""

from __future__ import annotations

import json
from typing import Any

from faktory_core.plugins.redis_store.connection import map_errors
from faktory_core.plugins.redis_store.link import Arg
from faktory_core.plugins.redis_store.store import RedisStore

__all__ = ["RedisMinutes"]


class RedisMinutes:
    def __init__(self, store: RedisStore) -> None:
        self.where = store.where
        self._store = store
        self._prefix = store.keys.prefix + "fc:metrics:"

    def key(self, minute: int) -> str:
        return f"{self._prefix}{minute}"

    @map_errors
    async def save(self, minutes: dict[int, dict[str, list[float]]], keep: float) -> None:
        node, commands = self._store.node, list[tuple[Arg, ...]]()
        for minute, rows in minutes.items():
            text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
            commands.append(("HSET", self.key(minute), node, text))
            commands.append(("EXPIRE", self.key(minute), int(keep)))
        await self._store._r.many(commands)

    @map_errors
    async def load(self, first: int, last: int) -> dict[int, list[dict[str, list[float]]]]:
        minutes = range(first, last + 1)
        replies = await self._store._r.many(
            [("HGETALL", self.key(minute)) for minute in minutes], bulky=True
        )
        node, found = self._store.node.encode(), {}
        for minute, flat in zip(minutes, replies, strict=True):
            rows = [_rows(flat[i + 1]) for i in range(0, len(flat), 2) if bytes(flat[i]) != node]
            if rows:
                found[minute] = [row for row in rows if row]
        return found


def _rows(raw: Any) -> dict[str, list[float]]:
    """One server's rows; an entry that is not what this module writes is skipped."""
    try:
        data = json.loads(bytes(raw))
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(jobtype): [float(x) for x in row]
        for jobtype, row in data.items()
        if isinstance(row, list) and all(isinstance(x, int | float) for x in row)
    }
