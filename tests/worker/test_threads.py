"""JobThreads, the threads plain job functions run in: results, errors, contextvars, reuse,
cancellation (abandon), shutdown, and ``anyio.from_thread`` from inside a job."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.from_thread
import pytest

from faktory_core.worker.threads import JobThreads

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_threads_var")


@asynccontextmanager
async def job_threads() -> AsyncIterator[JobThreads]:
    async with anyio.create_task_group() as tg:
        threads = JobThreads(tg)
        try:
            yield threads
        finally:
            threads.close()


async def test_runs_in_another_thread_with_the_callers_context() -> None:
    seen: list[tuple[int, str, tuple[Any, ...]]] = []

    def job(*args: Any) -> None:
        seen.append((threading.get_ident(), VAR.get(), args))

    async with job_threads() as threads:
        VAR.set("from the task")
        await threads.run(job, 1, "two")
    [(ident, value, args)] = seen
    assert ident != threading.get_ident()
    assert (value, args) == ("from the task", (1, "two"))


async def test_an_exception_reaches_the_caller() -> None:
    def boom() -> None:
        raise ValueError("bad input")

    def stop() -> None:
        raise StopIteration

    async with job_threads() as threads:
        with pytest.raises(ValueError, match="bad input"):
            await threads.run(boom)
        # A future cannot carry StopIteration: it arrives as a RuntimeError.
        with pytest.raises(RuntimeError, match="StopIteration"):
            await threads.run(stop)
        await threads.run(lambda: None)  # the thread survived both


async def test_threads_are_reused_and_only_as_many_as_run_at_once() -> None:
    idents: set[int] = set()
    at_once = 3
    barrier = threading.Barrier(at_once, timeout=10)

    def meet() -> None:
        barrier.wait()
        idents.add(threading.get_ident())

    async with job_threads() as threads:
        for _ in range(5):
            async with anyio.create_task_group() as tg:
                for _ in range(at_once):
                    tg.start_soon(threads.run, meet)
        assert threads.started == at_once
    assert len(idents) == at_once


async def test_close_lets_idle_threads_return() -> None:
    # The task group can only end once every thread's host task has, i.e. the thread left its
    # job loop (it goes back to anyio's pool, which retires it later).
    with anyio.fail_after(5):
        async with job_threads() as threads:
            await threads.run(lambda: None)
            await threads.run(lambda: None)
    assert threads.started == 1


async def test_a_cancelled_caller_returns_at_once_and_abandons_the_thread() -> None:
    release = threading.Event()
    finished = threading.Event()

    def blocking() -> None:
        release.wait(10)
        finished.set()

    async with job_threads() as threads:
        with anyio.move_on_after(0.1):
            await threads.run(blocking)
        assert not finished.is_set()  # the caller went on; the thread is still running
        await threads.run(lambda: None)  # a new thread serves the next job
        assert threads.started == 2
        release.set()
        await anyio.to_thread.run_sync(finished.wait, 10)


async def test_plain_jobs_can_reach_the_event_loop_with_anyio_from_thread() -> None:
    loop_thread = threading.get_ident()
    got: list[int] = []

    def job() -> None:
        got.append(anyio.from_thread.run_sync(threading.get_ident))

    async with job_threads() as threads:
        await threads.run(job)
    assert got == [loop_thread]


async def test_after_close_calls_still_run_through_anyio() -> None:
    async with job_threads() as threads:
        threads.close()
        ran: list[bool] = []
        await threads.run(ran.append, True)
        assert ran == [True]
        assert threads.started == 0
