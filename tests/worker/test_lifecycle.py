"""Quiet, terminate, the grace period, and reconnection, driven through a real server."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import AuthenticationError, Job
from faktory_core.model import SortedSet
from faktory_core.worker import Worker, WorkerState


async def signal_worker(server: Any, worker: Worker, state: WorkerState) -> None:
    """What the web UI's Quiet/Stop buttons do: the worker hears it in its next BEAT reply."""
    assert await support.on_server(server, server.store.worker_signal, [worker.wid], state) == 1


@support.every_store
async def test_quiet_from_the_server_stops_fetching_but_keeps_beating(server: Any) -> None:
    ran: list[int] = []
    worker = support.make_worker(server.url, concurrency=3)
    worker.register("Job", ran.append)
    async with support.running(worker):
        await support.push(server.url, Job("Job", [1]))
        await support.async_wait_until(lambda: ran == [1])
        await signal_worker(server, worker, WorkerState.QUIET)
        await support.async_wait_until(lambda: worker.state is WorkerState.QUIET)
        await support.async_wait_until(lambda: worker.fetchers == 0, what="fetchers to stop")

        await support.push(server.url, Job("Job", [2]))
        before = server.call(server.store.worker_get, worker.wid).last_beat
        await support.async_wait_until(
            lambda: server.call(server.store.worker_get, worker.wid).last_beat > before,
            what="a heartbeat while quiet",
        )
        # No fetcher is left, so the job can only still be queued.
        assert [job.args for job in server.queue_jobs("default")] == [[2]]
        assert ran == [1]
        assert worker.state is WorkerState.QUIET  # quiet is not exit: it waits for terminate
    assert server.stats()["total_processed"] == 1


@support.every_store
async def test_terminate_from_the_server_fails_what_outlives_the_grace_period(
    server: Any,
) -> None:
    """No job is lost: finished jobs are ACKed, jobs cut off are FAILed into retries, jobs
    never fetched stay queued."""
    release_thread = threading.Event()
    quick_may_finish = anyio.Event()
    finished: list[str] = []
    worker = support.make_worker(server.url, concurrency=3, grace_period=0.5)

    @worker.job("Forever")
    async def forever() -> None:
        await anyio.sleep_forever()

    @worker.job("BlockingThread")
    def blocking_thread() -> None:
        release_thread.wait(timeout=30)  # a plain job Python cannot interrupt

    @worker.job("Quick")
    async def quick() -> None:
        await quick_may_finish.wait()
        finished.append("quick")

    in_flight = [Job("Forever"), Job("BlockingThread"), Job("Quick")]
    queued = [Job("Forever", [n], queue="later") for n in range(3)]
    try:
        async with support.running(worker):
            await support.push(server.url, *in_flight)
            await support.async_wait_until(lambda: len(worker.in_progress) == 3)
            await support.push(server.url, *queued)  # "later" is not one of its queues
            await signal_worker(server, worker, WorkerState.TERMINATE)
            await support.async_wait_until(lambda: worker.state is WorkerState.TERMINATE)
            quick_may_finish.set()  # inside the grace period: this one is ACKed
    finally:
        release_thread.set()

    assert finished == ["quick"]
    assert worker.abandoned_threads == 1
    retries = {job.jid: job for job in server.set_jobs(SortedSet.RETRIES)}
    assert set(retries) == {in_flight[0].jid, in_flight[1].jid}
    for job in retries.values():
        assert job.failure.errtype == "Shutdown"
        assert "shut down before the job finished" in job.failure.message
    stats = server.stats()
    assert stats["sets"]["working"] == 0
    assert (stats["total_processed"], stats["total_failures"]) == (3, 2)
    assert sorted(j.jid for j in server.queue_jobs("later")) == sorted(j.jid for j in queued)


@support.every_store
async def test_terminate_waits_for_jobs_that_finish_within_the_grace_period(
    server: Any,
) -> None:
    may_finish = threading.Event()
    worker = support.make_worker(server.url, concurrency=2, grace_period=30)

    @worker.job("Slow")
    def slow(n: int) -> None:
        may_finish.wait(timeout=30)

    await support.push(server.url, Job("Slow", [1]), Job("Slow", [2]))
    async with anyio.create_task_group() as tg:
        await tg.start(worker.serve)
        await support.async_wait_until(lambda: len(worker.in_progress) == 2)
        worker.terminate()  # locally, as SIGTERM does
        assert worker.in_progress  # still running: terminate does not cut jobs short
        may_finish.set()
    stats = server.stats()
    assert (stats["total_processed"], stats["total_failures"]) == (2, 0)
    assert stats["sets"]["working"] == 0


@support.every_store
async def test_terminate_before_any_job_returns_promptly(server: Any) -> None:
    worker = support.make_worker(server.url, concurrency=5)
    async with support.running(worker, timeout=10):
        pass
    assert worker.fetchers == 0
    # Every connection was closed, so the server forgets the worker.
    support.wait_until(lambda: server.call(server.store.worker_get, worker.wid) is None)


@support.every_store
async def test_the_worker_survives_a_server_restart(server_process: Any) -> None:
    """Jobs before and after the restart run, and a job running across it is ACKed after."""
    may_finish = anyio.Event()
    done: list[str] = []
    worker = support.make_worker(server_process.url, concurrency=2)

    @worker.job("Across")
    async def across() -> None:
        await may_finish.wait()
        done.append("across")

    @worker.job("Simple")
    def simple(label: str) -> None:
        done.append(label)

    async with support.running(worker):
        await support.push(server_process.url, Job("Simple", ["before"]), Job("Across"))
        await support.async_wait_until(lambda: "before" in done and worker.in_progress)
        await anyio.to_thread.run_sync(server_process.restart)
        may_finish.set()  # its ACK goes to the restarted server (the reservation was saved)
        await support.push(server_process.url, Job("Simple", ["after"]))
        await support.async_wait_until(lambda: len(done) == 3, what="all three jobs")
        await support.async_wait_until(
            lambda: server_process.stats()["total_processed"] >= 3, what="the ACKs"
        )
        # The heartbeat reconnected too: the restarted server knows the worker.
        await support.async_wait_until(
            lambda: server_process.stats()["tasks"]["Workers"]["size"] == 1
        )
    assert sorted(done) == ["across", "after", "before"]
    stats = server_process.stats()
    assert (stats["total_failures"], stats["sets"]["working"]) == (0, 0)


async def test_a_refused_password_stops_the_worker_loudly(make_server: Any) -> None:
    server = make_server(password="s3cret")
    worker = support.make_worker(f"tcp://:wrong@127.0.0.1:{server.port}")
    with anyio.fail_after(30), pytest.raises(AuthenticationError, match="Invalid password"):
        await worker.serve()
