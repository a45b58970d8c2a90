"""Job tracking over real sockets, on both stores (enterprise.md §5; docs/tracking.md)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from faktory_core.model import SortedSet
from faktory_core.plugins.tracking import RECORD_TTL
from faktory_core.plugins.tracking.tracker import MAX_DESC_BYTES
from faktory_core.protocol import Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket
from faktory_core.timefmt import format_ts

from ..redis import either_store  # noqa: TID252
from ..redis.either_store import Running, fetch, job  # noqa: TID252
from .helpers import start, track_get, track_set

module_redis = either_store.module_redis
serve = either_store.serve

OK = SimpleString("OK")
Connect = Callable[[Running], FwpSocket]


def test_a_tracked_job_goes_enqueued_working_success(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve)
    conn = connect(running)
    item = job(custom={"track": 1})
    assert conn.json_command("PUSH", item) == OK
    stamp = format_ts(running.clock.now())
    assert track_get(conn, item["jid"]) == {
        "jid": item["jid"],
        "state": "enqueued",
        "updated_at": stamp,
    }
    assert fetch(conn)["jid"] == item["jid"]
    assert track_get(conn, item["jid"])["state"] == "working"
    assert track_set(conn, jid=item["jid"], percent=40, desc="Calculating...") == OK
    running.advance(5)
    assert conn.json_command("ACK", {"jid": item["jid"]}) == OK
    assert track_get(conn, item["jid"]) == {
        "jid": item["jid"],
        "percent": 40,
        "desc": "Calculating...",
        "state": "success",
        "updated_at": format_ts(running.clock.now()),
    }


def test_the_record_is_exact_json_on_the_wire(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve)
    conn = connect(running)
    item = job(custom={"track": True})
    conn.json_command("PUSH", item)
    track_set(conn, jid=item["jid"], percent=12, desc="Calculating...")
    reply = conn.command("TRACK", "GET", item["jid"])
    assert isinstance(reply, Bulk)
    stamp = format_ts(running.clock.now())
    assert (
        reply.data
        == (
            f'{{"jid":"{item["jid"]}","percent":12,"desc":"Calculating...",'
            f'"state":"enqueued","updated_at":"{stamp}"}}'
        ).encode()
    )


@pytest.mark.parametrize("custom", [None, {"track": 0}, {"track": False}, {"other": 1}])
def test_untracked_and_unknown_jids_answer_the_unknown_record(
    serve: Callable[..., Running], connect: Connect, custom: dict[str, object] | None
) -> None:
    running = start(serve)
    conn = connect(running)
    item = job(**({"custom": custom} if custom else {}))
    conn.json_command("PUSH", item)
    for jid in (item["jid"], "never-pushed"):
        reply = conn.command("TRACK", "GET", jid)
        assert reply == Bulk(f'{{"jid":"{jid}","state":"unknown","updated_at":""}}'.encode())


def test_fail_with_retries_left_is_failed_then_dead(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve)
    conn = connect(running)
    item = job(custom={"track": 1}, retry=1)
    conn.json_command("PUSH", item)
    fetch(conn)
    assert conn.json_command("FAIL", {"jid": item["jid"], "message": "boom"}) == OK
    assert track_get(conn, item["jid"])["state"] == "failed"
    running.call(_enqueue_retries, running)
    assert fetch(conn)["jid"] == item["jid"]
    assert track_get(conn, item["jid"])["state"] == "working"
    assert conn.json_command("FAIL", {"jid": item["jid"], "message": "boom"}) == OK
    assert track_get(conn, item["jid"])["state"] == "dead"
    assert [j.jid for j in running.set_jobs(SortedSet.DEAD)] == [item["jid"]]


async def _enqueue_retries(running: Running) -> None:
    await running.store.enqueue_due(SortedSet.RETRIES, running.clock.now() + 10**6, 100)


def test_a_reservation_that_expires_is_a_failure(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve)
    conn = connect(running)
    item = job(custom={"track": 1}, reserve_for=60)
    conn.json_command("PUSH", item)
    fetch(conn)
    running.advance(61)
    running.wait_for(lambda: track_get(conn, item["jid"])["state"] == "failed", "the reaper")


def test_records_live_30_minutes_after_the_last_change(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve)
    conn = connect(running)
    item = job(custom={"track": 1})
    conn.json_command("PUSH", item)
    running.advance(RECORD_TTL - 1)
    assert track_set(conn, jid=item["jid"], percent=5) == OK  # a change: 30 minutes more
    running.advance(RECORD_TTL - 1)
    assert track_get(conn, item["jid"])["percent"] == 5
    running.advance(1)
    assert track_get(conn, item["jid"])["state"] == "unknown"
    # The job is still queued; its FETCH starts a new record.
    assert fetch(conn)["jid"] == item["jid"]
    assert track_get(conn, item["jid"]) == {
        "jid": item["jid"],
        "state": "working",
        "updated_at": format_ts(running.clock.now()),
    }


def test_null_percent_and_desc_keep_the_stored_values(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = start(serve)
    conn = connect(running)
    item = job(custom={"track": 1})
    conn.json_command("PUSH", item)
    assert track_set(conn, jid=item["jid"], percent=10, desc="one") == OK
    assert track_set(conn, jid=item["jid"], percent=None, desc=None) == OK
    assert track_set(conn, jid=item["jid"], percent=20) == OK
    record = track_get(conn, item["jid"])
    assert (record["percent"], record["desc"]) == (20, "one")


def test_reserve_until_extends_any_reservation_never_shortens(
    serve: Callable[..., Running],
    connect: Connect,
) -> None:
    running = start(serve)
    conn = connect(running)
    tracked, plain = job(custom={"track": 1}, reserve_for=60), job(reserve_for=60)
    for item in (tracked, plain):
        conn.json_command("PUSH", item)
        fetch(conn)
    later = format_ts(running.clock.now() + 600)
    earlier = format_ts(running.clock.now() + 10)
    for item in (tracked, plain):
        assert track_set(conn, jid=item["jid"], reserve_until=later) == OK
        assert track_set(conn, jid=item["jid"], reserve_until=earlier) == OK  # no effect
    running.advance(300)
    running.call(running.thread.server.manager.reap_reservations)  # type: ignore[union-attr]
    for item in (tracked, plain):
        assert conn.json_command("ACK", {"jid": item["jid"]}) == OK
    assert running.set_jobs(SortedSet.RETRIES) == []
    assert track_get(conn, tracked["jid"])["state"] == "success"
    assert track_get(conn, plain["jid"])["state"] == "unknown"  # extended, never tracked


def test_reserve_until_for_a_job_no_longer_reserved_changes_nothing(
    serve: Callable[..., Running],
    connect: Connect,
) -> None:
    running = start(serve)
    conn = connect(running)
    item = job(custom={"track": 1})
    conn.json_command("PUSH", item)
    later = format_ts(running.clock.now() + 600)
    assert track_set(conn, jid=item["jid"], reserve_until=later, percent=3) == OK
    assert track_get(conn, item["jid"])["percent"] == 3
    assert fetch(conn)["jid"] == item["jid"]  # still queued, never reserved by the SET


def _error(reply: object) -> str:
    assert isinstance(reply, ErrorReply), reply
    return f"{reply.code} {reply.message}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"TRACK SET {}", "ERR TRACK SET needs a jid"),
        (b'TRACK SET {"jid":""}', "ERR TRACK SET needs a jid"),
        (b'TRACK SET {"percent":5}', "ERR TRACK SET needs a jid"),
        (b"TRACK SET [1]", "ERR TRACK SET needs a JSON object"),
        (b"TRACK SET {nope", "ERR TRACK SET: invalid JSON"),
        (b'TRACK SET {"jid":"x","percent":"5"}', "ERR TRACK SET: percent must be a number"),
        (b'TRACK SET {"jid":"x","percent":101}', "ERR TRACK SET: percent must be a whole"),
        (b'TRACK SET {"jid":"x","desc":7}', "ERR TRACK SET: desc must be a string"),
        (b'TRACK SET {"jid":"x","reserve_until":"soon"}', "ERR TRACK SET: reserve_until 'soon'"),
        (b'TRACK SET {"jid":"x","colour":"red"}', "ERR TRACK SET: unknown key(s) colour"),
        (b'TRACK SET {"jid":"nobody","percent":5}', "ERR TRACK SET: unknown jid nobody"),
        (b"TRACK GET", "ERR TRACK GET needs a jid"),
        (b"TRACK", "ERR unknown TRACK subcommand ''"),
        (b"TRACK PUT x", "ERR unknown TRACK subcommand 'PUT'"),
    ],
)
def test_bad_track_commands_are_clear_errors(
    serve: Callable[..., Running], connect: Connect, line: bytes, expected: str
) -> None:
    running = start(serve)
    conn = connect(running)
    assert _error(conn.call(line + b"\r\n")).startswith(expected)
    assert conn.command("INFO") is not None  # the connection goes on


def test_a_one_megabyte_desc_is_refused_and_nothing_is_stored(
    serve: Callable[..., Running],
    connect: Connect,
) -> None:
    running = start(serve)
    conn = connect(running)
    item = job(custom={"track": 1}, reserve_for=60)
    conn.json_command("PUSH", item)
    fetch(conn)
    huge = "x" * (1 << 20)
    later = format_ts(running.clock.now() + 600)
    reply = track_set(conn, jid=item["jid"], percent=50, desc=huge, reserve_until=later)
    assert _error(reply) == (
        f"ERR TRACK SET: desc is {1 << 20} bytes; at most {MAX_DESC_BYTES} are kept"
    )
    assert "percent" not in track_get(conn, item["jid"])
    running.advance(61)  # the reservation was not extended either
    running.wait_for(lambda: track_get(conn, item["jid"])["state"] == "failed", "the reaper")
    assert track_set(conn, jid=item["jid"], desc="x" * MAX_DESC_BYTES) == OK


def test_without_the_plugin_track_is_the_oss_error(
    serve: Callable[..., Running], connect: Connect
) -> None:
    running = serve()
    conn = connect(running)
    assert _error(conn.command("TRACK", "GET", "x")) == (
        "ERR tracking subsystem is only available in Faktory Enterprise"
    )


def test_info_says_enterprise(serve: Callable[..., Running], connect: Connect) -> None:
    conn = connect(start(serve))
    reply = conn.command("INFO")
    assert isinstance(reply, Bulk)
    assert reply.data is not None
    assert json.loads(reply.data)["server"]["description"] == "Faktory Enterprise"
