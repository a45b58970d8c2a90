"""Find jobs: one page of matches from a sorted set or a queue, and every match to act on.

Sets are searched with the store's ``set_scan`` (field by field, :class:`JobFilter`), queues by
paging through ``queue_page``. A page of matches stops at 25 matches, or after examining
``SCAN_BUDGET`` jobs, and says where the next page starts: for a set the store's cursor plus how
many matches of the chunk that starts there were already shown; for a queue a position.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio.lowlevel
import attrs

from faktory_core.manager import MUTATE_CHUNK
from faktory_core.model import Job, JobFilter, SetEntry, SortedSet
from faktory_core.plugins.webui.helpers import PAGE_SIZE
from faktory_core.store import Store

__all__ = ["SCAN_BUDGET", "Matches", "find_in_queue", "find_in_set", "queue_matches"]

#: Jobs examined at most for one page of matches; the page then offers to search on.
SCAN_BUDGET = 20_000


@attrs.frozen
class Matches:
    """Up to a page of matches; ``more`` is the query that shows the next page (None: done)."""

    found: Sequence[SetEntry | Job]
    more: dict[str, str] | None


async def find_in_set(
    store: Store, which: SortedSet, where: JobFilter, cursor: str = "", skip: int = 0
) -> Matches:
    found: list[SetEntry | Job] = []
    examined = 0
    while True:
        entries, after = await store.set_scan(which, where, cursor, MUTATE_CHUNK)
        examined += MUTATE_CHUNK
        usable = entries[skip:]
        taken = usable[: PAGE_SIZE - len(found)]
        found.extend(taken)
        if len(taken) < len(usable):
            return Matches(found, {"cursor": cursor, "skip": str(skip + len(taken))})
        if not after:
            return Matches(found, None)
        if len(found) == PAGE_SIZE or examined >= SCAN_BUDGET:
            return Matches(found, {"cursor": after, "skip": "0"})
        cursor, skip = after, 0


async def find_in_queue(store: Store, name: str, where: JobFilter, offset: int = 0) -> Matches:
    found: list[SetEntry | Job] = []
    position = offset
    match = where.matcher()
    while True:
        jobs = await store.queue_page(name, position, MUTATE_CHUNK)
        for index, job in enumerate(jobs):
            if match(job, None):
                found.append(job)
                if len(found) == PAGE_SIZE:
                    return Matches(found, {"offset": str(position + index + 1)})
        position += len(jobs)
        if len(jobs) < MUTATE_CHUNK:
            return Matches(found, None)
        if position - offset >= SCAN_BUDGET:
            return Matches(found, {"offset": str(position)})
        await anyio.lowlevel.checkpoint()


async def queue_matches(store: Store, name: str, where: JobFilter) -> list[str]:
    """The jids of every job in the queue matching ``where``, read a chunk at a time."""
    jids: list[str] = []
    position = 0
    match = where.matcher()
    while True:
        jobs = await store.queue_page(name, position, MUTATE_CHUNK)
        jids.extend(job.jid for job in jobs if match(job, None))
        position += len(jobs)
        if len(jobs) < MUTATE_CHUNK:
            return jids
        await anyio.lowlevel.checkpoint()
