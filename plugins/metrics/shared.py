"""The Metrics page's minute buckets, shared by every server on one store (docs/metrics.md).

Each server counts its own executions per minute in its :class:`~.recorder.Recorder`. When its
store offers the ``metrics`` feature storage (:class:`MinuteStorage`; the Redis store does, so
several servers on one Redis show one history), a background task saves the server's newest
minutes every :data:`SHARE_EVERY` seconds, under its own node name, replacing what it saved
before for those minutes; the page then adds up the other servers' saved minutes and this
server's live ones. A restarted server's earlier minutes stay in the store until they age out,
so the page's history survives restarts. Without such a store (the memory store: one server
only), the page reads the recorder alone.

What a reader sees of another server lags by at most :data:`SHARE_EVERY` seconds; a server
that dies loses at most that much of its own last minute.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Protocol

import anyio

from faktory_core.errors import StoreError
from faktory_core.plugins.metrics.recorder import MINUTES_KEPT, Minute, Recorder

__all__ = ["FEATURE", "SHARE_EVERY", "MinuteStorage", "Minutes", "Sharer"]

log = logging.getLogger("faktory_core.plugins.metrics")

#: The feature storage's name (``faktory_core_feature_storage("metrics", store)``).
FEATURE = "metrics"
#: Seconds between two saves of a server's newest minutes.
SHARE_EVERY = 5.0
#: Minutes saved each time: the current one and the one before (its last seconds).
NEWEST = 2

Rows = dict[str, Minute]


class MinuteStorage(Protocol):
    """What a store keeps for the shared Metrics page: per minute, each server's rows."""

    async def save(self, minutes: dict[int, Rows], keep: float) -> None:
        """Store this server's rows (job type → :data:`Minute`) for each minute given,
        replacing what it stored before for those minutes; keep them ``keep`` seconds."""

    async def load(self, first: int, last: int) -> dict[int, list[Rows]]:
        """The rows every *other* server stored for the minutes ``first``..``last``
        (Unix time // 60): minute → one ``Rows`` per server."""


def _add(into: Rows, rows: Rows) -> None:
    for jobtype, row in rows.items():
        total = into.get(jobtype)
        if total is None:
            into[jobtype] = list(row)
        elif len(total) == len(row):
            for index, value in enumerate(row):
                total[index] += value


class Minutes:
    """A window's minute buckets, this server's and the others' added up (``window()`` as
    the recorder's)."""

    def __init__(self, recorder: Recorder, others: dict[int, list[Rows]]) -> None:
        self.recorder = recorder
        self.others = others

    def window(self, minutes: int) -> Iterator[tuple[int, Rows]]:
        for minute, own in self.recorder.window(minutes):
            theirs = self.others.get(minute)
            if not theirs:
                yield minute, own
                continue
            total: Rows = {}
            for rows in (own, *theirs):
                _add(total, rows)
            yield minute, total


class Sharer:
    """Saves a recorder's newest minutes to the store, and reads the others' back."""

    def __init__(self, recorder: Recorder, storage: MinuteStorage) -> None:
        self.recorder = recorder
        self.storage = storage

    async def save(self) -> None:
        now = int(self.recorder.clock.now() // 60)
        newest = {
            minute: rows
            for minute in range(now - NEWEST + 1, now + 1)
            if (rows := self.recorder.minutes.get(minute))
        }
        if newest:
            snapshot = {
                minute: {k: list(v) for k, v in rows.items()} for minute, rows in newest.items()
            }
            await self.storage.save(snapshot, keep=(MINUTES_KEPT + NEWEST) * 60.0)

    async def run(self) -> None:
        """Save every :data:`SHARE_EVERY` seconds; a store outage is logged and retried."""
        while True:
            await self.recorder.clock.sleep(SHARE_EVERY)
            try:
                await self.save()
            except StoreError as exc:
                log.warning("metrics: could not share this server's minutes: %s", exc)

    async def minutes(self, minutes: int) -> Minutes:
        """The last ``minutes`` minutes, every server's added up; this server's alone when
        the store cannot be read (logged), so the page still answers."""
        now = int(self.recorder.clock.now() // 60)
        try:
            others = await self.storage.load(now - minutes + 1, now)
        except StoreError as exc:
            log.warning("metrics: showing this server's minutes only: %s", exc)
            others = {}
        return Minutes(self.recorder, others)


async def final_save(sharer: Sharer) -> None:
    """One last save at shutdown, bounded: a store that does not answer is not waited for."""
    with anyio.move_on_after(2):
        try:
            await sharer.save()
        except StoreError as exc:
            log.warning("metrics: could not share this server's last minutes: %s", exc)
