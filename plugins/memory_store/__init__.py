"""The memory store plugin: every queue, set and counter in process memory, kept on disk in the
storage directory: a write-ahead journal of every acknowledged change
(``memory_store-<generation>.journal``) and a snapshot (``memory_store.json``) written at
compaction and on shutdown; start-up loads the snapshot and replays the journal.

It answers ``faktory_core_make_store`` last (``trylast``), so any other installed store plugin
takes precedence over this default. Settings: ``[memory_store]`` in conf.d and
``FAKTORY_MEMORY_FSYNC`` / ``FAKTORY_MEMORY_JOURNAL`` (docs/configuration.md).
"""

from __future__ import annotations

import os

from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.memory_store.features import faktory_core_feature_storage
from faktory_core.plugins.memory_store.journal import JournalError, JournalSettings
from faktory_core.plugins.memory_store.snapshot import SnapshotError
from faktory_core.plugins.memory_store.store import MemoryStore
from faktory_core.store import Store

__all__ = [
    "SNAPSHOT_NAME",
    "JournalError",
    "JournalSettings",
    "MemoryStore",
    "SnapshotError",
    "faktory_core_feature_storage",
    "faktory_core_make_store",
]

#: The snapshot's file name inside the configured storage directory.
SNAPSHOT_NAME = "memory_store.json"


@hookimpl(trylast=True)
def faktory_core_make_store(config: Config, clock: Clock) -> Store:
    settings = JournalSettings.resolve(os.environ, config.toml)
    return MemoryStore(clock, path=config.storage_dir / SNAPSHOT_NAME, settings=settings)
