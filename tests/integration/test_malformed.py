"""Malformed input: each line gets its exact error and the connection carries on; nothing
crashes the server (reference §1.1, §1.3, §4.3; decisions.md)."""

from __future__ import annotations

import json
import socket

import pytest

from faktory_core.protocol import ErrorReply
from tests.integration.conftest import OK, err, make_job, wait_until

JOB = json.dumps(make_job(jid="0123456789abcdef")).encode()
QUEUE_RULE = r"queue names must match \A[a-zA-Z0-9._-]+\z"


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def job_with(**fields) -> bytes:
    return json.dumps({"jid": "0123456789abcdef", "jobtype": "T", "args": [], **fields}).encode()


# (line sent, exact reply) -- the reply is an ErrorReply, or a str prefix of "CODE message".
CASES = [
    pytest.param(b"NOPE\r\n", err("unknown command NOPE"), id="unknown-verb"),
    pytest.param(b"NOPE with args\r\n", err("unknown command NOPE"), id="unknown-verb-args"),
    pytest.param(b"push " + JOB + b"\r\n", err("unknown command push"), id="lowercase-push"),
    pytest.param(b"\r\n", err("unknown command "), id="empty-line"),
    pytest.param(b"\n", err("unknown command "), id="empty-line-lf"),
    pytest.param(b" PUSH\r\n", err("unknown command "), id="leading-space"),
    pytest.param(b"PUSH\r\n", err("internal error"), id="push-no-payload"),
    pytest.param(b"PUSHB\r\n", err("internal error"), id="pushb-no-payload"),
    pytest.param(b"PUSH \r\n", "ERR invalid JSON: ", id="push-empty-payload"),
    pytest.param(b"PUSH not json\r\n", "ERR invalid JSON: ", id="push-not-json"),
    pytest.param(b"PUSH [" + JOB + b"]\r\n", "ERR invalid JSON: ", id="push-array"),
    pytest.param(b"PUSH 42\r\n", "ERR invalid JSON: ", id="push-number"),
    pytest.param(b"PUSH " + job_with(retry=3.0) + b"\r\n", "ERR invalid JSON: ", id="retry-3.0"),
    pytest.param(b"PUSH " + job_with(retry="3") + b"\r\n", "ERR invalid JSON: ", id="retry-str"),
    pytest.param(
        b"PUSH " + job_with(reserve_for=1.5) + b"\r\n", "ERR invalid JSON: ", id="reserve-float"
    ),
    pytest.param(b"PUSH " + job_with(args={}) + b"\r\n", "ERR invalid JSON: ", id="args-object"),
    pytest.param(b"PUSH " + job_with(jid=12345678) + b"\r\n", "ERR invalid JSON: ", id="jid-int"),
    pytest.param(
        b'PUSH {"jid":"0123456789abcdef","jobtype":"T","args":[NaN]}\r\n',
        "ERR invalid JSON: ",
        id="nan",
    ),
    pytest.param(
        b'PUSH {"jid":"0123456789abcdef","jobtype":"T","args":[Infinity]}\r\n',
        "ERR invalid JSON: ",
        id="infinity",
    ),
    pytest.param(
        b'PUSH {"jid":"0123456789abcdef","jobtype":"T","args":[1e999]}\r\n',
        "ERR invalid JSON: ",
        id="overflow",
    ),
    pytest.param(
        b'PUSH {"jid":"0123456789abcdef","jobtype":"T","args":["\\ud800"]}\r\n',
        "ERR invalid JSON: ",
        id="lone-surrogate",
    ),
    pytest.param(
        b'PUSH {"jid":"0123456789abcdef","jobtype":"T","args":' + deep(10000) + b"}\r\n",
        "ERR invalid JSON: ",
        id="nesting-bomb",
    ),
    pytest.param(
        b'PUSH {"jid":"0123456789abcdef","jobtype":"T","args":' + deep(150) + b"}\r\n",
        "ERR invalid JSON: ",
        id="nesting-150",
    ),
    pytest.param(
        b'PUSH {"jid":"0123456789abcdef","jobtype":"T","args":["\xff\xfe"]}\r\n',
        "ERR invalid JSON: ",
        id="invalid-utf8",
    ),
    pytest.param(b"PUSHB " + JOB + b"\r\n", "ERR invalid JSON: ", id="pushb-object"),
    pytest.param(b"PUSHB [1]\r\n", "ERR invalid JSON: ", id="pushb-not-jobs"),
    pytest.param(b"ACK\r\n", err("internal error"), id="bare-ack"),
    pytest.param(b"ACK nope\r\n", err("invalid ACK nope"), id="ack-bad-json"),
    pytest.param(b'ACK {"jid":5}\r\n', err('invalid ACK {"jid":5}'), id="ack-jid-int"),
    pytest.param(b"ACK {}\r\n", err("invalid ACK {}"), id="ack-no-jid"),
    pytest.param(b'ACK ["x"]\r\n', err('invalid ACK ["x"]'), id="ack-array"),
    pytest.param(
        b'ACK {"jid":"0123456789abcdef","n":1}\r\n',
        err('invalid ACK {"jid":"0123456789abcdef","n":1}'),
        id="ack-non-string-value",
    ),
    pytest.param(b"FAIL\r\n", err("internal error"), id="bare-fail"),
    pytest.param(b"FAIL {oops\r\n", err("invalid FAIL {oops"), id="fail-bad-json"),
    pytest.param(b'FAIL {"jid":7}\r\n', err('invalid FAIL {"jid":7}'), id="fail-jid-int"),
    pytest.param(b"BEAT\r\n", err("internal error"), id="bare-beat"),
    pytest.param(b"BEAT {oops\r\n", err("invalid BEAT {oops"), id="beat-bad-json"),
    pytest.param(
        b'BEAT {"wid":"w","rss_kb":"big"}\r\n',
        err('invalid BEAT {"wid":"w","rss_kb":"big"}'),
        id="beat-rss-string",
    ),
    pytest.param(b"MUTATE\r\n", err("invalid format"), id="mutate-no-payload"),
    pytest.param(
        b'MUTATE {"cmd":"kill","target":"working"}\r\n',
        err("invalid target for mutation command"),
        id="mutate-bad-target",
    ),
    pytest.param(
        b'MUTATE {"cmd":"kill","target":""}\r\n',
        err("invalid target for mutation command"),
        id="mutate-empty-target",
    ),
    pytest.param(
        b'MUTATE {"cmd":"explode","target":"dead"}\r\n',
        err("unknown mutate operation"),
        id="mutate-bad-cmd",
    ),
    pytest.param(b"MUTATE {oops\r\n", "ERR ", id="mutate-bad-json"),
    pytest.param(
        b"BATCH NEW {}\r\n",
        err("batch subsystem is only available in Faktory Enterprise"),
        id="batch",
    ),
    pytest.param(
        b"TRACK GET abc\r\n",
        err("tracking subsystem is only available in Faktory Enterprise"),
        id="track",
    ),
    pytest.param(
        b"PUSH " + job_with(queue="c&c") + b"\r\n",
        err(f'cannot get "c&c" queue: {QUEUE_RULE}'),
        id="bad-queue",
    ),
    pytest.param(
        b"PUSH " + job_with(queue="user@example.com", at="2999-01-01T00:00:00Z") + b"\r\n",
        err(f'cannot get "user@example.com" queue: {QUEUE_RULE}'),
        id="bad-queue-future-at",
    ),
    pytest.param(
        b"PUSH " + job_with(queue="a b") + b"\r\n",
        err(f'cannot get "a b" queue: {QUEUE_RULE}'),
        id="bad-queue-space",
    ),
]


def check(reply, expected) -> None:
    if isinstance(expected, ErrorReply):
        assert reply == expected
    else:
        assert isinstance(reply, ErrorReply), reply
        assert f"{reply.code} {reply.message}".startswith(expected), reply
        assert len(f"{reply.code} {reply.message}") > len(expected) or expected == "ERR "


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_malformed_line_gets_its_error_and_the_connection_carries_on(
    server, connect, line, expected
):
    conn = connect(server)
    check(conn.call(line), expected)
    good = make_job()
    conn.push(good)
    assert conn.fetch("default")["jid"] == good["jid"]
    info = conn.info()["faktory"]
    assert info["sets"]["scheduled"] == 0  # nothing bad slipped in
    assert info["total_queues"] == 1


def test_everything_on_one_connection_then_info(server, connect):
    """The whole gauntlet on one connection, one reply each; the server never dies."""
    conn = connect(server)
    for case in CASES:
        line, expected = case.values
        check(conn.call(line), expected)
    info = conn.info()
    assert info["server"]["connections"] == 1
    assert info["faktory"]["total_enqueued"] == 0
    assert info["faktory"]["sets"]["scheduled"] == 0


def test_huge_but_legal_payload(server, connect):
    conn = connect(server)
    blob = "x" * (1024 * 1024)
    job = make_job(args=[blob, {"n": 12345678901234567890}])
    conn.push(job)
    fetched = conn.fetch("default")
    assert fetched["args"] == job["args"]


def test_nesting_within_the_bound_is_fine(server, connect):
    conn = connect(server)
    conn.call(b'PUSH {"jid":"0123456789abcdef","jobtype":"T","args":' + deep(50) + b"}\r\n")
    assert conn.fetch("default")["args"] == json.loads(deep(50))


def test_line_over_the_cap_is_refused_and_closed(make_server, connect):
    srv = make_server(max_line=1024)
    conn = connect(srv)
    other = connect(srv)
    line = b"PUSH " + job_with(args=["y" * 1500]) + b"\r\n"
    reply = conn.call(line)
    assert isinstance(reply, ErrorReply)
    assert reply.code == "ERR"
    assert reply.message.startswith("line too long")
    assert "1024" in reply.message
    conn.expect_closed()
    # Lines under the cap still work, on another connection.
    other.push(make_job(args=["z" * 800]))
    assert other.info()["faktory"]["total_enqueued"] == 1
    wait_until(lambda: other.info()["server"]["connections"] == 1, what="connection count")


def test_line_over_the_cap_without_newline_is_refused(make_server, connect):
    srv = make_server(max_line=1024)
    conn = connect(srv)
    conn.send(b"PUSH " + b"y" * 1100)  # no terminator yet
    reply = conn.read()
    assert isinstance(reply, ErrorReply)
    assert reply.message.startswith("line too long")
    conn.expect_closed()


def test_drop_in_the_middle_of_a_line(server, connect):
    watcher = connect(server)
    for _ in range(3):
        dropper = connect(server)
        dropper.send(b'PUSH {"jid":"0123456789abcdef","jobty')
        dropper.close()
    wait_until(lambda: watcher.info()["server"]["connections"] == 1, what="connection count")
    assert watcher.info()["faktory"]["total_enqueued"] == 0
    fresh = connect(server)
    fresh.push(make_job())
    assert fresh.info()["server"]["connections"] == 2


def test_drop_with_rst_in_the_middle_of_a_line(server, connect):
    watcher = connect(server)
    dropper = connect(server)
    dropper.send(b"PUSH {")
    dropper.sock.setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
    )
    dropper.close()  # linger 0: the peer sees a reset
    wait_until(lambda: watcher.info()["server"]["connections"] == 1, what="connection count")
    assert connect(server).command("FLUSH") == OK


def test_drop_right_after_fetch(rt_server, connect):
    watcher = connect(rt_server)
    for _ in range(3):
        dropper = connect(rt_server)
        dropper.send(b"FETCH default\r\n")
        dropper.close()
    wait_until(lambda: watcher.info()["server"]["connections"] == 1, what="connection count")
    # A job pushed now is not lost to the dead connections' FETCHes.
    job = make_job()
    watcher.push(job)
    assert watcher.fetch("default")["jid"] == job["jid"]
    wait_until(lambda: rt_server.busy_connections() == 0, what="no command in progress")


def test_drop_after_fetch_on_the_fake_clock(server, connect):
    watcher = connect(server)
    dropper = connect(server)
    dropper.send(b"FETCH default\r\n")
    wait_until(lambda: server.busy_connections() == 1, what="FETCH to block")
    dropper.close()
    server.advance(3)  # the FETCH times out and finds its client gone
    wait_until(lambda: watcher.info()["server"]["connections"] == 1, what="connection count")
    assert watcher.command("INFO") is not None
