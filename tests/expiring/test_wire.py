"""Expiring jobs over real sockets, on both stores, on the fake clock (enterprise.md §4)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from faktory_core.hookspecs import hookimpl
from faktory_core.middleware import JobMiddleware
from faktory_core.model import Job as ServerJob
from faktory_core.model import SortedSet
from faktory_core.protocol import Bulk, ErrorReply
from faktory_core.timefmt import format_ts, parse_ts

from ..unique.support import (  # noqa: TID252
    OK,
    Ent,
    Running,
    ent,
    fetch,
    job,
    module_redis,
    serve,
)

__all__ = ["ent", "module_redis", "serve"]  # the fixtures this module uses


def expiring(ent: Ent, seconds: float, **extra: Any) -> dict[str, Any]:
    at = format_ts(ent.running.clock.now() + seconds)
    return job("Notify", custom={"expires_at": at}, **extra)


def test_fetch_skips_expired_jobs_and_returns_the_live_one_behind_them(
    ent: Ent, caplog: pytest.LogCaptureFixture
) -> None:
    conn = ent.conn()
    stale = [expiring(ent, 10) for _ in range(3)]
    live = expiring(ent, 3600)
    for item in [*stale, live]:
        assert conn.json_command("PUSH", item) == OK
    ent.advance(11)
    with caplog.at_level(logging.DEBUG, logger="faktory_core.plugins.expiring"):
        assert fetch(conn)["jid"] == live["jid"]
    assert ent.running.queued() == []
    counters = ent.running.thread.server.counters  # type: ignore[union-attr]
    assert counters.get("expired", queue="default", jobtype="Notify") == 3
    dropped = [r.getMessage() for r in caplog.records if "DISCARD job expired" in r.getMessage()]
    assert len(dropped) == 3
    assert all(any(s["jid"] in line for line in dropped) for s in stale)


def test_an_expired_job_is_not_retried_dead_or_counted(ent: Ent) -> None:
    conn = ent.conn()
    assert conn.json_command("PUSH", expiring(ent, 5)) == OK
    live = job("Live")
    assert conn.json_command("PUSH", live) == OK
    ent.advance(6)
    assert fetch(conn)["jid"] == live["jid"]
    assert conn.json_command("ACK", {"jid": live["jid"]}) == OK
    info = conn.bulk_json("INFO")
    assert (info["faktory"]["total_processed"], info["faktory"]["total_failures"]) == (1, 0)
    for which in SortedSet:
        assert ent.running.set_jobs(which) == []
    assert info["faktory"]["tasks"]  # the server is alive and answering


def test_a_job_not_yet_expired_is_delivered_with_its_expiry(ent: Ent) -> None:
    conn = ent.conn()
    item = expiring(ent, 60)
    assert conn.json_command("PUSH", item) == OK
    ent.advance(59)
    got = fetch(conn)
    assert got["custom"]["expires_at"] == item["custom"]["expires_at"]


def test_expires_in_becomes_expires_at_at_push(ent: Ent) -> None:
    conn = ent.conn()
    pushed_at = ent.running.clock.now()
    for value in (600, 1.5, "600"):
        assert conn.json_command("PUSH", job("Notify", custom={"expires_in": value})) == OK
        got = fetch(conn)
        assert parse_ts(got["custom"]["expires_at"]) == pytest.approx(pushed_at + float(value))
        assert got["custom"]["expires_in"] == value


def test_expires_in_runs_out(ent: Ent) -> None:
    conn = ent.conn()
    assert conn.json_command("PUSH", job("Notify", custom={"expires_in": 30})) == OK
    live = job("Live")
    assert conn.json_command("PUSH", live) == OK
    ent.advance(31)
    assert fetch(conn)["jid"] == live["jid"]


def test_expires_at_wins_over_expires_in(ent: Ent) -> None:
    conn = ent.conn()
    at = format_ts(ent.running.clock.now() + 10)
    assert conn.json_command("PUSH", job("N", custom={"expires_at": at, "expires_in": 9e3})) == OK
    assert fetch(conn)["custom"]["expires_at"] == at


@pytest.mark.parametrize(
    "stamp",
    [
        "{z}",  # UTC with Z
        "{plus2}",  # +02:00
        "{minus}",  # -05:30 with nanoseconds
    ],
)
def test_any_rfc3339_offset_is_read(ent: Ent, stamp: str) -> None:
    conn = ent.conn()
    when = ent.running.clock.now() + 100
    moment = datetime.fromtimestamp(when, UTC)
    forms = {
        "{z}": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "{plus2}": moment.astimezone(timezone(timedelta(hours=2))).isoformat(),
        "{minus}": moment.astimezone(timezone(-timedelta(hours=5, minutes=30))).strftime(
            "%Y-%m-%dT%H:%M:%S.000000000-05:30"
        ),
    }
    item = job("Notify", custom={"expires_at": forms[stamp]})
    assert conn.json_command("PUSH", item) == OK
    assert conn.json_command("PUSH", {**item, "jid": item["jid"] + "-2"}) == OK
    ent.advance(99)
    assert fetch(conn)["jid"] == item["jid"]  # 1 s left: delivered
    ent.advance(1)
    live = job("Live")
    assert conn.json_command("PUSH", live) == OK
    assert fetch(conn)["jid"] == live["jid"]  # at the instant itself: expired


BAD_EXPIRES_AT: list[Any] = ["tomorrow", "2030-01-01", "2030-01-01 10:00:00Z", 1893456000, None]
BAD_EXPIRES_IN: list[Any] = [0, -5, "soon", "1m", True, 1e12, None, [60]]


@pytest.mark.parametrize(
    ("key", "value"),
    [("expires_at", v) for v in BAD_EXPIRES_AT] + [("expires_in", v) for v in BAD_EXPIRES_IN],
    ids=repr,
)
def test_a_malformed_expiry_is_refused_and_nothing_is_stored(
    ent: Ent, key: str, value: Any
) -> None:
    conn = ent.conn()
    bad = job("Notify", custom={key: value})
    reply = conn.json_command("PUSH", bad)
    assert isinstance(reply, ErrorReply)
    assert reply.code == "ERR"
    assert reply.message.startswith(f"Invalid value for {key}: expected ")
    reply = conn.json_command("PUSHB", [bad, job("Fine")])
    assert isinstance(reply, Bulk)
    assert reply.data is not None
    assert list(json.loads(reply.data)) == [bad["jid"]]
    assert len(ent.running.queued()) == 1


def test_a_fetch_waiting_on_an_empty_queue_never_gets_an_expired_job(ent: Ent) -> None:
    waiting, pusher = ent.conn(), ent.conn()
    got: list[dict[str, Any]] = []
    fetcher = threading.Thread(target=lambda: got.append(fetch(waiting)))
    fetcher.start()
    ent.running.wait_for(lambda: True, "the fetch to block")
    already = job("Notify", custom={"expires_at": format_ts(ent.running.clock.now() - 1)})
    live = job("Live")
    assert pusher.json_command("PUSH", already) == OK
    assert pusher.json_command("PUSH", live) == OK
    fetcher.join(10)
    assert [g["jid"] for g in got] == [live["jid"]]


class Listener(JobMiddleware):
    """A plugin (a batch plugin, say) told of every discarded job."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    async def discarded(self, job: ServerJob, reason: str) -> None:
        self.told.append((job.jid, reason))

    @hookimpl
    def faktory_core_job_middleware(self, config: Any, clock: Any) -> JobMiddleware:
        return self


def test_other_middleware_is_told_of_an_expired_job(serve: Callable[..., Running]) -> None:
    listener = Listener()
    made = Ent(serve, extra=[("listener", listener)])
    try:
        conn = made.conn()
        stale, live = expiring(made, 5), job("Live")
        assert conn.json_command("PUSH", stale) == OK
        assert conn.json_command("PUSH", live) == OK
        made.advance(6)
        assert fetch(conn)["jid"] == live["jid"]
        assert listener.told == [(stale["jid"], "job expired")]
    finally:
        made.close()
