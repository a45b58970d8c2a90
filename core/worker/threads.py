"""The threads plain (``def``) job functions run in: one hop per job, kept cheap.

``anyio.to_thread.run_sync`` costs 25-60 µs of CPU per call on the benchmark machine (a
checkpoint, a capacity limiter, a cancel scope and a ``queue.Queue`` with Python-level locks),
about as much as an ``async def`` no-op job's whole round trip through the worker. So on
asyncio (uvloop included) :class:`JobThreads` keeps its own threads, fed from one
``queue.SimpleQueue`` (C, no Python-level lock) and answering with
``loop.call_soon_threadsafe``: about a tenth of the CPU per hop (benchmarks/to_thread.py;
docs/performance.md, "Worker: faktory-core vs pyfaktory").

Each thread is itself started through ``anyio.to_thread.run_sync`` and lives as long as the
worker runs, so code in a plain job is inside an AnyIO worker thread as before
(``anyio.from_thread.run_sync(...)`` reaches the worker's event loop; but
``anyio.from_thread.check_cancelled()`` there follows the worker's task group, not the job, so it
does not see the end of the grace period). The job's ``contextvars`` context is copied into the
thread per job, so :func:`~faktory_core.worker.current_job` works there.

Semantics are those of ``run_sync(..., abandon_on_cancel=True)``: a cancelled caller returns at
once and the thread is left to finish the function on its own (Python cannot stop a thread),
after which it serves other jobs. On another backend (trio) every call simply goes through
``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import math
import queue
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread

__all__ = ["IDLE_CHECK", "JobThreads"]

#: How often an idle thread checks that its event loop still exists (a loop torn down without
#: closing :class:`JobThreads` must not leave threads waiting forever).
IDLE_CHECK = 1.0

_Item = tuple["asyncio.Future[None]", contextvars.Context, Callable[..., Any], tuple[Any, ...]]


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # not on asyncio (trio)
        return None


class JobThreads:
    """Threads for plain job functions, started on demand within ``task_group`` and reused.

    One queue feeds every thread, as in ``concurrent.futures.ThreadPoolExecutor``: a thread that
    has just finished a job takes the next one without going to sleep. A new thread starts only
    when more jobs are in flight than there are threads, so there are never more threads than
    jobs that ran at once (a cancelled job counts until its function returns).

    Create it on the event loop it serves; :meth:`close` lets the threads exit (call it before
    the task group ends, or its host tasks are cancelled and idle threads linger until they
    notice, within :data:`IDLE_CHECK` seconds, that the loop is closed).
    """

    def __init__(self, task_group: anyio.abc.TaskGroup) -> None:
        self._task_group = task_group
        self._loop = _running_asyncio_loop()
        self._jobs: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._in_flight = 0  # handed to the threads and not reported back yet
        self._closed = False
        # Each thread holds a token for its whole life; the job count is bounded by the caller.
        self._hosts = anyio.CapacityLimiter(math.inf)
        #: Threads started so far (for tests and diagnostics).
        self.started = 0
        self._busy = 0  # threads inside a job function now (counted in the threads)
        self._busy_lock = threading.Lock()

    @property
    def busy(self) -> int:
        """Threads running a job function now, including jobs their caller gave up on."""
        return self._busy

    async def run(self, func: Callable[..., Any], *args: Any) -> None:
        """``func(*args)`` in a thread; its exception propagates."""
        loop = self._loop
        if loop is None or self._closed:
            call = functools.partial(func, *args)
            await anyio.to_thread.run_sync(call, abandon_on_cancel=True, limiter=self._hosts)
            return
        future: asyncio.Future[None] = loop.create_future()
        self._jobs.put((future, contextvars.copy_context(), func, args))
        self._in_flight += 1
        if self._in_flight > self.started:
            self.started += 1
            self._task_group.start_soon(self._host, name="faktory-core job thread")
        await future

    def close(self) -> None:
        """No more jobs: idle threads exit now, busy ones once their job returns."""
        if not self._closed:
            self._closed = True
            for _ in range(self.started):
                self._jobs.put(None)

    # -- the threads ----------------------------------------------------------------------------

    async def _host(self) -> None:
        await anyio.to_thread.run_sync(self._serve, abandon_on_cancel=True, limiter=self._hosts)

    def _serve(self) -> None:
        """A thread's loop: run each job, hand the outcome to the event loop."""
        loop, jobs, done = self._loop, self._jobs, self._done
        assert loop is not None
        while True:
            try:
                item = jobs.get(timeout=IDLE_CHECK)
            except queue.Empty:
                if loop.is_closed():
                    return
                continue
            if item is None:
                return
            future, context, func, args = item
            error: BaseException | None = None
            if not future.cancelled():  # cancelled before it started: do not start it
                with self._busy_lock:
                    self._busy += 1
                try:
                    context.run(func, *args)
                except BaseException as exc:
                    error = exc
                finally:
                    with self._busy_lock:
                        self._busy -= 1
            try:
                loop.call_soon_threadsafe(done, future, error)
            except RuntimeError:  # the event loop is closed
                return
            del item, future, context, func, args, error

    def _done(self, future: asyncio.Future[None], error: BaseException | None) -> None:
        """On the event loop: one thread fewer is busy; resolve the caller's future."""
        self._in_flight -= 1
        if future.cancelled():  # the caller went on without it (abandoned)
            return
        if error is None:
            future.set_result(None)
        elif isinstance(error, StopIteration):
            # A future cannot hold StopIteration (it would end the awaiting coroutine).
            future.set_exception(RuntimeError(f"job function raised {error!r}"))
        else:
            future.set_exception(error)
