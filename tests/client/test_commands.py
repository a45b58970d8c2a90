"""The sans-IO command layer: exact bytes sent, replies read, what is safe to re-send."""

from __future__ import annotations

import json

import pytest

from faktory_core.client import Job, ProtocolError, ServerError, commands
from faktory_core.errors import CodedError, FaktoryError
from faktory_core.protocol import Bulk, ErrorReply, Integer, SimpleString

OK = SimpleString("OK")


def test_push_line_is_compact_json() -> None:
    job = Job("Add", [1, "é"], jid="jid-0000001")
    request = commands.push(job)
    assert request.line == (
        'PUSH {"jid":"jid-0000001","jobtype":"Add","args":[1,"é"],"queue":"default"}\r\n'.encode()
    )
    assert request.parse(OK) is None
    assert not request.retry


def test_push_bulk_reads_the_errors_map() -> None:
    jobs = [Job("A", jid="jid-0000001"), Job("B", jid="jid-0000002")]
    request = commands.push_bulk(jobs)
    assert request.line.startswith(b'PUSHB [{"jid":"jid-0000001"')
    assert json.loads(request.line[6:]) == [job.to_dict() for job in jobs]
    assert request.parse(Bulk(b"{}")) == {}
    refused = Bulk(b'{"jid-0000002":"NOTUNIQUE Job not unique"}')
    assert request.parse(refused) == {"jid-0000002": "NOTUNIQUE Job not unique"}
    assert not request.retry


def test_queue_commands() -> None:
    assert commands.queue_pause(["a", "b"]).line == b"QUEUE PAUSE a b\r\n"
    assert commands.queue_resume(["*"]).line == b"QUEUE RESUME *\r\n"
    assert commands.queue_remove(["x"]).line == b"QUEUE REMOVE x\r\n"
    latency = commands.queue_latency(["a", "b"])
    assert latency.line == b"QUEUE LATENCY a b\r\n"
    assert latency.parse(Bulk(b'{"a":0,"b":1.5}')) == {"a": 0.0, "b": 1.5}


@pytest.mark.parametrize(
    "make",
    [
        lambda: commands.queue_pause([]),
        lambda: commands.queue_pause(["bad name"]),
        lambda: commands.queue_latency([]),
    ],
)
def test_queue_names_are_checked(make: object) -> None:
    with pytest.raises(ValueError, match="queue"):
        make()  # type: ignore[operator]


def test_mutate_json_has_no_spaces_even_when_values_do() -> None:
    request = commands.mutate("kill", "retries", jobtype="Send Email", jids=["a b"])
    line = request.line
    assert line.count(b" ") == 1  # the server wants exactly "MUTATE <json>"
    assert line.endswith(b"\r\n")
    assert json.loads(line[len(b"MUTATE ") :]) == {
        "cmd": "kill",
        "target": "retries",
        "filter": {"jobtype": "Send Email", "jids": ["a b"]},
    }
    assert commands.mutate("clear", "dead").line == b'MUTATE {"cmd":"clear","target":"dead"}\r\n'


def test_mutate_refuses_unknown_operations() -> None:
    with pytest.raises(ValueError, match="unknown mutation"):
        commands.mutate("explode", "dead")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown mutation"):
        commands.mutate("clear", "working")  # type: ignore[arg-type]


def test_worker_commands() -> None:
    assert commands.fetch(["a", "b"]).line == b"FETCH a b\r\n"
    assert commands.fetch(["a"]).parse(Bulk(None)) is None
    assert commands.fetch(["a"]).parse(Bulk(b'{"jid":"x"}')) == {"jid": "x"}
    assert commands.ack("j1").line == b'ACK {"jid":"j1"}\r\n'
    fail = commands.fail("j1", "ValueError", "boom", ["line 1"])
    assert json.loads(fail.line[5:]) == {
        "jid": "j1",
        "errtype": "ValueError",
        "message": "boom",
        "backtrace": ["line 1"],
    }


def test_beat_reads_the_wanted_state() -> None:
    beat = commands.beat("w1", 1024, "quiet")
    assert json.loads(beat.line[5:]) == {"wid": "w1", "rss_kb": 1024, "current_state": "quiet"}
    assert json.loads(commands.beat("w1", 1).line[5:]) == {"wid": "w1", "rss_kb": 1}
    assert beat.parse(OK) == "running"
    assert beat.parse(Bulk(b'{"state":"quiet"}')) == "quiet"
    assert beat.parse(Bulk(b'{"state":"terminate"}')) == "terminate"


def test_what_may_be_resent() -> None:
    job = Job("T")
    safe = [
        commands.info(),
        commands.flush(),
        commands.queue_pause(["q"]),
        commands.queue_latency(["q"]),
        commands.mutate("clear", "dead"),
        commands.ack("j"),
        commands.fail("j", "E", "m", []),
        commands.beat("w", 0),
    ]
    assert all(request.retry for request in safe)
    assert not any(r.retry for r in (commands.push(job), commands.push_bulk([job])))
    assert not commands.fetch(["q"]).retry  # a lost FETCH reply is a job left reserved


def test_error_replies_raise_with_their_code() -> None:
    with pytest.raises(ServerError) as caught:
        commands.push(Job("T")).parse(ErrorReply("NOTUNIQUE", "Job not unique"))
    error = caught.value
    assert (error.code, error.message, str(error)) == (
        "NOTUNIQUE",
        "Job not unique",
        "NOTUNIQUE Job not unique",
    )
    assert isinstance(error, CodedError)
    assert isinstance(error, FaktoryError)
    with pytest.raises(ServerError) as generic:
        commands.info().parse(ErrorReply("ERR", "shutdown in progress"))
    assert generic.value.code == "ERR"


@pytest.mark.parametrize(
    ("request_", "reply"),
    [
        (commands.ack("j"), Bulk(b"{}")),
        (commands.info(), OK),
        (commands.info(), Bulk(None)),
        (commands.info(), Bulk(b"not json")),
        (commands.info(), Bulk(b"[1]")),
        (commands.fetch(["q"]), Integer(1)),
        (commands.beat("w", 0), Bulk(b'{"nostate":1}')),
    ],
)
def test_unexpected_replies_are_protocol_errors(
    request_: commands.Request[object], reply: object
) -> None:
    with pytest.raises(ProtocolError):
        request_.parse(reply)  # type: ignore[arg-type]
