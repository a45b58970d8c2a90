"""The Python worker keeps a long job's reservation (TRACK SET reserve_until) and reports
progress, against a real server whose clock the test drives: the worker's "sleep until half
the reservation has passed" advances the server's fake clock, so two hours pass in a moment and
nothing depends on how fast this machine is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest

from faktory_core.client import AsyncClient, Client, Job
from faktory_core.clock import FakeClock
from faktory_core.config import Timings
from faktory_core.plugins import memory_store, tracking
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.testing import FwpSocket, ServerThread
from faktory_core.worker import JobContext, Worker
from faktory_core.worker.reservation import Reservations, reservation_seconds

TWO_HOURS = 7200.0
RESERVE_FOR = 60


@pytest.fixture(params=["tracking", "no tracking"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[ServerThread, FakeClock]]:
    clock = FakeClock()
    plugins: list[tuple[str, object]] = [("memory_store", memory_store)]
    if request.param == "tracking":
        plugins.append(("tracking", tracking))
    timings = Timings(fetch_block=0.2, heartbeat_expiry=10**9)
    with ServerThread(MemoryStore(clock), clock=clock, plugins=plugins, timings=timings) as thread:
        yield thread, clock
        thread.call(clock.advance, 1.0)  # a FETCH still waiting returns


def _info(thread: ServerThread) -> dict[str, Any]:
    conn = FwpSocket.open(thread.port)
    try:
        info: dict[str, Any] = conn.bulk_json("INFO")
    finally:
        conn.close()
    return info


async def _tick(thread: ServerThread, clock: FakeClock) -> None:
    """Let fake time pass while the worker stops, so its waiting FETCHes come back."""
    while True:
        await anyio.to_thread.run_sync(thread.call, clock.advance, 1.0)
        await anyio.sleep(0.01)


async def _stopped(worker: Worker) -> None:
    with anyio.fail_after(60):
        while worker.fetchers:  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def _processed(thread: ServerThread, count: int) -> None:
    with anyio.fail_after(60):
        while _info(thread)["faktory"]["total_processed"] < count:  # noqa: ASYNC110
            await anyio.sleep(0.01)


@pytest.mark.parametrize("server", ["tracking", "no tracking"], indirect=True)
async def test_a_two_hour_job_with_reserve_for_60_runs_once(
    server: tuple[ServerThread, FakeClock], request: pytest.FixtureRequest
) -> None:
    """Without TRACK on the server the same job's reservation expires and it is failed: the
    test can tell a kept reservation from a lost one."""
    thread, clock = server
    tracked = request.node.callspec.params["server"] == "tracking"
    url = f"tcp://127.0.0.1:{thread.port}"
    start, done, runs = clock.now(), anyio.Event(), []

    async def server_sleep(seconds: float) -> None:
        """Half a reservation passes on the server's clock; the job ends after two hours."""
        await anyio.to_thread.run_sync(thread.call, clock.advance, seconds)
        if clock.now() >= start + TWO_HOURS:
            done.set()

    worker = Worker(url, concurrency=1, heartbeat_interval=0.05, reconnect_delay=0.2)
    worker.reservations = Reservations(clock=clock.now, sleep=server_sleep)

    @worker.job("Import", context=True)
    async def long_import(ctx: JobContext) -> None:
        runs.append(ctx.jid)
        if not tracked:  # nothing extends: let the reservation run out
            await anyio.to_thread.run_sync(thread.call, clock.advance, RESERVE_FOR + 1)
        await done.wait()

    async with AsyncClient(url) as client:
        await client.push(Job("Import", reserve_for=RESERVE_FOR))
    async with anyio.create_task_group() as tg:
        await tg.start(worker.serve)
        if tracked:
            with anyio.fail_after(60):
                await done.wait()
        else:
            await _processed(thread, 1)  # the reaper's FAIL counts as processed
            done.set()
        await _processed(thread, 1)
        with anyio.fail_after(60):
            while worker.in_progress:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        tg.start_soon(_tick, thread, clock)  # blocked FETCHes wait on the fake clock
        worker.terminate()
        await _stopped(worker)
        tg.cancel_scope.cancel()
    stats = _info(thread)["faktory"]
    if tracked:
        assert (len(runs), stats["total_processed"], stats["total_failures"]) == (1, 1, 0)
        assert worker.reservations.extended >= TWO_HOURS / (RESERVE_FOR / 2) - 1
    else:
        assert worker.reservations.extended == 0
        assert stats["total_failures"] >= 1  # ReservationExpired: the job went to retries


def test_reservation_seconds_follows_the_server() -> None:
    assert reservation_seconds({}) == 1800
    assert reservation_seconds({"reserve_for": 0}) == 1800
    assert reservation_seconds({"reserve_for": 5}) == 60
    assert reservation_seconds({"reserve_for": 10**6}) == 86400
    assert reservation_seconds({"reserve_for": "90"}) == 1800


@pytest.mark.parametrize("server", ["tracking"], indirect=True)
def test_job_track_option_and_client_track(server: tuple[ServerThread, FakeClock]) -> None:
    thread, _ = server
    url = f"tcp://127.0.0.1:{thread.port}"
    job = Job("Report", track=True, custom={"team": "x"})
    assert job.custom == {"team": "x", "track": 1}
    with Client(url) as client:
        client.push(job)
        assert client.track(job.jid)["state"] == "enqueued"
        assert client.track("nobody-knows") == {
            "jid": "nobody-knows",
            "state": "unknown",
            "updated_at": "",
        }


@pytest.mark.parametrize("server", ["tracking"], indirect=True)
async def test_ctx_track_reports_progress_async_and_sync(
    server: tuple[ServerThread, FakeClock],
) -> None:
    thread, _ = server
    url = f"tcp://127.0.0.1:{thread.port}"
    worker = Worker(url, concurrency=2, heartbeat_interval=0.05, reconnect_delay=0.2)

    @worker.job("AsyncJob", context=True)
    async def async_job(ctx: JobContext) -> None:
        await ctx.track(50, "half way")

    @worker.job("PlainJob", context=True)
    def plain_job(ctx: JobContext) -> None:
        ctx.track_sync(75, "three quarters")

    jobs = [Job("AsyncJob", track=True), Job("PlainJob", track=True)]
    async with AsyncClient(url) as client:
        await client.push_bulk(jobs)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.serve)
            await _processed(thread, 2)
            tg.start_soon(_tick, thread, server[1])
            worker.terminate()
            await _stopped(worker)
            tg.cancel_scope.cancel()
        records = [await client.track(job.jid) for job in jobs]
    assert [(r["state"], r["percent"], r["desc"]) for r in records] == [
        ("success", 50, "half way"),
        ("success", 75, "three quarters"),
    ]
    assert json.dumps(records)


async def test_a_job_due_sooner_wakes_the_loop_to_sleep_less() -> None:
    naps: list[float] = []
    now = [1000.0]

    async def nap(seconds: float) -> None:
        naps.append(seconds)
        await anyio.sleep_forever()

    reservations = Reservations(clock=lambda: now[0], sleep=nap)
    async with anyio.create_task_group() as tg:
        tg.start_soon(reservations.run)
        await anyio.wait_all_tasks_blocked()
        assert naps == []  # nothing running: it waits, it does not sleep on a timer
        reservations.started({"jid": "long", "reserve_for": 1800}, None)  # type: ignore[arg-type]
        await anyio.wait_all_tasks_blocked()
        reservations.started({"jid": "short", "reserve_for": 60}, None)  # type: ignore[arg-type]
        await anyio.wait_all_tasks_blocked()
        reservations.finished("short")
        reservations.finished("long")
        tg.cancel_scope.cancel()
    assert naps == [900.0, 30.0]
