"""The server half of the sans-IO engine: handshake states, HELLO parsing, command lines.

Every parser case is fed whole, one byte at a time, and with trailing data, and must give the
same events (h11's test_io.py style).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import attrs
import pytest

from faktory_core.protocol import (
    NEED_DATA,
    PROTOCOL_VERSION,
    Command,
    ConnectionClosed,
    Hello,
    LineTooLongEvent,
    ServerConnection,
    State,
    hash_password,
    parse_hello,
)
from faktory_core.protocol.password import MAX_ITERATIONS, MIN_ITERATIONS
from faktory_core.protocol.states import TRANSITIONS, LocalProtocolError, transition

SALT = "55104dc76695721d"
ITERATIONS = 1545
HASH_1545 = "6d877f8e5544b1f2598768f817413ab8a357afffa924dedae99eb91472d4ec30"
HASH_1 = "bda5ef54df4404655456165c27f46764614a296cdafcaffc747b7ab7cc1ea313"

TRAILING = b"TRAIL"
MODES = ("whole", "bytewise", "trailing")

Factory = Callable[[], ServerConnection]


def _ready(max_line: int = 64) -> ServerConnection:
    conn = ServerConnection(max_line=max_line)
    conn.receive_data(b'HELLO {"v":2}\r\n')
    assert conn.next_event() == Hello(version=2)
    assert conn.accept() == b"+OK\r\n"
    return conn


def _drain(conn: ServerConnection, out: list[object], on_hello: str | None) -> bool:
    """Collect events (and the bytes of accept/reject) until NEED_DATA; False once closed."""
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return True
        out.append(event)
        if isinstance(event, ConnectionClosed):
            return False
        if isinstance(event, Hello) and on_hello == "accept":
            out.append(conn.accept())
        elif isinstance(event, Hello) and on_hello == "reject":
            out.append(conn.reject())


def _events(
    factory: Factory, data: bytes, mode: str, *, eof: bool, on_hello: str | None
) -> list[object]:
    conn = factory()
    out: list[object] = []
    trailing = mode == "trailing" and data.endswith(b"\n") and not eof
    if mode == "bytewise":
        chunks = [data[i : i + 1] for i in range(len(data))]
    else:
        chunks = [data + TRAILING] if trailing else [data]
    if eof:
        chunks.append(b"")
    for chunk in chunks:
        conn.receive_data(chunk)
        if not _drain(conn, out, on_hello):
            return out
    if trailing and conn.state is State.READY:
        # The trailing bytes are still buffered, intact, and make the next command.
        conn.receive_data(b"\r\n")
        assert conn.next_event() == Command("TRAIL", None)
        assert conn.next_event() is NEED_DATA
    return out


def events_three_ways(
    data: bytes,
    factory: Factory = _ready,
    *,
    eof: bool = False,
    on_hello: str | None = "accept",
) -> list[object]:
    results = [_events(factory, data, mode, eof=eof, on_hello=on_hello) for mode in MODES]
    assert results[0] == results[1] == results[2]
    return results[0]


def _fresh() -> ServerConnection:
    return ServerConnection()


# -- greeting -----------------------------------------------------------------------------------


def test_protocol_version() -> None:
    assert PROTOCOL_VERSION == 2


def test_greeting_without_password() -> None:
    conn = ServerConnection()
    assert conn.greeting() == b'+HI {"v":2}\r\n'
    assert conn.challenge is None
    assert conn.password is None
    assert conn.state is State.AWAIT_HELLO


def test_empty_password_means_no_password() -> None:
    conn = ServerConnection(password="")
    assert conn.greeting() == b'+HI {"v":2}\r\n'
    assert conn.password is None


_HI_WITH_PASSWORD = re.compile(rb'\+HI \{"v":2,"i":([0-9]+),"s":"([0-9a-f]{1,16})"\}\r\n')


def test_greeting_with_password() -> None:
    for _ in range(200):
        conn = ServerConnection(password="secret")
        greeting = conn.greeting()
        match = _HI_WITH_PASSWORD.fullmatch(greeting)
        assert match is not None, greeting
        iterations, salt = int(match[1]), match[2].decode()
        assert MIN_ITERATIONS <= iterations <= MAX_ITERATIONS
        assert salt == "0" or not salt.startswith("0")  # Go's FormatInt: no zero padding
        assert conn.challenge == (iterations, salt)
        assert json.loads(greeting[4:]) == {"v": 2, "i": iterations, "s": salt}


def test_iteration_bounds() -> None:
    assert (MIN_ITERATIONS, MAX_ITERATIONS) == (4000, 8095)


# -- HELLO --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "hello"),
    [
        (b'HELLO {"v":2}', Hello(version=2)),
        (b"HELLO {}", Hello()),
        (b'HELLO {"v":0}', Hello()),
        (b'HELLO {"v":255}', Hello(version=255)),
        (b'HELLO { "v" : 2 }', Hello(version=2)),
        (b'HELLO {"v":2}  ', Hello(version=2)),
        (
            b'HELLO {"v":2,"wid":"w1","hostname":"box","pid":42,"labels":["a","b"],'
            b'"username":"u","pwdhash":"abc"}',
            Hello(2, "abc", "w1", "box", 42, ("a", "b"), "u"),
        ),
        (b'HELLO {"v":2,"wid":null,"pid":null,"labels":null}', Hello(version=2)),
        (b'HELLO {"v":2,"labels":[]}', Hello(version=2)),
        (b'HELLO {"v":2,"unknown":[1,{"x":2}],"priority":9}', Hello(version=2)),
        (b'HELLO {"v":1,"v":2}', Hello(version=2)),  # duplicate keys: last wins, as Go
        (b'HELLO {"hostname":"h\\u00e9"}', Hello(hostname="h\u00e9")),
    ],
)
def test_parse_hello(line: bytes, hello: Hello) -> None:
    assert parse_hello(line) == hello


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"HELLO",
        b"HELLO ",
        b"HELLO{}",
        b"HELLO  {}",
        b"hello {}",
        b" HELLO {}",
        b"HI {}",
        b"PUSH {}",
        b"HELLO []",
        b"HELLO {",
        b"HELLO {bad}",
        b'HELLO {"v":2',
        b'HELLO {"v":2} {}',
        b'HELLO {"v":2} trailing',
        b'HELLO {"v":2,}',
        b"HELLO {\xff}",
        b'HELLO {"v":256}',
        b'HELLO {"v":300}',
        b'HELLO {"v":-1}',
        b'HELLO {"v":"2"}',
        b'HELLO {"v":2.0}',
        b'HELLO {"v":2.5}',
        b'HELLO {"v":true}',
        b'HELLO {"v":[2]}',
        b'HELLO {"pwdhash":1}',
        b'HELLO {"wid":5}',
        b'HELLO {"wid":false}',
        b'HELLO {"hostname":[]}',
        b'HELLO {"pid":"1"}',
        b'HELLO {"pid":1.5}',
        b'HELLO {"pid":true}',
        b'HELLO {"labels":"a"}',
        b'HELLO {"labels":[1]}',
        b'HELLO {"labels":["a",null]}',
        b'HELLO {"labels":{}}',
        b'HELLO {"username":1}',
    ],
)
def test_bad_hello_closes_silently(line: bytes) -> None:
    assert parse_hello(line) is None
    events = events_three_ways(line + b"\r\n", _fresh)
    assert events == [ConnectionClosed("invalid HELLO")]


def test_hello_then_accept() -> None:
    data = b'HELLO {"v":2,"wid":"abc"}\r\n'
    assert events_three_ways(data, _fresh) == [Hello(version=2, wid="abc"), b"+OK\r\n"]


def test_hello_with_lf_only() -> None:
    assert events_three_ways(b'HELLO {"v":2}\n', _fresh) == [Hello(version=2), b"+OK\r\n"]


def test_hello_is_kept_and_state_moves() -> None:
    conn = ServerConnection()
    conn.receive_data(b'HELLO {"v":2,"wid":"w"}\r\n')
    hello = conn.next_event()
    assert hello == Hello(version=2, wid="w")
    assert conn.hello == hello
    assert conn.state is State.HELLO_RECEIVED
    assert conn.accept() == b"+OK\r\n"
    assert conn.state is State.READY


def test_no_events_until_the_hello_is_accepted() -> None:
    conn = ServerConnection()
    conn.receive_data(b'HELLO {"v":2}\r\nPUSH {}\r\nINFO\r\n')
    assert conn.next_event() == Hello(version=2)
    for _ in range(3):
        assert conn.next_event() is NEED_DATA
    conn.receive_data(b"FLUSH\r\n")
    assert conn.next_event() is NEED_DATA
    conn.accept()
    assert conn.next_event() == Command("PUSH", b"{}")
    assert conn.next_event() == Command("INFO", None)
    assert conn.next_event() == Command("FLUSH", None)
    assert conn.next_event() is NEED_DATA


def test_eof_while_the_hello_is_pending() -> None:
    conn = ServerConnection()
    conn.receive_data(b'HELLO {"v":2}\r\n')
    conn.receive_data(b"")
    assert conn.next_event() == Hello(version=2)
    assert conn.next_event() is NEED_DATA
    conn.accept()
    assert conn.next_event() == ConnectionClosed("end of stream")
    assert conn.state is State.CLOSED


def test_reject() -> None:
    data = b'HELLO {"v":2,"pwdhash":"nope"}\r\nPUSH {}\r\n'
    events = events_three_ways(data, _fresh, on_hello="reject")
    assert events == [
        Hello(version=2, pwdhash="nope"),
        b"-ERR Invalid password\r\n",
        ConnectionClosed(),  # the pipelined PUSH is never read
    ]
    conn = ServerConnection()
    conn.receive_data(data)
    conn.next_event()
    assert conn.reject() == b"-ERR Invalid password\r\n"
    assert conn.state is State.CLOSED
    assert conn.next_event() == ConnectionClosed()
    assert conn.next_event() == ConnectionClosed()


def test_reject_with_another_message() -> None:
    conn = ServerConnection()
    conn.receive_data(b"HELLO {}\n")
    conn.next_event()
    assert conn.reject("too many connections: 2001") == b"-ERR too many connections: 2001\r\n"


def test_eof_before_hello() -> None:
    assert events_three_ways(b"", _fresh, eof=True) == [ConnectionClosed("end of stream")]
    partial = b'HELLO {"v":2}'  # no terminator: dropped, as Go's ReadString at EOF
    assert events_three_ways(partial, _fresh, eof=True) == [ConnectionClosed("end of stream")]


def test_nothing_happens_without_data() -> None:
    conn = ServerConnection()
    assert conn.next_event() is NEED_DATA
    assert conn.state is State.AWAIT_HELLO


@pytest.mark.parametrize("method", ["accept", "reject"])
def test_accept_or_reject_without_a_hello_is_a_local_error(method: str) -> None:
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError):
        getattr(conn, method)()
    conn = _ready()
    with pytest.raises(LocalProtocolError):
        getattr(conn, method)()


# -- the password check -------------------------------------------------------------------------


def _with_vector_challenge() -> ServerConnection:
    conn = ServerConnection(password="foobar")
    conn.challenge = (ITERATIONS, SALT)
    return conn


@pytest.mark.parametrize(
    ("version", "pwdhash", "ok"),
    [
        (2, HASH_1545, True),
        (2, HASH_1545.upper(), False),  # compared on the lowercase hex string
        (2, HASH_1, False),
        (2, "", False),
        (2, HASH_1545[:-1], False),
        (2, HASH_1545 + "0", False),
        (1, HASH_1, True),  # v < 2: legacy clients hash once
        (0, HASH_1, True),
        (1, HASH_1545, False),
        (3, HASH_1545, True),
    ],
)
def test_password_ok(version: int, pwdhash: str, ok: bool) -> None:
    conn = _with_vector_challenge()
    assert conn.password_ok(Hello(version=version, pwdhash=pwdhash)) is ok


def test_a_given_challenge_is_advertised_and_checked() -> None:
    conn = ServerConnection(password="foobar", challenge=(ITERATIONS, SALT))
    assert conn.greeting() == b'+HI {"v":2,"i":1545,"s":"55104dc76695721d"}\r\n'
    assert conn.password_ok(Hello(version=2, pwdhash=HASH_1545))
    assert not conn.password_ok(Hello(version=2, pwdhash=HASH_1))


def test_password_ok_without_a_password() -> None:
    conn = ServerConnection()
    assert conn.password_ok(Hello(version=2))
    assert conn.password_ok(Hello(version=2, pwdhash="anything"))


def test_password_ok_with_the_advertised_challenge() -> None:
    conn = ServerConnection(password="s3cret")
    assert conn.challenge is not None
    iterations, salt = conn.challenge
    good = hash_password("s3cret", salt, iterations)
    assert conn.password_ok(Hello(version=2, pwdhash=good))
    assert not conn.password_ok(Hello(version=2, pwdhash=hash_password("other", salt, iterations)))


def test_password_with_odd_characters_in_pwdhash() -> None:
    conn = _with_vector_challenge()
    hello = parse_hello(b'HELLO {"v":2,"pwdhash":"\\ud800\\u00e9"}')
    assert hello is not None
    assert not conn.password_ok(hello)


# -- commands -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "events"),
    [
        (b"PUSH {}\r\n", [Command("PUSH", b"{}")]),
        (b"PUSH {}\n", [Command("PUSH", b"{}")]),
        (b"INFO\r\n", [Command("INFO", None)]),
        (b"END\n", [Command("END", None)]),
        (b"ACK\r\n", [Command("ACK", None)]),  # verb without payload
        (b"PUSH \r\n", [Command("PUSH", b"")]),  # empty payload, not None
        (b"PUSH  {}\r\n", [Command("PUSH", b" {}")]),  # only the first space splits
        (b"\r\n", [Command("", None)]),  # empty line
        (b"\n", [Command("", None)]),
        (b" \r\n", [Command("", b"")]),
        (b" PUSH\r\n", [Command("", b"PUSH")]),
        (b"push {}\r\n", [Command("push", b"{}")]),  # case preserved
        (b"FETCH a b c\r\n", [Command("FETCH", b"a b c")]),
        (b"QUEUE PAUSE *\r\n", [Command("QUEUE", b"PAUSE *")]),
        (b"PUSH a\rb\r\n", [Command("PUSH", b"a\rb")]),
        (b"PUSH x\r\r\n", [Command("PUSH", b"x\r")]),
        (b"PUSH \t{}\r\n", [Command("PUSH", b"\t{}")]),
        (
            b'PUSH {"args":["\xc3\xa9"]}\r\n',
            [Command("PUSH", b'{"args":["\xc3\xa9"]}')],
        ),
        # Invalid UTF-8: the verb is decoded with replacement, the payload kept as bytes.
        (b"\xffPU\xfeSH \xff\xfe\r\n", [Command("\ufffdPU\ufffdSH", b"\xff\xfe")]),
        (b"\xff\r\n", [Command("\ufffd", None)]),
        (b"PUSH {}", []),  # no terminator yet
        (b"PUSH {}\r", []),
    ],
)
def test_commands(data: bytes, events: list[Command]) -> None:
    assert events_three_ways(data) == events


def test_crlf_and_lf_give_the_same_commands() -> None:
    lines = [b"PUSH {}", b"FETCH default", b"INFO", b"", b"ACK"]
    crlf = events_three_ways(b"".join(line + b"\r\n" for line in lines))
    lf = events_three_ways(b"".join(line + b"\n" for line in lines))
    mixed = events_three_ways(b"PUSH {}\nFETCH default\r\nINFO\n\r\nACK\n")
    assert crlf == lf == mixed
    assert len(crlf) == 5


def test_pipelined_commands_come_out_in_order() -> None:
    data = (
        b'PUSH {"jid":"1"}\r\n'
        b'PUSH {"jid":"2"}\r\n'
        b"FETCH default\r\n"
        b'ACK {"jid":"1"}\r\n'
        b"BEAT\r\n"
        b"END\r\n"
    )
    assert events_three_ways(data, lambda: _ready(max_line=1024)) == [
        Command("PUSH", b'{"jid":"1"}'),
        Command("PUSH", b'{"jid":"2"}'),
        Command("FETCH", b"default"),
        Command("ACK", b'{"jid":"1"}'),
        Command("BEAT", None),
        Command("END", None),
    ]


def test_hello_and_commands_in_one_chunk() -> None:
    data = b'HELLO {"v":2}\r\nPUSH {}\r\nINFO\r\n'
    assert events_three_ways(data, _fresh) == [
        Hello(version=2),
        b"+OK\r\n",
        Command("PUSH", b"{}"),
        Command("INFO", None),
    ]


def test_a_second_hello_is_just_a_command() -> None:
    assert events_three_ways(b'HELLO {"v":2}\r\n') == [Command("HELLO", b'{"v":2}')]


def test_eof_after_commands() -> None:
    data = b"PUSH {}\r\nINFO\r\nFLU"  # the partial FLUSH is dropped
    assert events_three_ways(data, eof=True) == [
        Command("PUSH", b"{}"),
        Command("INFO", None),
        ConnectionClosed("end of stream"),
    ]


def test_eof_is_sticky() -> None:
    conn = _ready()
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed("end of stream")
    assert conn.state is State.CLOSED
    conn.receive_data(b"INFO\r\n")
    assert conn.next_event() == ConnectionClosed("end of stream")


def test_close_from_ready() -> None:
    conn = _ready()
    conn.close()
    assert conn.state is State.CLOSED
    conn.close()  # idempotent
    conn.receive_data(b"INFO\r\n")
    assert isinstance(conn.next_event(), ConnectionClosed)


@pytest.mark.parametrize("factory", [_fresh, _ready])
def test_close_from_any_open_state(factory: Factory) -> None:
    conn = factory()
    conn.close()
    assert conn.state is State.CLOSED


def test_close_while_hello_pending() -> None:
    conn = ServerConnection()
    conn.receive_data(b"HELLO {}\r\n")
    conn.next_event()
    conn.close()
    assert conn.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.accept()


# -- the line-length cap ------------------------------------------------------------------------


def _ready_16() -> ServerConnection:
    return _ready(max_line=16)


@pytest.mark.parametrize("terminator", [b"\r\n", b"\n"])
def test_a_line_of_exactly_the_limit_is_fine(terminator: bytes) -> None:
    line = b"PUSH " + b"x" * 11
    assert len(line) == 16
    assert events_three_ways(line + terminator, _ready_16) == [Command("PUSH", b"x" * 11)]


@pytest.mark.parametrize("tail", [b"", b"\r"])
def test_a_line_of_exactly_the_limit_without_terminator_waits(tail: bytes) -> None:
    assert events_three_ways(b"PUSH " + b"x" * 11 + tail, _ready_16) == []


@pytest.mark.parametrize(
    "data",
    [
        b"PUSH " + b"x" * 12 + b"\r\n",  # terminated
        b"PUSH " + b"x" * 12 + b"\n",
        b"PUSH " + b"x" * 12,  # no terminator arriving
        b"PUSH " + b"x" * 11 + b"\r\r",
        b"x" * 10_000,
    ],
)
def test_a_line_over_the_limit(data: bytes) -> None:
    assert events_three_ways(data, _ready_16) == [
        LineTooLongEvent(16),
        ConnectionClosed("line too long"),
    ]


def test_a_line_over_the_limit_closes_for_good() -> None:
    conn = _ready_16()
    conn.receive_data(b"y" * 17 + b"\r\nINFO\r\n")
    assert conn.next_event() == LineTooLongEvent(16)
    assert conn.state is State.CLOSED
    assert conn.next_event() == ConnectionClosed("line too long")
    assert conn.next_event() == ConnectionClosed("line too long")


def test_a_long_line_after_good_ones() -> None:
    data = b"INFO\r\nFLUSH\r\n" + b"y" * 17 + b"\r\n"
    assert events_three_ways(data, _ready_16) == [
        Command("INFO", None),
        Command("FLUSH", None),
        LineTooLongEvent(16),
        ConnectionClosed("line too long"),
    ]


def test_a_long_hello() -> None:
    conn = ServerConnection(max_line=16)
    conn.receive_data(b'HELLO {"hostname":"' + b"h" * 20 + b'"}\r\n')
    assert conn.next_event() == LineTooLongEvent(16)
    assert conn.state is State.CLOSED


# -- states and events --------------------------------------------------------------------------


def test_transition_table() -> None:
    assert TRANSITIONS == {
        (State.AWAIT_HELLO, "hello"): State.HELLO_RECEIVED,
        (State.AWAIT_HELLO, "close"): State.CLOSED,
        (State.HELLO_RECEIVED, "accept"): State.READY,
        (State.HELLO_RECEIVED, "reject"): State.CLOSED,
        (State.HELLO_RECEIVED, "close"): State.CLOSED,
        (State.READY, "close"): State.CLOSED,
        (State.CLOSED, "close"): State.CLOSED,
    }


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("event", ["hello", "accept", "reject", "close", "bogus"])
def test_transition(state: State, event: str) -> None:
    if (state, event) in TRANSITIONS:
        assert transition(state, event) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(LocalProtocolError, match=f"cannot '{event}' in state {state.name}"):
            transition(state, event)


def test_events_are_frozen_values() -> None:
    command = Command("PUSH", b"{}")
    assert command == Command("PUSH", b"{}")
    assert hash(command) == hash(Command("PUSH", b"{}"))
    with pytest.raises(AttributeError):  # a named tuple (one is made per command)
        command.verb = "ACK"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Hello().wid = "w"  # type: ignore[misc]
    assert Hello() == Hello(0, "", "", "", 0, (), "")
    assert ConnectionClosed() == ConnectionClosed("")
    assert repr(NEED_DATA) == "NEED_DATA"
