"""The Redis Store: Faktory 1.10's layout, every move of a job one Lua script.

State lives in Redis only (reservations, paused queues, workers, kv), so several servers can
share one Redis: a job fetched through one is ACKed through another, and two reapers never
settle one reservation twice (each script re-checks that the job is still where it was seen).
Reads that need Python to look inside job JSON (filters, a job's queue) read first and then
move with a script that moves only what is still there.

Times come from the caller (``now``) or the injected clock, never from the system clock: the
kv expiry is stored beside the value and checked against the clock (a Redis expiry slightly
later is only a safety net), and a blocked fetch waits on the clock (:mod:`.wakeup`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import math
import time
from collections.abc import Callable, Collection, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import attrs
import redis.exceptions as rex
from redis.asyncio import Redis

from faktory_core import jobjson
from faktory_core.clock import Clock
from faktory_core.errors import StoreError
from faktory_core.model import (
    DEFAULT_RESERVE_FOR,
    Job,
    JobFilter,
    Reservation,
    SetEntry,
    SortedSet,
    WorkerInfo,
    WorkerState,
    entry_key,
    parse_entry_key,
)
from faktory_core.plugins.redis_store.background import Background
from faktory_core.plugins.redis_store.codec import (
    Unreadable,
    decode_job,
    decode_reservation,
    decode_worker,
    encode_worker,
    extended,
    fstr,
    jid_of_reservation,
)
from faktory_core.plugins.redis_store.connection import (
    MIN_VERSION,
    RedisSettings,
    RedisSetupError,
    describe,
    make_pubsub_client,
    map_errors,
    redis_errors,
    server_version,
)
from faktory_core.plugins.redis_store.groups import Groups, Pair, jids_written
from faktory_core.plugins.redis_store.keys import Keys
from faktory_core.plugins.redis_store.link import Arg, Link
from faktory_core.plugins.redis_store.nodes import NODE_TTL_SECONDS, Mine, NodeBeat, new_node_id
from faktory_core.plugins.redis_store.scripts import Scripts
from faktory_core.plugins.redis_store.sentinel import Follower, Master, follow
from faktory_core.plugins.redis_store.supervisor import LOAD_SECONDS, LocalRedis
from faktory_core.plugins.redis_store.undo import UNDO_EVERY, LostFetch, LostFetches
from faktory_core.plugins.redis_store.wakeup import Listener, Waiter, Wakeups
from faktory_core.store import HISTORY_DAYS, DayCount, FailureOutcome, StoreStats
from faktory_core.timefmt import format_ts, utc_day

__all__ = ["RedisStore"]

log = logging.getLogger("faktory_core.plugins.redis_store")

_DAY = 86400
#: Daily counters expire this many seconds after the day's first increment (scripts.py).
DAY_TTL = HISTORY_DAYS * _DAY
#: Worker records expire this long (real time) after their last connect or beat, should every
#: server sharing the Redis be gone; the heartbeat reaper removes them long before.
WORKER_TTL_MS = 86400 * 1000
#: The Redis expiry of a kv item outlives its clock expiry by this much (safety net only).
KV_GRACE_MS = 1000
#: Attempts of a read-then-swap (extend, unreserve) racing other servers before giving up.
CAS_TRIES = 8
#: Unreadable jobs a single fetch steps over (moving them aside) before answering.
CORRUPT_SKIPS = 16
#: Entries read per round trip when a whole set is walked (reindex, queue_delete).
PAGE = 1000
#: Reservations this server made that :class:`Made` remembers, at most.
MADE_LIMIT = 8192
#: Distinct queue lists and wids (and queue names, for PUSH) whose keys are kept ready, at most
#: (one per worker process, typically).
FETCH_KEYS_LIMIT = 4096
#: Queues one fetch script looks at, at most: a FETCH naming more runs one script per this many,
#: in order, so one FETCH never holds Redis for a long list (other clients' commands run between).
FETCH_SCRIPT_QUEUES = 256


def _pairs(flat: Sequence[Any]) -> list[tuple[bytes, float]]:
    """A Lua WITHSCORES reply (member, score, member, score...) as pairs."""
    return [(_bytes(flat[i]), float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)]


def _bytes(value: Any) -> bytes:
    """A reply value as bytes: the client is made without decode_responses, so replies are
    bytes already, whatever redis-py's annotations allow."""
    return value if isinstance(value, bytes) else str(value).encode()


def _members(reply: Any) -> list[bytes]:
    return [_bytes(item) for item in reply]


def _text(value: Any) -> str:
    return _bytes(value).decode()


class Refused(enum.Enum):
    """What the fetch script answers a quiet or terminated worker."""

    REFUSED = "refused"


REFUSED = Refused.REFUSED


class Made:
    """The reservations this server made, by jid, so that ACK, FAIL and the reaper need not
    parse the reservation's JSON when Redis answers with the member the fetch script wrote.

    A member is recognised by its beginning (the job's stored bytes and ``reserved_at``) and
    its end (the ``wid``); only ``expires_at`` between them may differ (extended), and the
    expiry returned comes from the score Redis answered. Anything else -- a reservation made
    by another server, a job fetched again since, a member rewritten -- is parsed as before.
    At most ``limit`` entries (oldest dropped first): a miss costs only the parse.
    """

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int = MADE_LIMIT) -> None:
        self._items: dict[str, tuple[bytes, bytes, Reservation]] = {}
        self._limit = limit

    def add(self, res: Reservation, raw: bytes, reserved_at: str, wid_json: bytes) -> None:
        items = self._items
        if len(items) >= self._limit:
            del items[next(iter(items))]
        head = b'{"job":' + raw + b',"reserved_at":"' + reserved_at.encode() + b'","expires_at":"'
        items[res.job.jid] = (head, b'","wid":' + wid_json + b"}", res)

    def get(self, jid: str, member: bytes, expiry: float) -> Reservation | None:
        found = self._items.get(jid)
        if found is None:
            return None
        head, tail, res = found
        if not (member.startswith(head) and member.endswith(tail)):
            return None
        if expiry == res.expires_at:
            return res
        return Reservation(res.job, res.reserved_at, expiry, res.wid)

    def take(self, jid: str, member: bytes, expiry: float) -> Reservation | None:
        res = self.get(jid, member, expiry)
        self._items.pop(jid, None)
        return res

    def drop(self, jid: str) -> None:
        self._items.pop(jid, None)

    def clear(self) -> None:
        self._items.clear()


@attrs.define(eq=False, repr=False)
class RedisStore:
    """A :class:`~faktory_core.store.Store` on Redis ≥ 6.2 / Valkey ≥ 7.2.

    With ``settings.url`` None, :meth:`open` starts a supervised local Redis in ``storage``.
    """

    _clock: Clock
    settings: RedisSettings = attrs.field(factory=RedisSettings)
    storage: Path | None = None
    loglevel: str = "warning"
    name: str = attrs.field(default="redis", init=False)
    keys: Keys = attrs.field(init=False)
    #: The Redis in words (password hidden), for messages.
    where: str = attrs.field(default="redis", init=False)
    _link: Link | None = attrs.field(default=None, init=False)
    #: redis-py, for the pub/sub subscription only (one connection).
    _pubsub_client: Redis | None = attrs.field(default=None, init=False)
    _scripts: Scripts | None = attrs.field(default=None, init=False)
    _local: LocalRedis | None = attrs.field(default=None, init=False)
    _listener: Listener | None = attrs.field(default=None, init=False)
    _wakeups: Wakeups = attrs.field(factory=Wakeups, init=False)
    _made: Made = attrs.field(factory=Made, init=False)
    #: This server among those sharing the Redis, and what keeps it alive (see :mod:`.nodes`).
    node: str = attrs.field(factory=new_node_id, init=False)
    _beat: NodeBeat | None = attrs.field(default=None, init=False)
    _mine: Mine = attrs.field(factory=Mine, init=False)
    #: Held by connect, disconnect, the reap and a refresh: counts are read and written in turn.
    _workers_lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False)
    #: A lapse was seen and the counts are not all back yet (a failed re-registration retries).
    _reassert_pending: bool = attrs.field(default=False, init=False)
    #: Wids that another server's reaper dropped, whose connections here are still to close.
    _reaped_elsewhere: set[str] = attrs.field(factory=set, init=False)
    #: The last large same-score group read to act on (see :mod:`.groups`).
    _groups: Groups = attrs.field(factory=Groups, init=False)
    #: The fetch script's keys for a list of queues and a wid, and the wid as JSON.
    _fetch_keys: dict[tuple[tuple[str, ...], str], tuple[list[Arg], bytes]] = attrs.field(
        factory=dict, init=False
    )
    #: The push script's keys per queue name.
    _push_keys: dict[str, list[Arg]] = attrs.field(factory=dict, init=False)
    #: The ACK script's keys for the UTC day they were made for: (day, keys).
    _ack_keys: tuple[str, list[Arg]] = attrs.field(default=("", []), init=False)
    #: FETCHes whose script may have run although they failed, and the task putting their jobs
    #: back (:mod:`.undo`).
    _lost: LostFetches = attrs.field(factory=LostFetches, init=False)
    _undoer: Background = attrs.field(factory=Background, init=False)
    #: Keeps the store on the current master when the URL names sentinels.
    _follower: Follower | None = attrs.field(default=None, init=False)

    @keys.default
    def _make_keys(self) -> Keys:
        return Keys(self.settings.prefix)

    def __repr__(self) -> str:
        return f"RedisStore(where={self.where!r}, prefix={self.settings.prefix!r})"

    @property
    def _r(self) -> Link:
        if self._link is None:
            raise StoreError("the Redis store is not open")
        return self._link

    @property
    def _s(self) -> Scripts:
        if self._scripts is None:
            raise StoreError("the Redis store is not open")
        return self._scripts

    @property
    def local(self) -> LocalRedis | None:
        """The supervised local Redis, when the store runs one."""
        return self._local

    # -- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect (starting a local Redis first when no URL is set), check the server,
        migrate Faktory ≤ 1.9 queues, index reservations others wrote, subscribe."""
        try:
            url = await self._start_local() if self.settings.url is None else self.settings.url
            self._follower = await follow(url, self._switch, self._hold)
            if self._follower is not None:
                url = self._follower.url
            self.where = describe(url)
            # One connection of the pool is the subscription's; the rest are the Link's.
            self._link = Link(
                url,
                max(self.settings.pool_size - 1, 1),
                self.where,
                on_trouble=None if self._follower is None else self._follower.suspect,
                master_only=self._follower is not None,
                min_replicas=self.settings.min_replicas,
                replica_timeout=self.settings.replica_timeout,
            )
            await self._check_server()
            self._scripts = Scripts.register(self._link)
            with redis_errors(self.where):
                await self._migrate()
                await self._reindex()
                self._beat = NodeBeat(self._refresh_node)
                await self._beat.start()
                self._pubsub_client = make_pubsub_client(url)
                pubsub = self._pubsub_client
                others: dict[str, Callable[[bytes], None]] = {self.keys.reaped: self._on_reaped}
                listener = Listener(pubsub, self.keys.pushed, self._wakeups, self._ready, others)
                self._listener = listener
                await listener.start()
            if self._follower is not None:
                self._follower.start()
        except StoreError as exc:
            await self.close()
            raise RedisSetupError(exc.message) from exc
        except BaseException:
            await self.close()
            raise

    async def _start_local(self) -> str:
        if self.storage is None:
            raise RedisSetupError("no REDIS_URL and no storage directory to run a local Redis in")
        self._local = LocalRedis(self.storage, loglevel=self.loglevel)
        await self._local.start()
        return self._local.url

    def _hold(self, reason: str | None) -> None:
        if self._link is not None:
            self._link.hold(reason)

    async def _switch(self, master: Master) -> None:
        """The sentinels name a new master: commands and the subscription go there."""
        assert self._follower is not None
        url = self._follower.url
        self.where = describe(url)
        self._r.retarget(url, self.where)
        old, self._pubsub_client = self._pubsub_client, make_pubsub_client(url)
        if self._listener is not None:
            await self._listener.switch(self._pubsub_client)
        if old is not None:
            with contextlib.suppress(rex.RedisError, OSError):
                await old.aclose()
                await old.connection_pool.disconnect()

    async def _check_server(self) -> None:
        """PING through LOADING (bounded), then require Redis ≥ 6.2 (Valkey reports 7.2.4)."""
        with redis_errors(self.where), anyio.fail_after(LOAD_SECONDS):
            while not await self._ping():  # noqa: ASYNC110 -- Redis has no "loaded" event
                await anyio.sleep(0.1)
            label, version = await server_version(self._r)
        if version < MIN_VERSION:
            raise RedisSetupError(
                f"{label} at {self.where} is too old: faktory-core needs Redis ≥ 6.2 or Valkey"
            )
        log.info("redis store on %s at %s (prefix %r)", label, self.where, self.settings.prefix)

    async def debug_info(self) -> dict[str, Any]:
        """For the web UI's /debug page: where Redis is, its round-trip time and its INFO."""
        started = time.perf_counter()
        await self._r.execute("PING")
        rtt_us = round((time.perf_counter() - started) * 1e6)
        raw = await self._r.execute("INFO", bulky=True)
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        info = dict(
            line.split(":", 1) for line in text.splitlines() if ":" in line and line[0] != "#"
        )
        follower = {} if self._follower is None else self._follower.report()
        return {"location": self.where, **follower, "round trip (µs)": rtt_us, "redis": info}

    async def _ping(self) -> bool:
        """False while Redis is loading its data set."""
        try:
            await self._r.execute("PING")
        except rex.BusyLoadingError:
            return False
        return True

    async def close(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            await follower.stop()
        await self._undoer.stop()
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        self._groups.forget()
        beat, self._beat = self._beat, None
        if beat is not None:
            await beat.stop()
            with contextlib.suppress(StoreError, rex.RedisError, OSError):
                await self._r.execute("DEL", self.keys.node(self.node))  # gone now, not in 15 s
        client, self._pubsub_client = self._pubsub_client, None
        if client is not None:
            with contextlib.suppress(rex.RedisError, OSError):  # closing a dead link is fine
                await client.aclose()
                await client.connection_pool.disconnect()
        link, self._link = self._link, None
        self._scripts = None
        if link is not None:
            await link.aclose()
        local, self._local = self._local, None
        if local is not None:
            await local.stop()

    @map_errors
    async def flush(self) -> None:
        """Delete every key of this store's layout (and only those: a prefix shares a db),
        except the workers' records and the servers' node keys, which describe processes."""
        self._made.clear()
        kept = (self.keys.node_prefix.encode(), self.keys.worker_prefix.encode())
        registry = self.keys.workers.encode()
        for pattern in self.keys.families():
            cursor: bytes | int = 0
            while True:
                cursor, found = await self._r.execute(
                    "SCAN", cursor, "MATCH", pattern, "COUNT", PAGE, bulky=True
                )
                found = [
                    key
                    for key in found
                    if not (_bytes(key).startswith(kept) or _bytes(key) == registry)
                ]
                if found:
                    await self._r.execute("UNLINK", *found)
                if int(cursor) == 0:
                    break
        await self._r.execute("UNLINK", *self.keys.fixed())

    async def _migrate(self) -> None:
        moved = await self._s.migrate(
            keys=[self.keys.queues, self.keys.version], args=[self.keys.prefix]
        )
        if moved:
            names = ", ".join(sorted(name.decode() for name in moved))
            log.warning(
                "migrated %d queue(s) from Faktory ≤ 1.9's layout (bare keys) to q:<name>: %s",
                len(moved),
                names,
            )

    async def _reindex(self) -> None:
        """Index reservations in ``working`` that the jid index does not point to (written by
        Faktory, which keeps its index in memory)."""
        added = 0
        start = 0
        while True:
            members = _members(
                await self._r.execute(
                    "ZRANGE", self.keys.working, start, start + PAGE - 1, bulky=True
                )
            )
            if not members:
                break
            start += len(members)
            added += await self._reindex_page(members)
        if added:
            log.info("indexed %d reservation(s) written by another server", added)

    async def _reindex_page(self, members: list[bytes]) -> int:
        jids: list[str] = []
        pairs: list[bytes | str] = []
        for member in members:
            try:
                jids.append(jid_of_reservation(member))
            except Unreadable:
                continue
            pairs.extend((jids[-1], member))
        if not jids:
            return 0
        current = await self._r.execute("HMGET", self.keys.reservations, *jids)
        stale: list[bytes | str] = []
        for i, value in enumerate(current):
            if value != pairs[2 * i + 1]:
                stale.extend(pairs[2 * i : 2 * i + 2])
        return int(await self._s.reindex(keys=self._res_keys(), args=stale)) if stale else 0

    def _res_keys(self) -> list[str]:
        return [self.keys.reservations, self.keys.working]

    # -- queues ---------------------------------------------------------------------------------
    @map_errors
    async def push(self, job: Job) -> None:
        name = job.queue
        keys = self._push_keys.get(name)
        if keys is None:
            if len(self._push_keys) >= FETCH_KEYS_LIMIT:
                self._push_keys.clear()
            keys = self._push_keys[name] = [self.keys.queues, self.keys.queue(name)]
        await self._s.push(keys=keys, args=[name, job.encode(), self.keys.pushed])

    @map_errors
    async def push_many(self, jobs: Sequence[Job]) -> None:
        """One script for them all: the manager hands over PUSH_CHUNK (1,000) at most, and
        reports every one of them as failed when this raises."""
        args: list[Arg] = [self.keys.pushed, self.keys.prefix]
        for job in jobs:
            args.extend((job.queue, job.encode()))
        if jobs:
            await self._s.push_many(keys=[self.keys.queues], args=args)

    @map_errors
    async def fetch(
        self,
        queues: Sequence[str],
        wid: str,
        now: float,
        timeout: float,  # measured on self._clock
    ) -> Reservation | None:
        """Pop and reserve, or wait for a wake-up (:mod:`.wakeup`). The waiter is armed before
        each attempt, so a push that lands while the attempt is in flight is not missed. After
        a wait, the reservation starts ``now`` plus the time waited on the clock."""
        if timeout <= 0:
            res = await self._take(queues, wid, now)
            return None if res is REFUSED else res
        started = self._clock.now()
        waiter = Waiter(queues)
        try:
            while True:
                woken_for = waiter.woken_for
                self._wakeups.arm(waiter)
                res = await self._take(queues, wid, now + self._clock.now() - started)
                remaining = timeout - (self._clock.now() - started)
                if res is REFUSED:  # a quiet or terminated worker waits it out, for nothing
                    self._wakeups.discard(waiter)
                    self._pass_on(None, woken_for, waiter.woken_for)
                    if remaining > 0:
                        await self._clock.sleep(remaining)
                    return None
                if res is not None:
                    self._pass_on(res, woken_for, waiter.woken_for)
                    return res
                if remaining <= 0:
                    return None
                await self._clock.wait(waiter.event, remaining)
        finally:
            self._wakeups.discard(waiter)

    def _pass_on(self, res: Reservation | None, *reasons: str | None) -> None:
        """A wake-up meant for a queue this fetch did not take from goes to another waiter."""
        for queue in reasons:
            if queue is not None and (res is None or queue != res.job.queue):
                self._wakeups.notify(queue, 1)

    def _keys_of(self, queues: Sequence[str], wid: str) -> tuple[list[Arg], bytes]:
        """The fetch script's keys for ``queues`` and ``wid``, and the wid as JSON (kept)."""
        known = (tuple(queues), wid)
        found = self._fetch_keys.get(known)
        if found is None:
            if len(self._fetch_keys) >= FETCH_KEYS_LIMIT:
                self._fetch_keys.clear()
            keys: list[Arg] = [
                self.keys.paused,
                self.keys.working,
                self.keys.reservations,
                self.keys.corrupt,
                *(self.keys.queue(name) for name in queues),
                self.keys.worker(wid),
            ]
            found = self._fetch_keys[known] = (keys, jobjson.dumps(wid))
        return found

    async def _take(
        self, queues: Sequence[str], wid: str, now: float
    ) -> Reservation | Refused | None:
        """The fetch script over the queues, :data:`FETCH_SCRIPT_QUEUES` at a time in order: a
        reservation, None (nothing to fetch) or REFUSED (the worker is quiet or terminated)."""
        for start in range(0, len(queues), FETCH_SCRIPT_QUEUES):
            res = await self._take_from(queues[start : start + FETCH_SCRIPT_QUEUES], wid, now)
            if res is not None:
                return res
        return None

    async def _take_from(
        self, queues: Sequence[str], wid: str, now: float
    ) -> Reservation | Refused | None:
        keys, wid_json = self._keys_of(queues, wid)
        stamp, expiry = format_ts(now), now + DEFAULT_RESERVE_FOR
        # Jobs left behind the one taken are counted only when a fetch waits (to wake it).
        count = b"1" if self._wakeups else b"0"
        args: list[Arg] = [fstr(now), stamp, wid_json, fstr(expiry), format_ts(expiry), count]
        args += queues
        for _ in range(CORRUPT_SKIPS):
            try:
                reply = await self._s.fetch(keys=keys, args=args)
            except rex.ResponseError:
                raise  # Redis answered: the script failed, it reserved nothing
            except BaseException:
                self._lose(LostFetch.of(stamp, wid_json))  # it may run, or have run
                raise
            if not reply:
                return None
            if len(reply) == 1:
                return REFUSED
            if reply[0] == b"":
                log.error("moved a non-JSON job of queue %s aside: %r", reply[2], reply[1][:200])
                continue
            raw, expiry, queue, left, jid = reply
            try:
                job = decode_job(raw)
            except Unreadable as exc:
                await self._set_aside_reserved(jid.decode(), raw, str(exc))
                continue
            if left and self._wakeups:
                self._wakeups.notify(queue.decode(), int(left))  # jobs behind it: wake more
            res = Reservation(job, now, float(expiry), wid)
            self._made.add(res, raw, stamp, wid_json)
            return res
        return None

    # -- failed FETCHes (see .undo) -------------------------------------------------------------
    def _lose(self, lost: LostFetch) -> None:
        self._lost.add(lost)
        if not self._undoer.running:
            self._undoer.start(self._undo_lost())

    async def _undo_lost(self) -> None:
        """Search for the failed FETCHes' reservations until each is found or forgotten."""
        while self._lost:
            await asyncio.sleep(UNDO_EVERY)
            try:
                await self._undo_pass()
            except (StoreError, rex.RedisError, OSError) as exc:
                log.info("%d failed FETCH(es) to undo; Redis: %s", len(self._lost), exc)

    async def _undo_pass(self) -> None:
        start = 0
        while True:
            members = _members(
                await self._r.execute(
                    "ZRANGE", self.keys.working, start, start + PAGE - 1, bulky=True
                )
            )
            undone = 0
            for member in members:
                lost = self._lost.match(member)
                if lost is not None:
                    undone += await self._put_back(member)
                    self._lost.found(lost)
            if len(members) < PAGE or not self._lost:
                break
            start += len(members) - undone
        self._lost.searched()

    async def _put_back(self, member: bytes) -> int:
        """The reservation back at the head of its queue, if it is still ``member``."""
        try:
            job = decode_reservation(member, 0).job
        except Unreadable:
            return 0
        keys = [*self._res_keys(), self.keys.queues, self.keys.queue(job.queue)]
        args: list[Arg] = [job.jid, member, job.encode(), job.queue, self.keys.pushed]
        moved = int(await self._s.unreserve(keys=keys, args=args))
        if moved:
            self._made.drop(job.jid)
            log.warning(
                "put job %s back at the head of %s: the FETCH that reserved it failed (%s)",
                job.jid,
                job.queue,
                "Redis did not answer it in time",
            )
        return moved

    async def _set_aside_reserved(self, jid: str, raw: bytes, why: str) -> None:
        await self._s.release(keys=self._res_keys(), args=[jid])
        await self._r.execute("RPUSH", self.keys.corrupt, raw)
        log.error("moved an unreadable job (%s) aside to %s: %r", why, self.keys.corrupt, raw)

    @map_errors
    async def unreserve(self, jid: str) -> bool:
        self._made.drop(jid)
        for _ in range(CAS_TRIES):
            found = await self._reservation_raw(jid)
            if found is None:
                return False
            member, expiry = found
            job = decode_reservation(member, expiry).job
            keys = [*self._res_keys(), self.keys.queues, self.keys.queue(job.queue)]
            args: list[Arg] = [jid, member, job.encode(), job.queue, self.keys.pushed]
            if await self._s.unreserve(keys=keys, args=args):
                return True
        raise StoreError(f"the reservation of {jid} kept changing; try again")

    @map_errors
    async def release(self, jid: str) -> bool:
        self._made.drop(jid)
        return bool(await self._s.release(keys=self._res_keys(), args=[jid]))

    @map_errors
    async def queue_names(self) -> list[str]:
        return sorted(_text(name) for name in await self._r.execute("SMEMBERS", self.keys.queues))

    @map_errors
    async def queue_size(self, name: str) -> int:
        return int(await self._r.execute("LLEN", self.keys.queue(name)))

    @map_errors
    async def queue_page(self, name: str, offset: int, count: int) -> list[Job]:
        offset = max(offset, 0)
        if count <= 0:
            return []
        key, stop = self.keys.queue(name), offset + count - 1
        bulky = count > PAGE // 10
        raws = _members(await self._r.execute("LRANGE", key, offset, stop, bulky=bulky))
        return [job for job in map(self._readable_job, raws) if job is not None]

    def _readable_job(self, raw: bytes) -> Job | None:
        try:
            return decode_job(raw)
        except Unreadable as exc:
            log.warning("skipping an unreadable job (%s): %r", exc, raw[:200])
            return None

    @map_errors
    async def queue_delete(self, name: str, jids: Collection[str]) -> int:
        """Walk the list a page at a time; LREM each match (gone already: counts 0)."""
        wanted = set(jids)
        if not wanted:
            return 0
        needles = [jid.encode() for jid in wanted]
        key, start, doomed = self.keys.queue(name), 0, set[bytes]()
        while raws := _members(
            await self._r.execute("LRANGE", key, start, start + PAGE - 1, bulky=True)
        ):
            start += len(raws)
            for raw in raws:
                if any(needle in raw for needle in needles):
                    job = self._readable_job(raw)
                    if job is not None and job.jid in wanted:
                        doomed.add(raw)
        if not doomed:
            return 0
        return sum(await self._r.many([("LREM", key, 0, raw) for raw in doomed]))

    @map_errors
    async def queue_oldest(self, name: str) -> Job | None:
        raw = await self._r.execute("LINDEX", self.keys.queue(name), -1)
        return None if raw is None else self._readable_job(_bytes(raw))

    @map_errors
    async def pause(self, names: Collection[str]) -> None:
        if names:
            await self._s.pause(keys=[self.keys.queues, self.keys.paused], args=list(names))

    @map_errors
    async def resume(self, names: Collection[str]) -> None:
        if names:
            args = [self.keys.pushed, self.keys.prefix, *names]
            await self._s.resume(keys=[self.keys.paused], args=args)

    @map_errors
    async def remove(self, names: Collection[str]) -> None:
        if names:
            keys = [self.keys.queues, self.keys.paused]
            await self._s.remove(keys=keys, args=[self.keys.prefix, *names])

    @map_errors
    async def paused(self) -> set[str]:
        return {_text(name) for name in await self._r.execute("SMEMBERS", self.keys.paused)}

    async def _ready(self, queues: list[str]) -> dict[str, int]:
        """For the listener's fallback poll: waited-on queues that have jobs, unpaused."""
        keys = [self.keys.paused, *(self.keys.queue(name) for name in queues)]
        flat = await self._s.ready(keys=keys, args=queues)
        return {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}

    # -- sorted sets ----------------------------------------------------------------------------
    def _entry(self, which: SortedSet, member: bytes, at: float) -> SetEntry | None:
        try:
            return SetEntry(at, decode_job(member))
        except Unreadable as exc:
            log.warning("skipping an unreadable entry of %s (%s): %r", which, exc, member[:200])
            return None

    def _entries(self, which: SortedSet, pairs: Sequence[tuple[bytes, float]]) -> list[SetEntry]:
        found = (self._entry(which, member, at) for member, at in pairs)
        return [entry for entry in found if entry is not None]

    @map_errors
    async def set_add(self, which: SortedSet, score: float, job: Job) -> None:
        await self._r.execute("ZADD", self.keys.set(which), fstr(score), job.encode())

    @map_errors
    async def set_size(self, which: SortedSet) -> int:
        return int(await self._r.execute("ZCARD", self.keys.set(which)))

    @map_errors
    async def set_page(
        self, which: SortedSet, offset: int, count: int, *, reverse: bool = False
    ) -> list[SetEntry]:
        offset = max(offset, 0)
        if count <= 0:
            return []
        name, stop = self.keys.set(which), offset + count - 1
        verb = "ZREVRANGE" if reverse else "ZRANGE"
        flat = await self._r.execute(
            verb, name, offset, stop, "WITHSCORES", bulky=count > PAGE // 10
        )
        return self._entries(which, _pairs(flat))

    async def _find(
        self, which: SortedSet, keys: Collection[str], *, acting: bool = False
    ) -> dict[bytes, SetEntry]:
        """The members addressed by entry keys: ZRANGEBYSCORE of each exact score, then the jid
        (all same-score entries of one jid go together, as in the memory store). To act on
        entries, a large group read once is used again (:mod:`.groups`)."""
        wanted: dict[float, set[str]] = {}
        for key in keys:
            parsed = parse_entry_key(key)
            if parsed is not None and not math.isnan(parsed[0]):
                wanted.setdefault(parsed[0], set()).add(parsed[1])
        name = self.keys.set(which)
        groups: dict[float, list[Pair]] = {}
        if acting:
            groups = await self._kept_candidates(name, wanted)
        unread = [at for at in wanted if at not in groups]
        if unread:
            replies = await self._r.many(
                (("ZRANGEBYSCORE", name, fstr(at), fstr(at), "WITHSCORES") for at in unread),
                bulky=True,
            )
            for at, flat in zip(unread, replies, strict=True):
                groups[at] = _pairs(flat)
                if acting:
                    self._groups.keep(name, at, groups[at])
        found: dict[bytes, SetEntry] = {}
        for at, pairs in groups.items():
            jids = wanted[at]
            needles = {jid.encode() for jid in jids}
            for member, score in pairs:
                if _surely_not(member, needles):
                    continue
                entry = self._entry(which, member, score)
                if entry is not None and entry.job.jid in jids:
                    found[member] = entry
        return found

    async def _kept_candidates(
        self, name: str, wanted: dict[float, set[str]]
    ) -> dict[float, list[Pair]]:
        """Candidates from the kept group for the scores it has, if Redis still counts as many
        members there as it holds (one ZCOUNT; else those scores are read again)."""
        kept: dict[float, tuple[list[Pair], int]] = {}
        for at, jids in wanted.items():
            found = self._groups.candidates(name, at, {jid.encode() for jid in jids})
            if found is not None:
                kept[at] = found
        if not kept:
            return {}
        counts = await self._r.many(("ZCOUNT", name, fstr(at), fstr(at)) for at in kept)
        still = {}
        for (at, (pairs, size)), count in zip(kept.items(), counts, strict=True):
            if int(count) == size:
                still[at] = pairs
        if len(still) < len(kept):
            self._groups.forget()
        return still

    @map_errors
    async def set_get(self, which: SortedSet, key: str) -> SetEntry | None:
        found = await self._find(which, [key])
        return next(iter(found.values()), None)

    @map_errors
    async def set_scan(
        self, which: SortedSet, where: JobFilter, cursor: str, count: int
    ) -> tuple[list[SetEntry], str]:
        """Walk by score with a cursor naming the last entry examined, the rank it had and a
        digest of its member (``<rank>:<digest>:<score>|<jid>``; a plain entry key works too):
        resumed just after that entry, found at its rank or a little before it, so entries
        removed behind it do not make the walk skip any, and a walk through one large
        same-score group does not search the group at every step. See SCAN."""
        count = max(count, 1)
        hint, digest, key = _split_cursor(cursor)
        after = ("", "")
        if cursor:
            parsed = parse_entry_key(key)
            if parsed is None or math.isnan(parsed[0]):
                return [], ""
            after = (fstr(parsed[0]), parsed[1])
        start, flat = await self._s.scan(
            keys=[self.keys.set(which)], args=[*after, count, hint, digest]
        )
        pairs = _pairs(flat)
        seen = pairs[:count]
        match = where.matcher()
        found = []
        for member, at in seen:
            entry = self._entry(which, member, at)
            if entry is not None and match(entry.job, member):
                found.append(entry)
        if len(pairs) <= count:
            return found, ""
        member, at = seen[-1]
        last = entry_key(at, _lenient_jid(member))
        following = f"{int(start) + count - 1}:{_digest(member)}:{last}"
        return found, "" if following == cursor else following  # never loop in place

    @map_errors
    async def set_remove(self, which: SortedSet, keys: Collection[str]) -> int:
        found = await self._find(which, keys, acting=True)
        if not found:
            return 0
        args = [arg for member, entry in found.items() for arg in (member, fstr(entry.score))]
        removed = int(await self._s.discard(keys=[self.keys.set(which)], args=args))
        self._groups.acted_on(self.keys.set(which), found)
        return removed

    @map_errors
    async def set_clear(self, which: SortedSet) -> int:
        return int(await self._s.clear(keys=[self.keys.set(which)]))

    @map_errors
    async def set_enqueue(self, which: SortedSet, keys: Collection[str], now: float) -> int:
        found = await self._find(which, keys, acting=True)
        moved = await self._enqueue(which, list(found.items()), now)
        self._groups.acted_on(self.keys.set(which), found)
        return moved

    async def _enqueue(
        self, which: SortedSet, entries: list[tuple[bytes, SetEntry]], now: float
    ) -> int:
        if not entries:
            return 0
        stamp = format_ts(now)
        args: list[Arg] = [self.keys.pushed, self.keys.prefix]
        for member, entry in entries:
            job = attrs.evolve(entry.job, enqueued_at=stamp)
            args.extend((member, fstr(entry.score), job.queue, job.encode()))
        keys = [self.keys.set(which), self.keys.queues]
        return int(await self._s.enqueue(keys=keys, args=args))

    @map_errors
    async def set_kill(self, which: SortedSet, keys: Collection[str], score: float) -> int:
        found = await self._find(which, keys, acting=True)
        if not found:
            return 0
        set_keys = [self.keys.set(which), self.keys.set(SortedSet.DEAD)]
        args = [arg for member, entry in found.items() for arg in (member, fstr(entry.score))]
        moved = int(await self._s.kill(keys=set_keys, args=[fstr(score), *args]))
        self._groups.acted_on(self.keys.set(which), found)
        return moved

    @map_errors
    async def enqueue_due(self, which: SortedSet, now: float, limit: int) -> int:
        """Read the due entries, then move those still there (another server may be doing the
        same: each entry moves once). Unreadable ones are moved aside, not retried forever."""
        if limit <= 0:
            return 0
        name = self.keys.set(which)
        flat = await self._r.execute(
            "ZRANGEBYSCORE", name, "-inf", fstr(now), "WITHSCORES", "LIMIT", 0, limit, bulky=True
        )
        readable: list[tuple[bytes, SetEntry]] = []
        for member, at in _pairs(flat):
            entry = self._entry(which, member, at)
            if entry is None:
                await self._s.quarantine(keys=[name, self.keys.corrupt], args=[member])
            else:
                readable.append((member, entry))
        return await self._enqueue(which, readable, now)

    @map_errors
    async def purge(self, which: SortedSet, now: float) -> int:
        name = self.keys.set(which)
        return int(await self._r.execute("ZREMRANGEBYSCORE", name, "-inf", fstr(now)))

    # -- reservations ---------------------------------------------------------------------------
    async def _reservation_raw(self, jid: str) -> tuple[bytes, float] | None:
        reply = await self._s.reservation(keys=self._res_keys(), args=[jid])
        return None if not reply else (reply[0], float(reply[1]))

    @map_errors
    async def reservation(self, jid: str) -> Reservation | None:
        found = await self._reservation_raw(jid)
        if found is None:
            return None
        member, expiry = found
        return self._made.get(jid, member, expiry) or self._readable_reservation(member, expiry)

    def _readable_reservation(self, member: bytes, expiry: float) -> Reservation | None:
        try:
            return decode_reservation(member, expiry)
        except Unreadable as exc:
            log.warning("skipping an unreadable reservation (%s): %r", exc, member[:200])
            return None

    def _reservations(self, pairs: Sequence[tuple[bytes, float]]) -> list[Reservation]:
        found = (self._readable_reservation(member, at) for member, at in pairs)
        return [res for res in found if res is not None]

    @map_errors
    async def reservations(self) -> list[Reservation]:
        flat = await self._r.execute("ZRANGE", self.keys.working, 0, -1, "WITHSCORES", bulky=True)
        return self._reservations(_pairs(flat))

    @map_errors
    async def working_size(self) -> int:
        return int(await self._r.execute("ZCARD", self.keys.working))

    @map_errors
    async def ack(self, jid: str, now: float) -> Reservation | None:
        day, keys = self._ack_keys
        if day != (today := utc_day(now)):
            keys = [*self._res_keys(), self.keys.processed, self.keys.processed_on(today)]
            self._ack_keys = (today, keys)
        reply = await self._s.ack(keys=keys, args=[jid, DAY_TTL])
        if not reply:
            self._made.drop(jid)
            return None
        member, expiry = reply[0], float(reply[1])
        return self._made.take(jid, member, expiry) or self._readable_reservation(member, expiry)

    @map_errors
    async def settle_failure(
        self, jid: str, outcome: FailureOutcome, now: float, *, expired_only: bool = False
    ) -> bool:
        day = utc_day(now)
        target = outcome.destination
        keys = [
            *self._res_keys(),
            self.keys.processed,
            self.keys.failures,
            self.keys.processed_on(day),
            self.keys.failures_on(day),
            self.keys.set(target) if target is not None else self.keys.working,
        ]
        args: list[Arg] = [
            jid,
            fstr(now),
            int(expired_only),
            DAY_TTL,
            outcome.job.encode(),
            fstr(outcome.score),
            int(target is not None),
        ]
        settled = bool(await self._s.settle(keys=keys, args=args))
        if settled:
            self._made.drop(jid)
        return settled

    @map_errors
    async def extend(self, jid: str, until: float) -> bool:
        for _ in range(CAS_TRIES):
            found = await self._reservation_raw(jid)
            if found is None:
                return False
            member, expiry = found
            if until <= expiry:
                return True
            args: list[Arg] = [jid, member, extended(member, until), fstr(until)]
            if await self._s.replace(keys=self._res_keys(), args=args):
                return True
        raise StoreError(f"the reservation of {jid} kept changing; try again")

    @map_errors
    async def expired(self, now: float, limit: int) -> list[Reservation]:
        """Due reservations, oldest first. Unreadable or orphaned ones are moved aside (by the
        script, or here when only Python sees the problem): else they would fill every batch
        of the reaper forever."""
        if limit <= 0:
            return []
        keys = [*self._res_keys(), self.keys.corrupt]
        found = []
        for member, at in _pairs(await self._s.expired(keys=keys, args=[fstr(now), limit])):
            res = self._readable_reservation(member, at)
            if res is None:
                keys = [self.keys.working, self.keys.corrupt]
                await self._s.quarantine(keys=keys, args=[member])
            else:
                found.append(res)
        return found

    # -- counters and history -------------------------------------------------------------------
    @map_errors
    async def history(self, days: int, today: float) -> list[DayCount]:
        if days <= 0:
            return []
        end = date.fromisoformat(utc_day(today))
        names = [(end - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
        keys = [self.keys.processed_on(d) for d in names]
        keys += [self.keys.failures_on(d) for d in names]
        values = await self._r.execute("MGET", *keys)
        done, failed = values[:days], values[days:]
        return [
            DayCount(name, int(p or 0), int(f or 0))
            for name, p, f in zip(names, done, failed, strict=True)
        ]

    @map_errors
    async def stats(self) -> StoreStats:
        k = self.keys
        keys = [k.queues, *(k.set(which) for which in SortedSet), k.working]
        keys += [k.processed, k.failures, k.workers]
        flat = await self._s.stats(keys=keys, args=[k.prefix])
        scheduled, retries, dead, working, processed, failures, workers = map(int, flat[:7])
        rest = flat[7:]
        queues = {rest[i].decode(): int(rest[i + 1]) for i in range(0, len(rest) - 1, 2)}
        details = {} if self._follower is None else self._follower.report()
        return StoreStats(
            queues, scheduled, retries, dead, working, processed, failures, workers, details
        )

    # -- key-value space ------------------------------------------------------------------------
    @map_errors
    async def kv_get(self, key: str) -> bytes | None:
        value, expiry = await self._r.execute("HMGET", self.keys.kv(key), "v", "x")
        if value is None or (expiry is not None and float(expiry) <= self._clock.now()):
            return None
        return _bytes(value)

    def _expiry(self, ttl: float) -> tuple[str, int]:
        """The clock expiry, and the Redis expiry in ms that outlives it (safety net)."""
        return fstr(self._clock.now() + ttl), max(math.ceil(ttl * 1000), 0) + KV_GRACE_MS

    @map_errors
    async def kv_set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expiry: tuple[str, int | str] = ("", "") if ttl is None else self._expiry(ttl)
        await self._s.kv_set(keys=[self.keys.kv(key)], args=[value, *expiry])

    @map_errors
    async def kv_claim(self, key: str, value: bytes, ttl: float) -> bool:
        at, px = self._expiry(ttl)
        args: list[Arg] = [value, fstr(self._clock.now()), at, px]
        return bool(await self._s.kv_claim(keys=[self.keys.kv(key)], args=args))

    @map_errors
    async def kv_delete(self, key: str) -> bool:
        args = [fstr(self._clock.now())]
        return bool(await self._s.kv_delete(keys=[self.keys.kv(key)], args=args))

    # -- workers --------------------------------------------------------------------------------
    def _worker(self, wid: str, flat: list[bytes]) -> WorkerInfo | None:
        try:
            return decode_worker(wid, flat) if flat else None
        except Unreadable as exc:
            log.warning("skipping an unreadable worker record: %s", exc)
            return None

    async def _refresh_node(self) -> None:
        """Renew this server's key; if it had lapsed, put the counts back. One at a time (the
        beat task and the reaper both refresh), and no connect or disconnect meanwhile."""
        async with self._workers_lock:
            key = self.keys.node(self.node)
            ttl = int(NODE_TTL_SECONDS * 1000)
            previous = await self._r.execute("SET", key, "1", "PX", ttl, "GET")
            if previous is None or self._reassert_pending:
                self._reassert_pending = True
                await self._reassert()
                self._reassert_pending = False

    async def _reassert(self) -> None:
        """The key had lapsed (or this is the start): put this server's counts back."""
        mine = list(self._mine)
        for record, count in mine:
            keys = [self.keys.workers, self.keys.worker(record.wid)]
            args = [record.wid, WORKER_TTL_MS, f"c:{self.node}", count, *encode_worker(record)]
            await self._s.worker_reassert(keys=keys, args=args)
        if mine:
            log.warning(
                "this server's presence key in Redis had lapsed (Redis unreachable, or this "
                "server stalled, for over %ss); its %d worker(s) are registered again",
                NODE_TTL_SECONDS,
                len(mine),
            )

    def _on_reaped(self, data: bytes) -> None:
        """``"<node> <wid>"`` from a reaper: another server's drop, to close here as well."""
        node, _, wid = data.decode("utf-8", "replace").partition(" ")
        if node != self.node and wid:
            self._reaped_elsewhere.add(wid)
            self._mine.reaped(wid)  # now: a disconnect must not count down a new registration

    @map_errors
    async def worker_connect(self, info: WorkerInfo) -> WorkerInfo:
        keys = [self.keys.workers, self.keys.worker(info.wid)]
        args = [info.wid, WORKER_TTL_MS, f"c:{self.node}", *encode_worker(info)]
        async with self._workers_lock:
            flat = await self._s.worker_connect(keys=keys, args=args)
            record = self._worker(info.wid, flat)
            if record is None:
                raise StoreError(f"the record of worker {info.wid} is unreadable")
            self._mine.connected(record)
        return record

    @map_errors
    async def worker_disconnect(self, wid: str) -> None:
        keys = [self.keys.workers, self.keys.worker(wid)]
        args = [wid, f"c:{self.node}", self.keys.node_prefix]
        async with self._workers_lock:
            # The connection is gone, whatever Redis answers.
            if self._mine.disconnected(wid):
                await self._s.worker_disconnect(keys=keys, args=args)

    @map_errors
    async def worker_beat(
        self, wid: str, rss_kb: int, requested: WorkerState | None, now: float
    ) -> WorkerInfo | None:
        state = "" if requested is None else requested.value
        args: list[Arg] = [rss_kb, state, fstr(now), WORKER_TTL_MS]
        flat = await self._s.worker_beat(keys=[self.keys.worker(wid)], args=args)
        record = self._worker(wid, flat) if flat else None
        if record is not None:
            self._mine.seen(record)
        return record

    @map_errors
    async def worker_signal(self, wids: Collection[str] | None, state: WorkerState) -> int:
        prefix = self.keys.worker_prefix
        args = [prefix, state.value, int(wids is None), *(wids or ())]
        return int(await self._s.worker_signal(keys=[self.keys.workers], args=args))

    @map_errors
    async def worker_get(self, wid: str) -> WorkerInfo | None:
        return self._worker(wid, _members(await self._r.execute("HGETALL", self.keys.worker(wid))))

    @map_errors
    async def workers(self) -> list[WorkerInfo]:
        wids = sorted(_text(wid) for wid in await self._r.execute("SMEMBERS", self.keys.workers))
        records = await self._r.many(("HGETALL", self.keys.worker(wid)) for wid in wids)
        found = (self._worker(wid, _members(r)) for wid, r in zip(wids, records, strict=True))
        return [info for info in found if info is not None]

    @map_errors
    async def reap_workers(self, older_than: float) -> list[str]:
        """Drop silent workers (telling the other servers), and records whose every server is
        gone; answer the wids whose connections to close here: reaped by this server or, since
        the last call, by another -- unless the worker has registered again since (a new
        connection somewhere), which the late close here must not cut off."""
        await self._refresh_node()  # this server is alive, whatever its beat task managed
        args = [self.keys.worker_prefix, fstr(older_than), self.keys.node_prefix, self.node]
        keys = [self.keys.workers, self.keys.reaped]
        async with self._workers_lock:
            reaped = [_text(wid) for wid in await self._s.worker_reap(keys=keys, args=args)]
            for wid in reaped:
                self._mine.reaped(wid)
        elsewhere = sorted(self._reaped_elsewhere - set(reaped))
        self._reaped_elsewhere = set()
        if elsewhere:
            back = await self._r.many(("EXISTS", self.keys.worker(wid)) for wid in elsewhere)
            reaped += [wid for wid, exists in zip(elsewhere, back, strict=True) if not exists]
        return reaped


def _surely_not(member: bytes, jids: set[bytes]) -> bool:
    """True when ``member`` certainly has none of these jids, without decoding it: every
    ``"jid"`` in it is written ``"jid":"<plain text>"`` and none of those texts is wanted.
    A whole set may share one score (a MUTATE kill gives all it moves the same one), so
    addressing entries by key must not decode the whole group for every chunk."""
    written = jids_written(member)
    return written is not None and not any(jid in jids for jid in written)


def _split_cursor(cursor: str) -> tuple[str, str, str]:
    """A scan cursor's rank hint, member digest and entry key ('' for a part it lacks: a plain
    entry key has neither, an older cursor ``<rank>:<score>|<jid>`` no digest). A score never
    holds ':' or '|', so ':'s before the first '|' end the parts; a part that is not what this
    store writes is ignored, not sent to Redis."""
    bar = cursor.find("|")
    parts = cursor[: bar if bar >= 0 else len(cursor)].split(":")
    if len(parts) not in (2, 3):
        return "", "", cursor
    hint, digest = parts[0], parts[1] if len(parts) == 3 else ""
    key = cursor[len(hint) + 1 + (len(digest) + 1 if len(parts) == 3 else 0) :]
    if not (hint.isascii() and hint.isdigit() and len(hint) <= 15):
        hint = ""
    if not (len(digest) == 16 and all(c in "0123456789abcdef" for c in digest)):
        digest = ""
    return hint, digest, key


def _digest(member: bytes) -> str:
    """What SCAN recognises a cursor entry by: the start of its SHA-1 (``redis.sha1hex``)."""
    return hashlib.sha1(member, usedforsecurity=False).hexdigest()[:16]


def _lenient_jid(member: bytes) -> str:
    """The jid of a member for a scan cursor, even when the job is otherwise unreadable."""
    try:
        data = jobjson.loads(member)
    except jobjson.JSONError:
        return ""
    jid = data.get("jid") if isinstance(data, dict) else None
    return jid if isinstance(jid, str) else ""
