"""Queue throttles' slots on Redis (``ThrottleStorage``, plugins/throttle), shared by every
server on the Redis: a ZSET per group ``<prefix>fc:throttle:<group>`` (jid scored by expiry on
the servers' clock) and a HASH ``<prefix>fc:throttle-owners`` (jid → group). Taking checks the
count and adds in one script; releasing publishes ``"throttle:<queue> 1"`` on the store's
wake-up channel, so a FETCH waiting on any server wakes (:mod:`.wakeup`).
"""

from __future__ import annotations

from collections.abc import Sequence

from faktory_core.plugins.redis_store.codec import fstr
from faktory_core.plugins.redis_store.connection import map_errors
from faktory_core.plugins.redis_store.link import Arg, Script
from faktory_core.plugins.redis_store.store import RedisStore
from faktory_core.plugins.redis_store.wakeup import Waiter

__all__ = ["RedisThrottle"]

#: Wake-up names are ``throttle:<queue>``: ``:`` is never in a queue name.
WAKE_PREFIX = "throttle:"

# KEYS: group zsets   ARGV: now
TAKEN = """
local out = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  out[i] = redis.call('ZCARD', key)
end
return out
"""

# KEYS: group zset, owners   ARGV: jid, limit, now, expires, group
TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
return 1
"""

# KEYS: owners   ARGV: jid, zset prefix, channel, wake prefix
RELEASE = """
local group = redis.call('HGET', KEYS[1], ARGV[1])
if not group then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local removed = redis.call('ZREM', ARGV[2] .. group, ARGV[1])
if removed == 1 then
  local queue = string.match(group, '^[^|]+')
  redis.call('PUBLISH', ARGV[3], ARGV[4] .. queue .. ' 1')
end
return removed
"""


class RedisThrottle:
    def __init__(self, store: RedisStore) -> None:
        self.where = store.where
        self._store = store
        link = store._r
        self._zset = store.keys.prefix + "fc:throttle:"
        self._owners = store.keys.prefix + "fc:throttle-owners"
        self._taken = Script(link, TAKEN)
        self._take = Script(link, TAKE)
        self._release = Script(link, RELEASE)

    @map_errors
    async def taken(self, groups: Sequence[str], now: float) -> list[int]:
        keys: list[Arg] = [self._zset + group for group in groups]
        return [int(count) for count in await self._taken(keys=keys, args=[fstr(now)])]

    @map_errors
    async def take(self, group: str, jid: str, limit: int, now: float, expires: float) -> bool:
        args: list[Arg] = [jid, limit, fstr(now), fstr(expires), group]
        return bool(await self._take(keys=[self._zset + group, self._owners], args=args))

    @map_errors
    async def release(self, jid: str) -> bool:
        args: list[Arg] = [jid, self._zset, self._store.keys.pushed, WAKE_PREFIX]
        return bool(await self._release(keys=[self._owners], args=args))

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        wakeups = self._store._wakeups
        waiter = Waiter(WAKE_PREFIX + queue for queue in queues)
        wakeups.arm(waiter)
        try:
            await self._store._clock.wait(waiter.event, timeout)
        finally:
            wakeups.discard(waiter)
