"""The cron loop: sleep on the server's clock until the next tick of any entry, then enqueue.

Exactly one job per entry and tick, however many servers share the store and however often
they restart: before pushing, a server claims ``cron:<identity>:<tick>`` with the store's
atomic ``kv_claim``; only the one that set the key pushes. The claim outlives the tick by
:data:`CLAIM_TTL`, far longer than a restart takes.

Which ticks are fired: each pass fires the ticks in ``(cursor, now]`` and moves the cursor to
``now``. At start the cursor is :data:`GRACE` seconds back, so a tick of the last minute that no
server claimed (the server was restarting across it) is fired late rather than lost; older ones
are never replayed. A loop that falls further behind (a suspended machine) skips what is older
than :data:`GRACE` the same way, and says so in the log.

State shared through the store's key-value space, so every server and the web UI agree:
``cron:<identity>:paused`` (present = paused) and ``cron:<identity>:last`` (the last enqueue).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import attrs

from faktory_core.model import Job
from faktory_core.plugins.cron.describe import describe_or_raw
from faktory_core.plugins.cron.entries import CronEntry
from faktory_core.timefmt import format_ts

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = [
    "CLAIM_TTL",
    "GRACE",
    "LAST_TTL",
    "MAX_WAIT",
    "Scheduler",
    "UnknownEntry",
    "claim_key",
    "last_key",
    "paused_key",
]

log = logging.getLogger("faktory_core.plugins.cron")

#: Seconds a tick's claim is kept: any server or restart within this sees the tick as taken.
CLAIM_TTL = 3600.0
#: Ticks due at most this many seconds ago are still fired (at start, or by a late loop).
GRACE = 60.0
#: The longest single wait: the loop looks at the clock again at least this often, so a wall
#: clock stepped forward or back (NTP, suspend) never leaves it asleep past a tick.
MAX_WAIT = 60.0
#: Seconds the "last run" record is kept after an entry last fired (then it is forgotten).
LAST_TTL = 90 * 86400.0


def claim_key(identity: str, tick: float) -> str:
    return f"cron:{identity}:{int(tick)}"


def paused_key(identity: str) -> str:
    return f"cron:{identity}:paused"


def last_key(identity: str) -> str:
    return f"cron:{identity}:last"


class UnknownEntry(LookupError):
    """No entry of the running schedule has this identity."""


@attrs.define(eq=False)
class Scheduler:
    """One server's cron loop over its current list of entries."""

    server: Server
    entries: tuple[CronEntry, ...]
    #: Entries read from the environment at start; kept as they are on every reload.
    env_entries: tuple[CronEntry, ...] = ()
    cursor: float = 0.0
    #: When the loop will next look at the clock (-inf while it is working, not waiting).
    next_wake: float = -math.inf
    _pending: tuple[CronEntry, ...] | None = None
    _wake: anyio.Event | None = None
    _scope: anyio.CancelScope | None = None

    # -- the loop -------------------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        clock = self.server.clock
        with anyio.CancelScope() as scope:
            self._scope = scope
            self._wake = anyio.Event()
            self.cursor = clock.now() - GRACE
            task_status.started()
            while True:
                now = clock.now()
                await self.fire_due(now)
                if self._pending is not None:
                    self.entries, self._pending = self._pending, None
                self._wake = anyio.Event()
                now = clock.now()  # enqueueing took time: measure the wait from here
                timeout = self.wait_seconds(now)
                self.next_wake = now + timeout
                await clock.wait(self._wake, timeout)
                self.next_wake = -math.inf

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    def replace(self, entries: tuple[CronEntry, ...]) -> None:
        """Take a new schedule: the loop first fires what the old one has due, then switches
        and recomputes its wait. New entries fire from their first tick after now."""
        self._pending = entries
        if self._wake is not None:
            self._wake.set()

    def wait_seconds(self, now: float) -> float:
        """From ``now`` until the next tick of any entry after the cursor (0 if one is already
        due; at most :data:`MAX_WAIT`)."""
        after = self.cursor
        upcoming = min((entry.next_after(after) for entry in self.entries), default=math.inf)
        return max(0.0, min(upcoming - now, MAX_WAIT))

    async def fire_due(self, now: float) -> None:
        """Fire every entry's ticks in ``(cursor, now]`` (no further back than :data:`GRACE`)."""
        start = max(self.cursor, now - GRACE)
        if start > self.cursor + 1.0:
            log.warning(
                "cron: ran %.0f s late; ticks due more than %.0f s ago were skipped, not replayed",
                now - self.cursor,
                GRACE,
            )
        for entry in self.entries:
            for tick in entry.ticks(start, now):
                try:
                    await self.fire(entry, tick)
                except Exception:
                    log.exception(
                        "cron: %s failed to enqueue its tick of %s", entry.source, format_ts(tick)
                    )
        self.cursor = max(self.cursor, now)

    async def fire(self, entry: CronEntry, tick: float) -> Job | None:
        """Enqueue ``entry``'s job for ``tick`` unless paused or claimed already."""
        store = self.server.store
        if await self.is_paused(entry):
            log.debug("cron: %s is paused; skipping %s", entry.label, format_ts(tick))
            return None
        job = entry.make_job(tick)
        if not await store.kv_claim(claim_key(entry.identity, tick), job.jid.encode(), CLAIM_TTL):
            log.debug("cron: %s at %s was enqueued by another server", entry.label, format_ts(tick))
            return None
        await self.server.manager.push(job)
        await self._record(entry, tick, job, manual=False)
        log.info(
            "cron: enqueued %s %s on %s (%s, tick %s)",
            job.jobtype,
            job.jid,
            job.queue,
            entry.label,
            format_ts(tick),
        )
        return job

    # -- actions for the web UI and tools -------------------------------------------------------

    def find(self, identity: str) -> CronEntry:
        for entry in self.entries:
            if entry.identity == identity:
                return entry
        raise UnknownEntry(identity)

    async def enqueue_now(self, identity: str) -> Job:
        """Push the entry's job now, paused or not, outside the schedule (no claim)."""
        entry = self.find(identity)
        now = self.server.clock.now()
        job = entry.make_job(now)
        await self.server.manager.push(job)
        await self._record(entry, now, job, manual=True)
        log.info(
            "cron: enqueued %s %s on %s (%s, by hand)", job.jobtype, job.jid, job.queue, entry.label
        )
        return job

    async def pause(self, identity: str) -> None:
        entry = self.find(identity)
        await self.server.store.kv_set(paused_key(entry.identity), b"1")
        log.info("cron: paused %s", entry.label)

    async def resume(self, identity: str) -> None:
        entry = self.find(identity)
        await self.server.store.kv_delete(paused_key(entry.identity))
        log.info("cron: resumed %s", entry.label)

    async def is_paused(self, entry: CronEntry) -> bool:
        return await self.server.store.kv_get(paused_key(entry.identity)) is not None

    async def last_run(self, entry: CronEntry) -> dict[str, Any] | None:
        raw = await self.server.store.kv_get(last_key(entry.identity))
        if raw is None:
            return None
        try:
            found = json.loads(raw)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    async def _record(self, entry: CronEntry, at: float, job: Job, *, manual: bool) -> None:
        record = {"at": format_ts(at), "jid": job.jid, "manual": manual}
        await self.server.store.kv_set(
            last_key(entry.identity), json.dumps(record).encode(), LAST_TTL
        )

    async def status(self) -> list[dict[str, Any]]:
        """Every entry as the web UI shows it (JSON-ready)."""
        now = self.server.clock.now()
        return [await self.describe(entry, now) for entry in self.entries]

    async def describe(self, entry: CronEntry, now: float) -> dict[str, Any]:
        upcoming = entry.next_after(now)
        return {
            "identity": entry.identity,
            "name": entry.name,
            "schedule": entry.schedule,
            "description": describe_or_raw(entry.schedule),
            "timezone": entry.timezone,
            "type": entry.jobtype,
            "queue": entry.queue,
            "retry": entry.retry,
            "args": entry.args,
            "custom": entry.job_dict().get("custom", {}),
            "next_run": format_ts(upcoming),
            "next_run_local": datetime.fromtimestamp(upcoming, entry.zone).isoformat(),
            "last_run": await self.last_run(entry),
            "paused": await self.is_paused(entry),
            "source": entry.source,
        }
