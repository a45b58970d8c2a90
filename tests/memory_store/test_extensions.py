"""Feature storage on the memory store: a feature's state rides the snapshot and the journal,
whether or not its plugin has attached when the store opens."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from faktory_core.plugins.memory_store import JournalSettings, MemoryStore
from faktory_core.plugins.memory_store.extensions import Extension
from faktory_core.testing import FakeClock


class Tally:
    """A feature's state: named counters, changed through journaled ops."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def dump(self) -> Any:
        return dict(self.counts)

    def load(self, data: Any) -> None:
        self.counts = dict(data)

    def apply(self, op: str, args: tuple[Any, ...]) -> None:
        if op != "add":
            raise ValueError(f"unknown op {op!r}")
        name, by = args
        self.counts[name] = self.counts.get(name, 0) + by

    def clear(self) -> None:
        self.counts.clear()


async def _add(handle: Extension, name: str, by: int) -> None:
    handle.check()
    handle.state.apply("add", (name, by))
    await handle.log("add", name, by)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "memory_store.json"


async def _opened(path: Path) -> MemoryStore:
    store = MemoryStore(FakeClock(), path=path, settings=JournalSettings())
    await store.open()
    return store


def _crash(store: MemoryStore) -> None:
    assert store._journal is not None
    os.close(store._journal._fd)
    store._journal = None
    store._opened = False


async def test_a_crash_replays_the_features_changes_once_it_attaches(path: Path) -> None:
    store = await _opened(path)
    handle = store.extension("tally", Tally())
    await _add(handle, "a", 2)
    await _add(handle, "a", 3)
    _crash(store)

    again = await _opened(path)
    tally = Tally()
    again.extension("tally", tally)

    assert tally.counts == {"a": 5}


async def test_a_stop_saves_the_feature_in_the_snapshot(path: Path) -> None:
    store = await _opened(path)
    await _add(store.extension("tally", Tally()), "b", 7)
    await store.close()

    again = await _opened(path)
    tally = Tally()
    again.extension("tally", tally)
    assert tally.counts == {"b": 7}
    await _add(again.extension("tally", tally), "b", 1)
    _crash(again)

    third = await _opened(path)
    tally = Tally()
    third.extension("tally", tally)
    assert tally.counts == {"b": 8}


async def test_a_feature_not_attached_keeps_its_state_across_restarts(path: Path) -> None:
    store = await _opened(path)
    await _add(store.extension("tally", Tally()), "c", 1)
    _crash(store)
    # The feature's plugin is off for two runs: replayed records are held and saved again.
    for _ in range(2):
        idle = await _opened(path)
        await idle.close()

    back = await _opened(path)
    tally = Tally()
    back.extension("tally", tally)
    assert tally.counts == {"c": 1}


async def test_flush_clears_attached_and_held_features(path: Path) -> None:
    store = await _opened(path)
    tally = Tally()
    await _add(store.extension("tally", tally), "d", 1)
    await _add(store.extension("other", Tally()), "e", 1)
    await store.close()

    again = await _opened(path)
    tally = Tally()
    again.extension("tally", tally)
    await again.flush()
    _crash(again)

    third = await _opened(path)
    tally, other = Tally(), Tally()
    third.extension("tally", tally)
    third.extension("other", other)
    assert (tally.counts, other.counts) == ({}, {})


async def test_a_second_attach_carries_the_state_over(path: Path) -> None:
    store = await _opened(path)
    await _add(store.extension("tally", Tally()), "f", 4)
    fresh = Tally()
    store.extension("tally", fresh)
    assert fresh.counts == {"f": 4}
    await store.close()


async def test_a_record_the_feature_cannot_apply_is_damage(path: Path) -> None:
    store = await _opened(path)
    handle = store.extension("tally", Tally())
    await handle.log("bogus", 1)
    _crash(store)

    again = await _opened(path)
    with pytest.raises(ValueError, match="unknown op 'bogus'"):
        again.extension("tally", Tally())
