"""``faktory-core journal repair [STORAGE DIR]``: keep the valid prefix of a damaged journal.

The start refuses a journal that is damaged before its end (a torn *last* record is dropped on
its own). This command replays the snapshot and the journals as the start does, stops at the
first record that cannot be read or replayed, and cuts the journal there. Nothing is deleted:
the bytes cut off go to ``<journal>.damaged-<offset>`` and any later journal is renamed to
``<journal>.damaged``, so they can be examined (or sent with a bug report). The changes after
the damage are lost; everything before it is kept.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from faktory_core.clock import SystemClock
from faktory_core.config import Config
from faktory_core.plugins.memory_store import journal, snapshot
from faktory_core.plugins.memory_store.journal import JournalError, JournalSettings
from faktory_core.plugins.memory_store.store import REPLAY_ERRORS, MemoryStore, unreplayable

__all__ = ["USAGE", "repair", "run"]

USAGE = "usage: faktory-core journal repair [STORAGE DIR]   (default: ~/.faktory/db)\n"
SNAPSHOT_NAME = "memory_store.json"


def run(argv: Sequence[str]) -> int:
    """The subcommand's entry point (``faktory-core journal ...``)."""
    if not argv or argv[0] != "repair" or len(argv) > 2:
        sys.stderr.write(USAGE)
        return 2
    directory = Path(argv[1]) if len(argv) == 2 else Config().storage_dir
    try:
        for line in repair(directory):
            print(line)
    except (JournalError, snapshot.SnapshotError, OSError) as exc:
        print(f"faktory-core journal repair: {exc}", file=sys.stderr)
        return 1
    return 0


def repair(directory: Path) -> list[str]:
    """Cut the first damaged journal at its damage; returns what was done, line by line."""
    path = directory / SNAPSHOT_NAME
    state = snapshot.load(path)
    store = MemoryStore(SystemClock(), path=path, settings=JournalSettings())
    if state is not None:
        store._restore(state)
    found = journal.list_journals(directory)
    live = journal.check_sequence(found, state.journal if state else 0, path)
    for index, (generation, file) in enumerate(live):
        damage = _first_damage(store, file, generation)
        if damage is not None:
            return _cut(file, *damage, later=[p for _, p in live[index + 1 :]])
    return [f"{directory}: no damage found in {len(live)} journal file(s); nothing changed"]


def _first_damage(store: MemoryStore, file: Path, generation: int) -> tuple[int, str] | None:
    scanned = journal.scan(file, generation)
    for offset, payload in scanned.records:
        try:
            store._apply(payload)
        except REPLAY_ERRORS as exc:
            return offset, unreplayable(exc)
    if scanned.problem is not None:
        return scanned.end, scanned.problem
    return None


def _cut(file: Path, offset: int, problem: str, later: list[Path]) -> list[str]:
    data = file.read_bytes()
    kept = file.with_name(f"{file.name}.damaged-{offset}")
    kept.write_bytes(data[offset:])
    with file.open("r+b") as handle:
        handle.truncate(offset)
    lines = [
        f"{file}: damaged at offset {offset} ({problem})",
        f"kept the {offset} bytes before it; the {len(data) - offset} bytes from there are "
        f"in {kept}",
    ]
    for other in later:
        moved = other.with_name(other.name + ".damaged")
        shutil.move(other, moved)
        lines.append(f"{other} follows the damage: moved to {moved}")
    lines.append("the server now starts from the valid prefix")
    return lines
