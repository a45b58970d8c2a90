"""Job functions by type, the middleware around them, and how a failure is reported.

A job function takes the job's ``args`` as positional arguments (``context=True``: the
:class:`JobContext` first). ``async def`` functions run on the event loop; plain functions run
in a worker thread (:mod:`faktory_core.worker.threads`), so a blocking job never stalls the
other jobs.

Middleware wraps every job, outermost first::

    async def timing(ctx: JobContext, call_next: Callable[[], Awaitable[None]]) -> None:
        started = time.monotonic()
        await call_next()          # raise to fail the job; return without calling to skip it
        log.info("%s took %.3f s", ctx.jobtype, time.monotonic() - started)
"""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import attrs

from faktory_core.worker.context import JobContext, _current
from faktory_core.worker.threads import JobThreads

__all__ = [
    "MAX_BACKTRACE",
    "Handler",
    "Middleware",
    "Registry",
    "UnknownJobType",
    "describe_failure",
]

#: Faktory keeps the first 50 backtrace lines of a FAIL; we send at most that many.
MAX_BACKTRACE = 50

Middleware = Callable[[JobContext, Callable[[], Awaitable[None]]], Awaitable[None]]


class UnknownJobType(Exception):
    """No function is registered for the fetched job's type."""


@attrs.frozen
class Handler:
    """A registered job function and how to call it."""

    func: Callable[..., Any]
    is_async: bool
    with_context: bool
    #: Seconds the job may run; None: the worker's ``job_timeout``.
    timeout: float | None = None

    @classmethod
    def of(
        cls, func: Callable[..., Any], *, context: bool = False, timeout: float | None = None
    ) -> Handler:
        return cls(func, inspect.iscoroutinefunction(func), context, timeout)

    async def __call__(self, ctx: JobContext, threads: JobThreads | None) -> None:
        args = [ctx, *ctx.args] if self.with_context else ctx.args
        if self.is_async:
            await self.func(*args)
        elif threads is not None:
            # The worker's own threads: a cancelled job (the end of the grace period) is FAILed
            # and its thread left to finish on its own; Python cannot stop a thread.
            await threads.run(self.func, *args)
        else:  # a job run without a worker loop (testing modes)
            call = functools.partial(self.func, *args)
            await anyio.to_thread.run_sync(call, abandon_on_cancel=True)


class Registry:
    """Job functions by type and the middleware list; resolved once, used per job."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.middleware: list[Middleware] = []

    def register(
        self,
        jobtype: str,
        func: Callable[..., Any],
        *,
        context: bool = False,
        timeout: float | None = None,
    ) -> None:
        if not isinstance(jobtype, str) or not jobtype:
            raise ValueError(f"jobtype must be a non-empty string, not {jobtype!r}")
        if not callable(func):
            raise TypeError(f"job function for {jobtype!r} is not callable: {func!r}")
        self.handlers[jobtype] = Handler.of(func, context=context, timeout=timeout)

    async def perform(self, ctx: JobContext, threads: JobThreads | None = None) -> None:
        """Run the job through the middleware; its exception, if any, propagates. Plain
        functions run in ``threads`` (or, without, in anyio's thread pool)."""
        handler = self.handlers.get(ctx.jobtype)
        if handler is None:
            raise UnknownJobType(f"no job function is registered for jobtype {ctx.jobtype!r}")
        token = _current.set(ctx)
        try:
            if self.middleware:
                await self._chain(0, ctx, handler, threads)
            else:
                await handler(ctx, threads)
        finally:
            _current.reset(token)

    async def _chain(
        self, index: int, ctx: JobContext, handler: Handler, threads: JobThreads | None
    ) -> None:
        if index == len(self.middleware):
            await handler(ctx, threads)
            return
        call_next = functools.partial(self._chain, index + 1, ctx, handler, threads)
        await self.middleware[index](ctx, call_next)


def describe_failure(exc: BaseException, limit: int = MAX_BACKTRACE) -> tuple[str, str, list[str]]:
    """FAIL's ``errtype`` (the class name), ``message`` and ``backtrace`` for an exception.

    The backtrace keeps the *last* ``limit`` lines: the frames nearest the error.
    """
    errtype = type(exc).__name__
    lines = [
        line
        for chunk in traceback.format_exception(exc)
        for line in chunk.splitlines()
        if line.strip()
    ]
    return errtype, str(exc) or errtype, lines[-limit:] if limit > 0 else []
