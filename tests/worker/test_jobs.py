"""Jobs through a real server and our worker: ACK, FAIL, context, pushes from jobs, middleware."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import Job
from faktory_core.model import SortedSet
from faktory_core.testing import jobs
from faktory_core.worker import JobContext, current_job

ARGS = [1, -2.5, "é", None, True, [1, [2]], {"k": {"n": 2**60}}]


@support.every_store
async def test_async_and_plain_jobs_run_and_are_acknowledged(server: Any) -> None:
    seen: list[tuple[str, list[Any]]] = []
    worker = support.make_worker(server.url)

    @worker.job("async_job")
    async def async_job(*args: Any) -> None:
        seen.append(("async", list(args)))

    @worker.job()
    def plain_job(*args: Any) -> None:
        assert threading.current_thread() is not threading.main_thread()
        seen.append(("plain", list(args)))

    jobs = [Job("async_job", ARGS), Job("plain_job", ARGS)]
    await support.push(server.url, *jobs)
    async with support.running(worker):
        await support.async_wait_until(lambda: len(seen) == 2, what="both jobs")
        await support.async_wait_until(
            lambda: server.stats()["total_processed"] == 2, what="two ACKs"
        )
    assert sorted(seen, key=repr) == [("async", ARGS), ("plain", ARGS)]
    stats = server.stats()
    assert (stats["total_failures"], stats["sets"]["working"]) == (0, 0)
    assert stats["queues"] == {"default": 0}


async def test_job_context(server: Any) -> None:
    contexts: list[tuple[str, str, str, list[Any], dict[str, Any], str]] = []
    worker = support.make_worker(server.url, queues=["ctx"])

    @worker.job("WithContext", context=True)
    async def with_context(ctx: JobContext, a: int) -> None:
        assert current_job() is ctx
        contexts.append((ctx.jid, ctx.jobtype, ctx.queue, ctx.args, ctx.custom, "async"))

    @worker.job("Implicit")
    def implicit(a: int) -> None:
        ctx = current_job()  # reaches the worker thread too
        contexts.append((ctx.jid, ctx.jobtype, ctx.queue, ctx.args, ctx.custom, "plain"))

    first = Job("WithContext", [1], queue="ctx", custom={"tenant": "t1"})
    second = Job("Implicit", [2], queue="ctx")
    await support.push(server.url, first, second)
    async with support.running(worker):
        await support.async_wait_until(lambda: len(contexts) == 2, what="both jobs")
    assert sorted(contexts) == sorted(
        [
            (first.jid, "WithContext", "ctx", [1], {"tenant": "t1"}, "async"),
            (second.jid, "Implicit", "ctx", [2], {}, "plain"),
        ]
    )
    with pytest.raises(LookupError):
        current_job()


async def test_jobs_push_more_jobs(server: Any) -> None:
    done: list[str] = []
    worker = support.make_worker(server.url)

    @worker.job("Parent", context=True)
    async def parent(ctx: JobContext, n: int) -> None:
        await ctx.client.push(Job("Child", [n, "from async"]))

    @worker.job("PlainParent", context=True)
    def plain_parent(ctx: JobContext, n: int) -> None:
        ctx.sync_client.push(Job("Child", [n, "from thread"]))

    @worker.job("Child")
    def child(n: int, origin: str) -> None:
        done.append(f"{n} {origin}")

    await support.push(server.url, Job("Parent", [1]), Job("PlainParent", [2]))
    async with support.running(worker):
        await support.async_wait_until(lambda: len(done) == 2, what="the children")
    assert sorted(done) == ["1 from async", "2 from thread"]


@support.every_store
async def test_an_exception_fails_the_job_with_type_message_and_backtrace(server: Any) -> None:
    worker = support.make_worker(server.url)

    def deep(n: int) -> None:
        raise ValueError(f"boom: {n}")

    @worker.job("Explode")
    def explode(n: int) -> None:
        deep(n)

    @worker.job("ShortTrace")
    async def short_trace() -> None:
        raise KeyError("missing")

    failing = Job("Explode", [7], retry=3)
    short = Job("ShortTrace", backtrace=2)
    await support.push(server.url, failing, short)
    async with support.running(worker):
        await support.async_wait_until(
            lambda: server.stats()["sets"]["retries"] == 2, what="two FAILs"
        )
    failures = {job.jid: job.failure for job in server.set_jobs(SortedSet.RETRIES)}
    failure = failures[failing.jid]
    assert (failure.errtype, failure.message, failure.retry_count) == ("ValueError", "boom: 7", 0)
    assert failure.backtrace[-1] == "ValueError: boom: 7"
    assert any("in deep" in line for line in failure.backtrace)
    assert any('raise ValueError(f"boom: {n}")' in line for line in failure.backtrace)
    short_failure = failures[short.jid]
    assert (short_failure.errtype, short_failure.message) == ("KeyError", "'missing'")
    assert len(short_failure.backtrace) == 2  # the job's own backtrace limit


async def test_an_unknown_job_type_fails_clearly(server: Any) -> None:
    worker = support.make_worker(server.url)
    worker.register("Known", lambda: None)
    job = Job("Unknown", [1])
    await support.push(server.url, job)
    async with support.running(worker):
        await support.async_wait_until(lambda: server.stats()["sets"]["retries"] == 1)
    [failed] = server.set_jobs(SortedSet.RETRIES)
    assert failed.jid == job.jid
    assert failed.failure.errtype == "UnknownJobType"
    assert failed.failure.message == "no job function is registered for jobtype 'Unknown'"


async def test_middleware_wraps_every_job(server: Any) -> None:
    events: list[str] = []
    worker = support.make_worker(server.url, concurrency=1)

    async def outer(ctx: JobContext, call_next: Callable[[], Awaitable[None]]) -> None:
        events.append(f"outer>{ctx.jobtype}")
        try:
            await call_next()
        finally:
            events.append(f"outer<{ctx.jobtype}")

    @worker.use
    async def inner(ctx: JobContext, call_next: Callable[[], Awaitable[None]]) -> None:
        if ctx.args == ["skip"]:
            events.append("skipped")
            return  # not calling call_next: the job does not run, and is acknowledged
        if ctx.args == ["refuse"]:
            raise PermissionError("refused by middleware")
        await call_next()

    worker.registry.middleware.insert(0, outer)

    @worker.job("Work")
    def work(arg: str) -> None:
        events.append(f"run {arg}")

    await support.push(
        server.url, Job("Work", ["a"]), Job("Work", ["skip"]), Job("Work", ["refuse"])
    )
    async with support.running(worker):
        await support.async_wait_until(lambda: server.stats()["total_processed"] == 3)
    assert events == [
        "outer>Work", "run a", "outer<Work",
        "outer>Work", "skipped", "outer<Work",
        "outer>Work", "outer<Work",
    ]  # fmt: skip
    [refused] = server.set_jobs(SortedSet.RETRIES)
    assert (refused.args, refused.failure.errtype) == (["refuse"], "PermissionError")


@support.every_store
async def test_concurrency_n_runs_n_jobs_at_once_without_running_out_of_connections(
    server: Any,
) -> None:
    concurrency = 8
    barrier = threading.Barrier(concurrency, timeout=20)
    children: list[int] = []
    worker = support.make_worker(server.url, concurrency=concurrency)

    @worker.job("Meet", context=True)
    def meet(ctx: JobContext, n: int) -> None:
        barrier.wait()  # passes only if all N jobs run at the same time
        for i in range(3):  # and each pushes while the others hold their fetch connections
            ctx.sync_client.push(Job("Child", [n * 10 + i]))

    @worker.job("Child")
    async def child(n: int) -> None:
        children.append(n)

    await support.push(server.url, *(Job("Meet", [n]) for n in range(concurrency)))
    async with support.running(worker):
        await support.async_wait_until(lambda: len(children) == 3 * concurrency, timeout=30)
        await support.async_wait_until(lambda: server.stats()["total_processed"] == 4 * concurrency)
    assert server.stats()["total_failures"] == 0
    assert sorted(children) == sorted(n * 10 + i for n in range(concurrency) for i in range(3))


@support.every_store
async def test_the_heartbeat_reports_the_worker(server: Any) -> None:
    worker = support.make_worker(server.url, labels=["python", "test"], concurrency=2)
    async with support.running(worker):
        first = await support.on_server(server, server.store.worker_get, worker.wid)
        assert first is not None

        def beaten() -> Any:
            info = server.call(server.store.worker_get, worker.wid)
            return info if info.last_beat > first.last_beat and info.rss_kb > 0 else None

        info = await support.async_wait_until(beaten, what="a heartbeat")
        assert info.labels == ("python", "test")
        assert info.connections == 1 + 2  # heartbeat + one per fetcher
    # Gone once the worker has stopped and closed its connections.
    await support.async_wait_until(
        lambda: server.call(server.store.worker_get, worker.wid) is None, what="deregistration"
    )


async def test_a_job_run_by_a_testing_mode_leaves_no_connection_open(server: Any) -> None:
    """Pushes are intercepted in a testing mode, but a job may still ask the server something:
    the clients it used are closed when it ends."""
    worker = support.make_worker(server.url)
    answers: list[int] = []

    @worker.job("Peek", context=True)
    async def peek(ctx: JobContext) -> None:
        answers.append((await ctx.client.info()).server.connections)

    with jobs.inline(worker):
        await worker.perform({"jid": "peek-000001", "jobtype": "Peek", "args": []})
    assert answers == [1]
    # Only the connection that asks is left.
    await support.async_wait_until(
        lambda: server.info()["server"]["connections"] == 1, what="the job's connection closed"
    )
