"""Faktory's server/server_test.go and server/commands_test.go, over real TCP (reference §14)."""

from __future__ import annotations

import json
import re

from tests.integration.conftest import OK, err, make_job


def test_server_start_sequence(server, connect_raw):
    """TestServerStart: one raw session, every reply checked byte for byte."""
    conn = connect_raw(server)
    assert conn.read_raw() == b'+HI {"v":2}\r\n'
    hello = {"v": 2, "hostname": "box", "pid": 123, "wid": "wid-start", "labels": ["blue", "seven"]}
    assert conn.call_raw(b"HELLO " + json.dumps(hello).encode() + b"\r\n") == b"+OK\r\n"
    assert conn.call_raw(b"CMD foo\n") == b"-ERR unknown command CMD\r\n"
    assert conn.call_raw(b"QUEUE REMOVE frobnoz\n") == b"+OK\r\n"
    push = (
        b'PUSH {"jid":"12345678901234567890abcd","jobtype":"Thing","args":[123],'
        b'"queue":"default"}\n'
    )
    assert conn.call_raw(push) == b"+OK\r\n"

    raw = conn.call_raw(b"FETCH default some other\n")
    header, body, tail = raw.split(b"\r\n")
    assert tail == b""
    assert header == b"$%d" % len(body)
    assert b"12345678901234567890abcd" in body
    assert b'"retry":' in body
    job = json.loads(body)
    assert job["jid"] == "12345678901234567890abcd"
    assert job["args"] == [123]

    fail = (
        b'FAIL {"jid":"12345678901234567890abcd","message":"Invalid something",'
        b'"errtype":"RuntimeError"}\n'
    )
    assert conn.call_raw(fail) == b"+OK\r\n"
    assert conn.call_raw(b"ACK\n") == b"-ERR internal error\r\n"
    assert conn.call_raw(b'ACK {"jid":"12345678901234567890abcd"}\n') == b"+OK\r\n"

    raw = conn.call_raw(b"INFO\n")
    header, body, _ = raw.split(b"\r\n")
    assert header == b"$%d" % len(body)
    assert len(json.loads(body)) == 4

    assert conn.call_raw(b'BEAT {"wid":"wid-start"}\n') == b"+OK\r\n"
    assert conn.call_raw(b"QUEUE REMOVE default\n") == b"+OK\r\n"
    assert conn.call_raw(b"FLUSH\n") == b"+OK\r\n"
    conn.send(b"END\n")
    conn.expect_closed()


def _paused(server) -> set[str]:
    return server.call(server.store.paused)


def test_queue_pause_resume_remove_by_name_and_star(server, connect):
    conn = connect(server)
    for queue in ("alpha", "beta", "gamma"):
        conn.push(make_job(queue=queue))

    assert conn.command("QUEUE", "PAUSE", "alpha", "beta") == OK
    assert _paused(server) == {"alpha", "beta"}
    assert conn.command("QUEUE", "RESUME", "beta") == OK
    assert _paused(server) == {"alpha"}
    assert conn.command("QUEUE", "PAUSE", "*") == OK
    assert _paused(server) == {"alpha", "beta", "gamma"}
    assert conn.command("QUEUE", "RESUME", "*") == OK
    assert _paused(server) == set()
    # Unknown names are ignored, not pre-paused (§3.10).
    assert conn.command("QUEUE", "PAUSE", "nosuchqueue") == OK
    assert _paused(server) == set()
    # Subcommands are case-insensitive.
    assert conn.command("QUEUE", "pause", "gamma") == OK
    assert _paused(server) == {"gamma"}

    assert conn.command("QUEUE", "REMOVE", "alpha") == OK
    assert conn.info()["faktory"]["queues"] == {"beta": 1, "gamma": 1}
    assert conn.command("QUEUE", "REMOVE", "*") == OK
    info = conn.info()["faktory"]
    assert info["queues"] == {}
    assert info["total_enqueued"] == 0
    assert _paused(server) == set()


def test_queue_unknown_subcommand(server, connect):
    conn = connect(server)
    assert conn.command("QUEUE", "UNPAUSE", "*") == err("no such QUEUE subcommand: UNPAUSE")
    assert conn.command("QUEUE") == err("internal error")
    assert conn.command("QUEUE", "PAUSE") == err("internal error")
    assert conn.info()["server"]["connections"] == 1  # still serving


def test_queue_latency(server, connect):
    conn = connect(server)
    assert conn.command("QUEUE", "LATENCY", "*") == err("QUEUE LATENCY does not support wildcards")
    assert conn.call_raw(b"QUEUE LATENCY default\r\n") == b'$13\r\n{"default":0}\r\n'

    conn.push(make_job())
    server.advance(0.25)
    latency = conn.bulk_json("QUEUE", "LATENCY", "default", "foo")
    assert latency == {"default": 0.25, "foo": 0}
    assert isinstance(latency["default"], float)
    assert re.search(rb'"foo":0[,}]', conn.call_raw(b"QUEUE LATENCY default foo\r\n"))


def test_pushb_all_valid(server, connect):
    conn = connect(server)
    jobs = [make_job(args=[i]) for i in range(10)]
    assert conn.call_raw(b"PUSHB " + json.dumps(jobs).encode() + b"\r\n") == b"$2\r\n{}\r\n"
    assert conn.info()["faktory"]["queues"] == {"default": 10}
    assert [conn.fetch("default")["jid"] for _ in range(10)] == [j["jid"] for j in jobs]


def test_pushb_reports_the_invalid_job(server, connect):
    conn = connect(server)
    jobs = [make_job(args=[i]) for i in range(10)]
    jobs[0]["jobtype"] = ""
    raw = conn.call_raw(b"PUSHB " + json.dumps(jobs).encode() + b"\r\n")
    body = b'{"%s":"jobs must have a jobtype parameter"}' % jobs[0]["jid"].encode()
    assert len(body) == 57
    assert raw == b"$57\r\n" + body + b"\r\n"
    assert conn.info()["faktory"]["queues"] == {"default": 9}


def test_pushb_mixes_queues_schedules_and_refusals(server, connect):
    """The jobs due now reach the store together; order per queue, scheduled jobs and the
    per-job errors are as if each had been pushed alone."""
    conn = connect(server)
    a1, b1, a2 = make_job(queue="a"), make_job(queue="b"), make_job(queue="a")
    later = make_job(at="2999-01-01T00:00:00Z")
    bad_queue, bad_at = make_job(queue="no spaces"), make_job(at="tomorrow")
    reply = conn.call_raw(
        b"PUSHB " + json.dumps([a1, bad_queue, b1, later, bad_at, a2]).encode() + b"\r\n"
    )
    errors = json.loads(reply.split(b"\r\n")[1])
    assert sorted(errors) == sorted([bad_queue["jid"], bad_at["jid"]])
    assert "no spaces" in errors[bad_queue["jid"]]
    faktory = conn.info()["faktory"]
    assert faktory["queues"] == {"a": 2, "b": 1}
    assert faktory["tasks"]["Scheduled"]["size"] == 1
    assert [conn.fetch("a")["jid"], conn.fetch("a")["jid"]] == [a1["jid"], a2["jid"]]
