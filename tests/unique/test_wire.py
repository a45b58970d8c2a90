"""Unique jobs over real sockets, on both stores, on the fake clock (enterprise.md §3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from faktory_core.model import SortedSet
from faktory_core.protocol import Bulk, ErrorReply
from faktory_core.timefmt import format_ts

from .support import NOT_UNIQUE, OK, Ent, ent, fetch, job, module_redis, serve, unique_job

__all__ = ["ent", "module_redis", "serve"]  # the fixtures this module uses


def test_a_duplicate_push_is_refused_and_not_stored(ent: Ent) -> None:
    running, conn = ent.running, ent.conn()
    first = unique_job()
    assert conn.json_command("PUSH", first) == OK
    conn.send(b"PUSH " + json.dumps(unique_job()).encode() + b"\r\n")
    assert conn.sock.recv(100) == b"-NOTUNIQUE Job not unique\r\n"
    assert running.queued() == [first["jid"]]
    counters = running.thread.server.counters  # type: ignore[union-attr]
    assert counters.get("unique_denied", queue="default", jobtype="Report") == 1


def test_the_key_is_jobtype_args_and_queue(ent: Ent) -> None:
    conn = ent.conn()
    assert conn.json_command("PUSH", unique_job(args=[{"a": 1, "b": 2.0}])) == OK
    # Same key: object key order and 1 vs 1.0 do not matter.
    assert conn.json_command("PUSH", unique_job(args=[{"b": 2, "a": 1.0}])) == NOT_UNIQUE
    assert conn.json_command("PUSH", unique_job(args=[{"a": 1, "b": 3}])) == OK
    assert (
        conn.json_command("PUSH", {**unique_job(args=[{"a": 1, "b": 2}]), "queue": "other"}) == OK
    )
    other_type = {**unique_job(args=[{"a": 1, "b": 2}]), "jobtype": "Other"}
    assert conn.json_command("PUSH", other_type) == OK


def test_a_job_without_unique_for_bypasses_the_lock(ent: Ent) -> None:
    running, conn = ent.running, ent.conn()
    assert conn.json_command("PUSH", unique_job()) == OK
    assert conn.json_command("PUSH", job("Report", args=[1, "x"])) == OK
    assert conn.json_command("PUSH", unique_job()) == NOT_UNIQUE
    assert len(running.queued()) == 2


def test_pushb_reports_the_duplicate_under_its_jid(ent: Ent) -> None:
    running, conn = ent.running, ent.conn()
    held = unique_job()
    assert conn.json_command("PUSH", held) == OK
    again, fresh, twin = unique_job(), unique_job(args=[2]), unique_job(args=[2])
    reply = conn.json_command("PUSHB", [again, fresh, twin])
    assert isinstance(reply, Bulk)
    assert reply.data is not None
    assert json.loads(reply.data) == {
        again["jid"]: "NOTUNIQUE Job not unique",
        twin["jid"]: "NOTUNIQUE Job not unique",
    }
    assert sorted(running.queued()) == sorted([held["jid"], fresh["jid"]])


def test_success_lock_survives_fetch_and_fail_and_goes_at_ack(ent: Ent) -> None:
    running, conn = ent.running, ent.conn()
    assert conn.json_command("PUSH", {**unique_job(600), "retry": 3}) == OK
    first = fetch(conn)
    assert conn.json_command("PUSH", unique_job(600)) == NOT_UNIQUE
    assert conn.json_command("FAIL", {"jid": first["jid"], "message": "boom"}) == OK
    assert conn.json_command("PUSH", unique_job(600)) == NOT_UNIQUE
    # The retry comes back through the scheduler, not PUSH: still the same lock.
    ent.advance(120)
    running.wait_for(lambda: running.queued() == [first["jid"]], "the retry")
    assert conn.json_command("PUSH", unique_job(600)) == NOT_UNIQUE
    assert fetch(conn)["jid"] == first["jid"]
    assert conn.json_command("ACK", {"jid": first["jid"]}) == OK
    assert conn.json_command("PUSH", unique_job(600)) == OK


def test_start_lock_goes_at_fetch(ent: Ent) -> None:
    conn = ent.conn()
    assert conn.json_command("PUSH", unique_job(600, unique_until="start")) == OK
    assert conn.json_command("PUSH", unique_job(600, unique_until="start")) == NOT_UNIQUE
    fetch(conn)
    assert conn.json_command("PUSH", unique_job(600, unique_until="start")) == OK


def test_the_lock_runs_out_after_unique_for_whatever_happens(ent: Ent) -> None:
    conn = ent.conn()
    assert conn.json_command("PUSH", unique_job(0.5)) == OK
    fetch(conn)  # the worker takes it and crashes: no ACK, ever
    ent.advance(0.4)
    assert conn.json_command("PUSH", unique_job(0.5)) == NOT_UNIQUE
    ent.advance(0.2)
    assert conn.json_command("PUSH", unique_job(0.5)) == OK


def test_a_scheduled_job_holds_the_lock_through_its_wait(ent: Ent) -> None:
    running, conn = ent.running, ent.conn()
    at = format_ts(running.clock.now() + 3600)
    assert conn.json_command("PUSH", {**unique_job(600), "at": at}) == OK
    ent.advance(3600 + 590)
    assert conn.json_command("PUSH", unique_job(600)) == NOT_UNIQUE
    ent.advance(20)
    assert conn.json_command("PUSH", unique_job(600)) == OK


def test_an_old_copy_never_unlocks_a_newer_holder(ent: Ent) -> None:
    conn = ent.conn()
    old = unique_job(10)
    assert conn.json_command("PUSH", old) == OK
    ent.advance(11)
    assert conn.json_command("PUSH", unique_job(10)) == OK  # the lock ran out: a new holder
    assert fetch(conn)["jid"] == old["jid"]
    assert conn.json_command("ACK", {"jid": old["jid"]}) == OK
    assert conn.json_command("PUSH", unique_job(10)) == NOT_UNIQUE


def test_a_push_refused_after_the_lock_was_taken_gives_it_back(ent: Ent) -> None:
    conn = ent.conn()
    bad = unique_job(expires_at="tomorrow")
    reply = conn.json_command("PUSH", bad)
    assert isinstance(reply, ErrorReply)
    assert reply.message.startswith("Invalid value for expires_at")
    assert conn.json_command("PUSH", unique_job()) == OK


BAD_UNIQUE_FOR: list[Any] = [0, -5, -0.5, "600", True, 1e12, None, [60], {"s": 60}]


@pytest.mark.parametrize("value", BAD_UNIQUE_FOR, ids=repr)
def test_a_bad_unique_for_is_refused_and_nothing_is_stored(ent: Ent, value: Any) -> None:
    running, conn = ent.running, ent.conn()
    reply = conn.json_command("PUSH", unique_job(value))
    assert isinstance(reply, ErrorReply)
    assert reply.code == "ERR"
    assert reply.message.startswith("Invalid value for unique_for: expected a number of seconds")
    assert running.queued() == []
    at = format_ts(running.clock.now() + 60)
    assert conn.json_command("PUSH", {**unique_job(value), "at": at}) == reply
    assert running.set_jobs(SortedSet.SCHEDULED) == []
    # No lock was taken: the same job with a good value goes in.
    assert conn.json_command("PUSH", unique_job(60)) == OK


@pytest.mark.parametrize("value", ["finish", "", 1, None])
def test_a_bad_unique_until_is_refused(ent: Ent, value: Any) -> None:
    running, conn = ent.running, ent.conn()
    reply = conn.json_command("PUSH", unique_job(60, unique_until=value))
    assert isinstance(reply, ErrorReply)
    assert reply.message.startswith('Invalid value for unique_until: expected "success" or "start"')
    assert running.queued() == []
    assert conn.json_command("PUSH", unique_job(60)) == OK


def test_an_expired_unique_job_keeps_its_lock_until_unique_for(ent: Ent) -> None:
    conn = ent.conn()
    soon = format_ts(ent.running.clock.now() + 10)
    for until in ("success", "start"):
        first = unique_job(600, args=[until], unique_until=until, expires_at=soon)
        assert conn.json_command("PUSH", first) == OK
    ent.advance(11)
    live = job("Live")
    assert conn.json_command("PUSH", live) == OK
    assert fetch(conn)["jid"] == live["jid"]  # both expired jobs were dropped
    for until in ("success", "start"):
        again = unique_job(600, args=[until], unique_until=until)
        assert conn.json_command("PUSH", again) == NOT_UNIQUE
    ent.advance(590)
    assert conn.json_command("PUSH", unique_job(600, args=["start"], unique_until="start")) == OK


def test_jobs_without_options_keep_the_bulk_push(ent: Ent, monkeypatch: pytest.MonkeyPatch) -> None:
    kind = type(ent.running.store)
    calls: list[int] = []
    original = kind.push_many

    async def counting(self: Any, jobs: Any) -> None:
        calls.append(len(jobs))
        await original(self, jobs)

    monkeypatch.setattr(kind, "push_many", counting)
    conn = ent.conn()
    plain = [job("Plain") for _ in range(5)]
    reply = conn.json_command("PUSHB", [*plain, unique_job()])
    assert isinstance(reply, Bulk)
    assert json.loads(reply.data or b"") == {}
    assert calls == [5]  # the plain jobs in one go; the unique one through the chain
    assert len(ent.running.queued()) == 6


def test_flush_drops_every_lock(ent: Ent) -> None:
    conn = ent.conn()
    assert conn.json_command("PUSH", unique_job()) == OK
    assert conn.command("FLUSH") == OK
    assert conn.json_command("PUSH", unique_job()) == OK
