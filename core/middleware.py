"""Job middleware: code that runs around push, fetch, ack and fail.

A plugin contributes a :class:`JobMiddleware` subclass instance through the
``faktory_core_job_middleware`` hook and overrides the steps it cares about. Each step gets
the job and ``call_next``; it may change the job (``attrs.evolve``) before passing it on, or
refuse by raising a :class:`~faktory_core.errors.FaktoryError` -- e.g.
``CodedError("NOTUNIQUE", "Job not unique")`` is answered as ``-NOTUNIQUE Job not unique``.
A fetch step may raise :class:`~faktory_core.errors.Discard` to drop the job; the server then
fetches the next one.

The chains are composed once at start-up; a step nobody overrides costs nothing. A middleware
that acts on some jobs only (those with an option set) says so in ``wants``: a job that no
middleware of a chain wants skips that chain (and PUSHB keeps its bulk path for it). One whose
``wants`` is false for every job without ``custom`` sets ``custom_only``: a plain job then skips
the chain without a call to any ``wants`` (issue 20). A job a fetch step discards is announced
to every middleware's ``discarded``.

Beside the steps, four plain observers, ``pushed``, ``fetched``, ``acked`` and ``failed``, see
what happened once it has (synchronously, after every step), and cannot change or refuse it.
They cost a function call, not a chain, and ``pushed`` keeps PUSHB's bulk path (a push step sends
PUSHB's jobs through the chain one at a time): counting and timing belong there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

import attrs

from faktory_core.model import Job, Reservation

__all__ = ["Chains", "JobMiddleware", "Step", "build_chains"]

Step = Callable[[Job], Awaitable[None]]


class JobMiddleware:
    """Pass-through middleware; override any of the four steps."""

    #: True when :meth:`wants` is false for every job whose ``custom`` is empty: the core then
    #: skips this middleware's chains for such a job without calling ``wants``.
    custom_only: ClassVar[bool] = False

    async def push(self, job: Job, call_next: Step) -> None:
        """Around PUSH (also for scheduled jobs, at the time they are pushed)."""
        await call_next(job)

    def wants(self, job: Job) -> bool:
        """Whether any step of this middleware has anything to do for ``job`` (default: yes);
        a job no middleware of a chain wants skips that chain."""
        return True

    async def fetch(self, job: Job, call_next: Step) -> None:
        """After a job is popped and reserved, before it is sent to the worker."""
        await call_next(job)

    async def discarded(self, job: Job, reason: str) -> None:
        """After a fetch step discarded ``job`` (e.g. expired): not a step, a notification to
        every middleware that overrides it (a batch counts its member as failed)."""

    async def ack(self, job: Job, call_next: Step) -> None:
        """After a job is acknowledged."""
        await call_next(job)

    async def fail(self, job: Job, call_next: Step) -> None:
        """Around FAIL, before the retry policy places the job (``job.failure`` is set)."""
        await call_next(job)

    def pushed(self, jobs: Sequence[Job]) -> None:
        """Observe jobs just placed in their queue or the scheduled set (one call per PUSH and
        per PUSHB chunk)."""

    def fetched(self, job: Job) -> None:
        """Observe a job about to be sent to a worker (after the fetch steps)."""

    def acked(self, reservation: Reservation) -> None:
        """Observe an ACKed job with its reservation (``reserved_at`` is its FETCH's time)."""

    def failed(self, reservation: Reservation, job: Job) -> None:
        """Observe a job placed after FAIL or the reaper (``job.failure`` tells which), with the
        reservation it had."""


_STEPS = ("push", "fetch", "ack", "fail")
_OBSERVERS = ("pushed", "fetched", "acked", "failed")


async def _done(job: Job) -> None:
    return None


@attrs.frozen
class Chains:
    """The four composed chains. Each takes the job and the innermost step."""

    push: tuple[Callable[[Job, Step], Awaitable[None]], ...] = ()
    fetch: tuple[Callable[[Job, Step], Awaitable[None]], ...] = ()
    ack: tuple[Callable[[Job, Step], Awaitable[None]], ...] = ()
    fail: tuple[Callable[[Job, Step], Awaitable[None]], ...] = ()
    #: The middlewares' ``discarded`` notifications, called in order after a Discard.
    discarded: tuple[Callable[[Job, str], Awaitable[None]], ...] = ()
    #: Step → its middlewares' ``wants``: a job none of them wants skips that chain.
    wanted: dict[str, tuple[Callable[[Job], bool], ...]] = attrs.field(factory=dict)
    #: The steps whose middlewares are all ``custom_only``: a job without ``custom`` skips them.
    custom_only: frozenset[str] = frozenset()

    def wants(self, step: str, job: Job) -> bool:
        """Whether the ``step`` chain (not empty) has anything to do for ``job``."""
        if not job.custom and step in self.custom_only:
            return False
        for wants in self.wanted.get(step, ()):  # noqa: SIM110 (no generator on the hot path)
            if wants(job):
                return True
        return False

    pushed: tuple[Callable[[Sequence[Job]], None], ...] = ()
    fetched: tuple[Callable[[Job], None], ...] = ()
    acked: tuple[Callable[[Reservation], None], ...] = ()
    failed: tuple[Callable[[Reservation, Job], None], ...] = ()

    @staticmethod
    async def run(
        steps: Sequence[Callable[[Job, Step], Awaitable[None]]], job: Job, last: Step = _done
    ) -> None:
        """Call ``steps[0](job, next)`` ... down to ``last(job)``."""
        if not steps:
            await last(job)
            return
        if len(steps) == 1:  # the usual case: no closures to build
            await steps[0](job, last)
            return

        async def call(index: int, current: Job) -> None:
            if index == len(steps):
                await last(current)
            else:
                await steps[index](current, lambda j: call(index + 1, j))

        await call(0, job)


def build_chains(middlewares: Sequence[JobMiddleware]) -> Chains:
    """Keep, for each step and observer, only the middlewares that override it, outermost
    first."""
    chains: dict[str, list[Any]] = {name: [] for name in (*_STEPS, *_OBSERVERS)}
    for middleware in middlewares:
        for name in chains:
            if _overrides(middleware, name):
                chains[name].append(getattr(middleware, name))
    wanted: dict[str, tuple[Callable[[Job], bool], ...]] = {
        s: tuple(m.wants for m in middlewares if _overrides(m, s)) for s in _STEPS
    }
    told = tuple(m.discarded for m in middlewares if _overrides(m, "discarded"))
    custom_only = frozenset(
        s for s in _STEPS if all(m.custom_only for m in middlewares if _overrides(m, s))
    )
    return Chains(
        **{name: tuple(found) for name, found in chains.items()},
        wanted=wanted,
        discarded=told,
        custom_only=custom_only,
    )


def _overrides(middleware: JobMiddleware, name: str) -> bool:
    return getattr(type(middleware), name) is not getattr(JobMiddleware, name)
