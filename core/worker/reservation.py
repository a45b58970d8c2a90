"""Long jobs keep their reservation, and jobs report progress (Enterprise job tracking).

While a job runs, :class:`Reservations` sends ``TRACK SET {"jid": ..., "reserve_until":
...}`` each time half of the job's reservation (``reserve_for``, 1,800 s by default) has
passed, pushing the deadline to a full ``reserve_for`` from then -- again and again, so a
2-hour job with ``reserve_for=60`` is never handed to a second worker. A server that does not
take ``TRACK`` (Faktory without Enterprise, faktory-core with ``--no-plugin tracking``) answers
an error: that job's extension stops, with one log line, and the job runs on as before.

``ctx.track(percent, desc)`` (``await`` it in ``async def`` jobs) and ``ctx.track_sync(...)``
(plain jobs) report progress of a job pushed with ``Job(..., track=True)``.

The clock and the sleep are injectable (tests drive them with the server's fake clock).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from faktory_core.client.errors import ClientError
from faktory_core.model import DEFAULT_RESERVE_FOR, MAX_RESERVE_FOR, MIN_RESERVE_FOR
from faktory_core.timefmt import format_ts

if TYPE_CHECKING:
    from faktory_core.worker.context import Clients

__all__ = ["EXTEND_AT", "Reservations", "reservation_seconds"]

log = logging.getLogger("faktory_core.worker")

#: The share of the reservation that passes before it is extended.
EXTEND_AT = 0.5


def reservation_seconds(payload: Mapping[str, Any]) -> float:
    """The reservation the server gives the job: ``reserve_for``, 0 or absent → 1,800 s,
    clamped to [60, 86,400] (as the server does at FETCH)."""
    value = payload.get("reserve_for")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return float(DEFAULT_RESERVE_FOR)
    return float(min(max(value, MIN_RESERVE_FOR), MAX_RESERVE_FOR))


class Reservations:
    """Extends the reservations of the jobs a worker runs: one loop per worker (:meth:`run`,
    in the worker's task group) sleeps until the next job is due, so a job costs two dict
    operations (:meth:`started`, :meth:`finished`), not a task of its own."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        #: Extensions sent so far (for tests and diagnostics).
        self.extended = 0
        self._due: dict[str, tuple[float, float]] = {}  # jid → (next extension, reserve_for)
        self._clients: Clients | None = None
        self._wake: anyio.Event | None = None
        self._nap: anyio.CancelScope | None = None
        self._until = math.inf

    def started(self, payload: Mapping[str, Any], clients: Clients) -> None:
        """A job starts running: extend it when half its reservation has passed."""
        span = reservation_seconds(payload)
        at = self.clock() + span * EXTEND_AT
        self._due[str(payload.get("jid", ""))] = (at, span)
        self._clients = clients
        if self._wake is not None:
            self._wake.set()
        if at < self._until and self._nap is not None:
            self._nap.cancel()  # sleeping past this job's time: wake up and sleep less

    def finished(self, jid: str) -> None:
        self._due.pop(jid, None)

    async def run(self) -> None:
        """The loop (runs until cancelled with the worker)."""
        while True:
            if not self._due:
                self._wake = anyio.Event()
                await self._wake.wait()
                self._wake = None
                continue
            self._until = min(at for at, _ in self._due.values())
            with anyio.CancelScope() as self._nap:
                await self.sleep(max(self._until - self.clock(), 0.0))
            self._nap, self._until = None, math.inf
            await self._extend_due()

    async def _extend_due(self) -> None:
        now = self.clock()
        for jid, (at, span) in list(self._due.items()):
            if at > now or self._clients is None:
                continue
            try:
                await self._clients.async_client.track_set(jid, reserve_until=format_ts(now + span))
            except ClientError as exc:
                log.warning("job %s: cannot extend its reservation (%s); it runs on", jid, exc)
                self._due.pop(jid, None)
                continue
            self.extended += 1
            if jid in self._due:
                self._due[jid] = (now + span * EXTEND_AT, span)
