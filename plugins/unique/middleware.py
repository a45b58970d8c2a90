"""The unique feature's job middleware: take the lock at PUSH, drop it at ACK or FETCH.

- push: a job with ``custom.unique_for`` takes the lock of its (jobtype, args, queue) until
  ``unique_for`` seconds after now, or after its ``at`` for a scheduled job (§3.2); a live lock
  held by another push answers ``-NOTUNIQUE Job not unique``. Should the job not be placed after
  all (a later middleware refuses it, the store fails), the lock taken for it is dropped again.
- fetch (``unique_until: start``): the lock is dropped once the job is handed out -- not when a
  fetch middleware discards it (an expired job never started).
- ack (``success``, the default): the lock is dropped.
- FAIL, retries, the dead set: nothing; the lock runs out at its expiry whatever happens.

A lock is dropped only by the jid that holds it, so a copy accepted after the lock ran out is
never unlocked by an older copy finishing.
"""

from __future__ import annotations

import logging

import attrs

from faktory_core.clock import Clock
from faktory_core.counters import Counters
from faktory_core.errors import CodedError, FaktoryError, messages
from faktory_core.middleware import JobMiddleware, Step
from faktory_core.model import Job, check_at
from faktory_core.options import (
    UNIQUE_FOR,
    UNTIL_START,
    UNTIL_SUCCESS,
    OptionError,
    unique_key,
    uniqueness,
)
from faktory_core.plugins.unique.locks import UniqueLocks

__all__ = ["NOT_UNIQUE_CODE", "UniqueMiddleware"]

log = logging.getLogger("faktory_core.plugins.unique")

NOT_UNIQUE_CODE = "NOTUNIQUE"


def _key(job: Job) -> str:
    return unique_key(job.jobtype, job.args, job.queue)


@attrs.define(eq=False)
class UniqueMiddleware(JobMiddleware):
    """Attached to the store's locks and the server's counters at start-up."""

    clock: Clock
    locks: UniqueLocks | None = None
    counters: Counters = attrs.field(factory=Counters)

    def _locks(self) -> UniqueLocks:
        if self.locks is None:
            raise FaktoryError("the unique plugin has not started")
        return self.locks

    custom_only = True  # wants() looks in job.custom only

    def wants(self, job: Job) -> bool:
        return job.custom is not None and UNIQUE_FOR in job.custom

    async def push(self, job: Job, call_next: Step) -> None:
        try:
            wanted = uniqueness(job.custom)
        except OptionError as exc:
            raise FaktoryError(str(exc)) from None
        if wanted is None:
            await call_next(job)
            return
        now = self.clock.now()
        at = check_at(job)
        until = max(now, at or now) + wanted.seconds
        key = _key(job)
        if not await self._locks().acquire(key, job.jid, now, until):
            self.counters.add("unique_denied", queue=job.queue, jobtype=job.jobtype)
            log.debug("job %s (%s) not unique: refused", job.jid, job.jobtype)
            raise CodedError(NOT_UNIQUE_CODE, messages.NOT_UNIQUE)
        self.counters.add("unique_locked", queue=job.queue, jobtype=job.jobtype)
        try:
            await call_next(job)
        except Exception:
            await self._locks().release(key, job.jid, now)
            raise

    async def fetch(self, job: Job, call_next: Step) -> None:
        await call_next(job)
        await self._unlock(job, UNTIL_START)

    async def ack(self, job: Job, call_next: Step) -> None:
        await self._unlock(job, UNTIL_SUCCESS)
        await call_next(job)

    async def _unlock(self, job: Job, policy: str) -> None:
        try:
            wanted = uniqueness(job.custom)
        except OptionError:
            return  # pushed before this plugin ran: it never took a lock
        if wanted is not None and wanted.until == policy:
            await self._locks().release(_key(job), job.jid, self.clock.now())
