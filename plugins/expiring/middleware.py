"""The expiring feature's job middleware: ``expires_in`` becomes ``expires_at`` at PUSH, and an
expired job is dropped at FETCH (``Discard``: the server fetches the next job at once).

The dropped job is not reserved any more, not ACKed, FAILed, retried or sent to the dead set,
and counts neither as processed nor as failed (enterprise.md §4). It is counted as ``expired``
(labels ``queue``, ``jobtype``) and logged at debug level.
"""

from __future__ import annotations

import logging

import attrs

from faktory_core.clock import Clock
from faktory_core.counters import Counters
from faktory_core.errors import Discard, FaktoryError
from faktory_core.middleware import JobMiddleware, Step
from faktory_core.model import Job
from faktory_core.options import EXPIRES_AT, EXPIRES_IN, OptionError, expires_at, expires_in
from faktory_core.timefmt import format_ts

__all__ = ["EXPIRED", "ExpiringMiddleware"]

log = logging.getLogger("faktory_core.plugins.expiring")

#: The Discard message (Faktory logs ``JID <jid>: DISCARD job expired``).
EXPIRED = "job expired"


@attrs.define(eq=False)
class ExpiringMiddleware(JobMiddleware):
    """Reads "now" from the server's clock; counts on the server's counters once started."""

    clock: Clock
    counters: Counters = attrs.field(factory=Counters)

    custom_only = True  # wants() looks in job.custom only

    def wants(self, job: Job) -> bool:
        custom = job.custom
        return custom is not None and (EXPIRES_AT in custom or EXPIRES_IN in custom)

    async def push(self, job: Job, call_next: Step) -> None:
        try:
            at = expires_at(job.custom)
            seconds = expires_in(job.custom) if at is None else None
        except OptionError as exc:
            raise FaktoryError(str(exc)) from None
        if seconds is not None:
            stamp = format_ts(self.clock.now() + seconds)
            job = attrs.evolve(job, custom={**(job.custom or {}), EXPIRES_AT: stamp})
        await call_next(job)

    async def fetch(self, job: Job, call_next: Step) -> None:
        if _expired(job, self.clock.now()):
            self.counters.add("expired", queue=job.queue, jobtype=job.jobtype)
            log.debug("JID %s: DISCARD %s (%s, queue %s)", job.jid, EXPIRED, job.jobtype, job.queue)
            raise Discard(EXPIRED)
        await call_next(job)


def _expired(job: Job, now: float) -> bool:
    try:
        at = expires_at(job.custom)
    except OptionError:
        return False  # pushed while this plugin was off: it was never checked, keep it
    return at is not None and at <= now
