"""The memory store: the shared contract, plus its snapshot file and the plugin hook."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from faktory_core.config import Config
from faktory_core.model import DEAD_TTL, SortedSet, WorkerInfo, WorkerState
from faktory_core.plugins import memory_store
from faktory_core.plugins.memory_store import JournalSettings, MemoryStore, SnapshotError, snapshot
from faktory_core.store import HISTORY_DAYS, DayCount, FailureOutcome, Store
from faktory_core.testing import FakeClock, StoreContract
from faktory_core.testing.contract import failed, make_job
from faktory_core.timefmt import utc_day

DAY = 86400.0


class TestMemoryStoreContract(StoreContract):
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture(params=[True, False], ids=["journal", "no-journal"])
    async def store(
        self, clock: FakeClock, tmp_path: Path, request: pytest.FixtureRequest
    ) -> AsyncIterator[MemoryStore]:
        settings = JournalSettings(journal=request.param)
        store = MemoryStore(clock, path=tmp_path / "memory_store.json", settings=settings)
        await store.open()
        yield store
        await store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "memory_store.json"


async def _opened(clock: FakeClock, path: Path | None) -> MemoryStore:
    store = MemoryStore(clock, path=path)
    await store.open()
    return store


async def _fill(store: MemoryStore, clock: FakeClock) -> None:
    """Put something in every part of the state that a snapshot keeps."""
    now = clock.now()
    await store.push(make_job(queue="a", args=[1, {"big": 2**70, "f": 0.1}]))
    await store.push(
        make_job(queue="a", custom={"k": ["v"]}, reserve_for=90, at="2025-06-15T15:06:40.5Z")
    )
    await store.push(make_job(queue="idle"))
    await store.fetch(["idle"], "w0", now, 0)
    await store.push(make_job(queue="held"))
    await store.pause(["held"])
    for offset, which in enumerate(SortedSet):
        await store.set_add(which, now + offset + 0.123456, failed(make_job(jobtype="T")))
    await store.set_add(SortedSet.SCHEDULED, now + 0.5, make_job())
    await store.push(make_job(queue="b", reserve_for=120))
    await store.push(make_job(queue="b"))
    done = await store.fetch(["b"], "w1", now, 0)
    assert done is not None
    await store.ack(done.job.jid, now - DAY)
    held = await store.fetch(["b"], "w2", now, 0)
    assert held is not None
    await store.extend(held.job.jid, now + 5000)
    await store.kv_set("forever", b"\x00\xff")
    await store.kv_set("brief", b"soon", ttl=60)


async def _observe(store: MemoryStore, clock: FakeClock) -> dict[str, object]:
    """Everything a client can see, for comparing two stores."""
    names = await store.queue_names()
    return {
        "queues": {name: await store.queue_page(name, 0, 100) for name in names},
        "paused": await store.paused(),
        "sets": {which: await store.set_page(which, 0, 100) for which in SortedSet},
        "reservations": sorted(await store.reservations(), key=lambda res: res.job.jid),
        "expired": await store.expired(clock.now() + 10_000, 100),
        "stats": await store.stats(),
        "history": await store.history(3, clock.now()),
        "kv": [await store.kv_get(key) for key in ("forever", "brief", "missing")],
    }


async def test_snapshot_round_trip(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    await _fill(store, clock)
    before = await _observe(store, clock)
    exported = store._export()
    await store.close()

    restored = await _opened(clock, path)
    assert await _observe(restored, clock) == before
    assert restored._export() == exported
    await clock.advance(60)
    assert await restored.kv_get("brief") is None
    assert await restored.kv_get("forever") == b"\x00\xff"


async def test_snapshot_keeps_workers_without_connections(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    await store.worker_connect(WorkerInfo("wid-1", last_beat=clock.now()))
    await store.worker_signal(["wid-1"], WorkerState.QUIET)
    await store.close()
    restored = await _opened(clock, path)
    [info] = await restored.workers()
    assert (info.wid, info.state, info.connections) == ("wid-1", WorkerState.QUIET, 0)
    assert await restored.fetch(["default"], "wid-1", clock.now(), 0) is None


async def test_restored_store_keeps_working(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    await _fill(store, clock)
    await store.close()
    restored = await _opened(clock, path)
    res = await restored.fetch(["a"], "w1", clock.now(), 0)
    assert res is not None
    assert res.job.args == [1, {"big": 2**70, "f": 0.1}]
    assert await restored.fetch(["held"], "w1", clock.now(), 0) is None
    assert await restored.enqueue_due(SortedSet.SCHEDULED, clock.now() + 1, 10) == 2
    assert await restored.queue_size("default") == 2


async def test_snapshot_format(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    await store.push(make_job())
    await store.close()
    document = json.loads(await anyio.Path(path).read_text("utf-8"))
    assert document["format"] == "faktory-core/memory-store"
    assert document["version"] == 2
    assert document["journal"] == 2  # the generation started at this stop
    assert list(document["queues"]) == ["default"]


async def test_atomic_write_leaves_the_snapshot_and_its_journal(
    clock: FakeClock, path: Path
) -> None:
    store = await _opened(clock, path)
    await store.push(make_job())
    await store.close()
    names = sorted(entry.name for entry in path.parent.iterdir())
    assert names == ["memory_store-00000002.journal", path.name]


async def test_failed_write_keeps_the_old_snapshot(
    clock: FakeClock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _opened(clock, path)
    await store.push(make_job())
    await store.close()
    saved = await anyio.Path(path).read_bytes()

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    store = await _opened(clock, path)
    await store.flush()
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(SnapshotError, match="disk on fire") as caught:
        await store.close()
    assert str(path) in str(caught.value)
    assert "nothing acknowledged is lost" in str(caught.value)
    assert await anyio.Path(path).read_bytes() == saved
    names = sorted(entry.name for entry in path.parent.iterdir())
    assert names == ["memory_store-00000002.journal", path.name]
    monkeypatch.undo()
    again = await _opened(clock, path)  # the journal replays the FLUSH the snapshot lacks
    assert await again.queue_names() == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "expected dict"),
        (b'{"format": "something-else", "version": 1}', "not a memory store snapshot"),
        (b'{"format": "faktory-core/memory-store", "version": "1"}', "bad version"),
        (b'{"format": "faktory-core/memory-store", "version": 1, "queues": []}', "queues"),
        (b'{"format": "faktory-core/memory-store", "version": 1, "sets": NaN}', "NaN"),
    ],
)
async def test_corrupt_snapshot_raises(
    clock: FakeClock, path: Path, content: bytes, problem: str
) -> None:
    await anyio.Path(path.parent).mkdir(parents=True)
    await anyio.Path(path).write_bytes(content)
    store = MemoryStore(clock, path=path)
    with pytest.raises(SnapshotError, match=problem) as caught:
        await store.open()
    assert str(path) in str(caught.value)


async def test_bad_job_in_snapshot_raises(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    await store.push(make_job())
    await store.close()
    document = json.loads(await anyio.Path(path).read_text("utf-8"))
    document["queues"]["default"][0]["jid"] = "short"
    await anyio.Path(path).write_text(json.dumps(document), "utf-8")
    with pytest.raises(SnapshotError, match="reasonable jid") as caught:
        await MemoryStore(clock, path=path).open()
    assert str(path) in str(caught.value)


async def test_newer_snapshot_version_raises(clock: FakeClock, path: Path) -> None:
    await anyio.Path(path.parent).mkdir(parents=True)
    await anyio.Path(path).write_text(
        json.dumps({"format": snapshot.FORMAT, "version": 3}), "utf-8"
    )
    with pytest.raises(SnapshotError, match="newer") as caught:
        await MemoryStore(clock, path=path).open()
    assert str(path) in str(caught.value)


async def test_unreadable_snapshot_is_never_overwritten(clock: FakeClock, path: Path) -> None:
    await anyio.Path(path.parent).mkdir(parents=True)
    await anyio.Path(path).write_bytes(b"{broken")
    store = MemoryStore(clock, path=path)
    with pytest.raises(SnapshotError):
        await store.open()
    await store.close()
    assert await anyio.Path(path).read_bytes() == b"{broken"


async def test_missing_snapshot_starts_empty(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    assert await store.queue_names() == []
    assert (await store.stats()).processed == 0
    assert not await anyio.Path(path).exists()
    await store.close()
    assert await anyio.Path(path).exists()


async def test_no_path_no_file(clock: FakeClock, tmp_path: Path) -> None:
    store = await _opened(clock, None)
    await store.push(make_job())
    await store.close()
    assert [entry async for entry in anyio.Path(tmp_path).iterdir()] == []


async def test_history_keeps_180_days(clock: FakeClock) -> None:
    store = await _opened(clock, None)
    start = clock.now()
    kept_from = start + 21 * DAY
    for moment in (start, kept_from, kept_from + (HISTORY_DAYS - 1) * DAY):
        await store.push(make_job())
        res = await store.fetch(["default"], "w1", moment, 0)
        assert res is not None
        outcome = FailureOutcome(failed(res.job), SortedSet.DEAD, moment + DEAD_TTL)
        await store.settle_failure(res.job.jid, outcome, moment)
    today = kept_from + (HISTORY_DAYS - 1) * DAY
    history = await store.history(HISTORY_DAYS + 30, today)
    counted = {day.day: day for day in history if day.processed}
    assert counted == {
        utc_day(kept_from): DayCount(utc_day(kept_from), 1, 1),
        utc_day(today): DayCount(utc_day(today), 1, 1),
    }
    assert len(store._counters.days) == 2


async def test_worker_state_survives_reconnect(clock: FakeClock) -> None:
    store = await _opened(clock, None)
    await store.worker_connect(WorkerInfo("wid-1", "first-host", last_beat=clock.now()))
    await store.worker_signal(None, WorkerState.TERMINATE)
    again = await store.worker_connect(WorkerInfo("wid-1", "second-host"))
    assert (again.hostname, again.state, again.connections) == (
        "first-host",
        WorkerState.TERMINATE,
        2,
    )


def test_plugin_makes_a_memory_store(tmp_path: Path) -> None:
    store = memory_store.faktory_core_make_store(
        config=Config(storage_dir=tmp_path), clock=FakeClock()
    )
    assert isinstance(store, MemoryStore)
    assert isinstance(store, Store)
    assert store.name == "memory"
    assert store.path == tmp_path / "memory_store.json"


def test_public_names() -> None:
    assert set(memory_store.__all__) == {
        "SNAPSHOT_NAME",
        "JournalError",
        "JournalSettings",
        "MemoryStore",
        "SnapshotError",
        "faktory_core_feature_storage",
        "faktory_core_make_store",
    }
