"""The memory store keeps tracking records through a restart (journal, then snapshot)."""

from __future__ import annotations

from pathlib import Path

from faktory_core.clock import FakeClock
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.memory_store.tracking import MemoryTracking


async def _reopen(path: Path, clock: FakeClock) -> tuple[MemoryStore, MemoryTracking]:
    store = MemoryStore(clock, path=path)
    await store.open()
    return store, MemoryTracking(store)


async def test_records_survive_a_restart_and_expire_on_time(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "memory_store.json"
    store, records = await _reopen(path, clock)
    await records.set_state("a", "working", clock.now(), 1800)
    assert await records.set_progress("a", {"percent": 40, "desc": "x"}, clock.now(), 1800)
    assert not await records.set_progress("nobody", {"percent": 1}, clock.now(), 1800)
    await records.set_state("b", "enqueued", clock.now() - 1000, 1800)
    # Replayed from the journal (the process "crashed": no close, no snapshot).
    _, replayed = await _reopen(path, clock)
    expected = {"state": "working", "updated_at": clock.now(), "percent": 40, "desc": "x"}
    assert await replayed.get("a", clock.now()) == expected
    await store.close()  # now from the snapshot
    store, reloaded = await _reopen(path, clock)
    assert await reloaded.get("a", clock.now()) == expected
    assert await reloaded.get("b", clock.now() + 800) is None  # 30 min after its change
    assert await reloaded.get("a", clock.now() + 1800) is None
    await store.close()
