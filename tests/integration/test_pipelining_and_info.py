"""Pipelined commands, the INFO document (reference §7.1), FLUSH (§3.8, decisions.md) and
the connection limit (§2)."""

from __future__ import annotations

import json

from faktory_core.config import Timings
from faktory_core.model import SortedSet
from faktory_core.protocol import Bulk
from faktory_core.timefmt import format_ts, parse_ts
from tests.integration.conftest import NULL, OK, err, make_job, wait_until


def test_pipelined_commands_are_answered_in_order(server, connect):
    conn = connect(server)
    first, second = make_job(args=[1]), make_job(args=[2])
    batch = b"".join(
        [
            b"PUSH " + json.dumps(first).encode() + b"\r\n",
            b"PUSH " + json.dumps(second).encode() + b"\r\n",
            b"FETCH default\r\n",
            b'ACK {"jid":"' + first["jid"].encode() + b'"}\r\n',
            b"NOPE\n",
            b"INFO\r\n",
        ]
    )
    conn.send(batch)
    replies = [conn.read() for _ in range(6)]
    assert replies[:2] == [OK, OK]
    assert isinstance(replies[2], Bulk)
    assert json.loads(replies[2].data)["jid"] == first["jid"]
    assert replies[3] == OK
    assert replies[4] == err("unknown command NOPE")
    info = json.loads(replies[5].data)["faktory"]
    assert info["total_processed"] == 1
    assert info["queues"] == {"default": 1}
    # Nothing else was sent: the next reply is the answer to the next command.
    assert conn.fetch("default")["jid"] == second["jid"]


def test_pipelined_byte_by_byte(server, connect):
    conn = connect(server)
    job = make_job()
    for byte in b"PUSH " + json.dumps(job).encode() + b"\r\nINFO\r\n":
        conn.send(bytes([byte]))
    assert conn.read() == OK
    assert json.loads(conn.read().data)["faktory"]["total_enqueued"] == 1


def test_a_thousand_pipelined_pushes(server, connect):
    conn = connect(server)
    jobs = [make_job(args=[n]) for n in range(1000)]
    conn.send(b"".join(b"PUSH " + json.dumps(job).encode() + b"\r\n" for job in jobs))
    assert [conn.read() for _ in jobs] == [OK] * 1000
    assert conn.info()["faktory"]["queues"] == {"default": 1000}
    assert conn.fetch("default")["args"] == [0]


def test_end_closes_after_answering_what_came_before(server, connect):
    conn = connect(server)
    job = make_job()
    conn.send(b"PUSH " + json.dumps(job).encode() + b"\r\nEND\r\nINFO\r\n")
    assert conn.read() == OK
    conn.expect_closed()
    other = connect(server)
    faktory = other.info()["faktory"]
    assert faktory["queues"] == {"default": 1}
    wait_until(lambda: other.info()["server"]["connections"] == 1, what="connection count")


def test_shutdown_answers_the_next_command_then_closes(make_server, connect):
    srv = make_server(real_clock=True, timings=Timings(handshake=0.3, fetch_block=0.5))
    busy, idle = connect(srv), connect(srv)
    busy.send(b"FETCH default\r\nINFO\r\n")
    wait_until(lambda: srv.busy_connections() == 1, what="FETCH to block")
    srv.call(srv.thread.server.stop)
    idle.expect_closed()
    assert busy.read() == NULL  # the command in progress finishes
    assert busy.read() == err("shutdown in progress")
    busy.expect_closed()


def test_info_shape(server, connect):
    conn = connect(server, wid="w-info")
    connect(server)
    conn.push(make_job(queue="critical"))
    conn.push(make_job())
    conn.push(make_job())
    conn.push(make_job(at=format_ts(server.now() + 600)))
    server.advance(50, step=1)
    assert conn.json_command("BEAT", {"wid": "w-info"}) == OK  # else reaped at 60 s
    server.advance(50, step=1)

    raw = conn.call_raw(b"INFO\r\n")
    header, body, tail = raw.split(b"\r\n")
    assert header == b"$%d" % len(body)
    assert tail == b""
    info = json.loads(body)
    assert list(info) == ["now", "server_utc_time", "faktory", "server"]
    assert info["now"] == format_ts(server.now())
    assert parse_ts(info["now"]) == server.now()
    assert info["server_utc_time"].endswith(" UTC")
    assert len(info["server_utc_time"]) == len("12:00:00 UTC")

    faktory = info["faktory"]
    assert set(faktory) == {
        "queues",
        "sets",
        "tasks",
        "total_failures",
        "total_processed",
        "total_enqueued",
        "total_queues",
    }
    assert faktory["queues"] == {"critical": 1, "default": 2}
    assert faktory["total_enqueued"] == 3
    assert faktory["total_queues"] == 2
    assert faktory["sets"] == {"dead": 0, "retries": 0, "scheduled": 1, "working": 0}
    assert (faktory["total_processed"], faktory["total_failures"]) == (0, 0)

    tasks = faktory["tasks"]
    assert set(tasks) == {"Busy", "Dead", "Retries", "Scheduled", "Workers"}
    assert tasks["Busy"] == {"reaped": 0, "size": 0}
    assert tasks["Workers"] == {"reaped": 0, "size": 1}
    for name in ("Dead", "Retries", "Scheduled"):
        assert set(tasks[name]) == {"cycles", "enqueued", "size", "wall_time_sec"}
        assert isinstance(tasks[name]["wall_time_sec"], float)
    assert tasks["Scheduled"]["size"] == 1
    assert tasks["Scheduled"]["cycles"] >= 90  # every second for 100 s
    assert tasks["Dead"]["cycles"] == 1  # every 60 s

    srv = info["server"]
    assert set(srv) == {
        "description",
        "faktory_version",
        "uptime",
        "connections",
        "command_count",
        "used_memory_mb",
    }
    assert srv["description"] == "Faktory"
    assert srv["faktory_version"] == "1.10.0"
    assert srv["uptime"] == 100
    assert srv["connections"] == 2
    assert isinstance(srv["used_memory_mb"], int)
    # command_count counts known verbs, INFO included.
    before = srv["command_count"]
    conn.command("NOPE")
    conn.command("INFO")
    assert conn.info()["server"]["command_count"] == before + 2


def test_info_ignores_extra_arguments(server, connect):
    conn = connect(server)
    assert len(conn.bulk_json("INFO", "extra", "stuff")) == 4


def test_flush_empties_everything_and_workers_can_still_beat(server, connect):
    worker = connect(server, wid="w-flush")
    producer = connect(server)
    retried, dead, working = make_job(), make_job(retry=-1), make_job()
    for job in (retried, dead, working):
        producer.push(job)
    for job in (retried, dead):
        assert producer.fetch("default")["jid"] == job["jid"]
        producer.fail(job["jid"])
    assert worker.fetch("default")["jid"] == working["jid"]
    producer.push(make_job(queue="other"))
    producer.push(make_job(at=format_ts(server.now() + 60)))
    assert producer.command("QUEUE", "PAUSE", "other") == OK
    before = producer.info()["faktory"]
    assert before["sets"] == {"dead": 1, "retries": 1, "scheduled": 1, "working": 1}
    assert before["total_processed"] == 2

    assert producer.command("FLUSH") == OK
    after = producer.info()["faktory"]
    assert after["queues"] == {}
    assert after["total_queues"] == 0
    assert after["sets"] == {"dead": 0, "retries": 0, "scheduled": 0, "working": 0}
    assert (after["total_processed"], after["total_failures"]) == (0, 0)
    assert server.call(server.store.paused) == set()
    for which in SortedSet:
        assert server.call(server.store.set_size, which) == 0

    # The reservation is gone: an ACK counts nothing, a FAIL finds nothing.
    worker.ack(working["jid"])
    assert producer.info()["faktory"]["total_processed"] == 0
    # The live worker is still registered.
    assert worker.json_command("BEAT", {"wid": "w-flush"}) == OK
    assert after["tasks"]["Workers"]["size"] == 1
    # And the server keeps working.
    job = make_job(queue="other")
    producer.push(job)
    assert producer.fetch("other")["jid"] == job["jid"]


def test_flush_keeps_a_quiet_worker_quiet(rt_server, connect):
    worker = connect(rt_server, wid="w-flush-quiet")
    quiet = b'$17\r\n{"state":"quiet"}\r\n'
    assert worker.call_raw(b'BEAT {"wid":"w-flush-quiet","current_state":"quiet"}\r\n') == quiet
    assert worker.command("FLUSH") == OK
    # States never move backwards (§3.7), FLUSH or not.
    assert worker.call_raw(b'BEAT {"wid":"w-flush-quiet"}\r\n') == quiet
    worker.push(make_job())
    assert worker.command("FETCH", "default") == NULL
    assert worker.info()["faktory"]["queues"] == {"default": 1}


def _handshake(conn) -> bytes:
    conn.read()
    return conn.call_raw(b'HELLO {"v":2}\r\n')


def test_connection_limit(make_server, connect, connect_raw):
    srv = make_server(max_connections=2)
    first = connect(srv)
    connect(srv, wid="w-limit")
    third = connect_raw(srv)
    assert _handshake(third) == b"-ERR too many connections: 3\r\n"
    third.expect_closed()
    wait_until(lambda: first.info()["server"]["connections"] == 2, what="connection count")

    # A connection that never finished its handshake does not count.
    idle = connect_raw(srv)
    idle.read()
    assert first.info()["server"]["connections"] == 2

    first.close()
    wait_until(lambda: srv.thread.server.stats.connections == 1, what="a free slot")
    fourth = connect_raw(srv)
    assert _handshake(fourth) == b"+OK\r\n"
    assert fourth.info()["server"]["connections"] == 2
