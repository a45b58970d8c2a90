"""The client half of the engine (ReplyParser, encoders, HI/HELLO) and the reply encoders."""

from __future__ import annotations

import json
import random

import pytest

from faktory_core.errors import CodedError, FaktoryError, InvalidJob
from faktory_core.protocol import (
    NEED_DATA,
    Bulk,
    ErrorReply,
    Hello,
    Hi,
    Integer,
    LineTooLong,
    NeedData,
    ProtocolViolation,
    ReplyParser,
    ServerConnection,
    SimpleString,
    State,
    encode_command,
    encode_hello,
    encode_json_command,
    parse_hello,
    parse_hi,
    replies,
)
from faktory_core.protocol.client import Reply

SALT = "55104dc76695721d"
HASH_1545 = "6d877f8e5544b1f2598768f817413ab8a357afffa924dedae99eb91472d4ec30"
HASH_1 = "bda5ef54df4404655456165c27f46764614a296cdafcaffc747b7ab7cc1ea313"

TRAILING = b"+TRAILING\r\n"
MODES = ("whole", "bytewise", "trailing")


def _replies(data: bytes, mode: str, max_line: int) -> list[Reply]:
    parser = ReplyParser(max_line)
    out: list[Reply] = []
    trailing = mode == "trailing" and data.endswith(b"\n")
    if mode == "bytewise":
        chunks = [data[i : i + 1] for i in range(len(data))]
    else:
        chunks = [data + TRAILING] if trailing else [data]
    for chunk in chunks:
        parser.receive_data(chunk)
        while not isinstance(reply := parser.next_reply(), NeedData):
            out.append(reply)
    if trailing:
        # The reply after ours was parsed from the leftover bytes, intact.
        assert out.pop() == SimpleString("TRAILING")
    return out


def replies_three_ways(data: bytes, max_line: int = 1024) -> list[Reply]:
    results = [_replies(data, mode, max_line) for mode in MODES]
    assert results[0] == results[1] == results[2]
    return results[0]


def violation_three_ways(data: bytes) -> None:
    for mode in MODES:
        with pytest.raises(ProtocolViolation):
            _replies(data, mode, 1024)


# -- reply encoders (reference §1.2; Faktory's connection_test.go) ------------------------------


def test_encoders_byte_exact() -> None:
    assert replies.OK == b"+OK\r\n"
    assert replies.NULL == b"$-1\r\n"
    assert replies.simple("OK") == b"+OK\r\n"
    assert replies.simple('HI {"v":2}') == b'+HI {"v":2}\r\n'
    assert replies.bulk(b"{some:jobjson}") == b"$14\r\n{some:jobjson}\r\n"
    assert replies.bulk(b"") == b"$0\r\n\r\n"
    assert replies.bulk(b"{}") == b"$2\r\n{}\r\n"
    assert replies.bulk(b'{"state":"quiet"}') == b'$17\r\n{"state":"quiet"}\r\n'
    assert replies.bulk(b'{"state":"terminate"}') == b'$21\r\n{"state":"terminate"}\r\n'
    assert replies.bulk(b"a\r\nb") == b"$4\r\na\r\nb\r\n"
    assert replies.error("ERR permission denied") == b"-ERR permission denied\r\n"
    assert replies.error("NOTUNIQUE Job not unique") == b"-NOTUNIQUE Job not unique\r\n"
    assert replies.integer(123) == b":123\r\n"
    assert replies.integer(0) == b":0\r\n"
    assert replies.integer(-5) == b":-5\r\n"


def test_bulk_length_counts_bytes_not_characters() -> None:
    assert replies.bulk("é".encode()) == b"$2\r\n\xc3\xa9\r\n"


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("ERR invalid ACK {\r\n}", b"-ERR invalid ACK {  }\r\n"),
        ("ERR a\nb", b"-ERR a b\r\n"),
        ("ERR a\rb", b"-ERR a b\r\n"),
        ("ERR \r\n\r\n", b"-ERR     \r\n"),
    ],
)
def test_error_replies_are_one_line(text: str, wire: bytes) -> None:
    assert replies.error(text) == wire


def test_error_reply_with_unencodable_text() -> None:
    # A lone surrogate (e.g. from a decoded payload) must not crash the encoder.
    assert replies.error("ERR \udcff") == b"-ERR \\udcff\r\n"
    assert replies.error("ERR caf\u00e9") == "-ERR caf\u00e9\r\n".encode()


def test_errors_encode_through_their_wire_text() -> None:
    assert replies.error(FaktoryError("permission denied").wire_text()) == (
        b"-ERR permission denied\r\n"
    )
    assert replies.error(InvalidJob("jobs must have a jobtype parameter").wire_text()) == (
        b"-ERR jobs must have a jobtype parameter\r\n"
    )
    assert replies.error(CodedError("NOTUNIQUE", "Job not unique").wire_text()) == (
        b"-NOTUNIQUE Job not unique\r\n"
    )


# -- ReplyParser --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"+OK\r\n", [SimpleString("OK")]),
        (b'+HI {"v":2}\r\n', [SimpleString('HI {"v":2}')]),
        (b"+\r\n", [SimpleString("")]),
        (b"+OK\n", [SimpleString("OK")]),  # LF-only terminators are tolerated
        (b"-ERR Invalid password\r\n", [ErrorReply("ERR", "Invalid password")]),
        (b"-ERR unknown command \r\n", [ErrorReply("ERR", "unknown command ")]),
        (b"-NOTUNIQUE Job not unique\r\n", [ErrorReply("NOTUNIQUE", "Job not unique")]),
        (b"-ERR\r\n", [ErrorReply("ERR", "")]),
        (b"-\r\n", [ErrorReply("", "")]),
        (b"$14\r\n{some:jobjson}\r\n", [Bulk(b"{some:jobjson}")]),
        (b"$6\r\na\r\nb\r\n\r\n", [Bulk(b"a\r\nb\r\n")]),  # CRLF inside a bulk
        (b"$2\r\n\r\n\r\n", [Bulk(b"\r\n")]),
        (b"$0\r\n\r\n", [Bulk(b"")]),
        (b"$-1\r\n", [Bulk(None)]),
        (b"$3\r\n\x00\xff\xfe\r\n", [Bulk(b"\x00\xff\xfe")]),
        (b":123\r\n", [Integer(123)]),
        (b":0\r\n", [Integer(0)]),
        (b":-7\r\n", [Integer(-7)]),
        (b":12345678901234567890\r\n", [Integer(12345678901234567890)]),
        (b"+OK", []),  # incomplete
        (b"$14\r\n{some:json", []),
        (b"$14\r\n{some:jobjson}", []),
        (b"$14\r\n{some:jobjson}\r", []),
        (b"$-1", []),
    ],
)
def test_reply_parser(data: bytes, expected: list[Reply]) -> None:
    assert replies_three_ways(data) == expected


def test_pipelined_replies_in_order() -> None:
    data = b'+HI {"v":2}\r\n+OK\r\n$2\r\n{}\r\n$-1\r\n-ERR nope\r\n:5\r\n$0\r\n\r\n+OK\r\n'
    assert replies_three_ways(data) == [
        SimpleString('HI {"v":2}'),
        SimpleString("OK"),
        Bulk(b"{}"),
        Bulk(None),
        ErrorReply("ERR", "nope"),
        Integer(5),
        Bulk(b""),
        SimpleString("OK"),
    ]


def test_invalid_utf8_in_text_replies_does_not_crash() -> None:
    assert replies_three_ways(b"+\xffOK\r\n-ERR \xfe\r\n") == [
        SimpleString("\ufffdOK"),
        ErrorReply("ERR", "\ufffd"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"\r\n",  # empty line
        b"OK\r\n",
        b"*1\r\n",  # arrays are never sent
        b"%1\r\n",
        b"$abc\r\n",
        b"$\r\n",
        b"$ 5\r\nhello\r\n",
        b"$+5\r\nhello\r\n",
        b"$1_0\r\n",
        b"$5 \r\nhello\r\n",
        b"$-2\r\n",
        b"$1.5\r\n",
        b"$3\r\nabcXY",  # bulk not terminated by CRLF
        b"$3\r\nabcd\r\n",
        b":\r\n",
        b":abc\r\n",
        b":1.5\r\n",
        b": 1\r\n",
        b":1_000\r\n",
        b":\xd9\xa1\r\n",
        b"+OK\r\n!\r\n",  # garbage after a good reply
    ],
)
def test_reply_parser_rejects_garbage(data: bytes) -> None:
    violation_three_ways(data)


def test_bulk_body_in_many_pieces() -> None:
    parser = ReplyParser()
    parser.receive_data(b"$10\r\n")
    assert parser.next_reply() is NEED_DATA
    for piece in (b"01", b"234", b"5678", b"9", b"\r"):
        parser.receive_data(piece)
        assert parser.next_reply() is NEED_DATA
    parser.receive_data(b"\n+OK\r\n")
    assert parser.next_reply() == Bulk(b"0123456789")
    assert parser.next_reply() == SimpleString("OK")
    assert parser.next_reply() is NEED_DATA


def test_bulk_bodies_are_not_capped_by_max_line() -> None:
    body = bytes(range(256)) * 4
    assert replies_three_ways(replies.bulk(body), max_line=16) == [Bulk(body)]


def test_reply_lines_are_capped() -> None:
    parser = ReplyParser(max_line=16)
    parser.receive_data(b"+" + b"x" * 16 + b"\r\n")
    with pytest.raises(LineTooLong):
        parser.next_reply()


# -- round trip: the server's encoders, read by the client's parser -----------------------------


def test_round_trip() -> None:
    rng = random.Random(7)
    binary = bytes(rng.randrange(256) for _ in range(4096))
    cases: list[tuple[bytes, Reply]] = [
        (replies.OK, SimpleString("OK")),
        (replies.NULL, Bulk(None)),
        (replies.simple("HI {}"), SimpleString("HI {}")),
        (replies.bulk(b""), Bulk(b"")),
        (replies.bulk(b"{some:jobjson}"), Bulk(b"{some:jobjson}")),
        (replies.bulk(b"\r\n\r\n"), Bulk(b"\r\n\r\n")),
        (replies.bulk(binary), Bulk(binary)),
        (replies.integer(123), Integer(123)),
        (replies.integer(-1), Integer(-1)),
        (replies.error("ERR permission denied"), ErrorReply("ERR", "permission denied")),
        (replies.error("NOTUNIQUE Job not unique"), ErrorReply("NOTUNIQUE", "Job not unique")),
        (replies.error("ERR invalid ACK {\r\n}"), ErrorReply("ERR", "invalid ACK {  }")),
        (replies.error("ERR caf\u00e9"), ErrorReply("ERR", "caf\u00e9")),
    ]
    for wire, reply in cases:
        assert replies_three_ways(wire) == [reply]
    stream = b"".join(wire for wire, _ in cases)
    assert replies_three_ways(stream) == [reply for _, reply in cases]


# -- HI and HELLO -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hi"),
    [
        ('HI {"v":2}', Hi(2)),
        ('HI {"v":2,"i":1545,"s":"55104dc76695721d"}', Hi(2, 1545, SALT)),
        ('HI {"v":2,"s":"abc","i":4000}', Hi(2, 4000, "abc")),  # the spec's key order
        ('HI {"v":3,"extra":true}', Hi(3)),
        ('HI {"v":2,"i":null,"s":null}', Hi(2)),
    ],
)
def test_parse_hi(text: str, hi: Hi) -> None:
    assert parse_hi(SimpleString(text)) == hi


@pytest.mark.parametrize(
    "reply",
    [
        SimpleString("OK"),
        SimpleString("HI"),
        SimpleString("HI "),
        SimpleString("HELLO {}"),
        SimpleString("HI {"),
        SimpleString("HI []"),
        SimpleString("HI 2"),
        SimpleString("HI null"),
        SimpleString("HI {}"),
        SimpleString('HI {"v":"2"}'),
        SimpleString('HI {"v":2.5}'),
        SimpleString('HI {"v":true}'),
        SimpleString('HI {"v":2,"i":"1545","s":"abc"}'),
        SimpleString('HI {"v":2,"i":1545,"s":123}'),
        ErrorReply("ERR", "too many connections: 2001"),
        Bulk(b'HI {"v":2}'),
        Bulk(None),
        Integer(2),
    ],
)
def test_parse_hi_rejects(reply: Reply) -> None:
    with pytest.raises(ProtocolViolation):
        parse_hi(reply)


def test_encode_hello_without_password() -> None:
    assert encode_hello(Hi(2)) == b'HELLO {"v":2}\r\n'
    # A password the server did not ask for is not sent.
    assert encode_hello(Hi(2), password="secret") == b'HELLO {"v":2}\r\n'


def test_encode_hello_with_worker_fields() -> None:
    wire = encode_hello(Hi(2), wid="w1", hostname="box", pid=42, labels=["a", "b"])
    assert wire == b'HELLO {"v":2,"wid":"w1","hostname":"box","pid":42,"labels":["a","b"]}\r\n'
    assert parse_hello(wire.rstrip(b"\r\n")) == Hello(2, "", "w1", "box", 42, ("a", "b"))


def test_encode_hello_with_password_uses_the_servers_parameters() -> None:
    wire = encode_hello(Hi(2, 1545, SALT), password="foobar")
    assert wire == b'HELLO {"v":2,"pwdhash":"%b"}\r\n' % HASH_1545.encode()
    assert json.loads(wire[6:]) == {"v": 2, "pwdhash": HASH_1545}


def test_encode_hello_with_salt_but_no_iterations_hashes_once() -> None:
    wire = encode_hello(Hi(2, None, SALT), password="foobar")
    assert json.loads(wire[6:])["pwdhash"] == HASH_1


def test_encode_hello_needs_the_password_the_server_asks_for() -> None:
    with pytest.raises(ValueError, match="requires a password"):
        encode_hello(Hi(2, 1545, SALT))


@pytest.mark.parametrize("password", [None, "s3cret", "p\u00e4ss w\u00f6rd"])
def test_handshake_end_to_end(password: str | None) -> None:
    server = ServerConnection(password=password)
    parser = ReplyParser()
    parser.receive_data(server.greeting())
    greeting = parser.next_reply()
    assert isinstance(greeting, SimpleString)
    hi = parse_hi(greeting)
    assert hi.version == 2
    assert (hi.iterations is None) is (password is None)
    server.receive_data(encode_hello(hi, password=password, wid="w1", labels=["x"]))
    hello = server.next_event()
    assert isinstance(hello, Hello)
    assert hello.wid == "w1"
    assert server.password_ok(hello)
    parser.receive_data(server.accept())
    assert parser.next_reply() == SimpleString("OK")
    assert server.state is State.READY


def test_handshake_with_a_wrong_password() -> None:
    server = ServerConnection(password="right")
    parser = ReplyParser()
    parser.receive_data(server.greeting())
    greeting = parser.next_reply()
    assert isinstance(greeting, SimpleString)
    server.receive_data(encode_hello(parse_hi(greeting), password="wrong"))
    hello = server.next_event()
    assert isinstance(hello, Hello)
    assert not server.password_ok(hello)
    parser.receive_data(server.reject())
    assert parser.next_reply() == ErrorReply("ERR", "Invalid password")
    assert server.state is State.CLOSED


# -- command encoders ---------------------------------------------------------------------------


def test_encode_command() -> None:
    assert encode_command("INFO") == b"INFO\r\n"
    assert encode_command("FETCH", "critical", "default") == b"FETCH critical default\r\n"
    assert encode_command("QUEUE", "PAUSE", "*") == b"QUEUE PAUSE *\r\n"
    assert encode_command("END") == b"END\r\n"


def test_encode_json_command() -> None:
    assert encode_json_command("ACK", {"jid": "abc"}) == b'ACK {"jid":"abc"}\r\n'
    assert encode_json_command("PUSHB", []) == b"PUSHB []\r\n"
    wire = encode_json_command("MUTATE", {"cmd": "kill", "target": "retries", "filter": {}})
    assert wire.count(b" ") == 1  # MUTATE's JSON must hold no space
    assert encode_json_command("PUSH", {"args": ["\u00e9"]}) == (
        'PUSH {"args":["\u00e9"]}\r\n'.encode()
    )


def test_encoded_commands_parse_back() -> None:
    server = ServerConnection()
    server.receive_data(b"HELLO {}\r\n")
    server.next_event()
    server.accept()
    server.receive_data(
        encode_command("FETCH", "a", "b")
        + encode_json_command("ACK", {"jid": "abcdefgh"})
        + encode_command("INFO")
    )
    events = [server.next_event() for _ in range(3)]
    assert [(e.verb, e.payload) for e in events] == [  # type: ignore[union-attr]
        ("FETCH", b"a b"),
        ("ACK", b'{"jid":"abcdefgh"}'),
        ("INFO", None),
    ]
