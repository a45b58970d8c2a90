"""Unique-job locks on the Redis store (the ``unique`` feature's ``UniqueLocks``).

One string per lock, ``<prefix>fc:unique:<key>`` = ``"<until> <jid>"``, taken with one Lua
script in the manner of ``SET NX PX``: taken when absent or when its ``until`` (an instant of the
server's clock, as the kv space keeps it) has passed, so two servers racing for one key give it
to exactly one. The Redis expiry outlives ``until`` by :data:`GRACE_MS` and only cleans up; the
clock decides. FLUSH deletes the locks with the other ``fc:`` keys.
"""

from __future__ import annotations

import math

from faktory_core.plugins.redis_store.codec import fstr
from faktory_core.plugins.redis_store.connection import map_errors
from faktory_core.plugins.redis_store.link import Arg, Link, Script
from faktory_core.plugins.redis_store.store import RedisStore

__all__ = ["RedisUniqueLocks"]

#: The Redis expiry of a lock outlives its clock expiry by this much (a safety net only).
GRACE_MS = 60_000
KEY_PREFIX = "fc:unique:"

# KEYS: lock   ARGV: jid, now, until, ttl in ms
ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held then
  local space = string.find(held, ' ', 1, true)
  if tonumber(string.sub(held, 1, space - 1)) > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3] .. ' ' .. ARGV[1], 'PX', ARGV[4])
return 1
"""

# KEYS: lock   ARGV: jid, now   -> 0 not held by jid, 1 released (live), 2 released (expired)
RELEASE = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local space = string.find(held, ' ', 1, true)
if string.sub(held, space + 1) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(string.sub(held, 1, space - 1)) > tonumber(ARGV[2]) then return 1 end
return 2
"""


class RedisUniqueLocks:
    """``UniqueLocks`` on a RedisStore (opened before the feature attaches)."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._link: Link | None = None
        self._acquire: Script | None = None
        self._release: Script | None = None

    @property
    def where(self) -> str:
        """The Redis, as errors name it (``map_errors``)."""
        return self._store.where

    def _scripts(self) -> tuple[Script, Script]:
        link = self._store._r  # the store's own connections; rebuilt should it reopen
        if self._acquire is None or self._release is None or link is not self._link:
            self._link = link
            self._acquire, self._release = Script(link, ACQUIRE), Script(link, RELEASE)
        return self._acquire, self._release

    def _key(self, key: str) -> str:
        return self._store.keys.prefix + KEY_PREFIX + key

    @map_errors
    async def acquire(self, key: str, jid: str, now: float, until: float) -> bool:
        ttl_ms = max(math.ceil((until - now) * 1000), 0) + GRACE_MS
        args: list[Arg] = [jid, fstr(now), fstr(until), ttl_ms]
        return bool(await self._scripts()[0](keys=[self._key(key)], args=args))

    @map_errors
    async def release(self, key: str, jid: str, now: float) -> bool:
        return int(await self._scripts()[1](keys=[self._key(key)], args=[jid, fstr(now)])) == 1

    @map_errors
    async def holder(self, key: str, now: float) -> str | None:
        held = await self._store._r.execute("GET", self._key(key))
        if held is None:
            return None
        until, _, jid = bytes(held).decode().partition(" ")
        return jid if float(until) > now else None
