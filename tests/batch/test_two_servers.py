"""Two servers on one Redis: the last two members ACKed through both at the same moment
enqueue the batch's callback once."""

from __future__ import annotations

import threading
from contextlib import ExitStack

from faktory_core.clock import FakeClock
from faktory_core.testing import FwpSocket
from tests.redis.conftest import RedisServer

from .conftest import ack, fetch, job, new, push, raw, start_server, status

ROUNDS = 20


def test_concurrent_last_acks_fire_one_callback(redis_server: RedisServer) -> None:
    with redis_server.client() as client:
        client.flushall()
    clock = FakeClock()
    with ExitStack() as stack:
        one = start_server(stack, "redis", clock, redis_server)
        two = start_server(stack, "redis", clock, redis_server)
        a, b = one.conn(), two.conn()
        bids = []
        for _ in range(ROUNDS):
            bid = new(a, {"complete": {"jobtype": "C", "queue": "callbacks"}})
            push(a, job(custom={"bid": bid}))
            push(b, job(custom={"bid": bid}))
            raw(b, f"BATCH COMMIT {bid}\r\n".encode())
            first, second = fetch(a), fetch(b)
            assert first is not None
            assert second is not None
            start = threading.Barrier(2)

            threads = [
                threading.Thread(target=settle, args=(start, a, first["jid"])),
                threading.Thread(target=settle, args=(start, b, second["jid"])),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            bids.append(bid)
        callbacks = one.queued("callbacks")
        assert sorted(cb["custom"]["_bid"] for cb in callbacks) == sorted(bids)
        assert all(status(b, bid)["complete_st"] == "1" for bid in bids)


def settle(start: threading.Barrier, conn: FwpSocket, jid: str) -> None:
    start.wait()
    ack(conn, jid)
