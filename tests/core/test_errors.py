"""Every exact error text of Faktory 1.10 (reference §1.3), and the error tree."""

from __future__ import annotations

import inspect

import pytest

from faktory_core import errors
from faktory_core.errors import (
    INTERNAL_ERROR,
    CloseConnection,
    CodedError,
    Discard,
    FaktoryError,
    InvalidJob,
    StoreError,
    messages,
)
from faktory_core.protocol import replies

# (name on ``messages``, the text it produces, the reply exactly as the reference writes it)
WIRE: list[tuple[str, str, bytes]] = [
    ("unknown_command", messages.unknown_command("CMD"), b"-ERR unknown command CMD\r\n"),
    ("INTERNAL", messages.INTERNAL, b"-ERR internal error\r\n"),
    ("SHUTDOWN", messages.SHUTDOWN, b"-ERR shutdown in progress\r\n"),
    (
        "too_many_connections",
        messages.too_many_connections(2001),
        b"-ERR too many connections: 2001\r\n",
    ),
    ("INVALID_PASSWORD", messages.INVALID_PASSWORD, b"-ERR Invalid password\r\n"),
    (
        "invalid_json",
        messages.invalid_json("unexpected end of JSON input"),
        b"-ERR invalid JSON: unexpected end of JSON input\r\n",
    ),
    ("NO_JID", messages.NO_JID, b"-ERR jobs must have a reasonable jid parameter\r\n"),
    ("NO_JOBTYPE", messages.NO_JOBTYPE, b"-ERR jobs must have a jobtype parameter\r\n"),
    ("NO_ARGS", messages.NO_ARGS, b"-ERR jobs must have an args parameter\r\n"),
    (
        "RESERVE_TOO_LONG",
        messages.RESERVE_TOO_LONG,
        b"-ERR jobs cannot be reserved for more than one day\r\n",
    ),
    (
        "invalid_at",
        messages.invalid_at("tomorrow", "bad"),
        b"-ERR invalid timestamp for 'at': \"tomorrow\": bad\r\n",
    ),
    (
        "bad_queue",
        messages.bad_queue("c&c"),
        b'-ERR cannot get "c&c" queue: queue names must match \\A[a-zA-Z0-9._-]+\\z\r\n',
    ),
    (
        "FETCH_NO_QUEUE",
        messages.FETCH_NO_QUEUE,
        b"-ERR must call fetch with at least one queue\r\n",
    ),
    ("invalid_ack", messages.invalid_ack('{"jid":1}'), b'-ERR invalid ACK {"jid":1}\r\n'),
    ("invalid_fail", messages.invalid_fail("{bad"), b"-ERR invalid FAIL {bad\r\n"),
    ("MISSING_JID", messages.MISSING_JID, b"-ERR missing JID\r\n"),
    ("job_not_found", messages.job_not_found("abc123xyz"), b"-ERR Job not found abc123xyz\r\n"),
    ("invalid_beat", messages.invalid_beat("{bad"), b"-ERR invalid BEAT {bad\r\n"),
    ("unknown_worker", messages.unknown_worker("w-1"), b"-ERR unknown worker w-1\r\n"),
    (
        "no_such_queue_subcommand",
        messages.no_such_queue_subcommand("unpause"),
        b"-ERR no such QUEUE subcommand: UNPAUSE\r\n",
    ),
    (
        "LATENCY_WILDCARD",
        messages.LATENCY_WILDCARD,
        b"-ERR QUEUE LATENCY does not support wildcards\r\n",
    ),
    ("queue_error", messages.queue_error("boom"), b"-ERR QUEUE: boom\r\n"),
    ("MUTATE_FORMAT", messages.MUTATE_FORMAT, b"-ERR invalid format\r\n"),
    (
        "MUTATE_TARGET",
        messages.MUTATE_TARGET,
        b"-ERR invalid target for mutation command\r\n",
    ),
    ("MUTATE_OP", messages.MUTATE_OP, b"-ERR unknown mutate operation\r\n"),
    (
        "BATCH_OSS",
        messages.BATCH_OSS,
        b"-ERR batch subsystem is only available in Faktory Enterprise\r\n",
    ),
    (
        "TRACK_OSS",
        messages.TRACK_OSS,
        b"-ERR tracking subsystem is only available in Faktory Enterprise\r\n",
    ),
    ("pushb_error", messages.pushb_error("boom"), b"-ERR PUSHB: boom\r\n"),
    # Not Faktory's (it has no limit): decisions.md's line cap.
    (
        "line_too_long",
        messages.line_too_long(1024),
        b"-ERR line too long: the limit is 1024 bytes\r\n",
    ),
    # Not Faktory's either (issue 13): the bound on the queues one FETCH names.
    (
        "too_many_queues",
        messages.too_many_queues(1001, 1000),
        b"-ERR too many queues: 1001 (the limit is 1000, max_fetch_queues)\r\n",
    ),
]

#: Names on ``messages`` that are building blocks, not replies of their own.
BUILDING_BLOCKS = {"QUEUE_NAME_RULE", "LINE_TOO_LONG", "NOT_UNIQUE"}


def test_not_unique_has_its_own_code() -> None:
    wire = replies.error(CodedError("NOTUNIQUE", messages.NOT_UNIQUE).wire_text())
    assert wire == b"-NOTUNIQUE Job not unique\r\n"


@pytest.mark.parametrize(("name", "text", "wire"), WIRE, ids=[name for name, _, _ in WIRE])
def test_exact_error_reply(name: str, text: str, wire: bytes) -> None:
    assert replies.error(FaktoryError(text).wire_text()) == wire


def test_every_message_is_tested() -> None:
    public = {name for name in vars(messages) if not name.startswith("_")}
    assert public == {name for name, _, _ in WIRE} | BUILDING_BLOCKS


def test_empty_verb_keeps_the_trailing_space() -> None:
    assert messages.unknown_command("") == "unknown command "
    assert replies.error(f"ERR {messages.unknown_command('')}") == b"-ERR unknown command \r\n"


def test_subcommand_is_upper_cased() -> None:
    assert messages.no_such_queue_subcommand("Unpause") == "no such QUEUE subcommand: UNPAUSE"


def test_building_blocks() -> None:
    assert messages.QUEUE_NAME_RULE == "queue names must match \\A[a-zA-Z0-9._-]+\\z"
    assert messages.LINE_TOO_LONG.format(limit=5) == messages.line_too_long(5)


def test_bad_queue_with_an_empty_name() -> None:
    assert messages.bad_queue("") == (
        'cannot get "" queue: queue names must match \\A[a-zA-Z0-9._-]+\\z'
    )


def test_bad_queue_with_an_overlong_name_echoes_only_its_start() -> None:
    name = "q" * (errors.MAX_QUEUE_NAME + 1)
    assert messages.bad_queue(name) == (
        f'cannot get "{"q" * 64}..." queue: queue names are at most 255 characters'
    )
    assert "must match" in messages.bad_queue("q" * (errors.MAX_QUEUE_NAME - 1) + "!")


def test_invalid_at_prefix() -> None:
    text = messages.invalid_at("2025-01-02 03:04:05", "detail")
    assert text.startswith("invalid timestamp for 'at': \"2025-01-02 03:04:05\": ")


def test_internal_error() -> None:
    assert INTERNAL_ERROR == "internal error"
    assert messages.INTERNAL is INTERNAL_ERROR


# -- the error tree -----------------------------------------------------------------------------


def test_faktory_error() -> None:
    error = FaktoryError("permission denied")
    assert isinstance(error, Exception)
    assert error.code == "ERR"
    assert error.message == "permission denied"
    assert str(error) == "permission denied"
    assert error.wire_text() == "ERR permission denied"


@pytest.mark.parametrize("kind", [InvalidJob, CloseConnection, StoreError])
def test_generic_errors_are_err(kind: type[FaktoryError]) -> None:
    error = kind("message")
    assert isinstance(error, FaktoryError)
    assert error.code == "ERR"
    assert error.wire_text() == "ERR message"


def test_coded_error() -> None:
    error = CodedError("NOTUNIQUE", "Job not unique")
    assert isinstance(error, FaktoryError)
    assert error.code == "NOTUNIQUE"
    assert error.message == "Job not unique"
    assert error.wire_text() == "NOTUNIQUE Job not unique"
    assert FaktoryError.code == "ERR"  # the instance's code does not leak into the class


def test_discard() -> None:
    error = Discard()
    assert isinstance(error, CodedError)
    assert error.code == "DISCARD"
    assert error.wire_text() == "DISCARD job discarded"
    assert Discard("expired").wire_text() == "DISCARD expired"


def test_all_matches_the_public_names() -> None:
    public = {
        name
        for name, value in vars(errors).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and name != "annotations"
        and getattr(value, "__module__", errors.__name__) == errors.__name__
    }
    assert set(errors.__all__) == public
