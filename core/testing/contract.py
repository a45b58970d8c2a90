"""The store contract: one suite of behaviour every :class:`~faktory_core.store.Store` must show.

A store plugin runs it by subclassing :class:`StoreContract` in a test module and providing two
fixtures: ``clock``, a :class:`~faktory_core.clock.FakeClock`, and ``store``, an opened store
built with that clock (closed after the test)::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def clock(self) -> FakeClock:
            return FakeClock()

        @pytest.fixture
        async def store(self, clock: FakeClock) -> AsyncIterator[Store]:
            store = MyStore(clock)
            await store.open()
            await store.flush()
            yield store
            await store.close()

The tests are plain ``async def`` methods for pytest with ``anyio_mode = "auto"``. Blocking
fetches are driven by the fake clock: a store must measure its fetch timeout and key-value
expiry with the clock it was given.
"""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import attrs
import pytest
from anyio.abc import TaskGroup

from faktory_core.clock import FakeClock
from faktory_core.model import (
    DEAD_TTL,
    Failure,
    Job,
    JobFilter,
    Reservation,
    SetEntry,
    SortedSet,
    WorkerInfo,
    WorkerState,
    entry_key,
)
from faktory_core.store import DayCount, FailureOutcome, Store
from faktory_core.timefmt import format_ts, utc_day

__all__ = ["StoreContract", "failed", "make_job", "scan_all"]

_STAMP = "2025-06-15T15:06:40Z"
_jids = itertools.count(1)
#: Blocking tests give up after this many real seconds rather than hang the suite.
_GUARD = 5.0
_DAY = 86400.0


def make_job(jobtype: str = "Thing", args: list[Any] | None = None, **fields: Any) -> Job:
    """A valid job as PUSH stores it (``created_at``/``enqueued_at`` set), with a fresh jid."""
    fields.setdefault("jid", f"contract-{next(_jids):08d}")
    fields.setdefault("created_at", _STAMP)
    fields.setdefault("enqueued_at", _STAMP)
    return Job(jobtype=jobtype, args=[1] if args is None else args, **fields)


def failed(job: Job, errtype: str = "RuntimeError", message: str = "boom") -> Job:
    """The job as FAIL leaves it: with a first ``failure`` record."""
    failure = Failure(0, job.retry, _STAMP, "", message, errtype, ("a.py:1",))
    return attrs.evolve(job, failure=failure)


async def scan_all(
    store: Store, which: SortedSet, where: JobFilter, count: int = 2
) -> list[SetEntry]:
    """Every match of a scan, following the cursor until it comes back ""."""
    found: list[SetEntry] = []
    cursor = ""
    for _ in range(10_000):
        page, cursor = await store.set_scan(which, where, cursor, count)
        found.extend(page)
        if not cursor:
            return found
    raise AssertionError("set_scan never finished")


async def _push_fetch(store: Store, job: Job, now: float, wid: str = "w1") -> Reservation:
    await store.push(job)
    res = await store.fetch([job.queue], wid, now, 0)
    assert res is not None
    assert res.job.jid == job.jid
    return res


async def _push_fetch_existing(store: Store, clock: FakeClock) -> Reservation:
    reservation = await store.fetch(["default"], "w1", clock.now(), 0)
    assert reservation is not None
    return reservation


def _jids_of(items: list[SetEntry] | list[Job]) -> list[str]:
    return [item.job.jid if isinstance(item, SetEntry) else item.jid for item in items]


class _Fetcher:
    """A FETCH running in the background; ``results`` gets its answer when it returns."""

    def __init__(self) -> None:
        self.results: list[Reservation | None] = []

    async def start(
        self,
        group: TaskGroup,
        store: Store,
        queues: list[str],
        now: float,
        seconds: float,
    ) -> None:
        async def run() -> None:
            self.results.append(await store.fetch(queues, "w1", now, seconds))

        group.start_soon(run)
        await anyio.wait_all_tasks_blocked()


class StoreContract:
    """Behaviour shared by every store. Subclasses provide the ``store`` and ``clock`` fixtures."""

    # -- queues: push and fetch -----------------------------------------------------------------
    async def test_push_fetch_is_fifo(self, store: Store, clock: FakeClock) -> None:
        jobs = [make_job(args=[n]) for n in range(3)]
        for job in jobs:
            await store.push(job)
        fetched = [await store.fetch(["default"], "w1", clock.now(), 0) for _ in jobs]
        assert [res.job if res else None for res in fetched] == jobs
        assert await store.fetch(["default"], "w1", clock.now(), 0) is None

    async def test_fetch_reserves_the_job(self, store: Store, clock: FakeClock) -> None:
        job = make_job()
        await store.push(job)
        res = await store.fetch(["default"], "wid-1", clock.now(), 0)
        assert res == Reservation(job, clock.now(), clock.now() + 1800, "wid-1")
        assert await store.reservation(job.jid) == res
        assert await store.reservations() == [res]
        assert await store.working_size() == 1
        assert await store.queue_size("default") == 0

    async def test_fetch_strict_priority_by_argument_order(
        self, store: Store, clock: FakeClock
    ) -> None:
        low, high = make_job(queue="low"), make_job(queue="high")
        await store.push(low)
        await store.push(high)
        first = await store.fetch(["high", "low"], "w1", clock.now(), 0)
        second = await store.fetch(["high", "low"], "w1", clock.now(), 0)
        assert first is not None
        assert first.job == high
        assert second is not None
        assert second.job == low

    async def test_release_drops_a_reservation_uncounted(
        self, store: Store, clock: FakeClock
    ) -> None:
        job = make_job()
        await store.push(job)
        await _push_fetch_existing(store, clock)
        assert await store.release(job.jid)
        assert await store.reservation(job.jid) is None
        assert await store.queue_size(job.queue) == 0
        stats = await store.stats()
        assert (stats.processed, stats.failures, stats.working) == (0, 0, 0)
        assert not await store.release(job.jid)

    async def test_fetch_unknown_queue(self, store: Store, clock: FakeClock) -> None:
        assert await store.fetch(["nope"], "w1", clock.now(), 0) is None
        assert await store.queue_names() == []

    async def test_fetch_skips_paused_queues(self, store: Store, clock: FakeClock) -> None:
        first, second = make_job(queue="a"), make_job(queue="b")
        await store.push(first)
        await store.push(second)
        await store.pause(["a"])
        res = await store.fetch(["a", "b"], "w1", clock.now(), 0)
        assert res is not None
        assert res.job == second
        assert await store.fetch(["a"], "w1", clock.now(), 0) is None
        await store.resume(["a"])
        res = await store.fetch(["a", "b"], "w1", clock.now(), 0)
        assert res is not None
        assert res.job == first

    async def test_push_to_paused_queue_is_kept(self, store: Store, clock: FakeClock) -> None:
        await store.push(make_job())
        await store.pause(["default"])
        await store.push(make_job())
        assert await store.queue_size("default") == 2
        assert await store.paused() == {"default"}

    async def test_push_many_keeps_order_and_registers_queues(
        self, store: Store, clock: FakeClock
    ) -> None:
        jobs = [make_job(queue="b" if n % 3 == 0 else "a", args=[n]) for n in range(7)]
        await store.push_many(jobs)
        await store.push_many([])
        assert set(await store.queue_names()) == {"a", "b"}
        assert (await store.queue_size("a"), await store.queue_size("b")) == (4, 3)
        for name in ("a", "b"):
            expected = [job for job in jobs if job.queue == name]
            got = [await store.fetch([name], "w1", clock.now(), 0) for _ in expected]
            assert [res.job if res else None for res in got] == expected

    # -- queues: blocking fetch -------------------------------------------------------------------
    async def test_push_many_wakes_a_fetch_on_each_queue(
        self, store: Store, clock: FakeClock
    ) -> None:
        on_a, on_b = _Fetcher(), _Fetcher()
        jobs = [make_job(queue="a"), make_job(queue="b"), make_job(queue="a")]
        with anyio.fail_after(_GUARD):
            async with anyio.create_task_group() as group:
                await on_a.start(group, store, ["a"], clock.now(), 2.0)
                await on_b.start(group, store, ["b"], clock.now(), 2.0)
                await store.push_many(jobs)
        assert [res.job if res else None for res in on_a.results] == [jobs[0]]
        assert [res.job if res else None for res in on_b.results] == [jobs[1]]
        assert await store.queue_size("a") == 1

    async def test_blocked_fetch_wakes_on_push(self, store: Store, clock: FakeClock) -> None:
        job = make_job()
        fetcher = _Fetcher()
        with anyio.fail_after(_GUARD):
            async with anyio.create_task_group() as group:
                await fetcher.start(group, store, ["default"], clock.now(), 2.0)
                assert fetcher.results == []
                await store.push(job)
        [res] = fetcher.results
        assert res is not None
        assert res.job == job
        assert res.wid == "w1"
        assert await store.working_size() == 1

    async def test_blocked_fetch_times_out_on_the_clock(
        self, store: Store, clock: FakeClock
    ) -> None:
        fetcher = _Fetcher()
        with anyio.fail_after(_GUARD):
            async with anyio.create_task_group() as group:
                await fetcher.start(group, store, ["default"], clock.now(), 2.0)
                await clock.advance(1.0)
                assert fetcher.results == []
                await clock.advance(1.0)
        assert fetcher.results == [None]

    async def test_blocked_fetch_reservation_starts_on_delivery(
        self, store: Store, clock: FakeClock
    ) -> None:
        fetcher = _Fetcher()
        with anyio.fail_after(_GUARD):
            async with anyio.create_task_group() as group:
                await fetcher.start(group, store, ["default"], clock.now(), 10.0)
                await clock.advance(4.0)
                await store.push(make_job(reserve_for=60))
        [res] = fetcher.results
        assert res is not None
        assert res.reserved_at == clock.now()
        assert res.expires_at == clock.now() + 60

    async def test_blocked_fetch_ignores_other_and_paused_queues(
        self, store: Store, clock: FakeClock
    ) -> None:
        await store.push(make_job(queue="held"))
        await store.pause(["held"])
        wanted = make_job(queue="wanted")
        fetcher = _Fetcher()
        with anyio.fail_after(_GUARD):
            async with anyio.create_task_group() as group:
                await fetcher.start(group, store, ["held", "wanted"], clock.now(), 5.0)
                await store.push(make_job(queue="other"))
                await store.push(make_job(queue="held"))
                await anyio.wait_all_tasks_blocked()
                assert fetcher.results == []
                await store.push(wanted)
        [res] = fetcher.results
        assert res is not None
        assert res.job == wanted
        assert await store.queue_size("held") == 2
        assert await store.queue_size("other") == 1

    async def test_fetch_without_timeout_does_not_wait(
        self, store: Store, clock: FakeClock
    ) -> None:
        with anyio.fail_after(_GUARD):
            assert await store.fetch(["default"], "w1", clock.now(), 0) is None

    @pytest.mark.parametrize("state", [WorkerState.QUIET, WorkerState.TERMINATE])
    async def test_quiet_or_terminated_worker_fetches_nothing(
        self, store: Store, clock: FakeClock, state: WorkerState
    ) -> None:
        """A wid whose record is quiet or terminated reserves nothing, at once or after
        waiting out its timeout on the clock, even when a push wakes it; the job stays for
        others. Running wids, and wids without a record, fetch."""
        now = clock.now()
        for wid in ("w-stopped", "w-running"):
            await store.worker_connect(WorkerInfo(wid, started_at=now, last_beat=now))
        await store.worker_signal(["w-stopped"], state)
        job = make_job()
        await store.push(job)
        assert await store.fetch(["default"], "w-stopped", now, 0) is None
        results: list[Reservation | None] = []
        with anyio.fail_after(_GUARD):
            async with anyio.create_task_group() as group:

                async def run() -> None:
                    results.append(await store.fetch(["default"], "w-stopped", now, 2.0))

                group.start_soon(run)
                await anyio.wait_all_tasks_blocked()
                await store.push(make_job())
                await anyio.wait_all_tasks_blocked()
                await clock.advance(1.0)
                assert results == []
                await clock.advance(1.0)
        assert results == [None]
        assert await store.working_size() == 0
        assert await store.queue_size("default") == 2
        running = await store.fetch(["default"], "w-running", now, 0)
        assert running is not None
        assert running.job == job
        unknown = await store.fetch(["default"], "w-unknown", now, 0)
        assert unknown is not None

    # -- queues: unreserve, pages, delete, latency ----------------------------------------------
    async def test_unreserve_puts_the_job_first(self, store: Store, clock: FakeClock) -> None:
        first, second = make_job(), make_job()
        await store.push(first)
        await store.push(second)
        res = await store.fetch(["default"], "w1", clock.now(), 0)
        assert res is not None
        assert await store.unreserve(first.jid) is True
        assert await store.working_size() == 0
        assert await store.queue_oldest("default") == first
        again = await store.fetch(["default"], "w1", clock.now(), 0)
        assert again is not None
        assert again.job == first
        assert await store.unreserve("not-reserved") is False

    async def test_queue_registry(self, store: Store, clock: FakeClock) -> None:
        await store.push(make_job(queue="b"))
        await store.push(make_job(queue="a"))
        await store.fetch(["b"], "w1", clock.now(), 0)
        assert await store.queue_names() == ["a", "b"]
        assert await store.queue_size("b") == 0
        assert await store.queue_size("unknown") == 0

    async def test_queue_page_newest_first(self, store: Store, clock: FakeClock) -> None:
        jobs = [make_job(args=[n]) for n in range(5)]
        for job in jobs:
            await store.push(job)
        newest = list(reversed(jobs))
        assert await store.queue_page("default", 0, 2) == newest[:2]
        assert await store.queue_page("default", 2, 2) == newest[2:4]
        assert await store.queue_page("default", 4, 2) == newest[4:]
        assert await store.queue_page("default", 5, 2) == []
        assert await store.queue_page("default", 0, 100) == newest
        assert await store.queue_page("unknown", 0, 10) == []

    async def test_queue_delete(self, store: Store, clock: FakeClock) -> None:
        jobs = [make_job() for _ in range(4)]
        for job in jobs:
            await store.push(job)
        assert await store.queue_delete("default", [jobs[1].jid, jobs[3].jid, "missing"]) == 2
        assert await store.queue_page("default", 0, 10) == [jobs[2], jobs[0]]
        assert await store.queue_delete("unknown", [jobs[0].jid]) == 0
        assert await store.queue_delete("default", []) == 0

    async def test_queue_oldest(self, store: Store, clock: FakeClock) -> None:
        assert await store.queue_oldest("default") is None
        first, second = make_job(), make_job()
        await store.push(first)
        await store.push(second)
        assert await store.queue_oldest("default") == first
        assert await store.queue_size("default") == 2

    # -- queues: pause, resume, remove -----------------------------------------------------------
    async def test_pause_only_existing_queues(self, store: Store, clock: FakeClock) -> None:
        await store.push(make_job(queue="real"))
        await store.pause(["real", "ghost"])
        assert await store.paused() == {"real"}
        await store.push(make_job(queue="ghost"))
        assert await store.paused() == {"real"}
        res = await store.fetch(["ghost"], "w1", clock.now(), 0)
        assert res is not None

    async def test_resume(self, store: Store, clock: FakeClock) -> None:
        await store.push(make_job(queue="a"))
        await store.push(make_job(queue="b"))
        await store.pause(["a", "b"])
        await store.resume(["a", "ghost"])
        assert await store.paused() == {"b"}

    async def test_remove_deletes_and_unregisters(self, store: Store, clock: FakeClock) -> None:
        await store.push(make_job(queue="gone"))
        await store.push(make_job(queue="gone"))
        await store.push(make_job(queue="kept"))
        await store.pause(["gone"])
        await store.remove(["gone", "ghost"])
        assert await store.queue_names() == ["kept"]
        assert await store.queue_size("gone") == 0
        assert await store.paused() == set()
        assert (await store.stats()).queues == {"kept": 1}
        await store.push(make_job(queue="gone"))
        assert await store.fetch(["gone"], "w1", clock.now(), 0) is not None

    # -- sorted sets ----------------------------------------------------------------------------
    @pytest.mark.parametrize("which", list(SortedSet))
    async def test_set_add_size_page(
        self, store: Store, clock: FakeClock, which: SortedSet
    ) -> None:
        entries = [SetEntry(100.0 + n, make_job(args=[n])) for n in (3, 1, 4, 0, 2)]
        for entry in entries:
            await store.set_add(which, entry.score, entry.job)
        ordered = sorted(entries, key=lambda entry: entry.score)
        assert await store.set_size(which) == 5
        assert await store.set_page(which, 0, 2) == ordered[:2]
        assert await store.set_page(which, 2, 10) == ordered[2:]
        assert await store.set_page(which, 5, 10) == []
        assert await store.set_page(which, 0, 2, reverse=True) == ordered[::-1][:2]
        assert await store.set_page(which, 3, 2, reverse=True) == ordered[::-1][3:]
        others = [other for other in SortedSet if other is not which]
        assert [await store.set_size(other) for other in others] == [0, 0]

    async def test_set_scores_keep_precision(self, store: Store, clock: FakeClock) -> None:
        score = 1_750_000_000.123456
        job = make_job()
        await store.set_add(SortedSet.SCHEDULED, score, job)
        [entry] = await store.set_page(SortedSet.SCHEDULED, 0, 1)
        assert entry == SetEntry(score, job)
        assert await store.set_get(SortedSet.SCHEDULED, entry_key(score, job.jid)) == entry

    async def test_set_get(self, store: Store, clock: FakeClock) -> None:
        job = make_job()
        await store.set_add(SortedSet.RETRIES, 250.5, job)
        key = SetEntry(250.5, job).key
        assert await store.set_get(SortedSet.RETRIES, key) == SetEntry(250.5, job)
        assert await store.set_get(SortedSet.DEAD, key) is None
        bad = ["", "garbage", "nan|x", "abc|" + job.jid, "250.6|" + job.jid, "250.5|other-jid"]
        for key in bad:
            assert await store.set_get(SortedSet.RETRIES, key) is None, key

    async def test_set_same_score_entries(self, store: Store, clock: FakeClock) -> None:
        jobs = [make_job(jid=f"same-score-{n}") for n in (2, 1, 3)]
        for job in jobs:
            await store.set_add(SortedSet.SCHEDULED, 500.0, job)
        page = await store.set_page(SortedSet.SCHEDULED, 0, 10)
        assert sorted(_jids_of(page)) == sorted(job.jid for job in jobs)
        for job in jobs:
            entry = await store.set_get(SortedSet.SCHEDULED, entry_key(500.0, job.jid))
            assert entry == SetEntry(500.0, job)
        assert await store.set_remove(SortedSet.SCHEDULED, [entry_key(500.0, jobs[0].jid)]) == 1
        remaining = await store.set_page(SortedSet.SCHEDULED, 0, 10)
        assert sorted(_jids_of(remaining)) == sorted([jobs[1].jid, jobs[2].jid])

    async def test_set_remove_and_clear(self, store: Store, clock: FakeClock) -> None:
        entries = [SetEntry(10.0 * n, make_job()) for n in range(4)]
        for entry in entries:
            await store.set_add(SortedSet.DEAD, entry.score, entry.job)
        # Two spellings of one score address one entry, which is removed once.
        same = f"0|{entries[0].job.jid}"
        keys = [entries[0].key, same, entries[2].key, "10.0|missing-jid", "junk"]
        assert await store.set_remove(SortedSet.DEAD, keys) == 2
        assert await store.set_page(SortedSet.DEAD, 0, 10) == [entries[1], entries[3]]
        assert await store.set_clear(SortedSet.DEAD) == 2
        assert await store.set_size(SortedSet.DEAD) == 0
        assert await store.set_clear(SortedSet.DEAD) == 0

    async def test_set_enqueue(self, store: Store, clock: FakeClock) -> None:
        due, later = make_job(queue="fresh", enqueued_at=""), make_job()
        await store.set_add(SortedSet.RETRIES, 900.0, due)
        await store.set_add(SortedSet.RETRIES, 901.0, later)
        keys = [SetEntry(900.0, due).key, "1.0|missing-jid"]
        assert await store.set_enqueue(SortedSet.RETRIES, keys, clock.now()) == 1
        assert await store.queue_names() == ["fresh"]
        moved = attrs.evolve(due, enqueued_at=format_ts(clock.now()))
        assert await store.queue_page("fresh", 0, 10) == [moved]
        assert await store.set_page(SortedSet.RETRIES, 0, 10) == [SetEntry(901.0, later)]

    async def test_set_enqueue_wakes_a_blocked_fetch(self, store: Store, clock: FakeClock) -> None:
        job = make_job()
        await store.set_add(SortedSet.SCHEDULED, 10.0, job)
        fetcher = _Fetcher()
        with anyio.fail_after(_GUARD):
            async with anyio.create_task_group() as group:
                await fetcher.start(group, store, ["default"], clock.now(), 2.0)
                await store.set_enqueue(SortedSet.SCHEDULED, [SetEntry(10.0, job).key], 0.0)
        [res] = fetcher.results
        assert res is not None
        assert res.job.jid == job.jid

    async def test_set_kill(self, store: Store, clock: FakeClock) -> None:
        job, other = make_job(), make_job()
        await store.set_add(SortedSet.RETRIES, 50.0, job)
        await store.set_add(SortedSet.RETRIES, 60.0, other)
        death = clock.now() + DEAD_TTL
        keys = [SetEntry(50.0, job).key, "1.0|missing-jid"]
        assert await store.set_kill(SortedSet.RETRIES, keys, death) == 1
        assert await store.set_page(SortedSet.DEAD, 0, 10) == [SetEntry(death, job)]
        assert await store.set_page(SortedSet.RETRIES, 0, 10) == [SetEntry(60.0, other)]

    async def test_enqueue_due_with_limit(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        jobs = [make_job(args=[n]) for n in range(4)]
        for offset, job in zip((-30, -20, -10, 0), jobs, strict=True):
            await store.set_add(SortedSet.SCHEDULED, now + offset, job)
        future = make_job()
        await store.set_add(SortedSet.SCHEDULED, now + 0.001, future)
        assert await store.enqueue_due(SortedSet.SCHEDULED, now, 3) == 3
        assert _jids_of(await store.queue_page("default", 0, 10)) == [
            job.jid for job in reversed(jobs[:3])
        ]
        assert await store.enqueue_due(SortedSet.SCHEDULED, now, 3) == 1
        assert await store.enqueue_due(SortedSet.SCHEDULED, now, 3) == 0
        assert await store.set_page(SortedSet.SCHEDULED, 0, 10) == [SetEntry(now + 0.001, future)]
        oldest = await store.queue_oldest("default")
        assert oldest is not None
        assert oldest.enqueued_at == format_ts(now)

    async def test_purge(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        for offset in (-3, -2, -1, 0, 1):
            await store.set_add(SortedSet.DEAD, now + offset, make_job())
        assert await store.purge(SortedSet.DEAD, now) == 4
        assert [entry.score for entry in await store.set_page(SortedSet.DEAD, 0, 10)] == [now + 1]
        assert await store.purge(SortedSet.DEAD, now) == 0
        assert await store.queue_names() == []

    # -- sorted sets: scan ----------------------------------------------------------------------
    async def _fill(self, store: Store) -> list[Job]:
        jobs = [
            make_job("Foo", ["uid:123", "hello world"]),
            make_job("Bar", ["uid:125", 42]),
            make_job("Foo", ["user-a"]),
            failed(make_job("Bar", ["user-ab"]), "KeyError", "missing key 'x'"),
            failed(make_job("Baz", [{"k": "v"}]), "RuntimeError", "boom"),
        ]
        for score, job in enumerate(jobs):
            await store.set_add(SortedSet.RETRIES, float(score), job)
        return jobs

    async def _scan_jids(self, store: Store, where: JobFilter, count: int = 2) -> list[str]:
        return sorted(_jids_of(await scan_all(store, SortedSet.RETRIES, where, count)))

    async def test_scan_everything_in_pages(self, store: Store, clock: FakeClock) -> None:
        jobs = await self._fill(store)
        for count in (1, 2, 100):
            found = await scan_all(store, SortedSet.RETRIES, JobFilter(), count)
            assert found == [SetEntry(float(score), job) for score, job in enumerate(jobs)]
        assert await store.set_scan(SortedSet.SCHEDULED, JobFilter(), "", 10) == ([], "")

    async def test_scan_by_jobtype_and_jids(self, store: Store, clock: FakeClock) -> None:
        foo, bar, foo2, _, baz = await self._fill(store)
        assert await self._scan_jids(store, JobFilter(jobtype="Foo")) == sorted([foo.jid, foo2.jid])
        by_jid = JobFilter(jids=(bar.jid, baz.jid, "missing-jid"))
        assert await self._scan_jids(store, by_jid) == sorted([bar.jid, baz.jid])
        # jids override every other field, as MUTATE does.
        overriding = JobFilter(jobtype="Foo", jids=(bar.jid,), glob="nothing", text="x")
        assert await self._scan_jids(store, overriding) == [bar.jid]

    async def test_scan_by_glob(self, store: Store, clock: FakeClock) -> None:
        foo, bar, foo2, bar2, baz = await self._fill(store)
        cases = {
            '*"jobtype":"Foo"*': [foo.jid, foo2.jid],
            '*"uid:12?"*': [foo.jid, bar.jid],
            '*"uid:12[0-4]"*': [foo.jid],
            '*"uid:12[^0-4]"*': [bar.jid],
            '*"user-?"*': [foo2.jid],
            '*"user-a*': [foo2.jid, bar2.jid],
            "*hello world*": [foo.jid],
            "*HELLO*": [],
            "*": [job.jid for job in (foo, bar, foo2, bar2, baz)],
        }
        for pattern, expected in cases.items():
            assert await self._scan_jids(store, JobFilter(glob=pattern)) == sorted(expected), (
                pattern
            )

    async def test_scan_by_text_and_error(self, store: Store, clock: FakeClock) -> None:
        foo, bar, _, bar2, baz = await self._fill(store)
        assert await self._scan_jids(store, JobFilter(text="hello")) == [foo.jid]
        assert await self._scan_jids(store, JobFilter(text='"k":"v"')) == [baz.jid]
        assert await self._scan_jids(store, JobFilter(text="42")) == [bar.jid]
        assert await self._scan_jids(store, JobFilter(error="KeyError")) == [bar2.jid]
        assert await self._scan_jids(store, JobFilter(error="boom")) == [baz.jid]
        assert await self._scan_jids(store, JobFilter(error="Error")) == sorted([bar2.jid, baz.jid])

    async def test_scan_fields_combine(self, store: Store, clock: FakeClock) -> None:
        _, bar, foo2, bar2, _ = await self._fill(store)
        assert await self._scan_jids(store, JobFilter(jobtype="Bar", glob="*uid*")) == [bar.jid]
        assert await self._scan_jids(store, JobFilter(jobtype="Bar", error="Key")) == [bar2.jid]
        assert await self._scan_jids(store, JobFilter(jobtype="Foo", text="user")) == [foo2.jid]
        assert await self._scan_jids(store, JobFilter(jobtype="Foo", error="boom")) == []

    # -- reservations ---------------------------------------------------------------------------
    async def test_ack(self, store: Store, clock: FakeClock) -> None:
        res = await _push_fetch(store, make_job(), clock.now())
        assert await store.ack(res.job.jid, clock.now()) == res
        assert await store.working_size() == 0
        assert await store.reservation(res.job.jid) is None
        stats = await store.stats()
        assert (stats.processed, stats.failures) == (1, 0)
        assert await store.ack(res.job.jid, clock.now()) is None
        assert (await store.stats()).processed == 1

    async def test_ack_unknown_counts_nothing(self, store: Store, clock: FakeClock) -> None:
        assert await store.ack("never-fetched", clock.now()) is None
        stats = await store.stats()
        assert (stats.processed, stats.failures) == (0, 0)
        assert await store.history(1, clock.now()) == [DayCount(utc_day(clock.now()), 0, 0)]

    @pytest.mark.parametrize("destination", [SortedSet.RETRIES, SortedSet.DEAD, None])
    async def test_settle_failure(
        self, store: Store, clock: FakeClock, destination: SortedSet | None
    ) -> None:
        now = clock.now()
        res = await _push_fetch(store, make_job(), now)
        job = failed(res.job)
        outcome = FailureOutcome(job, destination, now + 30)
        assert await store.settle_failure(job.jid, outcome, now) is True
        assert await store.working_size() == 0
        stats = await store.stats()
        assert (stats.processed, stats.failures) == (1, 1)
        assert (stats.retries, stats.dead) == (
            int(destination is SortedSet.RETRIES),
            int(destination is SortedSet.DEAD),
        )
        if destination is not None:
            assert await store.set_page(destination, 0, 10) == [SetEntry(now + 30, job)]
        assert await store.settle_failure(job.jid, outcome, now) is False
        assert (await store.stats()).failures == 1

    async def test_settle_unknown(self, store: Store, clock: FakeClock) -> None:
        outcome = FailureOutcome(failed(make_job()), SortedSet.RETRIES, 1.0)
        assert await store.settle_failure("never-fetched", outcome, clock.now()) is False
        stats = await store.stats()
        assert (stats.processed, stats.failures, stats.retries) == (0, 0, 0)

    async def test_settle_expired_only(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        res = await _push_fetch(store, make_job(reserve_for=600), now)
        outcome = FailureOutcome(failed(res.job), SortedSet.RETRIES, now + 700)
        jid = res.job.jid
        assert await store.settle_failure(jid, outcome, now + 599, expired_only=True) is False
        assert await store.extend(jid, now + 900) is True
        assert await store.settle_failure(jid, outcome, now + 600, expired_only=True) is False
        assert await store.working_size() == 1
        assert (await store.stats()).failures == 0
        assert await store.settle_failure(jid, outcome, now + 900, expired_only=True) is True
        assert await store.working_size() == 0
        assert (await store.stats()).failures == 1

    async def test_extend_never_shortens(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        res = await _push_fetch(store, make_job(reserve_for=600), now)
        assert await store.extend(res.job.jid, now + 1000) is True
        assert await store.extend(res.job.jid, now + 10) is True
        current = await store.reservation(res.job.jid)
        assert current is not None
        assert current.expires_at == now + 1000
        assert current.reserved_at == now
        assert await store.expired(now + 999, 10) == []
        assert await store.extend("never-fetched", now + 1000) is False

    async def test_expired_oldest_first_with_limit(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        short = await _push_fetch(store, make_job(reserve_for=60), now)
        long = await _push_fetch(store, make_job(reserve_for=120), now)
        middle = await _push_fetch(store, make_job(reserve_for=90), now)
        assert await store.expired(now + 59, 10) == []
        assert await store.expired(now + 90, 10) == [short, middle]
        assert await store.expired(now + 500, 2) == [short, middle]
        assert await store.expired(now + 500, 10) == [short, middle, long]
        assert await store.working_size() == 3

    async def test_reservation_length(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        for reserve_for, seconds in ((0, 1800), (10, 60), (600, 600), (100_000, 86400)):
            res = await _push_fetch(store, make_job(reserve_for=reserve_for), now)
            assert res.expires_at - res.reserved_at == seconds, reserve_for

    async def test_same_jid_reserved_twice_overwrites(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        await _push_fetch(store, make_job(jid="duplicate-jid", args=[1]), now)
        second = await _push_fetch(store, make_job(jid="duplicate-jid", args=[2]), now + 1)
        assert await store.working_size() == 1
        assert await store.reservations() == [second]
        assert await store.ack("duplicate-jid", now) == second
        assert await store.working_size() == 0

    async def test_reservations_lists_all(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        made = [await _push_fetch(store, make_job(), now, f"w{n}") for n in range(3)]
        listed = await store.reservations()
        assert sorted(listed, key=lambda res: res.job.jid) == made
        assert await store.working_size() == 3

    # -- counters and history -------------------------------------------------------------------
    async def test_history_per_utc_day(self, store: Store, clock: FakeClock) -> None:
        midnight = (clock.now() // _DAY + 1) * _DAY
        before, after = utc_day(midnight - 1), utc_day(midnight)
        await clock.advance(midnight - 0.001 - clock.now())
        first = await _push_fetch(store, make_job(), clock.now())
        await store.ack(first.job.jid, clock.now())
        await clock.advance(0.001)
        for _ in range(2):
            res = await _push_fetch(store, make_job(), clock.now())
            await store.ack(res.job.jid, clock.now())
        res = await _push_fetch(store, make_job(), clock.now())
        outcome = FailureOutcome(failed(res.job), SortedSet.DEAD, clock.now() + DEAD_TTL)
        await store.settle_failure(res.job.jid, outcome, clock.now())
        day_before = utc_day(midnight - _DAY - 1)
        assert await store.history(3, clock.now()) == [
            DayCount(day_before, 0, 0),
            DayCount(before, 1, 0),
            DayCount(after, 3, 1),
        ]
        assert await store.history(1, midnight - 1) == [DayCount(before, 1, 0)]
        assert await store.history(0, clock.now()) == []
        stats = await store.stats()
        assert (stats.processed, stats.failures) == (4, 1)

    async def test_stats(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        await store.push(make_job(queue="a"))
        await store.push(make_job(queue="a"))
        await _push_fetch(store, make_job(queue="b"), now)
        await store.set_add(SortedSet.SCHEDULED, now + 10, make_job())
        await store.set_add(SortedSet.RETRIES, now + 10, make_job())
        await store.set_add(SortedSet.RETRIES, now + 20, make_job())
        await store.set_add(SortedSet.DEAD, now + 10, make_job())
        await store.worker_connect(WorkerInfo("wid-1", started_at=now, last_beat=now))
        stats = await store.stats()
        assert stats.queues == {"a": 2, "b": 0}
        assert (stats.scheduled, stats.retries, stats.dead) == (1, 2, 1)
        assert (stats.working, stats.processed, stats.failures, stats.workers) == (1, 0, 0, 1)

    # -- key-value space ------------------------------------------------------------------------
    async def test_kv_set_get_delete(self, store: Store, clock: FakeClock) -> None:
        assert await store.kv_get("k") is None
        await store.kv_set("k", b"\x00\xffvalue")
        assert await store.kv_get("k") == b"\x00\xffvalue"
        await store.kv_set("k", b"other")
        assert await store.kv_get("k") == b"other"
        assert await store.kv_delete("k") is True
        assert await store.kv_delete("k") is False
        assert await store.kv_get("k") is None

    async def test_kv_ttl_follows_the_clock(self, store: Store, clock: FakeClock) -> None:
        await store.kv_set("brief", b"1", ttl=10)
        await store.kv_set("forever", b"2")
        await clock.advance(9)
        assert await store.kv_get("brief") == b"1"
        await clock.advance(1)
        assert await store.kv_get("brief") is None
        assert await store.kv_delete("brief") is False
        await clock.advance(10 * 365 * _DAY)
        assert await store.kv_get("forever") == b"2"

    async def test_kv_claim(self, store: Store, clock: FakeClock) -> None:
        assert await store.kv_claim("lock", b"a", 30) is True
        assert await store.kv_claim("lock", b"b", 30) is False
        assert await store.kv_get("lock") == b"a"
        await clock.advance(30)
        assert await store.kv_claim("lock", b"c", 30) is True
        assert await store.kv_get("lock") == b"c"
        await store.kv_set("plain", b"x")
        assert await store.kv_claim("plain", b"y", 30) is False

    # -- workers --------------------------------------------------------------------------------
    async def test_worker_connections(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        info = WorkerInfo("wid-1", "host", 42, ("a",), started_at=now, last_beat=now)
        first = await store.worker_connect(info)
        assert first.connections == 1
        assert (first.hostname, first.pid, first.labels, first.last_beat) == (
            "host",
            42,
            ("a",),
            now,
        )
        await store.worker_signal(["wid-1"], WorkerState.QUIET)
        second = await store.worker_connect(info)
        assert second.connections == 2
        assert second.state is WorkerState.QUIET
        assert await store.worker_get("wid-1") == second
        await store.worker_disconnect("wid-1")
        still = await store.worker_get("wid-1")
        assert still is not None
        assert still.connections == 1
        await store.worker_disconnect("wid-1")
        assert await store.worker_get("wid-1") is None
        await store.worker_disconnect("wid-1")
        assert await store.workers() == []

    async def test_worker_beat(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        await store.worker_connect(WorkerInfo("wid-1", started_at=now, last_beat=now))
        assert await store.worker_beat("unknown", 10, None, now) is None
        beat = await store.worker_beat("wid-1", 2048, None, now + 15)
        assert beat is not None
        assert (beat.rss_kb, beat.last_beat) == (2048, now + 15)
        assert beat.state is WorkerState.RUNNING
        steps = [
            (WorkerState.QUIET, WorkerState.QUIET),
            (WorkerState.RUNNING, WorkerState.QUIET),
            (None, WorkerState.QUIET),
            (WorkerState.TERMINATE, WorkerState.TERMINATE),
            (WorkerState.QUIET, WorkerState.TERMINATE),
        ]
        for requested, expected in steps:
            beat = await store.worker_beat("wid-1", 1, requested, now + 30)
            assert beat is not None
            assert beat.state is expected, requested
        assert await store.worker_get("wid-1") == beat

    async def test_worker_signal(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        for wid in ("w1", "w2", "w3"):
            await store.worker_connect(WorkerInfo(wid, started_at=now, last_beat=now))
        assert await store.worker_signal(["w1", "ghost"], WorkerState.QUIET) == 1
        assert await store.worker_signal(None, WorkerState.QUIET) == 2
        assert await store.worker_signal(None, WorkerState.QUIET) == 0
        assert await store.worker_signal(None, WorkerState.RUNNING) == 0
        assert await store.worker_signal(None, WorkerState.TERMINATE) == 3
        states = {info.wid: info.state for info in await store.workers()}
        assert states == dict.fromkeys(("w1", "w2", "w3"), WorkerState.TERMINATE)

    async def test_reap_workers(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        for wid in ("old", "fresh"):
            await store.worker_connect(WorkerInfo(wid, started_at=now, last_beat=now))
        await store.worker_beat("fresh", 1, None, now + 50)
        assert await store.reap_workers(now + 50) == ["old"]
        assert [info.wid for info in await store.workers()] == ["fresh"]
        assert await store.reap_workers(now + 50) == []
        assert (await store.stats()).workers == 1

    # -- flush ----------------------------------------------------------------------------------
    async def test_flush_empties_everything_but_workers(
        self, store: Store, clock: FakeClock
    ) -> None:
        now = clock.now()
        await store.push(make_job(queue="a"))
        await store.pause(["a"])
        res = await _push_fetch(store, make_job(queue="b"), now)
        await _push_fetch(store, make_job(queue="b"), now)
        await store.ack(res.job.jid, now)
        for which in SortedSet:
            await store.set_add(which, now, make_job())
        await store.kv_set("k", b"v")
        await store.worker_connect(WorkerInfo("wid-1", started_at=now, last_beat=now))
        await store.worker_signal(["wid-1"], WorkerState.QUIET)
        await store.flush()
        assert await store.queue_names() == []
        assert await store.paused() == set()
        assert await store.reservations() == []
        assert await store.kv_get("k") is None
        # Workers' records describe live processes: they stay, state and connections too.
        [worker] = await store.workers()
        assert (worker.wid, worker.state, worker.connections) == ("wid-1", WorkerState.QUIET, 1)
        assert await store.history(1, now) == [DayCount(utc_day(now), 0, 0)]
        empty = await store.stats()
        assert empty.queues == {}
        assert (empty.scheduled, empty.retries, empty.dead, empty.working) == (0, 0, 0, 0)
        assert (empty.processed, empty.failures, empty.workers) == (0, 0, 1)
