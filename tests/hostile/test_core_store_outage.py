"""Issue 13, item 2: a worker connecting while the store is unreachable gets ``-ERR`` with the
store's message, and the server goes on (it used to let StoreError end the process)."""

from __future__ import annotations

from collections.abc import Callable

from faktory_core.protocol import ErrorReply, encode_hello, parse_hi
from tests.hostile.conftest import Spawned, assert_jobs, push_jobs
from tests.integration.conftest import Conn
from tests.redis.conftest import RedisServer


def hello_reply(server: Spawned, wid: str) -> object:
    conn = Conn.connect(server.port)
    try:
        hi = parse_hi(conn.read())
        reply = conn.call(encode_hello(hi, wid=wid))
        if isinstance(reply, ErrorReply):
            conn.expect_closed()
        return reply
    finally:
        conn.close()


def test_memory_store_outage_while_a_worker_connects(spawn: Callable[..., Spawned]) -> None:
    server = spawn(faults={"worker_connect": "outage", "worker_disconnect": "outage"})
    jids = push_jobs(server)
    reply = hello_reply(server, "faulty-1")
    assert reply == ErrorReply("ERR", "the store is unreachable (the test's outage)")
    assert_jobs(server, jids)
    assert "cannot admit the worker from 127.0.0.1:" in server.log()


def test_redis_stopped_while_a_worker_connects(
    spawn: Callable[..., Spawned], redis_factory: Callable[..., RedisServer]
) -> None:
    redis = redis_factory(appendonly=True)
    server = spawn(store="redis", redis_url=redis.url)
    jids = push_jobs(server)
    redis.stop()
    for wid in ("w1", "w2"):  # twice: the first outage did not take the server down
        reply = hello_reply(server, wid)
        assert isinstance(reply, ErrorReply), reply
        assert "is unreachable" in reply.message
        server.assert_alive()
    # A producer (no wid) needs no store to connect; its PUSH is answered with the outage.
    conn = server.connect()
    reply = conn.json_command("PUSH", {"jid": "during-outage", "jobtype": "J", "args": []})
    assert isinstance(reply, ErrorReply), reply
    conn.close()
    redis.start()
    assert hello_reply(server, "w3") is not None
    worker = server.connect(wid="w4")  # registers again now that Redis answers
    worker.close()
    assert_jobs(server, jids)
