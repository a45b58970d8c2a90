"""Fetch gates: what lets a plugin hold a queue back at FETCH (queue throttles).

A plugin contributes a :class:`FetchGate` through ``faktory_core_fetch_gate``. With none, FETCH
runs exactly as before. With one, the manager asks it which of the FETCH's queues are closed
(full), fetches from the others, and asks it to ``admit`` the job it got: a gate that lost a
race for its last slot answers False, and the job goes back to the head of its queue while the
FETCH moves on to the next queue. When every queue is closed the FETCH waits on the gate (woken
by a release, not polling). The gate is told when an admitted job's slot comes back: ACK, FAIL,
reservation expiry, or a job fetch middleware dropped.

A gate may also have a synchronous ``limits(queue) -> bool``: whether it may hold ``queue``
back or keep a slot for its jobs. The manager then leaves it out of FETCHes, ACKs and FAILs
that touch no queue it limits, so a server whose throttles cover a few queues (or none, the
default) pays nothing for them on the others (issue 20). Without it, every queue counts as
limited, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol, runtime_checkable

from faktory_core.model import Job, Reservation

__all__ = ["FetchGate", "limiter"]


@runtime_checkable
class FetchGate(Protocol):
    async def closed(self, queues: Sequence[str], wid: str) -> Collection[str]:
        """Those of ``queues`` this FETCH (by ``wid``) must skip now."""

    async def admit(self, reservation: Reservation) -> bool:
        """Take a slot for the job just reserved; False: none is free (the job goes back)."""

    async def release(self, job: Job) -> None:
        """The job's slot, if it holds one, is free again."""

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Return when a slot of one of ``queues`` may have come back, or after ``timeout``
        seconds of the server's clock."""


def _every_queue(queue: str) -> bool:
    return True


def limiter(gate: FetchGate) -> Callable[[str], bool]:
    """The gate's ``limits`` (see the module's docstring), or "every queue" without one."""
    limits: Callable[[str], bool] | None = getattr(gate, "limits", None)
    return limits if callable(limits) else _every_queue
