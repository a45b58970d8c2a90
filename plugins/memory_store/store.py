"""The in-memory Store: everything in Python data structures, saved to one file on close.

Atomicity comes for free: a method that moves a job never awaits between reading and writing,
so on one event loop no other task can see a half-moved job. Costs: push, fetch, ack and
settle are O(1) or O(log n); sorted sets are :mod:`sortedcontainers` structures keyed by
``(score, jid, seq)`` so adding, removing and paging by index are O(log n + page). Nothing
walks a whole set except FLUSH, clear and the snapshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import logging
import math
import pickle
import sys
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import attrs
from sortedcontainers import SortedDict, SortedList  # type: ignore[import-untyped]

from faktory_core.clock import Clock
from faktory_core.errors import InvalidJob, StoreError
from faktory_core.model import (
    Job,
    JobFilter,
    JobPredicate,
    Reservation,
    SetEntry,
    SortedSet,
    WorkerInfo,
    WorkerState,
    job_from_dict,
    parse_entry_key,
)
from faktory_core.plugins.memory_store import journal, snapshot
from faktory_core.plugins.memory_store.extensions import Dormant, Extension, ExtensionState
from faktory_core.plugins.memory_store.journal import (
    Journal,
    JournalError,
    JournalSettings,
    check_sequence,
    damage_message,
)
from faktory_core.plugins.memory_store.snapshot import SnapshotError
from faktory_core.store import HISTORY_DAYS, DayCount, FailureOutcome, StoreStats
from faktory_core.timefmt import format_ts, utc_day

__all__ = ["REPLAY_ERRORS", "MemoryStore", "decode_record", "unreplayable"]

log = logging.getLogger("faktory_core.memory_store")

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
    """A :class:`~faktory_core.store.Store` in process memory, kept on disk under ``path``.

    With ``path`` None nothing is saved. With ``settings.journal`` (the default) every change
    is appended to the journal (:mod:`.journal`) before the method returns, and :meth:`open`
    replays it after the snapshot; without it, the snapshot is written by :meth:`close` only.
    Either way the snapshot is written only when :meth:`open` succeeded, so state that failed
    to load is never overwritten.
    """

    _clock: Clock
    path: Path | None = None
    settings: JournalSettings = attrs.field(factory=JournalSettings)
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
    _journal: Journal | None = attrs.field(default=None, init=False)
    _compaction: asyncio.Task[None] | None = attrs.field(default=None, init=False)
    _last_compaction: float | None = attrs.field(default=None, init=False)
    _extensions: dict[str, Extension] = attrs.field(factory=dict, init=False)
    _dormant: dict[str, Dormant] = attrs.field(factory=dict, init=False)

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
            if self.settings.journal:
                await self._recover(self.path.parent, state.journal if state else 0)
        self._opened = True

    async def _recover(self, directory: Path, first: int) -> None:
        """Replay the journals that follow the snapshot and open the last one for appending."""
        found = await anyio.to_thread.run_sync(journal.list_journals, directory)
        live = check_sequence(found, first, self.path)
        end, version = journal.HEADER_SIZE, journal.VERSION
        for index, (generation, path) in enumerate(live):
            scanned = await anyio.to_thread.run_sync(journal.scan, path, generation)
            self.replay(path, scanned.records)
            end, version = scanned.end, scanned.version
            if scanned.problem is not None:
                if not (scanned.torn and index == len(live) - 1):
                    raise JournalError(damage_message(path, scanned.end, scanned.problem))
                log.warning(
                    "%s: dropping a torn last record at offset %d (%s): the process stopped "
                    "while writing it, so it was never acknowledged",
                    path,
                    scanned.end,
                    scanned.problem,
                )
        if live:
            generation, path = live[-1]
            if version < journal.VERSION:
                # An older faktory-core's journal: new records go to a journal of this version
                # (which an older one refuses by its header), the old one is kept, cut after
                # its last whole record, and replayed before it until the next snapshot.
                await anyio.to_thread.run_sync(journal.cut, path, end)
                generation, end = generation + 1, journal.HEADER_SIZE
                path = journal.journal_path(directory, generation)
                await anyio.to_thread.run_sync(journal.create, path, generation)
        else:
            generation = max(first, 1)
            path = journal.journal_path(directory, generation)
            await anyio.to_thread.run_sync(journal.create, path, generation)
        for old, stale in found:
            if old < generation and (old, stale) not in live:
                stale.unlink(missing_ok=True)  # left by a compaction that stopped before it
        for wid, info in self._workers.items():  # their connections ended with the process
            self._workers[wid] = attrs.evolve(info, connections=0)
        self._journal = Journal.open(path, generation, self.settings.fsync, end)

    def replay(self, path: Path, records: Iterable[tuple[int, bytes]]) -> None:
        """Apply journal records; one that cannot be applied is damage at its offset."""
        for offset, payload in records:
            try:
                self._apply(payload)
            except REPLAY_ERRORS as exc:
                raise JournalError(damage_message(path, offset, unreplayable(exc))) from None

    def _apply(self, payload: bytes) -> None:
        record = decode_record(payload)
        if not isinstance(record, tuple) or not record:
            raise ValueError("not a record")
        _REPLAYABLE[record[0]](self, *record[1:])

    async def close(self) -> None:
        if self.path is None or not self._opened:
            return
        self._opened = False
        if self._compaction is not None:
            with contextlib.suppress(Exception):  # it logged its own failure
                await self._compaction
        if self._journal is None:
            data = snapshot.encode(self._export())
            await anyio.to_thread.run_sync(snapshot.save, self.path, data)
            return
        written = self._journal.close()
        if written is not None:
            log.error("%s (those changes were answered -ERR)", written)
        old = self._journal.path
        generation = self._journal.generation + 1
        state = self._export()
        state.journal = generation
        try:
            await anyio.to_thread.run_sync(_save_and_start, self.path, state, generation)
        except OSError as exc:
            raise SnapshotError(
                f"cannot write the snapshot {self.path}: {exc.strerror or exc}; nothing "
                f"acknowledged is lost: the journal {old} holds every change and is replayed "
                "at the next start"
            ) from None
        finally:
            self._journal = None

    async def compact(self) -> None:
        """Start a new journal, then write the state as of that instant as the snapshot.

        The switch and the export are one synchronous step; creating the new journal, the old
        one's fsync, encoding and writing run in worker threads while commands go on, appending
        to the new journal. Until the snapshot
        is renamed into place the older journals stay, so a crash at any point replays them.
        """
        current = self._journal
        if current is None or self.path is None or current.failing is not None:
            return
        generation = current.generation + 1
        path = journal.journal_path(self.path.parent, generation)
        # The new journal is made, and the old one fsynced, in a worker thread: the event loop
        # only switches files and takes the state, in one synchronous step.
        await anyio.to_thread.run_sync(journal.create, path, generation)
        if self._journal is not current or current.failing is not None:
            path.unlink(missing_ok=True)  # closed, or failing, while the file was made
            return
        if current.close(fsync=False) is not None:
            path.unlink(missing_ok=True)
            return  # failing now: nothing switched; the retry logic takes over
        self._journal = Journal.open(path, generation, self.settings.fsync, journal.HEADER_SIZE)
        state = self._export()
        state.journal = generation
        await anyio.to_thread.run_sync(journal.fsync_file, current.path)
        data = await anyio.to_thread.run_sync(snapshot.encode, state)
        await anyio.to_thread.run_sync(_save_and_prune, self.path, data, generation)
        self._last_compaction = self._clock.now()

    def _maybe_compact(self) -> None:
        current = self._journal
        if current is None or current.size < self.settings.compact_bytes:
            return
        if self._compaction is None or self._compaction.done():
            self._compaction = asyncio.get_running_loop().create_task(self._compact_logged())

    async def _compact_logged(self) -> None:
        try:
            await self.compact()
        except Exception as exc:
            log.error("journal compaction failed (the journals are kept): %s", exc)

    def describe(self) -> dict[str, object]:
        """The store's own details for INFO and /debug (journal size, fsync, compaction)."""
        if self._journal is None:
            return {} if self.path is None else {"journal": "off"}
        last = self._last_compaction
        return {**self._journal.describe(), "last_compaction": format_ts(last) if last else ""}

    async def debug_info(self) -> dict[str, object]:
        return self.describe()

    # -- feature storage ------------------------------------------------------------------------
    def extension(self, name: str, state: ExtensionState) -> Extension:
        """Attach a feature's state (see ``extensions``): what the snapshot and journal hold
        for ``name`` is loaded into it now, and its changes are journaled from here on."""
        previous = self._extensions.get(name)
        if previous is not None:  # a second server on this store object: carry the state over
            state.load(previous.state.dump())
        else:
            self._dormant.pop(name, Dormant()).hand_over(state)
        handle = Extension(name, state, self._check, self._log)
        self._extensions[name] = handle
        return handle

    def _extension_apply(self, name: str, op: str, args: list[Any]) -> None:
        attached = self._extensions.get(name)
        if attached is not None:
            attached.state.apply(op, tuple(args))
        else:
            self._dormant.setdefault(name, Dormant()).records.append([op, args])

    # -- the journal ------------------------------------------------------------------------
    def _check(self) -> None:
        """Refuse a change the journal cannot take (disk full, unwritable): -ERR, not +OK."""
        if self._journal is not None:
            self._journal.check()

    async def _log(self, *record: Any) -> None:
        """Append the change's record and return once it is written (group commit)."""
        if self._journal is not None:
            await self._log_raw(_encode(record))

    async def _log_raw(self, payload: bytes) -> None:
        current = self._journal
        if current is None:
            return
        if current.grouped:
            current.append(payload)
            await current.commit()
        else:
            current.write_now(payload)
        if current.size >= self.settings.compact_bytes:
            self._maybe_compact()

    async def flush(self) -> None:
        self._check()
        self._flush()
        await self._log("fl")

    def _flush(self) -> None:
        self._queues.clear()
        self._paused.clear()
        for job_set in self._sets.values():
            job_set.clear()
        self._reserved.clear()
        self._counters = _Counters()
        self._kv.clear()  # workers' records stay (Store.flush)
        for attached in self._extensions.values():
            attached.state.clear()
        self._dormant.clear()

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
            workers=list(self._workers.values()),
            extensions={
                **{name: attrs.evolve(held) for name, held in self._dormant.items()},
                **{name: Dormant(ext.state.dump()) for name, ext in self._extensions.items()},
            },
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
        self._workers = {info.wid: attrs.evolve(info, connections=0) for info in state.workers}
        self._dormant = dict(state.extensions)

    # -- queues ---------------------------------------------------------------------------------
    async def push(self, job: Job) -> None:
        self._check()
        self._enqueue(job)
        await self._log("j", job_fields(job))

    async def push_many(self, jobs: Sequence[Job]) -> None:
        self._check()
        for job in jobs:
            self._enqueue(job)
        await self._log("J", [job_fields(job) for job in jobs])

    def _push_many(self, jobs: list[Job]) -> None:
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
            self._check()
            res = self._take(queues, wid, now + waited)
            if res is not None:
                await self._log_take(res)
                return res
            if waited >= timeout:
                return None
            if self._pushed is None:
                self._pushed = anyio.Event()
            await self._clock.wait(self._pushed, timeout - waited)

    async def _log_take(self, res: Reservation) -> None:
        try:
            await self._log("f", res.job.queue, res.wid, res.reserved_at, res.job.jid)
        except StoreError:
            # Not delivered: put it back now rather than leave it reserved for nobody. The
            # journal keeps both records and writes them in order once it can.
            self._unreserve(res.job.jid)
            if self._journal is not None:
                self._journal.append(_encode(("u", res.job.jid)))
            raise

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

    def _take_again(self, queue: str, wid: str, now: float, jid: str) -> None:
        jobs = self._queues.get(queue)
        if not jobs or jobs[0].jid != jid:
            raise ValueError(f"the head of queue {queue!r} is not {jid}")
        job = jobs.popleft()
        self._reserved.put(Reservation(job, now, now + job.reservation_seconds, wid))

    async def unreserve(self, jid: str) -> bool:
        self._check()
        if not self._unreserve(jid):
            return False
        await self._log("u", jid)
        return True

    def _unreserve(self, jid: str) -> bool:
        res = self._reserved.pop(jid)
        if res is None:
            return False
        self._enqueue(res.job, first=True)
        return True

    async def release(self, jid: str) -> bool:
        self._check()
        if self._reserved.pop(jid) is None:
            return False
        await self._log("r", jid)
        return True

    async def queue_names(self) -> list[str]:
        return sorted(self._queues)

    async def queue_size(self, name: str) -> int:
        return len(self._queues.get(name, ()))

    async def queue_page(self, name: str, offset: int, count: int) -> list[Job]:
        jobs = self._queues.get(name, deque())
        offset = max(offset, 0)
        return list(itertools.islice(reversed(jobs), offset, offset + max(count, 0)))

    async def queue_delete(self, name: str, jids: Collection[str]) -> int:
        self._check()
        removed = self._queue_delete(name, list(jids))
        if removed:
            await self._log("qd", name, list(jids))
        return removed

    def _queue_delete(self, name: str, jids: list[str]) -> int:
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
        self._check()
        self._pause(list(names))
        await self._log("pa", list(names))

    def _pause(self, names: list[str]) -> None:
        self._paused.update(name for name in names if name in self._queues)

    async def resume(self, names: Collection[str]) -> None:
        self._check()
        self._paused.difference_update(names)
        await self._log("re", list(names))

    async def remove(self, names: Collection[str]) -> None:
        self._check()
        self._remove(list(names))
        await self._log("rm", list(names))

    def _remove(self, names: list[str]) -> None:
        for name in names:
            self._queues.pop(name, None)
            self._paused.discard(name)

    async def paused(self) -> set[str]:
        return set(self._paused)

    # -- sorted sets ----------------------------------------------------------------------------
    async def set_add(self, which: SortedSet, score: float, job: Job) -> None:
        self._check()
        self._sets[which].add(score, job)
        await self._log("sa", which.value, score, job.to_dict())

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
        self._check()
        removed = len(self._sets[which].pop_keys(keys))
        if removed:
            await self._log("sr", which.value, list(keys))
        return removed

    async def set_clear(self, which: SortedSet) -> int:
        self._check()
        cleared = self._sets[which].clear()
        if cleared:
            await self._log("sc", which.value)
        return cleared

    async def set_enqueue(self, which: SortedSet, keys: Collection[str], now: float) -> int:
        self._check()
        moved = self._set_enqueue(which, list(keys), now)
        if moved:
            await self._log("se", which.value, list(keys), now)
        return moved

    def _set_enqueue(self, which: SortedSet, keys: list[str], now: float) -> int:
        return self._enqueue_entries(which, self._sets[which].pop_keys(keys), now)

    async def set_kill(self, which: SortedSet, keys: Collection[str], score: float) -> int:
        self._check()
        killed = self._set_kill(which, list(keys), score)
        if killed:
            await self._log("sk", which.value, list(keys), score)
        return killed

    def _set_kill(self, which: SortedSet, keys: list[str], score: float) -> int:
        entries = self._sets[which].pop_keys(keys)
        for entry in entries:
            self._sets[SortedSet.DEAD].add(score, entry.job)
        return len(entries)

    async def enqueue_due(self, which: SortedSet, now: float, limit: int) -> int:
        self._check()
        moved = self._enqueue_due(which, now, limit)
        if moved:
            await self._log("ed", which.value, now, limit)
        return moved

    def _enqueue_due(self, which: SortedSet, now: float, limit: int) -> int:
        return self._enqueue_entries(which, self._sets[which].pop_due(now, limit), now)

    async def purge(self, which: SortedSet, now: float) -> int:
        self._check()
        purged = len(self._sets[which].pop_due(now, None))
        if purged:
            await self._log("pu", which.value, now)
        return purged

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
        self._check()
        res = self._ack(jid, now)
        if res is not None:
            await self._log("a", jid, now)
        return res

    def _ack(self, jid: str, now: float) -> Reservation | None:
        res = self._reserved.pop(jid)
        if res is not None:
            self._counters.count(now, failed=False)
        return res

    async def settle_failure(
        self, jid: str, outcome: FailureOutcome, now: float, *, expired_only: bool = False
    ) -> bool:
        self._check()
        res = self._reserved.by_jid.get(jid)
        if res is None or (expired_only and res.expires_at > now):
            return False
        self._settle(jid, outcome, now)
        where = None if outcome.destination is None else outcome.destination.value
        await self._log("sf", jid, outcome.job.to_dict(), where, outcome.score, now)
        return True

    def _settle(self, jid: str, outcome: FailureOutcome, now: float) -> None:
        if self._reserved.pop(jid) is None:
            raise KeyError(f"{jid} is not reserved")
        self._counters.count(now, failed=True)
        if outcome.destination is not None:
            self._sets[outcome.destination].add(outcome.score, outcome.job)

    async def extend(self, jid: str, until: float) -> bool:
        self._check()
        res = self._reserved.by_jid.get(jid)
        if res is None:
            return False
        if until > res.expires_at:
            self._reserved.put(attrs.evolve(res, expires_at=until))
            await self._log("x", jid, until)
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
            details=self.describe(),
        )

    # -- key-value space ------------------------------------------------------------------------
    async def kv_get(self, key: str) -> bytes | None:
        item = self._kv_live(key)
        return None if item is None else item[0]

    async def kv_set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._check()
        expires = None if ttl is None else self._clock.now() + ttl
        self._kv[key] = (value, expires)
        await self._log("ks", key, base64.b64encode(value).decode("ascii"), expires)

    async def kv_claim(self, key: str, value: bytes, ttl: float) -> bool:
        self._check()
        if self._kv_live(key) is not None:
            return False
        expires = self._clock.now() + ttl
        self._kv[key] = (value, expires)
        await self._log("ks", key, base64.b64encode(value).decode("ascii"), expires)
        return True

    def _kv_put(self, key: str, value: str, expires: float | None) -> None:
        self._kv[key] = (base64.b64decode(value, validate=True), expires)

    async def kv_delete(self, key: str) -> bool:
        self._check()
        if self._kv_live(key) is None:
            return False
        del self._kv[key]
        await self._log("kd", key)
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
        self._check()
        record = self._worker_connect(info)
        await self._log("wc", snapshot.worker_dict(info))
        return record

    def _worker_connect(self, info: WorkerInfo) -> WorkerInfo:
        known = self._workers.get(info.wid)
        record = attrs.evolve(known or info, connections=(known.connections if known else 0) + 1)
        self._workers[info.wid] = record
        return record

    async def worker_disconnect(self, wid: str) -> None:
        self._check()
        if self._worker_disconnect(wid):
            await self._log("wd", wid)

    def _worker_disconnect(self, wid: str) -> bool:
        known = self._workers.get(wid)
        if known is None:
            return False
        if known.connections <= 1:
            del self._workers[wid]
        else:
            self._workers[wid] = attrs.evolve(known, connections=known.connections - 1)
        return True

    async def worker_beat(
        self, wid: str, rss_kb: int, requested: WorkerState | None, now: float
    ) -> WorkerInfo | None:
        self._check()
        record = self._worker_beat(wid, rss_kb, requested, now)
        if record is not None:
            await self._log("wb", wid, rss_kb, None if requested is None else requested.value, now)
        return record

    def _worker_beat(
        self, wid: str, rss_kb: int, requested: str | None, now: float
    ) -> WorkerInfo | None:
        known = self._workers.get(wid)
        if known is None:
            return None
        state = known.state if requested is None else known.state.advance(WorkerState(requested))
        record = attrs.evolve(known, rss_kb=rss_kb, last_beat=now, state=state)
        self._workers[wid] = record
        return record

    async def worker_signal(self, wids: Collection[str] | None, state: WorkerState) -> int:
        self._check()
        listed = None if wids is None else list(wids)
        changed = self._worker_signal(listed, state)
        if changed:
            await self._log("ws", listed, state.value)
        return changed

    def _worker_signal(self, wids: list[str] | None, state: str) -> int:
        targets = self._workers.keys() if wids is None else set(wids) & self._workers.keys()
        changed = 0
        for wid in list(targets):
            known = self._workers[wid]
            advanced = known.state.advance(WorkerState(state))
            if advanced is not known.state:
                self._workers[wid] = attrs.evolve(known, state=advanced)
                changed += 1
        return changed

    async def worker_get(self, wid: str) -> WorkerInfo | None:
        return self._workers.get(wid)

    async def workers(self) -> list[WorkerInfo]:
        return list(self._workers.values())

    async def reap_workers(self, older_than: float) -> list[str]:
        self._check()
        stale = [wid for wid, info in self._workers.items() if info.last_beat < older_than]
        self._reap(stale)
        if stale:
            await self._log("wr", stale)
        return stale

    def _reap(self, wids: list[str]) -> None:
        for wid in wids:
            del self._workers[wid]


#: What a record that cannot be replayed raises (bad JSON, unknown op, a jid not there...).
REPLAY_ERRORS = (ValueError, TypeError, KeyError, IndexError, InvalidJob)


def unreplayable(exc: Exception) -> str:
    return f"record cannot be replayed: {exc!r}"


def _encode(record: tuple[Any, ...]) -> bytes:
    """A record's payload: a pickle of plain values only (str, int, float, bool, None, list,
    dict, tuple). Measured against compact JSON: about 1 µs a job instead of 3 (PUSH, PUSHB)."""
    return pickle.dumps(record, _PICKLE_PROTOCOL)


_PICKLE_PROTOCOL = 5


class _PlainUnpickler(pickle.Unpickler):
    """Loads plain values only: a payload that names any class or function is damage, never
    code to run."""

    def find_class(self, module: str, name: str) -> Any:
        raise ValueError(f"a journal record may not name {module}.{name}")


def decode_record(payload: bytes) -> Any:
    try:
        return _PlainUnpickler(io.BytesIO(payload)).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise ValueError(f"not a record ({exc})") from None


def _job(data: Any) -> Job:
    return job_from_dict(data)


_JOB_KEYS = tuple(field.name for field in attrs.fields(Job))


def job_fields(job: Job) -> tuple[Any, ...]:
    """A job in a journal record (``j``, ``J``): its fields in :class:`Job`'s order, the
    failure as its dict. Half the cost of pickling ``to_dict()`` (journal version 2)."""
    failure = job.failure
    return (
        job.jid,
        job.jobtype,
        job.args,
        job.queue,
        job.retry,
        job.created_at,
        job.enqueued_at,
        job.at,
        job.reserve_for,
        job.backtrace,
        job.custom,
        None if failure is None else failure.to_dict(),
    )


def _job_of_fields(fields: Any) -> Job:
    """Replay: checked as any stored job is (:func:`job_from_dict`)."""
    if type(fields) is not tuple or len(fields) != len(_JOB_KEYS):
        raise ValueError(f"not a job's fields: {fields!r:.200}")
    return job_from_dict(dict(zip(_JOB_KEYS, fields, strict=True)))


def _required(found: object, jid: str) -> None:
    """Replay: the live method journals only a change it made, so its jid must be reserved."""
    if not found:
        raise KeyError(f"{jid} is not reserved")


def _outcome(job: Any, where: str | None, score: float) -> FailureOutcome:
    return FailureOutcome(_job(job), None if where is None else SortedSet(where), score)


#: How each journal record is replayed: the same code the live method ran, with its record's
#: values (absolute times, the jid taken), so the result is the state the live store had.
_REPLAY: dict[str, Callable[..., object]] = {
    "j": lambda s, fields: s._enqueue(_job_of_fields(fields)),
    "J": lambda s, many: s._push_many([_job_of_fields(fields) for fields in many]),
    "f": lambda s, queue, wid, now, jid: s._take_again(queue, wid, now, jid),
    "u": lambda s, jid: _required(s._unreserve(jid), jid),
    "r": lambda s, jid: _required(s._reserved.pop(jid), jid),
    "qd": lambda s, name, jids: s._queue_delete(name, jids),
    "pa": lambda s, names: s._pause(names),
    "re": lambda s, names: s._paused.difference_update(names),
    "rm": lambda s, names: s._remove(names),
    "fl": lambda s: s._flush(),
    "sa": lambda s, which, score, job: s._sets[SortedSet(which)].add(score, _job(job)),
    "sr": lambda s, which, keys: s._sets[SortedSet(which)].pop_keys(keys),
    "sc": lambda s, which: s._sets[SortedSet(which)].clear(),
    "se": lambda s, which, keys, now: s._set_enqueue(SortedSet(which), keys, now),
    "sk": lambda s, which, keys, score: s._set_kill(SortedSet(which), keys, score),
    "ed": lambda s, which, now, limit: s._enqueue_due(SortedSet(which), now, limit),
    "pu": lambda s, which, now: s._sets[SortedSet(which)].pop_due(now, None),
    "a": lambda s, jid, now: _required(s._ack(jid, now), jid),
    "sf": lambda s, jid, job, where, score, now: s._settle(jid, _outcome(job, where, score), now),
    "x": lambda s, jid, until: s._reserved.put(
        attrs.evolve(s._reserved.by_jid[jid], expires_at=until)
    ),
    "ks": lambda s, key, value, expires: s._kv_put(key, value, expires),
    "kd": lambda s, key: s._kv.pop(key),
    "wc": lambda s, info: s._worker_connect(snapshot.worker_from(info)),
    "wd": lambda s, wid: s._worker_disconnect(wid),
    "wb": lambda s, wid, rss, requested, now: s._worker_beat(wid, rss, requested, now),
    "ws": lambda s, wids, state: s._worker_signal(wids, state),
    "wr": lambda s, wids: s._reap(wids),
    "X": lambda s, name, op, args: s._extension_apply(name, op, args),
}


#: Records of journal version 1, which wrote each pushed job as its ``to_dict()``: still
#: replayed, never written.
_REPLAY_V1: dict[str, Callable[..., object]] = {
    "p": lambda s, job: s._enqueue(_job(job)),
    "P": lambda s, jobs: s._push_many([_job(job) for job in jobs]),
}
_REPLAYABLE = {**_REPLAY_V1, **_REPLAY}


def _save_and_start(path: Path, state: snapshot.StoreState, generation: int) -> None:
    """At stop: the snapshot first, then its (empty) journal, then drop the older journals;
    a crash between the steps leaves a snapshot and journals that still replay in order."""
    snapshot.save(path, snapshot.encode(state))
    journal.create(journal.journal_path(path.parent, generation), generation)
    journal.prune(path.parent, generation)


def _save_and_prune(path: Path, data: bytes, generation: int) -> None:
    snapshot.save(path, data)
    journal.prune(path.parent, generation)
