"""Lifecycle hooks (startup, quiet, shutdown; async and plain) through a real server."""

from __future__ import annotations

from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import Job
from faktory_core.worker import JobContext, StartupError, WorkerContext


async def test_hooks_run_once_each_in_order_and_share_state_with_jobs(server: Any) -> None:
    events: list[str] = []
    worker = support.make_worker(server.url)

    @worker.on_startup
    async def open_pool(ctx: WorkerContext) -> None:
        assert ctx.worker is worker
        ctx.state.pool = ["connection"]
        events.append("startup async")

    @worker.on_startup
    def configure(ctx: WorkerContext) -> None:
        events.append("startup plain")

    @worker.on_quiet
    def quieting(ctx: WorkerContext) -> None:
        events.append("quiet")

    @worker.on_shutdown
    async def close_pool(ctx: WorkerContext) -> None:
        events.append(f"shutdown {ctx.state.pool}")
        ctx.state.pool = None

    @worker.on_shutdown
    def broken(ctx: WorkerContext) -> None:
        raise RuntimeError("a failing shutdown hook is logged, the next still runs")

    @worker.on_shutdown
    def last(ctx: WorkerContext) -> None:
        events.append("shutdown last")

    @worker.job("UsePool", context=True)
    def use_pool(ctx: JobContext) -> None:
        events.append(f"job {ctx.state.pool}")

    await support.push(server.url, Job("UsePool"))
    async with support.running(worker):
        assert events == ["startup async", "startup plain"]  # before serve() reports started
        await support.async_wait_until(lambda: server.stats()["total_processed"] == 1)
        worker.quiet()
        await support.async_wait_until(lambda: "quiet" in events)
    assert events == [
        "startup async",
        "startup plain",
        "job ['connection']",
        "quiet",
        "shutdown ['connection']",
        "shutdown last",
    ]


async def test_terminate_without_quiet_runs_the_quiet_hooks_too(server: Any) -> None:
    events: list[str] = []
    worker = support.make_worker(server.url)
    worker.on_quiet(lambda ctx: events.append("quiet"))
    worker.on_shutdown(lambda ctx: events.append("shutdown"))
    async with support.running(worker):
        pass
    assert events == ["quiet", "shutdown"]


async def test_a_failing_startup_hook_stops_the_worker_before_it_connects(server: Any) -> None:
    events: list[str] = []
    worker = support.make_worker(server.url)

    @worker.on_startup
    async def connect_database(ctx: WorkerContext) -> None:
        raise ConnectionRefusedError("database is down")

    worker.on_shutdown(lambda ctx: events.append("shutdown"))
    with pytest.raises(StartupError) as caught:
        await worker.serve()
    message = str(caught.value)
    assert message.startswith("startup hook test_a_failing_startup_hook_stops_the_worker")
    assert message.endswith("connect_database failed: ConnectionRefusedError('database is down')")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert events == []  # nothing started, so nothing to shut down
    assert server.call(server.store.workers) == []
