"""The HI/HELLO handshake over real TCP (reference §2)."""

from __future__ import annotations

import json
import re

import pytest

from faktory_core.protocol import hash_password, parse_hi
from tests.integration.conftest import OK, err

PASSWORD = "secret"


def hello_line(**fields) -> bytes:
    return b"HELLO " + json.dumps(fields).encode() + b"\r\n"


@pytest.fixture
def secured(make_server):
    return make_server(password=PASSWORD)


def test_greeting_without_password(server, connect_raw):
    conn = connect_raw(server)
    assert conn.read_raw() == b'+HI {"v":2}\r\n'
    assert conn.call_raw(hello_line(v=2)) == b"+OK\r\n"
    assert conn.info()["server"]["connections"] == 1


def test_greeting_with_password_carries_iterations_and_salt(secured, connect_raw):
    conn = connect_raw(secured)
    raw = conn.read_raw()
    match = re.fullmatch(rb'\+HI \{"v":2,"i":(\d+),"s":"([0-9a-f]{1,16})"\}\r\n', raw)
    assert match, raw
    assert 4000 <= int(match[1]) <= 8095
    # Every connection gets its own salt.
    other = connect_raw(secured)
    assert parse_hi(other.read()).salt != match[2].decode()


def test_correct_password_is_accepted(secured, connect):
    conn = connect(secured, password=PASSWORD, wid="w-pw")
    assert conn.info()["faktory"]["tasks"]["Workers"]["size"] == 1


def _challenge(conn):
    hi = parse_hi(conn.read())
    assert hi.salt is not None
    assert hi.iterations is not None
    return hi.iterations, hi.salt


@pytest.mark.parametrize(
    "make_hash",
    [
        pytest.param(lambda i, s: hash_password("wrong", s, i), id="wrong-password"),
        pytest.param(lambda i, s: hash_password(PASSWORD, s, i).upper(), id="uppercase-hex"),
        pytest.param(lambda i, s: hash_password(PASSWORD, s, 1), id="v2-with-one-iteration"),
        pytest.param(lambda i, s: "", id="empty"),
    ],
)
def test_wrong_password_is_refused_and_closed(secured, connect_raw, make_hash):
    conn = connect_raw(secured)
    iterations, salt = _challenge(conn)
    line = hello_line(v=2, pwdhash=make_hash(iterations, salt), wid="w-bad")
    assert conn.call_raw(line) == b"-ERR Invalid password\r\n"
    conn.expect_closed()


def test_missing_password_hash_is_refused(secured, connect_raw):
    conn = connect_raw(secured)
    conn.read()
    assert conn.call(hello_line(v=2)) == err("Invalid password")
    conn.expect_closed()


@pytest.mark.parametrize("version", [None, 0, 1])
def test_v1_client_hashes_once(secured, connect_raw, version):
    conn = connect_raw(secured)
    _, salt = _challenge(conn)
    fields = {"pwdhash": hash_password(PASSWORD, salt, 1)}
    if version is not None:
        fields["v"] = version
    assert conn.call(hello_line(**fields)) == OK
    assert conn.info()["server"]["connections"] == 1


def test_v1_client_with_the_full_iteration_hash_is_refused(secured, connect_raw):
    conn = connect_raw(secured)
    iterations, salt = _challenge(conn)
    assert conn.call(hello_line(v=1, pwdhash=hash_password(PASSWORD, salt, iterations))) == err(
        "Invalid password"
    )
    conn.expect_closed()


@pytest.mark.parametrize(
    "line",
    [
        b"INFO\r\n",
        b"HELLO{}\r\n",
        b"hello {}\r\n",
        b"HELLO  {}\r\n",
        b"PUSH {}\r\n",
        b"\r\n",
        # HELLO with bad JSON
        b"HELLO {bad json\r\n",
        b"HELLO {}garbage\r\n",
        b'HELLO {"v":300}\r\n',
        b'HELLO {"v":"2"}\r\n',
        b'HELLO {"wid":5}\r\n',
        b'HELLO {"labels":"a"}\r\n',
        b'HELLO {"pid":"1"}\r\n',
        b"HELLO {\xff}\r\n",
    ],
)
def test_a_first_line_that_is_not_a_valid_hello_closes_silently(server, connect_raw, line):
    conn = connect_raw(server)
    conn.read()
    conn.send(line)
    conn.expect_closed()


def test_no_hello_within_the_deadline(server, connect_raw):
    silent = connect_raw(server)
    silent.read()
    partial = connect_raw(server)
    partial.read()
    partial.send(b'HELLO {"v":2')  # never finished
    silent.expect_closed()
    partial.expect_closed()


def test_second_hello_is_an_unknown_command(server, connect):
    conn = connect(server)
    assert conn.call(hello_line(v=2)) == err("unknown command HELLO")
    assert conn.call(hello_line(v=2, wid="w-late")) == err("unknown command HELLO")
    assert conn.info()["faktory"]["tasks"]["Workers"]["size"] == 0
