"""The memory store's journal: replay of every record kind, damage, failing disks, compaction."""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import struct
import tomllib
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from faktory_core import cli
from faktory_core.errors import StoreError
from faktory_core.model import SortedSet, WorkerInfo, WorkerState
from faktory_core.plugins.memory_store import JournalError, JournalSettings, MemoryStore, journal
from faktory_core.plugins.memory_store import store as store_module
from faktory_core.plugins.memory_store.snapshot import StoreState
from faktory_core.store import FailureOutcome
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import failed, make_job

FIRST = "memory_store-00000001.journal"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "memory_store.json"


async def _opened(clock: FakeClock, path: Path, **settings: Any) -> MemoryStore:
    store = MemoryStore(clock, path=path, settings=JournalSettings(**settings))
    await store.open()
    return store


def _crash(store: MemoryStore) -> None:
    """End the store as kill -9 would: no snapshot, the journal as written so far."""
    assert store._journal is not None
    os.close(store._journal._fd)
    store._journal = None
    store._opened = False


def _comparable(state: StoreState) -> StoreState:
    workers = [attrs.evolve(info, connections=0) for info in state.workers]
    return attrs.evolve(state, workers=sorted(workers, key=lambda info: info.wid), journal=0)


async def _until_writable(store: MemoryStore) -> None:
    """The journal retries on its own timer; a short poll is the simplest observer."""
    with anyio.fail_after(5):
        while store.describe()["journal_error"]:  # noqa: ASYNC110
            await anyio.sleep(0.01)


def _ops(path: Path, generation: int = 1) -> set[str]:
    scanned = journal.scan(path, generation)
    return {store_module.decode_record(payload)[0] for _, payload in scanned.records}


async def _every_change(store: MemoryStore, clock: FakeClock) -> None:
    """One of each change the store journals."""
    now = clock.now()
    await store.worker_connect(WorkerInfo("w1", "host", 7, ("a",), now, now))
    await store.worker_connect(WorkerInfo("w1", "host", 7, ("a",), now, now))
    await store.worker_connect(WorkerInfo("w2", last_beat=now - 100))
    await store.worker_disconnect("w1")
    await store.worker_beat("w1", 1234, WorkerState.QUIET, now + 1)
    await store.worker_signal(["w2"], WorkerState.TERMINATE)
    await store.reap_workers(now - 50)
    await store.push(make_job(queue="a", args=[1, {"big": 2**70, "f": 0.1}]))
    await store.push_many([make_job(queue="a"), make_job(queue="b"), make_job(queue="gone")])
    taken = await store.fetch(["a"], "w3", now + 2, 0)
    assert taken is not None
    await store.unreserve(taken.job.jid)
    taken = await store.fetch(["a"], "w3", now + 3, 0)
    assert taken is not None
    await store.extend(taken.job.jid, now + 9000)
    await store.ack(taken.job.jid, now + 4)
    second = await store.fetch(["a"], "w3", now + 5, 0)
    assert second is not None
    await store.release(second.job.jid)
    third = await store.fetch(["b"], "", now + 6, 0)
    assert third is not None
    outcome = FailureOutcome(failed(third.job), SortedSet.RETRIES, now + 60)
    assert await store.settle_failure(third.job.jid, outcome, now + 6)
    await store.push(make_job(queue="c"))
    await store.push(deleted := make_job(queue="c"))
    await store.queue_delete("c", [deleted.jid])
    await store.pause(["c"])
    await store.pause(["b"])
    await store.resume(["b"])
    await store.remove(["gone"])
    jobs = [make_job(jobtype=f"T{index}") for index in range(6)]
    for index, job in enumerate(jobs):
        await store.set_add(SortedSet.SCHEDULED, now + index, job)
    key = f"{now!r}|{jobs[0].jid}"
    await store.set_remove(SortedSet.SCHEDULED, [key])
    await store.set_enqueue(SortedSet.SCHEDULED, [f"{now + 1!r}|{jobs[1].jid}"], now + 7)
    await store.set_kill(SortedSet.SCHEDULED, [f"{now + 2!r}|{jobs[2].jid}"], now + 99)
    await store.enqueue_due(SortedSet.SCHEDULED, now + 3, 10)
    await store.set_add(SortedSet.DEAD, now - 10, make_job())
    await store.purge(SortedSet.DEAD, now)
    await store.set_clear(SortedSet.RETRIES)
    await store.kv_set("forever", b"\x00\xff")
    await store.kv_set("brief", b"soon", ttl=60)
    assert await store.kv_claim("claimed", b"x", 30)
    await store.kv_set("doomed", b"x")
    await store.kv_delete("doomed")
    handle = store.extension("feature", _Feature())
    handle.check()
    handle.state.apply("set", ("k", 1))
    await handle.log("set", "k", 1)


class _Feature:
    """A feature's state on the memory store (see test_extensions.py)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def dump(self) -> Any:
        return dict(self.values)

    def load(self, data: Any) -> None:
        self.values = dict(data)

    def apply(self, op: str, args: tuple[Any, ...]) -> None:
        key, value = args
        self.values[key] = value

    def clear(self) -> None:
        self.values.clear()


async def test_replay_of_every_record_kind_rebuilds_the_live_state(
    clock: FakeClock, path: Path
) -> None:
    live = await _opened(clock, path)
    await _every_change(live, clock)
    expected = live._export()
    _crash(live)
    assert _ops(path.parent / FIRST) == set(store_module._REPLAY) - {"fl"}

    restored = await _opened(clock, path)
    restored.extension("feature", _Feature())
    assert _comparable(restored._export()) == _comparable(expected)
    [worker] = await restored.workers()  # w2 was reaped; w1 is quiet, without connections
    assert (worker.wid, worker.state, worker.connections) == ("w1", WorkerState.QUIET, 0)
    await restored.flush()
    _crash(restored)
    assert "fl" in _ops(path.parent / FIRST)
    again = await _opened(clock, path)
    assert await again.queue_names() == []
    assert [info.wid for info in await again.workers()] == ["w1"]
    await again.close()


async def test_a_stop_and_a_crash_restore_the_same_state(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    await _every_change(store, clock)
    await store.close()
    after_stop = await _opened(clock, path)
    await after_stop.push(make_job(queue="late"))
    expected = after_stop._export()
    _crash(after_stop)
    after_crash = await _opened(clock, path)
    assert _comparable(after_crash._export()) == _comparable(expected)
    await after_crash.close()


async def test_group_commit_writes_concurrent_changes_together(
    clock: FakeClock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _opened(clock, path, fsync=journal.FsyncPolicy.ALWAYS)
    writes: list[int] = []
    real_write = os.write

    def counting(fd: int, data: Any) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(journal.os, "write", counting)
    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(store.push, make_job())
    assert len(writes) == 1  # one write (and one fsync) for the 50 concurrent pushes
    assert (await store.stats()).queues == {"default": 50}
    await store.close()


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
async def test_every_fsync_policy_keeps_what_it_acknowledged(
    clock: FakeClock, path: Path, policy: str
) -> None:
    store = await _opened(clock, path, fsync=journal.FsyncPolicy(policy))
    job = make_job()
    await store.push(job)
    _crash(store)
    restored = await _opened(clock, path)
    assert [queued.jid for queued in await restored.queue_page("default", 0, 10)] == [job.jid]


# -- damage -------------------------------------------------------------------------------------


async def _journal_of_three_pushes(clock: FakeClock, path: Path) -> tuple[Path, list[int]]:
    store = await _opened(clock, path)
    for _ in range(3):
        await store.push(make_job())
    _crash(store)
    file = path.parent / FIRST
    return file, [offset for offset, _ in journal.scan(file, 1).records]


async def test_a_torn_last_record_is_dropped_with_a_warning(
    clock: FakeClock, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file, offsets = await _journal_of_three_pushes(clock, path)
    size = file.stat().st_size
    os.truncate(file, size - 5)
    with caplog.at_level(logging.WARNING):
        store = await _opened(clock, path)
    assert await store.queue_size("default") == 2
    assert f"{file}: dropping a torn last record at offset {offsets[2]}" in caplog.text
    assert file.stat().st_size == offsets[2]  # cut off before new records follow it
    await store.push(make_job())
    _crash(store)
    assert await (await _opened(clock, path)).queue_size("default") == 3


async def test_zeros_after_the_last_record_are_a_torn_tail(clock: FakeClock, path: Path) -> None:
    file, _ = await _journal_of_three_pushes(clock, path)
    with file.open("ab") as out:
        out.write(b"\x00" * 4096)
    assert await (await _opened(clock, path)).queue_size("default") == 3


async def test_damage_before_the_end_stops_the_start(clock: FakeClock, path: Path) -> None:
    file, offsets = await _journal_of_three_pushes(clock, path)
    data = bytearray(file.read_bytes())
    data[offsets[1] + 20] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(JournalError) as caught:
        await _opened(clock, path)
    message = str(caught.value)
    assert str(file) in message
    assert f"offset {offsets[1]}" in message
    assert "checksum mismatch" in message
    assert f"faktory-core journal repair {file.parent}" in message


async def test_a_record_that_does_not_replay_is_damage(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    await store.push(make_job())
    _crash(store)
    file = path.parent / FIRST
    with file.open("ab") as out:
        out.write(journal.frame(store_module._encode(("a", "no-such-jid", 1.0))))
        out.write(journal.frame(store_module._encode(("zz",))))
    with pytest.raises(JournalError, match=r"offset \d+ \(record cannot be replayed"):
        await _opened(clock, path)


async def test_a_journal_from_a_newer_version_is_refused(clock: FakeClock, path: Path) -> None:
    file, _ = await _journal_of_three_pushes(clock, path)
    data = bytearray(file.read_bytes())
    data[8:12] = struct.pack(">I", journal.VERSION + 1)
    file.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="newer faktory-core") as caught:
        await _opened(clock, path)
    assert str(file) in str(caught.value)


async def test_a_missing_journal_generation_is_refused(clock: FakeClock, path: Path) -> None:
    await _journal_of_three_pushes(clock, path)
    (path.parent / FIRST).rename(path.parent / "memory_store-00000002.journal")
    with pytest.raises(JournalError, match="missing"):
        await _opened(clock, path)


# -- a disk that fails ----------------------------------------------------------------------


async def test_a_failing_disk_refuses_changes_keeps_reads_and_recovers(
    clock: FakeClock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "RETRY_SECONDS", 0.01)
    store = await _opened(clock, path)
    kept = make_job()
    await store.push(kept)
    real_write = os.write

    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(journal.os, "write", full)
    unacknowledged = make_job()
    with pytest.raises(StoreError, match=f"cannot write the journal .*{FIRST}: No space left"):
        await store.push(unacknowledged)
    with pytest.raises(StoreError, match="No space left"):
        await store.push(make_job())  # refused before it changes anything
    with pytest.raises(StoreError, match="No space left"):
        await store.fetch(["default"], "w1", clock.now(), 0)
    assert await store.queue_size("default") == 2  # reads still answer
    assert "No space left" in str(store.describe()["journal_error"])

    monkeypatch.setattr(journal.os, "write", real_write)
    await _until_writable(store)
    await store.push(make_job())
    _crash(store)
    restored = await _opened(clock, path)
    queued = [job.jid for job in await restored.queue_page("default", 0, 10)]
    # A -ERR means "not acknowledged": the change may still persist (at-least-once).
    assert queued[-1] == kept.jid
    assert unacknowledged.jid in queued
    assert len(queued) == 3


async def test_a_fetch_whose_record_fails_puts_the_job_back(
    clock: FakeClock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "RETRY_SECONDS", 0.01)
    store = await _opened(clock, path)
    job = make_job()
    await store.push(job)
    real_write = os.write
    calls = 0

    def fail_once(fd: int, data: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_write(fd, data)

    monkeypatch.setattr(journal.os, "write", fail_once)
    with pytest.raises(StoreError, match="Input/output error"):
        await store.fetch(["default"], "w1", clock.now(), 0)
    assert await store.working_size() == 0
    assert await store.queue_size("default") == 1
    await _until_writable(store)
    _crash(store)
    restored = await _opened(clock, path)
    assert [queued.jid for queued in await restored.queue_page("default", 0, 10)] == [job.jid]
    assert await restored.working_size() == 0


# -- compaction -----------------------------------------------------------------------------


async def test_compaction_starts_a_new_journal_and_drops_the_old(
    clock: FakeClock, path: Path
) -> None:
    store = await _opened(clock, path)
    store.settings = attrs.evolve(store.settings, compact_bytes=2000)
    for _ in range(30):
        await store.push(make_job())
    assert store._compaction is not None
    await store._compaction
    assert store._journal is not None
    assert store._journal.generation > 1
    assert store.describe()["last_compaction"]
    generations = [generation for generation, _ in journal.list_journals(path.parent)]
    assert generations == [store._journal.generation]
    snapshot = json.loads(await anyio.Path(path).read_bytes())
    assert snapshot["journal"] == store._journal.generation
    await store.push(make_job())
    expected = store._export()
    _crash(store)
    restored = await _opened(clock, path)
    assert _comparable(restored._export()) == _comparable(expected)


async def test_a_crash_before_the_snapshot_lands_replays_both_journals(
    clock: FakeClock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _opened(clock, path)
    await store.push(make_job())

    def crash_while_saving(target: Path, data: bytes) -> None:
        raise OSError(errno.EIO, "killed mid-save")

    monkeypatch.setattr(store_module.snapshot, "save", crash_while_saving)
    with pytest.raises(OSError, match="killed mid-save"):
        await store.compact()
    await store.push(make_job())  # goes to the new journal
    expected = store._export()
    _crash(store)
    monkeypatch.undo()
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == [FIRST, "memory_store-00000002.journal"]
    restored = await _opened(clock, path)
    assert _comparable(restored._export()) == _comparable(expected)
    await restored.close()


async def test_a_crash_after_the_snapshot_lands_ignores_the_old_journal(
    clock: FakeClock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _opened(clock, path)
    await store.push(make_job())
    monkeypatch.setattr(store_module.journal, "prune", lambda directory, generation: None)
    await store.compact()
    await store.push(make_job())
    expected = store._export()
    _crash(store)
    monkeypatch.undo()
    restored = await _opened(clock, path)
    assert _comparable(restored._export()) == _comparable(expected)
    assert not (path.parent / FIRST).exists()  # removed as stale at start


# -- settings -------------------------------------------------------------------------------


def test_settings_from_conf_d_and_the_environment() -> None:
    toml = {"memory_store": {"fsync": "always", "compact_mib": 8}}
    settings = JournalSettings.resolve({}, toml)
    assert settings == JournalSettings(True, journal.FsyncPolicy.ALWAYS, 8 * 1024 * 1024)
    env = {"FAKTORY_MEMORY_FSYNC": "no", "FAKTORY_MEMORY_JOURNAL": "off"}
    assert JournalSettings.resolve(env, toml).fsync is journal.FsyncPolicy.NO
    assert not JournalSettings.resolve(env, toml).journal
    assert JournalSettings.resolve({}, {}) == JournalSettings()


@pytest.mark.parametrize(
    ("environ", "toml", "problem"),
    [
        ({}, {"memory_store": {"fsync": "sometimes"}}, "must be one of always, everysec, no"),
        ({"FAKTORY_MEMORY_FSYNC": "never"}, {}, "FAKTORY_MEMORY_FSYNC"),
        ({"FAKTORY_MEMORY_JOURNAL": "maybe"}, {}, "FAKTORY_MEMORY_JOURNAL must be on or off"),
        ({}, {"memory_store": {"journal": "yes"}}, "journal must be true or false"),
        ({}, {"memory_store": {"compact_mib": 0}}, "compact_mib"),
        ({}, {"memory_store": 3}, "must be a table"),
    ],
)
def test_bad_settings_are_clear_errors(
    environ: dict[str, str], toml: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        JournalSettings.resolve(environ, toml)


# -- repair ---------------------------------------------------------------------------------


async def test_repair_keeps_the_valid_prefix_and_the_rest_aside(
    clock: FakeClock, path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file, offsets = await _journal_of_three_pushes(clock, path)
    data = bytearray(await anyio.Path(file).read_bytes())
    data[offsets[1] + 20] ^= 0xFF
    await anyio.Path(file).write_bytes(bytes(data))
    later = path.parent / "memory_store-00000002.journal"
    journal.create(later, 2)
    assert cli.main(["journal", "repair", str(path.parent)]) == 0
    out = capsys.readouterr().out
    assert f"{file}: damaged at offset {offsets[1]} (checksum mismatch)" in out
    assert (await anyio.Path(file).stat()).st_size == offsets[1]
    aside = path.parent / f"{FIRST}.damaged-{offsets[1]}"
    assert await anyio.Path(aside).read_bytes() == bytes(data[offsets[1] :])
    assert await anyio.Path(f"{later}.damaged").exists()
    store = await _opened(clock, path)
    assert await store.queue_size("default") == 1
    await store.close()
    assert cli.main(["journal", "repair", str(path.parent)]) == 0
    assert "no damage found" in capsys.readouterr().out


async def test_repair_cuts_at_a_record_that_does_not_replay(
    clock: FakeClock, path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file, _ = await _journal_of_three_pushes(clock, path)
    end = (await anyio.Path(file).stat()).st_size
    with file.open("ab") as out:
        out.write(journal.frame(store_module._encode(("a", "no-such-jid", 1.0))))
        out.write(journal.frame(store_module._encode(("fl",))))
    assert cli.main(["journal", "repair", str(path.parent)]) == 0
    assert f"damaged at offset {end} (record cannot be replayed" in capsys.readouterr().out
    assert await (await _opened(clock, path)).queue_size("default") == 3


def test_repair_usage_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["journal"]) == 2
    assert "usage: faktory-core journal repair" in capsys.readouterr().err
    (tmp_path / "memory_store.json").write_bytes(b"{broken")
    assert cli.main(["journal", "repair", str(tmp_path)]) == 1
    assert "cannot restore" in capsys.readouterr().err


def test_the_documented_example_is_the_default() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    text = doc.read_text(encoding="utf-8")
    block = text.split("```toml\n[memory_store]\n", 1)[1].split("```", 1)[0]
    toml = tomllib.loads("[memory_store]\n" + block)
    assert JournalSettings.resolve({}, toml) == JournalSettings()


async def test_a_record_naming_a_class_is_damage_never_code(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    await store.push(make_job())
    _crash(store)
    file = path.parent / FIRST
    with file.open("ab") as out:
        out.write(journal.frame(pickle.dumps(("wb", "w1", 1, WorkerState.QUIET, 1.0))))
        out.write(journal.frame(store_module._encode(("fl",))))
    with pytest.raises(JournalError, match=r"may not name faktory_core\.model\.WorkerState"):
        await _opened(clock, path)


def test_a_new_journal_has_this_version(tmp_path: Path) -> None:
    file = tmp_path / FIRST
    journal.create(file, 1)
    assert struct.unpack(">8sII", file.read_bytes()[: journal.HEADER_SIZE])[1] == journal.VERSION
    assert journal.VERSION == 2
    assert journal.scan(file, 1).version == 2


async def test_a_version_1_journal_is_replayed_and_continued_in_a_new_one(
    clock: FakeClock, path: Path
) -> None:
    """Journal version 1 recorded each pushed job as its dict (``p``, ``P``). After an
    upgrade those records replay; new ones go to the next generation, of this version, so an
    older faktory-core refuses the new records by the header instead of calling them damage."""
    one = make_job(queue="a", args=[1, {"big": 2**70, "f": 0.1}])
    many = [make_job(queue="b"), make_job(queue="b", failure=failed(one).failure)]
    path.parent.mkdir(parents=True)
    old = path.parent / FIRST
    records = [("p", one.to_dict()), ("P", [job.to_dict() for job in many])]
    with old.open("wb") as out:
        out.write(struct.pack(">8sII", journal.MAGIC, 1, 1))
        for record in records:
            out.write(journal.frame(store_module._encode(record)))
        whole = out.tell()
        out.write(journal.frame(store_module._encode(("a", "x", 1.0)))[:7])  # a torn tail
    store = await _opened(clock, path)
    assert await store.queue_page("a", 0, 10) == [one]
    assert await store.queue_page("b", 0, 10) == many[::-1]
    assert old.stat().st_size == whole  # cut after its last whole record
    assert journal.scan(old, 1).version == 1
    second = path.parent / "memory_store-00000002.journal"
    assert journal.scan(second, 2).version == journal.VERSION
    await store.push(later := make_job(queue="a"))
    _crash(store)
    assert _ops(second, 2) == {"j"}

    again = await _opened(clock, path)
    assert await again.queue_page("a", 0, 10) == [later, one]
    await again.close()  # the snapshot takes over: both journals go
    assert sorted(p.name for p in path.parent.glob("*.journal")) == [
        "memory_store-00000003.journal"
    ]
    last = await _opened(clock, path)
    assert await last.queue_size("a") == 2
    assert await last.queue_page("b", 0, 10) == many[::-1]
    await last.close()


async def test_job_records_replay_every_field(clock: FakeClock, path: Path) -> None:
    job = make_job(
        queue="q",
        args=[1, "x", None, True, 1.5, 2**70, {"k": [1e16]}],
        retry=3,
        at="",
        reserve_for=120,
        backtrace=5,
        custom={"track": 1, "nested": {"a": [1, 2]}},
    )
    jobs = [job, failed(make_job(queue="q"))]
    store = await _opened(clock, path)
    await store.push(jobs[0])
    await store.push_many([jobs[1]])
    _crash(store)
    assert _ops(path.parent / FIRST) == {"j", "J"}
    again = await _opened(clock, path)
    assert await again.queue_page("q", 0, 10) == jobs[::-1]
    await again.close()


async def test_a_job_record_that_is_not_a_job_is_damage(clock: FakeClock, path: Path) -> None:
    store = await _opened(clock, path)
    await store.push(make_job())
    _crash(store)
    with (path.parent / FIRST).open("ab") as out:
        out.write(journal.frame(store_module._encode(("j", ("too", "short")))))
    with pytest.raises(JournalError, match=r"record cannot be replayed: ValueError\(\"not a job"):
        await _opened(clock, path)
