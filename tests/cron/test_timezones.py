"""Time zones: schedules read as wall-clock time in the entry's zone (UTC by default), and
daylight-saving gaps and repeats as croniter resolves them (the examples of docs/cron.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from faktory_core.clock import FakeClock
from faktory_core.plugins.cron.entries import CronEntry, parse_entry
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.timefmt import format_ts, parse_ts

from .support import MINUTE, START, cron_server, queued


def entry(schedule: str, timezone: str | None = None, jobtype: str = "T") -> CronEntry:
    raw = {"schedule": schedule, "job": {"type": jobtype}}
    if timezone is not None:
        raw["timezone"] = timezone
    return parse_entry(raw, source="test", index=1, now=START)


def utc(text: str) -> float:
    return parse_ts(text)


def stamps(ticks: list[float]) -> list[str]:
    return [format_ts(tick) for tick in ticks]


def test_utc_is_the_default() -> None:
    assert entry("30 2 * * *").next_after(START) == utc("2025-06-16T02:30:00Z")


def test_a_schedule_is_wall_clock_time_in_its_zone() -> None:
    berlin = entry("30 2 * * *", "Europe/Berlin")  # CEST, UTC+2, in June
    assert berlin.next_after(START) == utc("2025-06-16T00:30:00Z")
    tokyo = entry("0 9 * * 1-5", "Asia/Tokyo")  # Monday 09:00 JST = Monday 00:00 UTC
    assert tokyo.next_after(START) == utc("2025-06-16T00:00:00Z")
    winter = entry("30 2 * * *", "Europe/Berlin").next_after(utc("2025-01-10T12:00:00Z"))
    assert winter == utc("2025-01-11T01:30:00Z")  # CET, UTC+1


async def test_the_server_fires_in_the_entrys_zone(store: MemoryStore, clock: FakeClock) -> None:
    entries = [
        {"schedule": "0 18 * * *", "timezone": "Europe/Berlin", "job": {"type": "Berlin"}},
        {"schedule": "0 16 * * *", "job": {"type": "Utc"}},
        {"schedule": "0 18 * * *", "job": {"type": "UtcEvening"}},
    ]
    async with cron_server(store, clock, entries):
        await clock.advance(60 * MINUTE, step=10.0)  # to 16:00:30 UTC = 18:00:30 CEST
    jobs = await queued(store)
    assert sorted((job.jobtype, job.created_at) for job in jobs) == [
        ("Berlin", "2025-06-15T16:00:00Z"),
        ("Utc", "2025-06-15T16:00:00Z"),
    ]


# -- daylight saving (America/New_York, 2025: forward on 9 March, back on 2 November) -----------


def test_a_time_skipped_by_spring_forward_fires_when_the_clocks_resume() -> None:
    # 02:30 does not exist on 9 March: croniter fires at 03:00 EDT, the first instant after.
    ticks = entry("30 2 * * *", "America/New_York").ticks(
        utc("2025-03-08T00:00:00Z"), utc("2025-03-11T00:00:00Z")
    )
    assert stamps(ticks) == [
        "2025-03-08T07:30:00Z",  # 02:30 EST
        "2025-03-09T07:00:00Z",  # 03:00 EDT
        "2025-03-10T06:30:00Z",  # 02:30 EDT
    ]


def test_a_time_repeated_by_fall_back_fires_twice() -> None:
    # 01:30 happens twice on 2 November (EDT, then EST): croniter fires at both.
    ticks = entry("30 1 * * *", "America/New_York").ticks(
        utc("2025-11-01T00:00:00Z"), utc("2025-11-04T00:00:00Z")
    )
    assert stamps(ticks) == [
        "2025-11-01T05:30:00Z",  # 01:30 EDT
        "2025-11-02T05:30:00Z",  # 01:30 EDT
        "2025-11-02T06:30:00Z",  # 01:30 EST, an hour later
        "2025-11-03T06:30:00Z",  # 01:30 EST
    ]


def test_hourly_through_fall_back_keeps_every_real_hour() -> None:
    ticks = entry("@hourly", "America/New_York").ticks(
        utc("2025-11-02T04:30:00Z"), utc("2025-11-02T08:00:00Z")
    )
    assert stamps(ticks) == [
        "2025-11-02T05:00:00Z",  # 01:00 EDT
        "2025-11-02T06:00:00Z",  # 01:00 EST
        "2025-11-02T07:00:00Z",  # 02:00 EST
        "2025-11-02T08:00:00Z",  # 03:00 EST
    ]


async def test_the_server_fires_the_repeated_time_twice() -> None:
    clock = FakeClock(utc("2025-11-02T04:00:30Z"))
    store = MemoryStore(clock)
    entries = [{"schedule": "30 1 * * *", "timezone": "America/New_York", "job": {"type": "T"}}]
    async with cron_server(store, clock, entries):
        await clock.advance(3 * 3600, step=30.0)
    jobs = await queued(store)
    assert [job.created_at for job in jobs] == ["2025-11-02T05:30:00Z", "2025-11-02T06:30:00Z"]


def test_next_runs_are_shown_in_the_entrys_zone() -> None:
    berlin = entry("30 2 * * *", "Europe/Berlin")
    shown = datetime.fromtimestamp(berlin.next_after(START), berlin.zone)
    assert shown.isoformat() == "2025-06-16T02:30:00+02:00"
    assert datetime.fromtimestamp(berlin.next_after(START), UTC).hour == 0
