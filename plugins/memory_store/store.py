"""The in-memory Store: everything in Python data structures, saved to one file on close.

Atomicity comes for free: a method that moves a job never awaits between reading and writing,
so on one event loop no other task can see a half-moved job. Costs: push, fetch, ack and
settle are O(1) or O(log n); sorted sets are :mod:`sortedcontainers` structures keyed by
``(score, jid, seq)`` so adding, removing and paging by index are O(log n + page). Nothing
walks a whole set except FLUSH, clear and the snapshot.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections import deque
from collections.abc import Collection, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

import anyio
import anyio.to_thread
import attrs
from sortedcontainers import SortedDict, SortedList  # type: ignore[import-untyped]

from faktory_core.clock import Clock
from faktory_core.model import (
    Job,
    JobFilter,
    JobPredicate,
    Reservation,
    SetEntry,
    SortedSet,
    WorkerInfo,
    WorkerState,
    parse_entry_key,
)
from faktory_core.plugins.memory_store import snapshot
from faktory_core.store import HISTORY_DAYS, DayCount, FailureOutcome, StoreStats
from faktory_core.timefmt import format_ts, utc_day

__all__ = ["MemoryStore"]

#: Upper bound of the ``seq`` part of a set key, to find every entry with one (score, jid).
_MAX_SEQ = sys.maxsize
_DAY = 86400.0

_SetKey = tuple[float, str, int]


class _JobSet:
    """One sorted set. Keys ``(score, jid, seq)``: ``seq`` keeps same-score duplicates apart
    and makes every key unique, so jobs are never compared."""

    def __init__(self) -> None:
        self._entries = SortedDict()  # _SetKey -> Job
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, score: float, job: Job) -> None:
        self._entries[(score, job.jid, next(self._seq))] = job

    def entries(self) -> list[SetEntry]:
        return [self._entry(key) for key in self._entries]

    def page(self, offset: int, count: int, reverse: bool) -> list[SetEntry]:
        offset, size = max(offset, 0), len(self._entries)
        if count <= 0 or offset >= size:
            return []
        if reverse:
            start, stop = max(size - offset - count, 0), size - offset
        else:
            start, stop = offset, min(offset + count, size)
        keys = self._entries.islice(start, stop, reverse=reverse)
        return [self._entry(key) for key in keys]

    def get(self, key: str) -> SetEntry | None:
        found = self._find(key)
        return self._entry(found[0]) if found else None

    def pop_keys(self, keys: Collection[str]) -> list[SetEntry]:
        """Remove every entry addressed by ``keys`` (all duplicates of one key go together;
        ``1|x`` and ``1.0|x`` address the same entries)."""
        found = {set_key for key in keys for set_key in self._find(key)}
        return [self._pop(set_key) for set_key in sorted(found)]

    def pop_due(self, now: float, limit: int | None) -> list[SetEntry]:
        """Remove up to ``limit`` (None: all) entries with score ≤ now, lowest first."""
        due = _count_upto(self._entries, now)
        if limit is not None:
            due = min(due, max(limit, 0))
        return [self._pop_first() for _ in range(due)]

    def clear(self) -> int:
        size = len(self._entries)
        self._entries.clear()
        return size

    def scan(self, match: JobPredicate, cursor: str, count: int) -> tuple[list[SetEntry], str]:
        """Examine up to ``count`` entries after ``cursor``; the cursor is the last key seen."""
        count = max(count, 1)
        keys: Iterator[_SetKey] = iter(self._entries)
        if cursor:
            after = _parse_cursor(cursor)
            if after is None:
                return [], ""
            keys = self._entries.irange(minimum=after, inclusive=(False, True))
        window = list(itertools.islice(keys, count + 1))
        seen = window[:count]
        found = [self._entry(key) for key in seen if match(self._entries[key], None)]
        return found, _format_cursor(seen[-1]) if len(window) > count else ""

    def _find(self, key: str) -> list[_SetKey]:
        parsed = parse_entry_key(key)
        if parsed is None or math.isnan(parsed[0]):
            return []
        score, jid = parsed
        return list(self._entries.irange((score, jid), (score, jid, _MAX_SEQ)))

    def _entry(self, key: _SetKey) -> SetEntry:
        job: Job = self._entries[key]
        return SetEntry(key[0], job)

    def _pop_first(self) -> SetEntry:
        key: _SetKey
        job: Job
        key, job = self._entries.popitem(0)
        return SetEntry(key[0], job)

    def _pop(self, key: _SetKey) -> SetEntry:
        job: Job = self._entries.pop(key)
        return SetEntry(key[0], job)


def _format_cursor(key: _SetKey) -> str:
    score, jid, seq = key
    return f"{score!r}|{seq}|{jid}"


def _parse_cursor(cursor: str) -> _SetKey | None:
    """The key to resume after, or None for a cursor this store never made."""
    parts = cursor.split("|", 2)
    if len(parts) != 3:
        return None
    try:
        score, seq = float(parts[0]), int(parts[1])
    except ValueError:
        return None
    return None if math.isnan(score) else (score, parts[2], seq)


def _count_upto(keys: SortedDict | SortedList, score: float) -> int:
    """How many keys (tuples starting with a score) have a score ≤ ``score``: ``(x,)`` sorts
    before every longer tuple starting with ``x``."""
    index: int = keys.bisect_left((math.nextafter(score, math.inf),))
    return index


class _Reservations:
    """Reservations by jid, with an index by expiry for the reaper."""

    def __init__(self) -> None:
        self.by_jid: dict[str, Reservation] = {}
        self._by_expiry = SortedList()  # (expires_at, jid)

    def __len__(self) -> int:
        return len(self.by_jid)

    def put(self, res: Reservation) -> None:
        """Add or overwrite (a second in-flight job with the same jid wins, as in Faktory)."""
        self.pop(res.job.jid)
        self.by_jid[res.job.jid] = res
        self._by_expiry.add((res.expires_at, res.job.jid))

    def pop(self, jid: str) -> Reservation | None:
        res = self.by_jid.pop(jid, None)
        if res is not None:
            self._by_expiry.remove((res.expires_at, jid))
        return res

    def expired(self, now: float, limit: int) -> list[Reservation]:
        due = min(_count_upto(self._by_expiry, now), max(limit, 0))
        return [self.by_jid[jid] for _, jid in self._by_expiry.islice(0, due)]

    def clear(self) -> None:
        self.by_jid.clear()
        self._by_expiry.clear()


@attrs.define
class _Counters:
    """Totals and per-UTC-day counts of processed and failed jobs."""

    processed: int = 0
    failures: int = 0
    days: dict[str, DayCount] = attrs.field(factory=dict)

    def count(self, now: float, *, failed: bool) -> None:
        self.processed += 1
        self.failures += failed
        day = utc_day(now)
        old = self.days.get(day)
        if old is None:
            self._prune(now)
            old = DayCount(day, 0, 0)
        self.days[day] = DayCount(day, old.processed + 1, old.failures + failed)

    def _prune(self, now: float) -> None:
        """Keep the HISTORY_DAYS days ending today (runs once per new day)."""
        oldest = utc_day(now - (HISTORY_DAYS - 1) * _DAY)
        for day in [day for day in self.days if day < oldest]:
            del self.days[day]

    def history(self, days: int, today: float) -> list[DayCount]:
        end = date.fromisoformat(utc_day(today))
        names = [(end - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
        return [self.days.get(name, DayCount(name, 0, 0)) for name in names]


@attrs.define(eq=False, repr=False)
class MemoryStore:
    """A :class:`~faktory_core.store.Store` in process memory, snapshotted to ``path``.

    With ``path`` None nothing is saved. The snapshot is written by :meth:`close` only, and
    only when :meth:`open` succeeded, so a snapshot that failed to load is never overwritten.
    """

    _clock: Clock
    path: Path | None = None
    name: str = attrs.field(default="memory", init=False)
    _queues: dict[str, deque[Job]] = attrs.field(factory=dict, init=False)
    _paused: set[str] = attrs.field(factory=set, init=False)
    _sets: dict[SortedSet, _JobSet] = attrs.field(init=False)
    _reserved: _Reservations = attrs.field(factory=_Reservations, init=False)
    _counters: _Counters = attrs.field(factory=_Counters, init=False)
    _kv: dict[str, tuple[bytes, float | None]] = attrs.field(factory=dict, init=False)
    _workers: dict[str, WorkerInfo] = attrs.field(factory=dict, init=False)
    #: Set and dropped by every push; blocked fetches wait on it. Created lazily because an
    #: anyio.Event can only be made inside a running event loop.
    _pushed: anyio.Event | None = attrs.field(default=None, init=False)
    _opened: bool = attrs.field(default=False, init=False)

    @_sets.default
    def _new_sets(self) -> dict[SortedSet, _JobSet]:
        return {which: _JobSet() for which in SortedSet}

    def __repr__(self) -> str:
        return f"MemoryStore(path={self.path!r})"

    # -- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> None:
        if self.path is not None:
            state = await anyio.to_thread.run_sync(snapshot.load, self.path)
            if state is not None:
                self._restore(state)
        self._opened = True

    async def close(self) -> None:
        if self.path is None or not self._opened:
            return
        data = snapshot.encode(self._export())
        await anyio.to_thread.run_sync(snapshot.save, self.path, data)
        self._opened = False

    async def flush(self) -> None:
        self._queues.clear()
        self._paused.clear()
        for job_set in self._sets.values():
            job_set.clear()
        self._reserved.clear()
        self._counters = _Counters()
        self._kv.clear()  # workers' records stay (Store.flush)

    def _export(self) -> snapshot.StoreState:
        return snapshot.StoreState(
            queues={name: list(jobs) for name, jobs in self._queues.items()},
            paused=set(self._paused),
            sets={which: job_set.entries() for which, job_set in self._sets.items()},
            reservations=list(self._reserved.by_jid.values()),
            processed=self._counters.processed,
            failures=self._counters.failures,
            history=list(self._counters.days.values()),
            kv=dict(self._kv),
        )

    def _restore(self, state: snapshot.StoreState) -> None:
        self._queues = {name: deque(jobs) for name, jobs in state.queues.items()}
        self._paused = set(state.paused)
        for which, entries in state.sets.items():
            for entry in entries:
                self._sets[which].add(entry.score, entry.job)
        for res in state.reservations:
            self._reserved.put(res)
        days = {day.day: day for day in state.history}
        self._counters = _Counters(state.processed, state.failures, days)
        self._kv = dict(state.kv)

    # -- queues ---------------------------------------------------------------------------------
    async def push(self, job: Job) -> None:
        self._enqueue(job)

    async def push_many(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            self._enqueue(job)

    def _enqueue(self, job: Job, *, first: bool = False) -> None:
        """Add to the queue (registering it) and wake blocked fetches."""
        jobs = self._queues.setdefault(job.queue, deque())
        if first:
            jobs.appendleft(job)
        else:
            jobs.append(job)
        if self._pushed is not None:
            self._pushed.set()
            self._pushed = None

    async def fetch(
        self,
        queues: Sequence[str],
        wid: str,
        now: float,
        timeout: float,  # measured on self._clock
    ) -> Reservation | None:
        """Pop and reserve, or wait for a push. After a wait, the reservation starts ``now``
        plus the time waited on the store's clock. A quiet or terminated ``wid`` gets nothing
        and waits out the timeout."""
        started = self._clock.now()
        while True:
            waited = self._clock.now() - started
            if self._refused(wid):
                if waited < timeout:
                    await self._clock.sleep(timeout - waited)
                return None
            res = self._take(queues, wid, now + waited)
            if res is not None or waited >= timeout:
                return res
            if self._pushed is None:
                self._pushed = anyio.Event()
            await self._clock.wait(self._pushed, timeout - waited)

    def _refused(self, wid: str) -> bool:
        """A quiet or terminated worker gets nothing, on every connection of its wid."""
        info = self._workers.get(wid) if wid else None
        return info is not None and info.state is not WorkerState.RUNNING

    def _take(self, queues: Sequence[str], wid: str, now: float) -> Reservation | None:
        for name in queues:
            jobs = self._queues.get(name)
            if jobs and name not in self._paused:
                job = jobs.popleft()
                res = Reservation(job, now, now + job.reservation_seconds, wid)
                self._reserved.put(res)
                return res
        return None

    async def unreserve(self, jid: str) -> bool:
        res = self._reserved.pop(jid)
        if res is None:
            return False
        self._enqueue(res.job, first=True)
        return True

    async def release(self, jid: str) -> bool:
        return self._reserved.pop(jid) is not None

    async def queue_names(self) -> list[str]:
        return sorted(self._queues)

    async def queue_size(self, name: str) -> int:
        return len(self._queues.get(name, ()))

    async def queue_page(self, name: str, offset: int, count: int) -> list[Job]:
        jobs = self._queues.get(name, deque())
        offset = max(offset, 0)
        return list(itertools.islice(reversed(jobs), offset, offset + max(count, 0)))

    async def queue_delete(self, name: str, jids: Collection[str]) -> int:
        jobs = self._queues.get(name)
        if not jobs or not jids:
            return 0
        wanted = set(jids)
        kept = deque(job for job in jobs if job.jid not in wanted)
        removed = len(jobs) - len(kept)
        self._queues[name] = kept
        return removed

    async def queue_oldest(self, name: str) -> Job | None:
        jobs = self._queues.get(name)
        return jobs[0] if jobs else None

    async def pause(self, names: Collection[str]) -> None:
        self._paused.update(name for name in names if name in self._queues)

    async def resume(self, names: Collection[str]) -> None:
        self._paused.difference_update(names)

    async def remove(self, names: Collection[str]) -> None:
        for name in names:
            self._queues.pop(name, None)
            self._paused.discard(name)

    async def paused(self) -> set[str]:
        return set(self._paused)

    # -- sorted sets ----------------------------------------------------------------------------
    async def set_add(self, which: SortedSet, score: float, job: Job) -> None:
        self._sets[which].add(score, job)

    async def set_size(self, which: SortedSet) -> int:
        return len(self._sets[which])

    async def set_page(
        self, which: SortedSet, offset: int, count: int, *, reverse: bool = False
    ) -> list[SetEntry]:
        return self._sets[which].page(offset, count, reverse)

    async def set_get(self, which: SortedSet, key: str) -> SetEntry | None:
        return self._sets[which].get(key)

    async def set_scan(
        self, which: SortedSet, where: JobFilter, cursor: str, count: int
    ) -> tuple[list[SetEntry], str]:
        """The cursor is the last key examined (``score|seq|jid``); entries added or removed
        behind it are not revisited. A cursor this store did not make ends the walk."""
        return self._sets[which].scan(where.matcher(), cursor, count)

    async def set_remove(self, which: SortedSet, keys: Collection[str]) -> int:
        return len(self._sets[which].pop_keys(keys))

    async def set_clear(self, which: SortedSet) -> int:
        return self._sets[which].clear()

    async def set_enqueue(self, which: SortedSet, keys: Collection[str], now: float) -> int:
        return self._enqueue_entries(which, self._sets[which].pop_keys(keys), now)

    async def set_kill(self, which: SortedSet, keys: Collection[str], score: float) -> int:
        entries = self._sets[which].pop_keys(keys)
        for entry in entries:
            self._sets[SortedSet.DEAD].add(score, entry.job)
        return len(entries)

    async def enqueue_due(self, which: SortedSet, now: float, limit: int) -> int:
        return self._enqueue_entries(which, self._sets[which].pop_due(now, limit), now)

    async def purge(self, which: SortedSet, now: float) -> int:
        return len(self._sets[which].pop_due(now, None))

    def _enqueue_entries(self, which: SortedSet, entries: list[SetEntry], now: float) -> int:
        """Enqueue popped entries; should one fail, it and those after it go back to the set."""
        enqueued_at = format_ts(now)
        for moved, entry in enumerate(entries):
            try:
                self._enqueue(attrs.evolve(entry.job, enqueued_at=enqueued_at))
            except BaseException:
                for rest in entries[moved:]:
                    self._sets[which].add(rest.score, rest.job)
                raise
        return len(entries)

    # -- reservations ---------------------------------------------------------------------------
    async def reservation(self, jid: str) -> Reservation | None:
        return self._reserved.by_jid.get(jid)

    async def reservations(self) -> list[Reservation]:
        return list(self._reserved.by_jid.values())

    async def working_size(self) -> int:
        return len(self._reserved)

    async def ack(self, jid: str, now: float) -> Reservation | None:
        res = self._reserved.pop(jid)
        if res is not None:
            self._counters.count(now, failed=False)
        return res

    async def settle_failure(
        self, jid: str, outcome: FailureOutcome, now: float, *, expired_only: bool = False
    ) -> bool:
        res = self._reserved.by_jid.get(jid)
        if res is None or (expired_only and res.expires_at > now):
            return False
        self._reserved.pop(jid)
        self._counters.count(now, failed=True)
        if outcome.destination is not None:
            self._sets[outcome.destination].add(outcome.score, outcome.job)
        return True

    async def extend(self, jid: str, until: float) -> bool:
        res = self._reserved.by_jid.get(jid)
        if res is None:
            return False
        if until > res.expires_at:
            self._reserved.put(attrs.evolve(res, expires_at=until))
        return True

    async def expired(self, now: float, limit: int) -> list[Reservation]:
        return self._reserved.expired(now, limit)

    # -- counters and history -------------------------------------------------------------------
    async def history(self, days: int, today: float) -> list[DayCount]:
        return self._counters.history(days, today)

    async def stats(self) -> StoreStats:
        return StoreStats(
            queues={name: len(jobs) for name, jobs in self._queues.items()},
            scheduled=len(self._sets[SortedSet.SCHEDULED]),
            retries=len(self._sets[SortedSet.RETRIES]),
            dead=len(self._sets[SortedSet.DEAD]),
            working=len(self._reserved),
            processed=self._counters.processed,
            failures=self._counters.failures,
            workers=len(self._workers),
        )

    # -- key-value space ------------------------------------------------------------------------
    async def kv_get(self, key: str) -> bytes | None:
        item = self._kv_live(key)
        return None if item is None else item[0]

    async def kv_set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expires = None if ttl is None else self._clock.now() + ttl
        self._kv[key] = (value, expires)

    async def kv_claim(self, key: str, value: bytes, ttl: float) -> bool:
        if self._kv_live(key) is not None:
            return False
        self._kv[key] = (value, self._clock.now() + ttl)
        return True

    async def kv_delete(self, key: str) -> bool:
        if self._kv_live(key) is None:
            return False
        del self._kv[key]
        return True

    def _kv_live(self, key: str) -> tuple[bytes, float | None] | None:
        """The item, dropping it when its time has come (expired at ``now ≥ expiry``)."""
        item = self._kv.get(key)
        if item is not None and item[1] is not None and self._clock.now() >= item[1]:
            del self._kv[key]
            return None
        return item

    # -- workers --------------------------------------------------------------------------------
    async def worker_connect(self, info: WorkerInfo) -> WorkerInfo:
        known = self._workers.get(info.wid)
        record = attrs.evolve(known or info, connections=(known.connections if known else 0) + 1)
        self._workers[info.wid] = record
        return record

    async def worker_disconnect(self, wid: str) -> None:
        known = self._workers.get(wid)
        if known is None:
            return
        if known.connections <= 1:
            del self._workers[wid]
        else:
            self._workers[wid] = attrs.evolve(known, connections=known.connections - 1)

    async def worker_beat(
        self, wid: str, rss_kb: int, requested: WorkerState | None, now: float
    ) -> WorkerInfo | None:
        known = self._workers.get(wid)
        if known is None:
            return None
        state = known.state if requested is None else known.state.advance(requested)
        record = attrs.evolve(known, rss_kb=rss_kb, last_beat=now, state=state)
        self._workers[wid] = record
        return record

    async def worker_signal(self, wids: Collection[str] | None, state: WorkerState) -> int:
        targets = self._workers.keys() if wids is None else set(wids) & self._workers.keys()
        changed = 0
        for wid in list(targets):
            known = self._workers[wid]
            advanced = known.state.advance(state)
            if advanced is not known.state:
                self._workers[wid] = attrs.evolve(known, state=advanced)
                changed += 1
        return changed

    async def worker_get(self, wid: str) -> WorkerInfo | None:
        return self._workers.get(wid)

    async def workers(self) -> list[WorkerInfo]:
        return list(self._workers.values())

    async def reap_workers(self, older_than: float) -> list[str]:
        stale = [wid for wid, info in self._workers.items() if info.last_beat < older_than]
        for wid in stale:
            del self._workers[wid]
        return stale
