"""BATCH over real sockets on both stores, with the exact lines the Go client sends
(enterprise.md §13: contribsys/faktory client/batch.go) and the exact bytes back."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from .conftest import Running, ack, fail, fetch, job, new, push, raw, status

GO_CALLBACK = {
    "jid": "cbjid000000000000000aaaa",
    "queue": "default",
    "jobtype": "Done",
    "args": [],
    "retry": 25,
    "created_at": "2026-01-01T00:00:00Z",
}


def go_new(**fields: object) -> bytes:
    """BatchNew: json.Marshal of faktory.Batch (bid always sent, as "")."""
    body = {"bid": "", "parent_bid": "", "description": "", **fields}
    return b"BATCH NEW " + json.dumps(body, separators=(",", ":")).encode() + b"\r\n"


def test_go_client_flow(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    reply = raw(conn, go_new(description="Import", success=GO_CALLBACK))
    assert re.fullmatch(rb"\$16\r\nb-[A-Za-z0-9_-]{14}\r\n", reply), reply
    bid = reply[5:-2].decode()
    member = job(custom={"bid": bid})
    assert push(conn, member) == b"+OK\r\n"
    assert raw(conn, f"BATCH COMMIT {bid}\r\n".encode()) == b"+OK\r\n"
    st = status(conn, bid)
    assert list(st) == [
        "bid", "description", "created_at", "total", "pending", "failed", "complete_st",
        "success_st",
    ]  # fmt: skip
    assert (st["bid"], st["description"], st["total"], st["pending"]) == (bid, "Import", 1, 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", st["created_at"])
    got = fetch(conn)
    assert got is not None
    assert got["jid"] == member["jid"]
    ack(conn, member["jid"])
    callback = fetch(conn)
    assert callback is not None
    assert callback["jid"] == GO_CALLBACK["jid"]
    assert callback["custom"] == {"_bid": bid, "_cb": "success"}
    assert status(conn, bid)["success_st"] == "1"
    ack(conn, callback["jid"])
    assert status(conn, bid)["success_st"] == "2"
    assert raw(conn, f"BATCH OPEN {bid}\r\n".encode()) == f"$16\r\n{bid}\r\n".encode()


def test_complete_then_success_after_complete_acked(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"complete": {"jobtype": "C"}, "success": {"jobtype": "S"}})
    members = [job(custom={"bid": bid}) for _ in range(2)]
    for member in members:
        assert push(conn, member) == b"+OK\r\n"
    raw(conn, f"BATCH COMMIT {bid}\r\n".encode())
    for _ in members:
        got = fetch(conn)
        assert got is not None
        ack(conn, got["jid"])
    st = status(conn, bid)
    assert (st["pending"], st["complete_st"], st["success_st"]) == (0, "1", "")
    complete = fetch(conn)
    assert complete is not None
    assert complete["jobtype"] == "C"
    assert complete["jid"] == f"{bid}-complete"
    assert server.queued() == []
    ack(conn, complete["jid"])
    st = status(conn, bid)
    assert (st["complete_st"], st["success_st"]) == ("2", "1")
    success = fetch(conn)
    assert success is not None
    assert success["custom"]["_cb"] == "success"


def test_failed_member_fires_complete_not_success(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"complete": {"jobtype": "C"}, "success": {"jobtype": "S"}})
    push(conn, job(custom={"bid": bid}, retry=0))
    raw(conn, f"BATCH COMMIT {bid}\r\n".encode())
    got = fetch(conn)
    assert got is not None
    fail(conn, got["jid"])
    st = status(conn, bid)
    assert (st["pending"], st["failed"], st["complete_st"]) == (0, 1, "1")
    complete = fetch(conn)
    assert complete is not None
    ack(conn, complete["jid"])
    assert status(conn, bid)["success_st"] == ""
    assert server.queued() == []


def test_retry_then_ack_counts_towards_success(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"success": {"jobtype": "S"}})
    member = job(custom={"bid": bid})
    push(conn, member)
    raw(conn, f"BATCH COMMIT {bid}\r\n".encode())
    got = fetch(conn)
    assert got is not None
    fail(conn, member["jid"])
    assert status(conn, bid)["failed"] == 1
    raw(conn, b"MUTATE " + json.dumps({"cmd": "requeue", "target": "retries",
        "filter": {"jids": [member["jid"]]}}).encode() + b"\r\n")  # fmt: skip
    again = fetch(conn)
    assert again is not None
    assert again["jid"] == member["jid"]
    ack(conn, member["jid"])
    st = status(conn, bid)
    assert (st["failed"], st["success_st"]) == (0, "1")


def test_empty_batch_fires_on_commit(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"success": {"jobtype": "S"}})
    assert status(conn, bid)["success_st"] == ""
    raw(conn, f"BATCH COMMIT {bid}\r\n".encode())
    assert status(conn, bid)["success_st"] == "1"
    assert raw(conn, f"BATCH COMMIT {bid}\r\n".encode()) == b"+OK\r\n"
    got = fetch(conn)
    assert got is not None
    assert got["custom"]["_bid"] == bid
    assert server.queued() == []


def test_callbacks_wait_for_commit(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"success": {"jobtype": "S"}})
    member = job(custom={"bid": bid})
    push(conn, member)
    got = fetch(conn)
    assert got is not None
    ack(conn, member["jid"])
    assert status(conn, bid)["success_st"] == ""
    assert server.queued() == []
    raw(conn, f"BATCH COMMIT {bid}\r\n".encode())
    assert status(conn, bid)["success_st"] == "1"


def test_double_ack_counts_once(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"success": {"jobtype": "S"}})
    members = [job(custom={"bid": bid}) for _ in range(2)]
    for member in members:
        push(conn, member)
    raw(conn, f"BATCH COMMIT {bid}\r\n".encode())
    first = fetch(conn)
    assert first is not None
    ack(conn, first["jid"])
    ack(conn, first["jid"])  # no reservation: no middleware (Faktory's rule)
    assert status(conn, bid)["pending"] == 1


def test_nested_parent_waits_for_child_callback(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    parent = new(conn, {"success": {"jobtype": "ParentDone"}})
    child = new(conn, {"parent_bid": parent, "success": {"jobtype": "ChildDone"}})
    parent_member, child_member = job(custom={"bid": parent}), job(custom={"bid": child})
    push(conn, parent_member)
    push(conn, child_member)
    raw(conn, f"BATCH COMMIT {child}\r\n".encode())
    raw(conn, f"BATCH COMMIT {parent}\r\n".encode())
    st = status(conn, child)
    assert (st["parent_bid"], st["total"]) == (parent, 1)
    assert status(conn, parent)["total"] == 1
    for _ in range(2):
        got = fetch(conn)
        assert got is not None
        ack(conn, got["jid"])
    child_cb = fetch(conn)
    assert child_cb is not None
    assert child_cb["jobtype"] == "ChildDone"
    assert child_cb["custom"] == {"_bid": child, "_cb": "success", "_pbid": parent}
    assert server.queued() == []
    assert status(conn, parent)["success_st"] == ""
    ack(conn, child_cb["jid"])
    parent_cb = fetch(conn)
    assert parent_cb is not None
    assert parent_cb["jobtype"] == "ParentDone"
    assert "_pbid" not in parent_cb["custom"]


def test_reopen_after_callbacks_counts_but_does_not_refire(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"complete": {"jobtype": "C"}})
    raw(conn, f"BATCH COMMIT {bid}\r\n".encode())
    assert status(conn, bid)["complete_st"] == "1"
    assert raw(conn, f"BATCH OPEN {bid}\r\n".encode()) == f"$16\r\n{bid}\r\n".encode()
    push(conn, job(custom={"bid": bid}))
    push(conn, job(custom={"bid": bid}))
    assert raw(conn, f"BATCH COMMIT {bid}\r\n".encode()) == b"+OK\r\n"
    st = status(conn, bid)
    assert (st["total"], st["pending"], st["complete_st"]) == (2, 2, "1")
    assert sorted(j["jobtype"] for j in server.queued()) == ["C", "Member", "Member"]


def test_uncommitted_batch_expires_after_30_minutes(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"success": {"jobtype": "S"}})
    server.advance(29 * 60)
    assert status(conn, bid)["total"] == 0
    server.advance(61)
    assert raw(conn, f"BATCH STATUS {bid}\r\n".encode()) == f"-ERR No such batch {bid}\r\n".encode()
    assert push(conn, job(custom={"bid": bid})) == f"-ERR No such batch {bid}\r\n".encode()


def test_finished_batch_readable_for_seven_days(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"success": {"jobtype": "S"}})
    raw(conn, f"BATCH COMMIT {bid}\r\n".encode())
    server.advance(6 * 24 * 3600)
    assert status(conn, bid)["success_st"] == "1"
    server.advance(24 * 3600 + 60)
    assert raw(conn, f"BATCH STATUS {bid}\r\n".encode()).startswith(b"-ERR No such batch")


def test_reservation_expiry_counts_as_failure(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"complete": {"jobtype": "C"}})
    push(conn, job(custom={"bid": bid}, reserve_for=60))
    raw(conn, f"BATCH COMMIT {bid}\r\n".encode())
    assert fetch(conn) is not None
    server.advance(120)

    def expired() -> bool:
        return status(conn, bid)["failed"] == 1

    from .conftest import wait

    wait(expired)
    assert status(conn, bid)["complete_st"] == "1"
