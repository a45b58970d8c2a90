"""The tracking feature's storage on Redis (``TrackStorage``, plugins/tracking).

One HASH per record, ``<prefix>fc:track:<jid>`` (``s`` state, ``u`` updated_at, ``x`` expiry on
the server's clock, ``p`` percent, ``d`` desc), so FLUSH's ``fc:*`` sweep removes records too.
The expiry is checked against the clock; a Redis expiry a little later is only a safety net.
Each change is one script, so servers sharing the Redis never store half a change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from faktory_core.plugins.redis_store.codec import fstr
from faktory_core.plugins.redis_store.connection import map_errors
from faktory_core.plugins.redis_store.link import Arg, Script
from faktory_core.plugins.redis_store.store import KV_GRACE_MS, RedisStore

__all__ = ["RedisTracking"]

#: Record field → hash field.
_FIELDS = {"percent": "p", "desc": "d"}

# KEYS: record   ARGV: state, now, expiry, safety ttl in ms
SET_STATE = """
local x = redis.call('HGET', KEYS[1], 'x')
if x and tonumber(x) <= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'u', ARGV[2], 'x', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: record   ARGV: now, expiry, safety ttl in ms, field, value, ...
SET_PROGRESS = """
local x = redis.call('HGET', KEYS[1], 'x')
if not x or tonumber(x) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'x', ARGV[2], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisTracking:
    def __init__(self, store: RedisStore) -> None:
        self.where = store.where
        self._link = store._r
        self._prefix = store.keys.prefix + "fc:track:"
        self._set_state = Script(self._link, SET_STATE)
        self._set_progress = Script(self._link, SET_PROGRESS)

    def key(self, jid: str) -> str:
        return self._prefix + jid

    @map_errors
    async def get(self, jid: str, now: float) -> dict[str, Any] | None:
        flat = await self._link.execute("HGETALL", self.key(jid))
        raw = {bytes(flat[i]).decode(): bytes(flat[i + 1]).decode() for i in range(0, len(flat), 2)}
        if "x" not in raw or float(raw["x"]) <= now:
            return None
        record: dict[str, Any] = {"state": raw.get("s", "unknown"), "updated_at": float(raw["u"])}
        if "p" in raw:
            record["percent"] = int(raw["p"])
        if "d" in raw:
            record["desc"] = raw["d"]
        return record

    @map_errors
    async def set_state(self, jid: str, state: str, now: float, ttl: float) -> None:
        args: list[Arg] = [state, fstr(now), fstr(now + ttl), _safety_ms(ttl)]
        await self._set_state(keys=[self.key(jid)], args=args)

    @map_errors
    async def set_progress(
        self, jid: str, fields: Mapping[str, Any], now: float, ttl: float
    ) -> bool:
        args: list[Arg] = [fstr(now), fstr(now + ttl), _safety_ms(ttl)]
        for name, value in fields.items():
            args += [_FIELDS[name], str(value)]
        return bool(await self._set_progress(keys=[self.key(jid)], args=args))


def _safety_ms(ttl: float) -> int:
    return max(math.ceil(ttl * 1000), 0) + KV_GRACE_MS
