"""A job while it runs: when it started, when it must stop (its timeout), and until when the
server holds its reservation; and the warnings about a job that may run twice.

:class:`RunningJob` is the one record of a running job's lifetime. The worker creates it when
the job starts, cancels ``scope`` at its timeout or at the end of the grace period, and checks
``reserved_until`` when it reports the job. Code that extends a reservation while the job runs
updates ``reserved_until`` (a ``time.monotonic()`` instant).

Faktory answers ``+OK`` to an ``ACK`` whose reservation was already reaped (reference §3.5), so
the worker cannot learn from the reply that the job was handed out again; it notices instead:
a job reported after its reservation ran out (``ran_past_reservation``), and a fetched job whose
last failure is ``ReservationExpired`` (``returned_after_expiry``) are logged as possible
duplicate runs.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import attrs

from faktory_core.model import DEFAULT_RESERVE_FOR, MAX_RESERVE_FOR, MIN_RESERVE_FOR

__all__ = ["EXPIRED_ERRTYPE", "RunningJob", "reservation_seconds"]

log = logging.getLogger("faktory_core.worker")

#: The errtype the server records for a job whose reservation expired (reference §4.2).
EXPIRED_ERRTYPE = "ReservationExpired"


def reservation_seconds(payload: dict[str, Any]) -> float:
    """How long the server reserves this job at FETCH: ``reserve_for``, 0/absent → 1800,
    clamped to [60, 86400] (reference §3.4 step 6)."""
    value = payload.get("reserve_for")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return DEFAULT_RESERVE_FOR
    return min(max(value, MIN_RESERVE_FOR), MAX_RESERVE_FOR)


@attrs.define(eq=False, slots=True)
class RunningJob:
    """One job from its start to its report."""

    payload: dict[str, Any]
    jid: str
    #: ``time.monotonic()`` at the start (just after FETCH answered).
    started: float
    #: When the server's reservation ends, as far as the worker knows (monotonic).
    reserved_until: float
    #: Seconds the job may run (None: no limit).
    timeout: float | None
    #: Cancelled at the timeout or at the end of the grace period.
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)

    @classmethod
    def start(cls, payload: dict[str, Any], timeout: float | None) -> RunningJob:
        now = time.monotonic()
        until = now + reservation_seconds(payload)
        job = cls(payload, str(payload.get("jid", "")), now, until, timeout)
        if timeout is not None:
            job.scope.deadline = now + timeout
        return job

    @property
    def timed_out(self) -> bool:
        """The timeout passed while the job ran (the scope's deadline cancelled it)."""
        return self.timeout is not None and self.scope.cancel_called and self.past_timeout()

    def reservation_too_short(self) -> bool:
        """The job may run (its timeout) longer than the server reserved it for."""
        return self.timeout is not None and self.started + self.timeout >= self.reserved_until

    def past_timeout(self) -> bool:
        return self.timeout is not None and time.monotonic() >= self.started + self.timeout

    def check_reservation(self) -> None:
        """Warn if the job is reported after its reservation ended: the server may have given
        it to another worker already, and will accept this report without a word."""
        now = time.monotonic()
        if now <= self.reserved_until:
            return
        log.warning(
            "job %s (%s) reported after %.1f s, %.1f s past its reservation: the server may have "
            "reaped it and run it again (a duplicate run); give it a longer reserve_for or a "
            "timeout",
            self.jid,
            self.payload.get("jobtype"),
            now - self.started,
            now - self.reserved_until,
        )


def returned_after_expiry(payload: dict[str, Any], running: dict[str, RunningJob]) -> None:
    """Warn when a fetched job is back because its previous reservation expired."""
    jid = str(payload.get("jid", ""))
    if jid in running:
        log.warning(
            "job %s (%s) fetched again while it is still running in this worker: its "
            "reservation expired, so it now runs twice",
            jid,
            payload.get("jobtype"),
        )
        return
    failure = payload.get("failure")
    if isinstance(failure, dict) and failure.get("errtype") == EXPIRED_ERRTYPE:
        log.warning(
            "job %s (%s) is back after its reservation expired (failed at %s): if its earlier "
            "run did not die, it ran or runs twice",
            jid,
            payload.get("jobtype"),
            failure.get("failed_at", "?"),
        )
