"""The whole server on the Redis store, over real sockets: PUSH, FETCH, ACK, FAIL, INFO, a FETCH
woken by a PUSH from another server sharing the Redis, and -ERR while Redis is away."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from faktory_core.clock import SystemClock
from faktory_core.config import Timings
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.protocol import Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket, ServerThread

from .conftest import RedisServer

OK = SimpleString("OK")


def _job(**extra: Any) -> dict[str, Any]:
    return {"jid": uuid.uuid4().hex, "jobtype": "Thing", "args": [1, "x"], **extra}


def _fetch(conn: FwpSocket, *queues: str) -> dict[str, Any] | None:
    reply = conn.command("FETCH", *queues)
    assert isinstance(reply, Bulk), reply
    return None if reply.data is None else dict(json.loads(reply.data))


@pytest.fixture
def serve(redis_url: str) -> Iterator[Callable[..., ServerThread]]:
    """``serve()`` runs a server on its own RedisStore (real clock) over the test Redis."""
    threads: list[ServerThread] = []

    def start(url: str = redis_url) -> ServerThread:
        store = RedisStore(SystemClock(), RedisSettings(url=url))
        thread = ServerThread(store, timings=Timings(fetch_block=2.0))
        threads.append(thread.__enter__())
        return thread

    yield start
    for thread in reversed(threads):
        thread.__exit__(None, None, None)


def test_round_trip(serve: Callable[..., ServerThread]) -> None:
    server = serve()
    conn = FwpSocket.open(server.port, wid="wid-1", hostname="host", pid=1, labels=["a"])
    try:
        first, second = _job(), _job(retry=1)
        assert conn.json_command("PUSH", first) == OK
        assert conn.json_command("PUSH", second) == OK
        fetched = _fetch(conn, "default")
        assert fetched is not None
        assert fetched["jid"] == first["jid"]
        assert conn.json_command("ACK", {"jid": first["jid"]}) == OK
        failing = _fetch(conn, "default")
        assert failing is not None
        reply = conn.json_command(
            "FAIL", {"jid": second["jid"], "errtype": "E", "message": "m", "backtrace": ["l"]}
        )
        assert reply == OK
        info = conn.bulk_json("INFO")["faktory"]
        assert (info["total_processed"], info["total_failures"]) == (2, 1)
        assert info["sets"]["retries"] == 1
        assert info["queues"] == {"default": 0}
        assert conn.json_command("BEAT", {"wid": "wid-1"}) == OK
    finally:
        conn.close()


def test_push_on_one_server_wakes_a_fetch_on_another(serve: Callable[..., ServerThread]) -> None:
    one, two = serve(), serve()
    waiting = FwpSocket.open(two.port, wid="wid-2")
    pusher = FwpSocket.open(one.port)
    job = _job()
    got: list[dict[str, Any] | None] = []
    try:
        fetcher = threading.Thread(target=lambda: got.append(_fetch(waiting, "default")))
        fetcher.start()
        time.sleep(0.3)  # the FETCH is blocked on server two
        assert pusher.json_command("PUSH", job) == OK
        fetcher.join(5)
        assert [item and item["jid"] for item in got] == [job["jid"]]
        # ACK through the other server.
        assert pusher.json_command("ACK", {"jid": job["jid"]}) == OK
        assert waiting.bulk_json("INFO")["faktory"]["total_processed"] == 1
    finally:
        waiting.close()
        pusher.close()


def test_redis_outage_answers_err(
    serve: Callable[..., ServerThread], redis_factory: Callable[..., RedisServer]
) -> None:
    own = redis_factory(appendonly=True)
    server = serve(own.url)
    conn = FwpSocket.open(server.port)
    try:
        assert conn.json_command("PUSH", _job()) == OK
        own.stop()
        reply = conn.json_command("PUSH", _job())
        assert isinstance(reply, ErrorReply)
        assert reply.code == "ERR"
        assert "is unreachable" in reply.message
        own.start()
        assert conn.json_command("PUSH", _job()) == OK
        assert conn.bulk_json("INFO")["faktory"]["queues"] == {"default": 2}
    finally:
        conn.close()


def test_a_fetch_during_an_outage_answers_the_stores_error(
    serve: Callable[..., ServerThread], redis_factory: Callable[..., RedisServer]
) -> None:
    """A FETCH blocks while watching its socket (in a task group); the store's error must come
    out of it as itself, not wrapped in an ExceptionGroup ("internal error", a logged crash)."""
    own = redis_factory()
    server = serve(own.url)
    conn = FwpSocket.open(server.port)
    try:
        conn.send(b"FETCH default\r\n")  # blocks (2 s): Redis goes away meanwhile
        time.sleep(0.3)
        own.stop(kill=True)
        reply = conn.read()
        assert isinstance(reply, ErrorReply)
        assert "is unreachable" in reply.message, reply
        own.start()
        assert conn.command("FETCH", "default") == Bulk(None)
    finally:
        conn.close()


def test_third_party_clients_push_to_the_redis_store(serve: Callable[..., ServerThread]) -> None:
    """The PyPI clients' producers (``faktory``, ``pyfaktory``) against the Redis store; the
    full worker interoperability suite lives in tests/interop."""
    import faktory

    server = serve()
    url = f"tcp://127.0.0.1:{server.port}"
    with faktory.connection(url) as client:
        assert client.queue("FromFaktory", args=(1, "a"), queue="interop", jid="f" * 16) is True
    previous = signal.getsignal(signal.SIGTERM)
    try:
        import pyfaktory  # its import installs a SIGTERM handler; keep ours
    finally:
        signal.signal(signal.SIGTERM, previous)
    with pyfaktory.Client(faktory_url=url, role="producer") as client:
        job = pyfaktory.Job(jobtype="FromPyfaktory", args=[2], queue="interop", jid="p" * 16)
        assert pyfaktory.Producer(client=client).push(job) is True
    conn = FwpSocket.open(server.port, wid="checker")
    try:
        fetched = [_fetch(conn, "interop") for _ in range(2)]
        assert [(job and job["jobtype"], job and job["args"]) for job in fetched] == [
            ("FromFaktory", [1, "a"]),
            ("FromPyfaktory", [2]),
        ]
        for job in fetched:
            assert job is not None
            assert conn.json_command("ACK", {"jid": job["jid"]}) == OK
        assert conn.bulk_json("INFO")["faktory"]["total_processed"] == 2
    finally:
        conn.close()
