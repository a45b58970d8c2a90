"""Workers and heartbeats (workers_test.go, reference §3.7, §5.7), quiet/terminate per wid, and
heartbeat expiry."""

from __future__ import annotations

import pytest

from faktory_core.model import WorkerState
from tests.integration.conftest import NULL, OK, err, make_job, wait_until


def workers_size(conn) -> int:
    return conn.info()["faktory"]["tasks"]["Workers"]["size"]


def beat(conn, wid: str, state: str | None = None, **extra):
    payload = {"wid": wid, **extra}
    if state is not None:
        payload["current_state"] = state
    return conn.json_command("BEAT", payload)


def test_hello_with_wid_is_a_consumer(server, connect):
    consumer = connect(server, wid="w-consumer", hostname="box", pid=42, labels=["a", "b"])
    assert workers_size(consumer) == 1
    (record,) = server.call(server.store.workers)
    assert (record.wid, record.hostname, record.pid, record.labels) == (
        "w-consumer",
        "box",
        42,
        ("a", "b"),
    )
    assert beat(consumer, "w-consumer", rss_kb=1234) == OK
    (record,) = server.call(server.store.workers)
    assert record.rss_kb == 1234


def test_hello_without_wid_is_a_producer(server, connect, connect_raw):
    producer = connect(server)
    assert workers_size(producer) == 0
    assert beat(producer, "w-unknown") == err("unknown worker w-unknown")
    assert producer.call(b'BEAT {"wid":""}\r\n') == err("unknown worker ")

    empty = connect_raw(server)
    empty.read()
    assert empty.call(b"HELLO {}\r\n") == OK
    assert workers_size(empty) == 0


def test_any_connection_may_beat_for_a_registered_wid(server, connect):
    connect(server, wid="w-shared")
    other = connect(server)
    assert beat(other, "w-shared") == OK


def test_worker_record_goes_with_its_last_connection(server, connect):
    first = connect(server, wid="w-two")
    second = connect(server, wid="w-two")
    observer = connect(server)
    assert workers_size(observer) == 1
    first.close()
    wait_until(lambda: observer.info()["server"]["connections"] == 2, what="first to go")
    assert beat(observer, "w-two") == OK
    second.close()
    wait_until(lambda: workers_size(observer) == 0, what="the record to go")
    assert beat(observer, "w-two") == err("unknown worker w-two")


def test_beat_state_machine_only_moves_forward(server, connect):
    conn = connect(server, wid="w-states")
    assert beat(conn, "w-states") == OK
    assert beat(conn, "w-states", "running") == OK
    assert beat(conn, "w-states", "bogus") == OK
    assert conn.call_raw(b'BEAT {"wid":"w-states","current_state":"quiet"}\r\n') == (
        b'$17\r\n{"state":"quiet"}\r\n'
    )
    assert conn.call_raw(b'BEAT {"wid":"w-states"}\r\n') == b'$17\r\n{"state":"quiet"}\r\n'
    assert conn.call_raw(b'BEAT {"wid":"w-states","current_state":"running"}\r\n') == (
        b'$17\r\n{"state":"quiet"}\r\n'
    )
    assert conn.call_raw(b'BEAT {"wid":"w-states","current_state":"terminate"}\r\n') == (
        b'$21\r\n{"state":"terminate"}\r\n'
    )
    for state in ("quiet", "running", ""):
        line = b'BEAT {"wid":"w-states","current_state":"%s"}\r\n' % state.encode()
        assert conn.call_raw(line) == b'$21\r\n{"state":"terminate"}\r\n'


def test_running_straight_to_terminate(server, connect):
    conn = connect(server, wid="w-term")
    assert conn.call_raw(b'BEAT {"wid":"w-term","current_state":"terminate"}\r\n') == (
        b'$21\r\n{"state":"terminate"}\r\n'
    )
    # The server never closes a terminated worker itself.
    assert conn.info()["server"]["connections"] == 1


@pytest.mark.parametrize("signal", [WorkerState.QUIET, WorkerState.TERMINATE])
def test_quiet_and_terminate_apply_to_every_connection_of_the_wid(rt_server, connect, signal):
    first = connect(rt_server, wid="w-quiet")
    second = connect(rt_server, wid="w-quiet")
    producer = connect(rt_server)
    job = make_job()
    producer.push(job)

    assert rt_server.call(rt_server.store.worker_signal, ["w-quiet"], signal) == 1
    expected = {
        WorkerState.QUIET: b'$17\r\n{"state":"quiet"}\r\n',
        WorkerState.TERMINATE: b'$21\r\n{"state":"terminate"}\r\n',
    }[signal]
    assert first.call_raw(b'BEAT {"wid":"w-quiet"}\r\n') == expected
    assert second.call_raw(b'BEAT {"wid":"w-quiet"}\r\n') == expected

    assert first.command("FETCH", "default") == NULL
    assert second.command("FETCH", "default") == NULL
    # The job was there all along: a connection without that wid gets it.
    assert producer.fetch("default")["jid"] == job["jid"]


def test_silent_worker_is_reaped_and_its_connection_closed(server, connect):
    silent = connect(server, wid="w-silent")
    alive = connect(server, wid="w-alive")
    producer = connect(server)
    assert workers_size(producer) == 2

    for _ in range(5):  # 75 s, the Workers task running every 15 s
        server.advance(15, step=5)
        assert beat(alive, "w-alive") == OK

    silent.expect_closed()
    assert beat(producer, "w-silent") == err("unknown worker w-silent")
    assert beat(alive, "w-alive") == OK
    info = producer.info()
    assert info["faktory"]["tasks"]["Workers"] == {"reaped": 1, "size": 1}
    wait_until(lambda: producer.info()["server"]["connections"] == 2, what="connection count")
    # A fresh connection with the reaped wid registers it again.
    back = connect(server, wid="w-silent")
    assert beat(back, "w-silent") == OK
