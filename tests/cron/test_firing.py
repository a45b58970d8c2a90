"""Firing on the fake clock: one job per entry and tick, across servers sharing a store and
across restarts; no replay of ticks missed while down; each job fresh from its entry."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from faktory_core.clock import FakeClock
from faktory_core.manager import FailInfo
from faktory_core.model import Job, SortedSet
from faktory_core.plugins.cron import CronPlugin
from faktory_core.plugins.cron.scheduler import CLAIM_TTL, GRACE, MAX_WAIT, Scheduler, claim_key
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import Bulk, SimpleString
from faktory_core.testing import FwpSocket, ServerThread
from faktory_core.timefmt import format_ts, parse_ts

from .support import MINUTE, START, cron_server, every_minute, queued, scheduler

#: The tick just before START (15:00:00), and the ones after it.
TICK = START - 30


def created(jobs: list[Job]) -> list[str]:
    return [job.created_at for job in jobs]


def test_every_minute_through_a_worker_connection() -> None:
    """ServerThread + FakeClock: a worker fetches one cron job per simulated minute."""
    clock = FakeClock(START)
    store = MemoryStore(clock)
    plugin = CronPlugin(environ={})
    fetched: list[dict[str, Any]] = []
    with ServerThread(
        store, clock=clock, plugins=[("cron", plugin)], cron=(every_minute(),)
    ) as thread:
        conn = FwpSocket.open(thread.port)
        for _ in range(5):
            thread.call(functools.partial(clock.advance, MINUTE, step=1.0))
            for _ in range(thread.call(store.queue_size, "default")):
                reply = conn.command("FETCH", "default")
                assert isinstance(reply, Bulk)
                assert reply.data is not None
                job = json.loads(reply.data)
                assert conn.json_command("ACK", {"jid": job["jid"]}) == SimpleString("OK")
                fetched.append(job)
        conn.close()
    # 15:00 was fired at start (due 30 s before, within GRACE), then one per minute.
    expected = [format_ts(START)] + [format_ts(TICK + n * MINUTE) for n in range(1, 6)]
    assert [job["created_at"] for job in fetched] == expected
    assert len({job["jid"] for job in fetched}) == 6
    assert {job["jobtype"] for job in fetched} == {"Tick"}


async def test_one_job_per_minute(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, [every_minute()]):
        await clock.advance(5 * MINUTE, step=1.0)
    jobs = await queued(store)
    # 15:00 was due 30 s before the start (within GRACE): fired at start; then 15:01-15:05.
    assert created(jobs) == [format_ts(START)] + [format_ts(TICK + n * MINUTE) for n in range(1, 6)]
    assert len({job.jid for job in jobs}) == 6


async def test_ticks_are_fired_on_the_tick(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, [every_minute()]):
        await clock.advance(29.5, step=0.5)
        assert await store.queue_size("default") == 1  # the 15:00 tick, at start
        await clock.advance(0.5, step=0.5)
        assert await store.queue_size("default") == 2  # 15:01:00 exactly
        assert (await queued(store))[-1].created_at == format_ts(TICK + MINUTE)


async def test_the_loop_sleeps_until_the_next_tick(
    store: MemoryStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    wakes: list[float] = []
    fire_due = Scheduler.fire_due

    async def counting(self: Scheduler, now: float) -> None:
        wakes.append(now)
        await fire_due(self, now)

    monkeypatch.setattr(Scheduler, "fire_due", counting)
    entries = [{"schedule": "@hourly", "job": {"type": "Hourly"}}]
    async with cron_server(store, clock, entries) as server:
        assert scheduler(server).wait_seconds(clock.now()) == MAX_WAIT
        await clock.advance(59 * MINUTE, step=1.0)  # to 15:59:30
        assert await store.queue_size("default") == 1  # the 15:00 one, fired at start
        # Stepped second by second for an hour, the loop woke once a minute, not every step.
        assert len(wakes) == 60
        await clock.advance(30.0, step=1.0)
        assert (await queued(store))[-1].created_at == format_ts(TICK + 3600)
        assert wakes[-1] == TICK + 3600


async def test_two_servers_on_one_store_fire_each_tick_once(
    store: MemoryStore, clock: FakeClock
) -> None:
    entries = [every_minute(), {"schedule": "*/2 * * * *", "job": {"type": "Even"}}]
    async with cron_server(store, clock, entries), cron_server(store, clock, entries):
        await clock.advance(10 * MINUTE, step=1.0)
    jobs = await queued(store)
    ticks = [job.created_at for job in jobs if job.jobtype == "Tick"]
    evens = [job.created_at for job in jobs if job.jobtype == "Even"]
    assert len(ticks) == len(set(ticks)) == 11
    assert len(evens) == len(set(evens)) == 6  # 15:00, 15:02, ... 15:10


async def test_a_claimed_tick_is_not_fired_again(store: MemoryStore, clock: FakeClock) -> None:
    entry = {"name": "taken", **every_minute()}
    await store.kv_claim(claim_key("taken", TICK + MINUTE), b"elsewhere", CLAIM_TTL)
    async with cron_server(store, clock, [entry]):
        await clock.advance(2 * MINUTE, step=1.0)
    assert created(await queued(store)) == [format_ts(START), format_ts(TICK + 2 * MINUTE)]


async def test_a_restart_within_the_minute_does_not_fire_twice(
    clock: FakeClock, tmp_path: Path
) -> None:
    snapshot = tmp_path / "memory.json"
    first = MemoryStore(clock, path=snapshot)
    async with cron_server(first, clock, [every_minute()]):
        await clock.advance(30.0, step=1.0)  # 15:01:00: fired
        await clock.advance(10.0, step=1.0)
    assert await first.queue_size("default") == 2
    await clock.advance(5.0)  # down for 5 s, restarting
    second = MemoryStore(clock, path=snapshot)  # a new process: state from the snapshot
    async with cron_server(second, clock, [every_minute()]):
        await clock.advance(1.0, step=1.0)
        assert await second.queue_size("default") == 2  # 15:01 was claimed: not again
        await clock.advance(MINUTE, step=1.0)
    assert created(await queued(second)) == [
        format_ts(START),
        format_ts(TICK + MINUTE),
        format_ts(TICK + 2 * MINUTE),
    ]


async def test_a_tick_missed_by_a_restart_is_fired_late_once(
    store: MemoryStore, clock: FakeClock
) -> None:
    async with cron_server(store, clock, [every_minute()]):
        await clock.advance(25.0, step=1.0)  # 15:00:55
    await clock.advance(20.0)  # down across 15:01:00
    async with cron_server(store, clock, [every_minute()]):
        await clock.advance(1.0, step=1.0)
    assert created(await queued(store)) == [format_ts(START), format_ts(START + 45)]


async def test_ticks_missed_while_down_are_not_replayed(
    store: MemoryStore, clock: FakeClock
) -> None:
    async with cron_server(store, clock, [every_minute()]):
        pass
    await clock.advance(10 * MINUTE)  # down from 15:00:30 to 15:10:30
    async with cron_server(store, clock, [every_minute()]):
        await clock.advance(1.0, step=1.0)
    # 15:00 (first start) and 15:10 (less than GRACE before the second start); 15:01-15:09 lost.
    assert GRACE == MINUTE
    assert created(await queued(store)) == [format_ts(START), format_ts(START + 10 * MINUTE)]


async def test_a_late_loop_skips_old_ticks(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, [every_minute()]):
        await clock.advance(5 * MINUTE)  # one jump: the loop wakes 5 minutes late
        await clock.advance(1.0, step=1.0)
    assert created(await queued(store)) == [format_ts(START), format_ts(START + 5 * MINUTE)]


async def test_each_job_is_fresh_from_its_entry(store: MemoryStore, clock: FakeClock) -> None:
    entry = {
        "schedule": "* * * * *",
        "job": {
            "type": "Report",
            "queue": "critical",
            "retry": 3,
            "args": [1, {"b": [2]}],
            "reserve_for": 600,
            "custom": {"foo": "bar", "expires_in": 90},
        },
    }
    async with cron_server(store, clock, [entry]) as server:
        first = (await queued(store, "critical"))[0]
        first.args[1]["b"].append(3)  # a job's args are its own copy
        await clock.advance(MINUTE, step=1.0)
        assert scheduler(server).entries[0].args == [1, {"b": [2]}]
    jobs = await queued(store, "critical")
    assert len(jobs) == 2
    second = jobs[1]
    assert first.jid != second.jid
    assert (second.jobtype, second.queue, second.retry, second.reserve_for) == (
        "Report",
        "critical",
        3,
        600,
    )
    assert second.args == [1, {"b": [2]}]
    # expires_in became expires_at = tick + expires_in, as Faktory's Go client does.
    assert second.custom == {"foo": "bar", "expires_at": format_ts(TICK + MINUTE + 90)}
    assert first.custom is not None
    assert parse_ts(first.custom["expires_at"]) == TICK + 90


async def test_a_failing_cron_job_follows_its_retry(store: MemoryStore, clock: FakeClock) -> None:
    entry = {"schedule": "0 * * * *", "job": {"type": "Flaky", "retry": 1}}
    async with cron_server(store, clock, [entry]) as server:
        manager = server.manager
        job = await manager.fetch(["default"], wait=False)
        assert job is not None
        assert job.retry == 1
        await manager.fail(FailInfo.cleansed(job.jid, "Boom", "it broke", []))
        assert await store.set_size(SortedSet.RETRIES) == 1
        await clock.advance(MINUTE, step=1.0)  # backoff is 15-44 s for the first retry
        again = await manager.fetch(["default"], wait=False)
        assert again is not None
        assert again.jid == job.jid
        assert again.failure is not None
        assert again.failure.retry_count == 0
        await manager.fail(FailInfo.cleansed(job.jid, "Boom", "again", []))
        assert await store.set_size(SortedSet.DEAD) == 1


async def test_retry_zero_discards_like_any_job(store: MemoryStore, clock: FakeClock) -> None:
    entry = {"schedule": "0 * * * *", "job": {"type": "Once", "retry": 0}}
    async with cron_server(store, clock, [entry]) as server:
        job = await server.manager.fetch(["default"], wait=False)
        assert job is not None
        assert job.retry == 0
        await server.manager.fail(FailInfo.cleansed(job.jid, "Boom", "gone", []))
        assert await store.set_size(SortedSet.RETRIES) == await store.set_size(SortedSet.DEAD) == 0


async def test_shutdown_stops_the_loop(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, [every_minute()]):
        pass
    await clock.advance(3 * MINUTE, step=1.0)
    await anyio.lowlevel.checkpoint()
    assert await store.queue_size("default") == 1
