"""Long jobs keep their reservation, and jobs report progress (Enterprise job tracking).

While a job runs, :meth:`Reservations.kept` sends ``TRACK SET {"jid": ..., "reserve_until":
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

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
    """Extends the reservations of the jobs a worker runs (one per worker)."""

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

    @contextlib.asynccontextmanager
    async def kept(self, payload: Mapping[str, Any], clients: Clients) -> AsyncIterator[None]:
        """Keep ``payload``'s reservation alive while the body runs."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._extend, payload, clients)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def _extend(self, payload: Mapping[str, Any], clients: Clients) -> None:
        jid, span = str(payload.get("jid", "")), reservation_seconds(payload)
        while True:
            await self.sleep(span * EXTEND_AT)
            until = format_ts(self.clock() + span)
            try:
                await clients.async_client.track_set(jid, reserve_until=until)
            except ClientError as exc:
                log.warning("job %s: cannot extend its reservation (%s); it runs on", jid, exc)
                return
            self.extended += 1
