"""Issue 13, item 1: no input and no bug met while serving one connection ends the server.

A HELLO nested 1,000 deep used to raise RecursionError out of the handshake and end the
process; every JSON the command path decodes is now bounded (jobjson.MAX_DEPTH), and anything
a connection raises is logged with the peer's address and ends that connection only.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from faktory_core.jobjson import MAX_DEPTH
from faktory_core.protocol import ErrorReply, encode_hello, parse_hi
from tests.hostile.conftest import Spawned, assert_jobs, push_jobs
from tests.integration.conftest import OK, Conn

#: Deep enough for the C scanner's RecursionError (~1,000), and far past it.
DEPTHS = (1_000, 100_000)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_nested_hello_is_closed_and_the_server_lives(
    spawn: Callable[..., Spawned], depth: int
) -> None:
    server = spawn(max_hello_line=1024 * 1024)
    jids = push_jobs(server)
    conn = Conn.connect(server.port)
    parse_hi(conn.read())
    conn.send(f'HELLO {{"v":2,"labels":{nested(depth)}}}\r\n'.encode())
    conn.expect_closed()
    conn.close()
    assert_jobs(server, jids)
    assert "Traceback" not in server.log()


COMMANDS = {
    "PUSH": "nesting deeper than 100 levels",
    "PUSHB": "nesting deeper than 100 levels",
    "MUTATE": "nesting deeper than 100 levels",
    "ACK": "invalid ACK",
    "FAIL": "invalid FAIL",
    "BEAT": "invalid BEAT",
}


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_nesting_bombs_in_commands_are_answered(spawn: Callable[..., Spawned], verb: str) -> None:
    server = spawn()
    jids = push_jobs(server)
    conn = server.connect(wid="w1")
    for depth in (*DEPTHS, MAX_DEPTH + 1):
        bomb = '{"jid":' + nested(depth) + "}"
        reply = conn.call(f"{verb} {bomb}\r\n".encode())
        assert isinstance(reply, ErrorReply), reply
        assert COMMANDS[verb] in reply.message
        assert conn.command("INFO") is not None  # the same connection goes on
    # Just under the bound is fine JSON (a job whose args nest 99 deep is pushed).
    job = {"jid": "a-deep-job", "jobtype": "Deep", "args": json.loads(nested(MAX_DEPTH - 1))}
    assert conn.json_command("PUSH", job) == OK
    jids.add(job["jid"])
    conn.close()
    assert_jobs(server, jids)


def test_a_bug_in_the_handshake_ends_that_connection_only(spawn: Callable[..., Spawned]) -> None:
    server = spawn(faults={"worker_connect": "bug"})
    jids = push_jobs(server)
    conn = Conn.connect(server.port)
    peer = conn.sock.getsockname()
    hi = parse_hi(conn.read())
    reply = conn.call(encode_hello(hi, wid="faulty-1"))
    assert reply == ErrorReply("ERR", "internal error")
    conn.expect_closed()
    conn.close()
    assert_jobs(server, jids)
    log = server.log()
    assert f"connection from {peer[0]}:{peer[1]} failed; closing it" in log
    assert "RuntimeError: a bug in worker_connect" in log


def test_a_bug_when_a_worker_leaves_is_logged(spawn: Callable[..., Spawned]) -> None:
    server = spawn(faults={"worker_disconnect": "bug"})
    jids = push_jobs(server)
    conn = server.connect(wid="faulty-2")
    assert conn.command("INFO") is not None
    peer = conn.sock.getsockname()
    conn.close()
    assert_jobs(server, jids)
    assert f"could not unregister worker faulty-2 (connection from {peer[0]}:{peer[1]})" in (
        server.log()
    )
