"""Bad BATCH input on both stores: a clear -ERR each time, and nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import Running, job, new, push, raw

SUCCESS = {"jobtype": "S"}


def listed(server: Running) -> list[dict[str, Any]]:
    service = server.plugin.service(server.thread.server)  # type: ignore[arg-type]
    assert service is not None
    found: list[dict[str, Any]] = server.thread.call(
        service.batches.recent, server.clock.now(), 100
    )
    return found


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"BATCH\r\n", b"-ERR invalid BATCH command\r\n"),
        (b"BATCH NEW\r\n", b"-ERR invalid BATCH command\r\n"),
        (b"BATCH FROB b-1\r\n", b"-ERR invalid BATCH operation FROB\r\n"),
        (b"BATCH new {}\r\n", b"-ERR invalid BATCH operation new\r\n"),
        (b"BATCH OPEN b-nope\r\n", b"-ERR No such batch b-nope\r\n"),
        (b"BATCH COMMIT b-nope\r\n", b"-ERR No such batch b-nope\r\n"),
        (b"BATCH STATUS b-nope\r\n", b"-ERR No such batch b-nope\r\n"),
        (
            b"BATCH NEW {}\r\n",
            b"-ERR success and/or a complete job callback must be included in batch creation\r\n",
        ),
        (
            b'BATCH NEW {"description":null,"success":null,"complete":null}\r\n',
            b"-ERR success and/or a complete job callback must be included in batch creation\r\n",
        ),
        (b"BATCH NEW []\r\n", b"-ERR invalid JSON data: the batch must be a JSON object\r\n"),
        (
            b'BATCH NEW {"bid":5,"success":{"jobtype":"S"}}\r\n',
            b"-ERR invalid JSON data: bid must be a string\r\n",
        ),
        (
            b'BATCH NEW {"description":7,"success":{"jobtype":"S"}}\r\n',
            b"-ERR invalid JSON data: description must be a string\r\n",
        ),
        (
            b'BATCH NEW {"parent_bid":"b-gone","success":{"jobtype":"S"}}\r\n',
            b"-ERR No such batch b-gone\r\n",
        ),
        (
            b'BATCH NEW {"success":"SomeJob"}\r\n',
            b"-ERR invalid success callback: not a job object\r\n",
        ),
        (
            b'BATCH NEW {"complete":{"args":[]}}\r\n',
            b"-ERR invalid complete callback: jobs must have a jobtype parameter\r\n",
        ),
        (
            b'BATCH NEW {"success":{"jobtype":"S","queue":"bad queue!"}}\r\n',
            b"-ERR invalid success callback: bad queue name 'bad queue!'\r\n",
        ),
    ],
)
def test_refused(serve: Callable[..., Running], line: bytes, reply: bytes) -> None:
    server = serve()
    conn = server.conn()
    assert raw(conn, line) == reply
    assert listed(server) == []
    assert raw(conn, b"INFO\r\n").startswith(b"$")  # the connection goes on


def test_malformed_json(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    reply = raw(conn, b'BATCH NEW {"success": {\r\n')
    assert reply.startswith(b"-ERR invalid JSON data: ")
    assert listed(server) == []


def test_huge_description(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    body = {"description": "x" * 5000, "success": SUCCESS}
    reply = raw(conn, b"BATCH NEW " + json.dumps(body).encode() + b"\r\n")
    assert reply == b"-ERR description is 5000 bytes, longer than the 4096 allowed\r\n"
    assert listed(server) == []


def test_member_of_unknown_batch_is_not_pushed(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    assert push(conn, job(custom={"bid": "b-nope"})) == b"-ERR No such batch b-nope\r\n"
    assert push(conn, job(custom={"bid": 12})) == (
        b"-ERR invalid JSON data: custom.bid must be a string\r\n"
    )
    assert server.queued() == []


def test_commit_twice_is_ok(serve: Callable[..., Running]) -> None:
    """enterprise.md §2.4/§12.3: a second COMMIT (after OPEN, or not) answers +OK."""
    server = serve()
    conn = server.conn()
    bid = new(conn, {"success": SUCCESS})
    assert raw(conn, f"BATCH COMMIT {bid}\r\n".encode()) == b"+OK\r\n"
    assert raw(conn, f"BATCH COMMIT {bid}\r\n".encode()) == b"+OK\r\n"
    assert len(server.queued()) == 1


def test_pushb_member_errors_per_job(serve: Callable[..., Running]) -> None:
    server = serve()
    conn = server.conn()
    bid = new(conn, {"success": SUCCESS})
    good, bad = job(custom={"bid": bid}), job(custom={"bid": "b-nope"})
    reply = raw(conn, b"PUSHB " + json.dumps([good, bad]).encode() + b"\r\n")
    body = json.dumps({bad["jid"]: "No such batch b-nope"}, separators=(",", ":"))
    assert reply == f"${len(body)}\r\n{body}\r\n".encode()
    assert [j["jid"] for j in server.queued()] == [good["jid"]]
