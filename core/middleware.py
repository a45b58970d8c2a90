"""Job middleware: code that runs around push, fetch, ack and fail.

A plugin contributes a :class:`JobMiddleware` subclass instance through the
``faktory_core_job_middleware`` hook and overrides the steps it cares about. Each step gets
the job and ``call_next``; it may change the job (``attrs.evolve``) before passing it on, or
refuse by raising a :class:`~faktory_core.errors.FaktoryError` -- e.g.
``CodedError("NOTUNIQUE", "Job not unique")`` is answered as ``-NOTUNIQUE Job not unique``.
A fetch step may raise :class:`~faktory_core.errors.Discard` to drop the job; the server then
fetches the next one.

The chains are composed once at start-up; a step nobody overrides costs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import attrs

from faktory_core.model import Job

__all__ = ["Chains", "JobMiddleware", "Step", "build_chains"]

Step = Callable[[Job], Awaitable[None]]


class JobMiddleware:
    """Pass-through middleware; override any of the four steps."""

    async def push(self, job: Job, call_next: Step) -> None:
        """Around PUSH (also for scheduled jobs, at the time they are pushed)."""
        await call_next(job)

    async def fetch(self, job: Job, call_next: Step) -> None:
        """After a job is popped and reserved, before it is sent to the worker."""
        await call_next(job)

    async def ack(self, job: Job, call_next: Step) -> None:
        """After a job is acknowledged."""
        await call_next(job)

    async def fail(self, job: Job, call_next: Step) -> None:
        """Around FAIL, before the retry policy places the job (``job.failure`` is set)."""
        await call_next(job)


_STEPS = ("push", "fetch", "ack", "fail")


async def _done(job: Job) -> None:
    return None


@attrs.frozen
class Chains:
    """The four composed chains. Each takes the job and the innermost step."""

    push: tuple[Callable[[Job, Step], Awaitable[None]], ...] = ()
    fetch: tuple[Callable[[Job, Step], Awaitable[None]], ...] = ()
    ack: tuple[Callable[[Job, Step], Awaitable[None]], ...] = ()
    fail: tuple[Callable[[Job, Step], Awaitable[None]], ...] = ()

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
    """Keep, for each step, only the middlewares that override it, outermost first."""
    chains: dict[str, list[Callable[[Job, Step], Awaitable[None]]]] = {s: [] for s in _STEPS}
    for middleware in middlewares:
        for step in _STEPS:
            if getattr(type(middleware), step) is not getattr(JobMiddleware, step):
                chains[step].append(getattr(middleware, step))
    return Chains(**{step: tuple(found) for step, found in chains.items()})
