"""Batch storage on the Redis store (the batch plugin's ``BatchStorage`` protocol).

Key layout (docs/redis.md; all under the store's prefix, beside faktory-core's other ``fc:``
keys): ``fc:batch:<bid>`` HASH (description, parent, times, counters, callback jobs and their
states), ``fc:batch:<bid>:p`` SET of pending member jids, ``:f`` SET of failed ones, ``:c``
LIST of child bids, and ``fc:batches`` ZSET of bids by creation time (for the web UI).

Every change is one Lua script, and a script that makes a callback due LPUSHes the callback
job onto its queue itself: two servers on one Redis that ACK the last two members at the same
moment run their scripts one after the other, and only the first sees the callback's state
``""``. Expiry follows the hash's ``x`` field (compared with the server clock, passed in);
Redis TTLs only clean up a minute later.
"""

from __future__ import annotations

import json
from typing import Any

from faktory_core.batchstate import status_reply
from faktory_core.plugins.redis_store.connection import map_errors
from faktory_core.plugins.redis_store.link import Script
from faktory_core.plugins.redis_store.store import RedisStore
from faktory_core.timefmt import format_ts

__all__ = ["RedisBatches", "build"]

UNCOMMITTED_TTL = 30 * 60

_PRELUDE = """
local PREFIX = ARGV[1]
local P = PREFIX .. 'fc:batch:'
local NOW = tonumber(ARGV[2])
local STAMP = ARGV[3]
local CHANNEL = ARGV[4]
local RETENTION, FINISHED = 604800, 1800
local function key(bid) return P .. bid end
local function alive(bid)
  local x = redis.call('HGET', key(bid), 'x')
  return x and tonumber(x) > NOW
end
local function expire_all(bid)
  local k = key(bid)
  local ttl = math.ceil(tonumber(redis.call('HGET', k, 'x')) - NOW) + 60
  for _, name in ipairs({k, k .. ':p', k .. ':f', k .. ':c'}) do
    redis.call('EXPIRE', name, ttl)
  end
end
local function touch(bid)
  local k = key(bid)
  local h = redis.call('HMGET', k, 'x', 'created')
  local x = math.max(tonumber(h[1]), tonumber(h[2]) + RETENTION, NOW + FINISHED)
  redis.call('HSET', k, 'x', string.format('%.17g', x))
  expire_all(bid)
end
local due
local function finished(bid, kind)
  local h = redis.call('HMGET', key(bid), 'cb_' .. kind, 'st_' .. kind)
  if h[1] then return h[2] == '2' end
  return due(bid, kind)
end
due = function(bid, kind)
  local k = key(bid)
  local h = redis.call('HMGET', k, 'committed', 'st_complete', 'cb_complete')
  if h[1] ~= '1' or redis.call('SCARD', k .. ':p') > 0 then return false end
  if kind == 'success' then
    if redis.call('SCARD', k .. ':f') > 0 then return false end
    if h[3] and h[2] ~= '2' then return false end
  end
  for _, child in ipairs(redis.call('LRANGE', k .. ':c', 0, -1)) do
    if alive(child) and not finished(child, kind) then return false end
  end
  return true
end
local function enqueue(job, queue)
  local stamped = string.sub(job, 1, -2) .. ',"enqueued_at":"' .. STAMP .. '"}'
  local n = redis.call('LPUSH', PREFIX .. 'q:' .. queue, stamped)
  redis.call('SADD', PREFIX .. 'queues', queue)
  if n == 1 then redis.call('PUBLISH', CHANNEL, queue .. ' 1') end
end
local function check(bid)
  while bid and bid ~= '' and alive(bid) do
    local k = key(bid)
    for _, kind in ipairs({'complete', 'success'}) do
      local h = redis.call('HMGET', k, 'cb_' .. kind, 'q_' .. kind, 'st_' .. kind)
      if h[1] and h[3] == '' and due(bid, kind) then
        redis.call('HSET', k, 'st_' .. kind, '1')
        enqueue(h[1], h[2])
      end
    end
    bid = redis.call('HGET', k, 'parent')
  end
end
"""

# ARGV: prefix, now, stamp, channel, bid, parent, description, created_at, created, expiry,
#       then (kind, job, queue) per callback. 0 when the parent is unknown.
_NEW = """
local bid, parent = ARGV[5], ARGV[6]
if parent ~= '' and not alive(parent) then return 0 end
local k = key(bid)
redis.call('HSET', k, 'bid', bid, 'parent', parent, 'desc', ARGV[7], 'created_at', ARGV[8],
  'created', ARGV[9], 'x', ARGV[10], 'committed', '0', 'total', '0', 'st_complete', '',
  'st_success', '')
for i = 11, #ARGV, 3 do
  redis.call('HSET', k, 'cb_' .. ARGV[i], ARGV[i + 1], 'q_' .. ARGV[i], ARGV[i + 2])
end
expire_all(bid)
redis.call('ZADD', PREFIX .. 'fc:batches', ARGV[9], bid)
if parent ~= '' then
  redis.call('RPUSH', key(parent) .. ':c', bid)
  expire_all(parent)
end
return 1
"""

# ARGV: ..., bid
_COMMIT = """
local bid = ARGV[5]
if not alive(bid) then return 0 end
redis.call('HSET', key(bid), 'committed', '1')
touch(bid)
check(bid)
return 1
"""

# ARGV: ..., bid, jid
_ADD = """
local bid = ARGV[5]
if not alive(bid) then return 0 end
if redis.call('SADD', key(bid) .. ':p', ARGV[6]) == 1 then
  redis.call('HINCRBY', key(bid), 'total', 1)
end
expire_all(bid)
return 1
"""

# ARGV: ..., bid, jid, '1' (ACK) or '0' (FAIL)
_DONE = """
local bid, jid = ARGV[5], ARGV[6]
if not alive(bid) then return 0 end
local k = key(bid)
local was = redis.call('SREM', k .. ':p', jid)
if ARGV[7] == '1' then
  redis.call('SREM', k .. ':f', jid)
else
  redis.call('SADD', k .. ':f', jid)
end
if redis.call('HGET', k, 'committed') == '1' then touch(bid) else expire_all(bid) end
check(bid)
return was
"""

# ARGV: ..., bid, kind
_CALLBACK = """
local bid, kind = ARGV[5], ARGV[6]
if not alive(bid) or redis.call('HGET', key(bid), 'st_' .. kind) ~= '1' then return 0 end
redis.call('HSET', key(bid), 'st_' .. kind, '2')
touch(bid)
check(bid)
return 1
"""

# ARGV: ..., bid. {hash as flat pairs, pending, failed, children} or nil.
_STATUS = """
local bid = ARGV[5]
if not alive(bid) then return nil end
local k = key(bid)
return {redis.call('HGETALL', k), redis.call('SCARD', k .. ':p'),
  redis.call('SCARD', k .. ':f'), redis.call('LRANGE', k .. ':c', 0, -1)}
"""

# ARGV: ..., limit. The newest live bids; drops the index entries of expired ones.
_RECENT = """
local found = {}
local index = PREFIX .. 'fc:batches'
for _, bid in ipairs(redis.call('ZREVRANGE', index, 0, -1)) do
  if alive(bid) then
    table.insert(found, bid)
    if #found >= tonumber(ARGV[5]) then break end
  else
    redis.call('ZREM', index, bid)
  end
end
return found
"""

# ARGV: ..., bid, limit. {some pending jids, some failed jids} (SSCAN: bounded work) or nil.
_MEMBERS = """
local bid, limit = ARGV[5], tonumber(ARGV[6])
if not alive(bid) then return nil end
local function some(set)
  local found, cursor = {}, '0'
  repeat
    local page = redis.call('SSCAN', set, cursor, 'COUNT', limit)
    cursor = page[1]
    for _, jid in ipairs(page[2]) do
      if #found < limit then table.insert(found, jid) end
    end
  until cursor == '0' or #found >= limit
  return found
end
return {some(key(bid) .. ':p'), some(key(bid) .. ':f')}
"""

_SOURCES = {
    "new": _NEW,
    "commit": _COMMIT,
    "add": _ADD,
    "done": _DONE,
    "callback": _CALLBACK,
    "status": _STATUS,
    "recent": _RECENT,
    "members": _MEMBERS,
}


class RedisBatches:
    """``BatchStorage`` on a :class:`RedisStore` (one script per step)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.where = store.where
        self._scripts: dict[str, Script] = {}

    async def _run(self, name: str, now: float, *args: Any) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = Script(self.store._r, _PRELUDE + _SOURCES[name])
        keys = self.store.keys
        head = [keys.prefix, repr(now), format_ts(now), keys.pushed]
        return await script(keys=(), args=[*head, *args])

    @map_errors
    async def create(self, spec: Any, now: float) -> bool:
        args: list[Any] = [spec.bid, spec.parent_bid, spec.description, spec.created_at]
        args += [repr(spec.created), repr(spec.created + UNCOMMITTED_TTL)]
        for kind, job in spec.callbacks.items():
            args += [kind, job, json.loads(job)["queue"]]
        return bool(await self._run("new", now, *args))

    @map_errors
    async def open(self, bid: str, now: float) -> bool:
        return await self.status(bid, now) is not None

    @map_errors
    async def commit(self, bid: str, now: float) -> bool:
        return bool(await self._run("commit", now, bid))

    @map_errors
    async def add_member(self, bid: str, jid: str, now: float) -> bool:
        return bool(await self._run("add", now, bid, jid))

    @map_errors
    async def member_done(self, bid: str, jid: str, ok: bool, now: float) -> None:
        await self._run("done", now, bid, jid, "1" if ok else "0")

    @map_errors
    async def callback_done(self, bid: str, kind: str, now: float) -> None:
        await self._run("callback", now, bid, kind)

    @map_errors
    async def status(self, bid: str, now: float) -> dict[str, Any] | None:
        reply = await self._run("status", now, bid)
        return None if reply is None else _status(reply)

    @map_errors
    async def members(self, bid: str, now: float, limit: int) -> tuple[list[str], list[str]] | None:
        reply = await self._run("members", now, bid, limit)
        if reply is None:
            return None
        pending, failed = reply
        return sorted(map(_text, pending)), sorted(map(_text, failed))

    @map_errors
    async def recent(self, now: float, limit: int) -> list[dict[str, Any]]:
        found = []
        for bid in await self._run("recent", now, limit):
            status = await self.status(_text(bid), now)
            if status is not None:
                found.append(status)
        return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _status(reply: list[Any]) -> dict[str, Any]:
    flat, pending, failed, children = reply
    h = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
    return status_reply(
        bid=h["bid"],
        parent_bid=h["parent"],
        description=h["desc"],
        created_at=h["created_at"],
        total=int(h["total"]),
        pending=int(pending),
        failed=int(failed),
        complete_st=h["st_complete"],
        success_st=h["st_success"],
        committed=h["committed"] == "1",
        children=[_text(child) for child in children],
        callbacks={
            kind: json.loads(h["cb_" + kind])
            for kind in ("complete", "success")
            if "cb_" + kind in h
        },
    )


def build(store: RedisStore) -> RedisBatches:
    return RedisBatches(store)
