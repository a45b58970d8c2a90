"""The Lua scripts: every move of a job is one of these, so it is one atomic step in Redis.

Conventions that keep the moves exact and shareable by many servers:

- Scores travel as strings (Python's ``repr`` of the float, or Redis's own reply) and are never
  turned into Lua numbers on their way to ``ZADD``: Lua's ``tostring`` keeps only 14 digits.
  When a script must compute a score (the fetch: now + reserve time) it formats it with
  ``%.17g``, which round-trips a double exactly.
- A script that moves a job checks that the job is still where the caller saw it (``ZREM`` or
  ``HGET`` answered), so two servers acting on the same job move it once.
- Scripts that make a queue non-empty ``PUBLISH "<queue> <count>"`` on the store's channel to
  wake blocked fetches (:mod:`.wakeup`). A push to a queue that already had jobs does not: no
  fetch can be waiting on a non-empty, unpaused queue.
- Keys built inside a script (``<prefix>q:<name>`` for a batch of jobs with different queues)
  are not declared in KEYS; that is fine on a standalone Redis, which is all this store supports
  (not Redis Cluster).
"""

from __future__ import annotations

import attrs

from faktory_core.plugins.redis_store.link import Link, Script

__all__ = ["Scripts"]

# Shared Lua functions, prepended to the scripts that use them.

_RFC3339 = """
-- Unix seconds to Go's RFC3339Nano in UTC with microseconds, as faktory_core.timefmt.format_ts.
local function rfc3339(t)
  local whole = math.floor(t)
  local micros = math.floor((t - whole) * 1000000 + 0.5)
  if micros >= 1000000 then whole = whole + 1; micros = micros - 1000000 end
  local days = math.floor(whole / 86400)
  local secs = whole - days * 86400
  -- civil_from_days (H. Hinnant): the proleptic Gregorian date of a day number.
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  local stamp = string.format('%04d-%02d-%02dT%02d:%02d:%02d', y, m, d,
    math.floor(secs / 3600), math.floor((secs % 3600) / 60), secs % 60)
  if micros > 0 then
    stamp = stamp .. '.' .. (string.gsub(string.format('%06d', micros), '0+$', ''))
  end
  return stamp .. 'Z'
end
"""

_COUNT = """
-- One more processed job (and failed one): totals, and per-UTC-day counters that expire ttl
-- after the day's first count (an EXPIRE on every count costs more than the rest of an ACK's
-- counting); a day counter found without an expiry (Faktory's never expire) gets one too.
local function count(total, day, ttl)
  redis.call('INCR', total)
  if redis.call('INCR', day) == 1 or redis.call('TTL', day) < 0 then
    redis.call('EXPIRE', day, ttl)
  end
end
"""

_ADVANCE = """
-- Worker states only move forward: running -> quiet -> terminate.
local ORDER = {running = 0, quiet = 1, terminate = 2}
local function advance(current, requested)
  if requested ~= '' and (ORDER[requested] or 0) > (ORDER[current] or 0) then
    return requested
  end
  return current
end
"""

# -- queues -------------------------------------------------------------------------------------

# KEYS: queues, q:<name>   ARGV: name, job, channel
PUSH = """
local n = redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
if n == 1 then redis.call('PUBLISH', ARGV[3], ARGV[1] .. ' 1') end
return n
"""

# KEYS: queues   ARGV: channel, prefix, then (name, job) pairs
# PUSH for many jobs in order; a queue that was empty before gets one message with its count.
PUSH_MANY = """
local counts, fresh = {}, {}
for i = 3, #ARGV, 2 do
  local name = ARGV[i]
  local n = redis.call('LPUSH', ARGV[2] .. 'q:' .. name, ARGV[i + 1])
  if counts[name] == nil then
    counts[name], fresh[name] = 0, n == 1
    redis.call('SADD', KEYS[1], name)
  end
  counts[name] = counts[name] + 1
end
for name, n in pairs(counts) do
  if fresh[name] then redis.call('PUBLISH', ARGV[1], name .. ' ' .. n) end
end
return (#ARGV - 2) / 2
"""

# KEYS: paused, working, reservations, corrupt, q:<name>..., worker:<wid>
# ARGV: now (score string), reserved_at (RFC 3339), wid (JSON string), now + 1800 (score
#       string), its RFC 3339 stamp, count the jobs left ('1'/'0'), name...
# Returns {job, expiry score, queue, jobs left in it (0 when not asked to count: nobody
# waits), jid}, {'', job, queue} for a job that is not JSON (moved to the corrupt list),
# {state} when the worker is quiet or terminated (it gets nothing, §3.4: checked here so a
# FETCH is one round trip), or nil.
#
# Cheap on the common job: the caller formats the default expiry (1800 s), and a job whose
# JSON begins {"jid":"<id>" (Faktory's order) or {"retry":<n>,"jid":"<id>" (ours), with no
# "reserve_for" anywhere in it, is reserved without cjson (its first or second key is the jid;
# only a writer that repeats keys could fool this, and no Faktory, client or this server
# does). Anything else is decoded as JSON, and its reserve_for applied.
FETCH = (
    _RFC3339
    + """
local state = redis.call('HGET', KEYS[#KEYS], 'state')
if state == 'quiet' or state == 'terminate' then return {state} end
-- the jid as a JSON string without escapes (no backslash: Lua reads '\\\\' as one), first or
-- second key
local jid_first, jid_second = '^{"jid":"([^"\\\\]+)"', '^{"retry":%-?%d+,"jid":"([^"\\\\]+)"'
for i = 5, #KEYS - 1 do
  local name = ARGV[i + 2]
  if redis.call('SISMEMBER', KEYS[1], name) == 0 then
    local job = redis.call('RPOP', KEYS[i])
    if job then
      local jid = string.match(job, jid_first) or string.match(job, jid_second)
      local secs = nil
      if not jid or string.find(job, '"reserve_for"', 1, true) then
        local ok, data = pcall(cjson.decode, job)
        if not ok or type(data) ~= 'table' or type(data.jid) ~= 'string' then
          redis.call('RPUSH', KEYS[4], job)
          return {'', job, name}
        end
        jid = data.jid
        secs = data.reserve_for
        if type(secs) == 'number' and secs ~= 0 then
          secs = math.min(math.max(secs, 60), 86400)
        else
          secs = nil
        end
      end
      local score, expires_at = ARGV[4], ARGV[5]
      if secs and secs ~= 1800 then
        local expiry = tonumber(ARGV[1]) + secs
        score = string.format('%.17g', expiry)
        expires_at = rfc3339(expiry)
      end
      local member = '{"job":' .. job .. ',"reserved_at":"' .. ARGV[2] .. '","expires_at":"'
        .. expires_at .. '","wid":' .. ARGV[3] .. '}'
      if redis.call('HSETNX', KEYS[3], jid, member) == 0 then  -- the jid is reserved already
        redis.call('ZREM', KEYS[2], redis.call('HGET', KEYS[3], jid))
        redis.call('HSET', KEYS[3], jid, member)
      end
      redis.call('ZADD', KEYS[2], score, member)
      return {job, score, name, ARGV[6] == '1' and redis.call('LLEN', KEYS[i]) or 0, jid}
    end
  end
end
return false
"""
)

# KEYS: paused, q:<name>...   ARGV: name...
# The waited-on queues that have jobs and are not paused: {name, length, ...} (fallback poll).
READY = """
local found = {}
for i = 2, #KEYS do
  local name = ARGV[i - 1]
  if redis.call('SISMEMBER', KEYS[1], name) == 0 then
    local n = redis.call('LLEN', KEYS[i])
    if n > 0 then table.insert(found, name); table.insert(found, n) end
  end
end
return found
"""

# KEYS: queues, paused   ARGV: name...
PAUSE = """
for i = 1, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then redis.call('SADD', KEYS[2], ARGV[i]) end
end
return 0
"""

# KEYS: paused   ARGV: channel, prefix, name...
RESUME = """
for i = 3, #ARGV do
  if redis.call('SREM', KEYS[1], ARGV[i]) == 1 then
    local n = redis.call('LLEN', ARGV[2] .. 'q:' .. ARGV[i])
    if n > 0 then redis.call('PUBLISH', ARGV[1], ARGV[i] .. ' ' .. n) end
  end
end
return 0
"""

# KEYS: queues, paused   ARGV: prefix, name...
REMOVE = """
for i = 2, #ARGV do
  redis.call('UNLINK', ARGV[1] .. 'q:' .. ARGV[i])
  redis.call('SREM', KEYS[1], ARGV[i])
  redis.call('SREM', KEYS[2], ARGV[i])
end
return 0
"""

# -- reservations -------------------------------------------------------------------------------

# KEYS: reservations, working   ARGV: jid   ->  {member, expiry score} or nil
RESERVATION = """
local member = redis.call('HGET', KEYS[1], ARGV[1])
if not member then return false end
local score = redis.call('ZSCORE', KEYS[2], member)
if not score then return false end
return {member, score}
"""

# KEYS: reservations, working, processed, processed:<day>   ARGV: jid, day ttl
ACK = (
    _COUNT
    + """
local member = redis.call('HGET', KEYS[1], ARGV[1])
if not member then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local score = redis.call('ZSCORE', KEYS[2], member)
if not score then return false end
redis.call('ZREM', KEYS[2], member)
count(KEYS[3], KEYS[4], ARGV[2])
return {member, score}
"""
)

# KEYS: reservations, working, processed, failures, processed:<day>, failures:<day>, destination
# ARGV: jid, now, expired_only ('1'/'0'), day ttl, job, score, has destination ('1'/'0')
SETTLE = (
    _COUNT
    + """
local member = redis.call('HGET', KEYS[1], ARGV[1])
if not member then return 0 end
local score = redis.call('ZSCORE', KEYS[2], member)
if not score then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 0
end
if ARGV[3] == '1' and tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], member)
count(KEYS[3], KEYS[5], ARGV[4])
count(KEYS[4], KEYS[6], ARGV[4])
if ARGV[7] == '1' then redis.call('ZADD', KEYS[7], ARGV[6], ARGV[5]) end
return 1
"""
)

# KEYS: reservations, working   ARGV: jid
RELEASE = """
local member = redis.call('HGET', KEYS[1], ARGV[1])
if not member then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return redis.call('ZREM', KEYS[2], member)
"""

# KEYS: reservations, working, queues, q:<name>   ARGV: jid, member, job, name, channel
# Put a reserved job back at the head of its queue, if the reservation is still ``member``.
UNRESERVE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
local n = redis.call('RPUSH', KEYS[4], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
if n == 1 then redis.call('PUBLISH', ARGV[5], ARGV[4] .. ' 1') end
return 1
"""

# KEYS: reservations, working   ARGV: jid, old member, new member, new score
# Swap a reservation's member (a new expiry), if it is still ``old``.
REPLACE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

# KEYS: reservations, working, corrupt   ARGV: now (score), limit
# Due reservations, oldest first: {member, score, ...}. A due member the jid index does not
# point to (written by another program) is adopted when its jid has no live reservation, else
# (a second reservation of a jid that has one) set aside with the unreadable ones: either way
# it cannot come back in every batch of the reaper.
EXPIRED = """
local found = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #due, 2 do
  local member = due[i]
  local ok, data = pcall(cjson.decode, member)
  local jid = ok and type(data) == 'table' and type(data.job) == 'table' and data.job.jid
  local current = type(jid) == 'string' and redis.call('HGET', KEYS[1], jid)
  if current ~= member and type(jid) == 'string'
      and (not current or not redis.call('ZSCORE', KEYS[2], current)) then
    redis.call('HSET', KEYS[1], jid, member)
    current = member
  end
  if current == member then
    table.insert(found, member)
    table.insert(found, due[i + 1])
  else
    redis.call('ZREM', KEYS[2], member)
    redis.call('RPUSH', KEYS[3], member)
  end
end
return found
"""

# KEYS: reservations, working   ARGV: jid, member, ...
# Index reservations written by someone else (Faktory): a jid whose entry is missing or stale.
REINDEX = """
local added = 0
for i = 1, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if current ~= ARGV[i + 1] and redis.call('ZSCORE', KEYS[2], ARGV[i + 1])
      and (not current or not redis.call('ZSCORE', KEYS[2], current)) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    added = added + 1
  end
end
return added
"""

# -- sorted sets --------------------------------------------------------------------------------

# Whether ZREM of a member seen with a score removed it: only when it still has that score (a
# member put back with another score is another entry), so every move re-checks what it saw.
_TAKE = """
local function take(set, member, score)
  local now = redis.call('ZSCORE', set, member)
  if not now or tonumber(now) ~= tonumber(score) then return false end
  redis.call('ZREM', set, member)
  return true
end
"""

# KEYS: set, queues   ARGV: channel, prefix, then (member, score, queue, job) quadruples
# Move entries to their queues (LPUSH, as a push), each only if this call took it.
ENQUEUE = (
    _TAKE
    + """
local moved, woken = 0, {}
for i = 3, #ARGV, 4 do
  if take(KEYS[1], ARGV[i], ARGV[i + 1]) then
    local name = ARGV[i + 2]
    redis.call('LPUSH', ARGV[2] .. 'q:' .. name, ARGV[i + 3])
    redis.call('SADD', KEYS[2], name)
    woken[name] = (woken[name] or 0) + 1
    moved = moved + 1
  end
end
for name, n in pairs(woken) do redis.call('PUBLISH', ARGV[1], name .. ' ' .. n) end
return moved
"""
)

# KEYS: set, dead   ARGV: new score, then (member, score) pairs
KILL = (
    _TAKE
    + """
local moved = 0
for i = 2, #ARGV, 2 do
  if take(KEYS[1], ARGV[i], ARGV[i + 1]) then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
    moved = moved + 1
  end
end
return moved
"""
)

# KEYS: set   ARGV: (member, score) pairs
DISCARD = (
    _TAKE
    + """
local removed = 0
for i = 1, #ARGV, 2 do
  if take(KEYS[1], ARGV[i], ARGV[i + 1]) then removed = removed + 1 end
end
return removed
"""
)

# KEYS: set, corrupt   ARGV: member...
QUARANTINE = """
local moved = 0
for i = 1, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i])
    moved = moved + 1
  end
end
return moved
"""

# KEYS: set
CLEAR = """
local n = redis.call('ZCARD', KEYS[1])
redis.call('UNLINK', KEYS[1])
return n
"""

# KEYS: set   ARGV: cursor score ('' to start), cursor jid, count, rank hint ('' for none),
#                   cursor digest ('' for none: the first 16 hex digits of the member's SHA-1)
# {start rank, up to count + 1 entries (with scores) after the cursor entry, by rank}. The
# cursor entry is recognised by its digest (any member, even one that cannot be read), or
# without one by its jid's text. It is looked for at the hinted rank (where it was seen) and in
# the count entries before it (some may have been removed since), then in its whole score. When
# it is gone, the walk resumes at the first entry of its score: entries of that same score may
# be seen twice, none is missed.
SCAN = """
local needle = '"jid":"' .. ARGV[2] .. '"'
local function is_cursor(member)
  if ARGV[5] ~= '' then return string.sub(redis.sha1hex(member), 1, 16) == ARGV[5] end
  if not string.find(member, needle, 1, true) then return false end
  local ok, data = pcall(cjson.decode, member)
  return ok and type(data) == 'table' and data.jid == ARGV[2]
end
local start = 0
if ARGV[1] ~= '' then
  local rank = nil
  if ARGV[4] ~= '' then
    local hint = tonumber(ARGV[4])
    local low = math.max(hint - tonumber(ARGV[3]), 0)
    local near = redis.call('ZRANGE', KEYS[1], low, hint, 'WITHSCORES')
    for i = #near - 1, 1, -2 do
      if tonumber(near[i + 1]) == tonumber(ARGV[1]) and is_cursor(near[i]) then
        rank = low + (i - 1) / 2
        break
      end
    end
  end
  if not rank then
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])) do
      if is_cursor(member) then
        rank = redis.call('ZRANK', KEYS[1], member)
        break
      end
    end
  end
  if rank then
    start = rank + 1
  else
    start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1])
  end
end
return {start, redis.call('ZRANGE', KEYS[1], start, start + tonumber(ARGV[3]), 'WITHSCORES')}
"""

# -- counters -----------------------------------------------------------------------------------

# KEYS: queues, scheduled, retries, dead, working, processed, failures, workers   ARGV: prefix
# {scheduled, retries, dead, working, processed, failures, workers, name, length, ...}
STATS = """
local out = {
  redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]),
  redis.call('ZCARD', KEYS[5]),
  tonumber(redis.call('GET', KEYS[6]) or '0'), tonumber(redis.call('GET', KEYS[7]) or '0'),
  redis.call('SCARD', KEYS[8]),
}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  table.insert(out, name)
  table.insert(out, redis.call('LLEN', ARGV[1] .. 'q:' .. name))
end
return out
"""

# -- key-value space ----------------------------------------------------------------------------

# KEYS: kv:<key>   ARGV: value, expiry ('' = none), safety ttl in ms ('' = none)
KV_SET = """
redis.call('DEL', KEYS[1])
if ARGV[2] == '' then
  redis.call('HSET', KEYS[1], 'v', ARGV[1])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
"""

# KEYS: kv:<key>   ARGV: value, now, expiry, safety ttl in ms
KV_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  local expiry = redis.call('HGET', KEYS[1], 'x')
  if not expiry or tonumber(expiry) > tonumber(ARGV[2]) then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: kv:<key>   ARGV: now
KV_DELETE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local expiry = redis.call('HGET', KEYS[1], 'x')
redis.call('DEL', KEYS[1])
if expiry and tonumber(expiry) <= tonumber(ARGV[1]) then return 0 end
return 1
"""

# -- workers ------------------------------------------------------------------------------------

# The live connections of a worker record: the sum of its c:<node> fields whose node key
# exists. Fields of dead nodes (their server is gone) are dropped, and so is anything else
# counted the old way.
_LIVE = """
local function live(key, node_prefix)
  local flat = redis.call('HGETALL', key)
  local total = 0
  for i = 1, #flat, 2 do
    local field = flat[i]
    if string.sub(field, 1, 2) == 'c:' then
      if redis.call('EXISTS', node_prefix .. string.sub(field, 3)) == 1 then
        total = total + tonumber(flat[i + 1])
      else
        redis.call('HDEL', key, field)
      end
    elseif field == 'connections' then
      redis.call('HDEL', key, field)
    end
  end
  return total
end
"""

# KEYS: workers, worker:<wid>   ARGV: wid, ttl ms, node field, then field/value pairs of a new
# record. Counts one more connection through this node.
WORKER_CONNECT = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 4))
end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return redis.call('HGETALL', KEYS[2])
"""

# KEYS: workers, worker:<wid>   ARGV: wid, ttl ms, node field, count, then field/value pairs of
# the record as last seen. This node's count, put back after its key lapsed (nodes.py); a
# record that went meanwhile is written again.
WORKER_REASSERT = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 5))
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
"""

# KEYS: workers, worker:<wid>   ARGV: wid, node field, node key prefix
# One connection fewer through this node; the record goes with its last live connection.
WORKER_DISCONNECT = (
    _LIVE
    + """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[1], ARGV[1])
  return 0
end
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
if live(KEYS[2], ARGV[3]) <= 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[1], ARGV[1])
end
return 0
"""
)

# KEYS: worker:<wid>   ARGV: rss_kb, requested state ('' = none), now, ttl ms
WORKER_BEAT = (
    _ADVANCE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local state = advance(redis.call('HGET', KEYS[1], 'state') or 'running', ARGV[2])
redis.call('HSET', KEYS[1], 'rss_kb', ARGV[1], 'last_beat', ARGV[3], 'state', state)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS: workers   ARGV: worker key prefix, state, all ('1'/'0'), wid...
WORKER_SIGNAL = (
    _ADVANCE
    + """
local wids = ARGV
local first = 4
if ARGV[3] == '1' then
  wids = redis.call('SMEMBERS', KEYS[1])
  first = 1
end
local changed = 0
for i = first, #wids do
  local key = ARGV[1] .. wids[i]
  local current = redis.call('HGET', key, 'state')
  if current then
    local state = advance(current, ARGV[2])
    if state ~= current then
      redis.call('HSET', key, 'state', state)
      changed = changed + 1
    end
  end
end
return changed
"""
)

# KEYS: workers, reaped channel   ARGV: worker key prefix, older than, node key prefix, node
# Drop records whose last beat is older, and tell every server (they close its connections);
# drop records with no live connection left (every server they were connected through is
# gone: nothing to close); records gone by their safety expiry leave the set.
WORKER_REAP = (
    _LIVE
    + """
local reaped = {}
for _, wid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. wid
  local beat = redis.call('HGET', key, 'last_beat')
  if not beat then
    redis.call('SREM', KEYS[1], wid)
  elseif tonumber(beat) < tonumber(ARGV[2]) then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], wid)
    table.insert(reaped, wid)
    redis.call('PUBLISH', KEYS[2], ARGV[4] .. ' ' .. wid)
  elseif live(key, ARGV[3]) <= 0 then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], wid)
  end
end
return reaped
"""
)

# -- migration ----------------------------------------------------------------------------------

# KEYS: queues, v   ARGV: prefix
# Faktory ≤ 1.9 kept a queue in a bare LIST named after it; 1.10 uses q:<name>. Move each to
# q:<name> (behind any jobs already there, which are newer), then mark layout version 1.
MIGRATE = """
local moved = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local old = ARGV[1] .. name
  local new = ARGV[1] .. 'q:' .. name
  if redis.call('TYPE', old).ok == 'list' then
    if redis.call('EXISTS', new) == 0 then
      redis.call('RENAME', old, new)
    else
      while redis.call('LMOVE', old, new, 'LEFT', 'RIGHT') do end
    end
    table.insert(moved, name)
  end
end
if #moved > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') < 1 then
  redis.call('INCRBY', KEYS[2], 1)
end
return moved
"""

_SOURCES = {
    "push": PUSH,
    "push_many": PUSH_MANY,
    "fetch": FETCH,
    "ready": READY,
    "pause": PAUSE,
    "resume": RESUME,
    "remove": REMOVE,
    "reservation": RESERVATION,
    "ack": ACK,
    "settle": SETTLE,
    "release": RELEASE,
    "unreserve": UNRESERVE,
    "replace": REPLACE,
    "reindex": REINDEX,
    "expired": EXPIRED,
    "enqueue": ENQUEUE,
    "kill": KILL,
    "discard": DISCARD,
    "quarantine": QUARANTINE,
    "clear": CLEAR,
    "scan": SCAN,
    "stats": STATS,
    "kv_set": KV_SET,
    "kv_claim": KV_CLAIM,
    "kv_delete": KV_DELETE,
    "worker_connect": WORKER_CONNECT,
    "worker_disconnect": WORKER_DISCONNECT,
    "worker_reassert": WORKER_REASSERT,
    "worker_beat": WORKER_BEAT,
    "worker_signal": WORKER_SIGNAL,
    "worker_reap": WORKER_REAP,
    "migrate": MIGRATE,
}


#: Scripts whose replies may be large (a batch of reservations, a page of a set).
_BULKY = frozenset({"expired", "scan"})


@attrs.define(eq=False)
class Scripts:
    """Every script of the store on its Link (``EVALSHA``; sent with its source on NOSCRIPT)."""

    push: Script
    push_many: Script
    fetch: Script
    ready: Script
    pause: Script
    resume: Script
    remove: Script
    reservation: Script
    ack: Script
    settle: Script
    release: Script
    unreserve: Script
    replace: Script
    reindex: Script
    expired: Script
    enqueue: Script
    kill: Script
    discard: Script
    quarantine: Script
    clear: Script
    scan: Script
    stats: Script
    kv_set: Script
    kv_claim: Script
    kv_delete: Script
    worker_connect: Script
    worker_disconnect: Script
    worker_reassert: Script
    worker_beat: Script
    worker_signal: Script
    worker_reap: Script
    migrate: Script

    @classmethod
    def register(cls, link: Link) -> Scripts:
        return cls(
            **{name: Script(link, src, bulky=name in _BULKY) for name, src in _SOURCES.items()}
        )
