"""The memory store plugin: every queue, set and counter in process memory, saved to
``<storage dir>/memory_store.json`` on shutdown and restored at start-up.

It answers ``faktory_core_make_store`` last (``trylast``), so any other installed store plugin
takes precedence over this default.
"""

from __future__ import annotations

from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.memory_store.snapshot import SnapshotError
from faktory_core.plugins.memory_store.store import MemoryStore
from faktory_core.store import Store

__all__ = ["SNAPSHOT_NAME", "MemoryStore", "SnapshotError", "faktory_core_make_store"]

#: The snapshot's file name inside the configured storage directory.
SNAPSHOT_NAME = "memory_store.json"


@hookimpl(trylast=True)
def faktory_core_make_store(config: Config, clock: Clock) -> Store:
    return MemoryStore(clock, path=config.storage_dir / SNAPSHOT_NAME)
