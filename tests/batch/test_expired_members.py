"""An expired batch member (expiring plugin) counts as executed and failed (enterprise.md §12.9,
docs/compatibility.md): the batch completes instead of waiting forever."""

from __future__ import annotations

from contextlib import ExitStack

from faktory_core.clock import FakeClock
from faktory_core.config import Timings
from faktory_core.plugins import expiring, memory_store
from faktory_core.plugins.batch import BatchPlugin
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.testing import FwpSocket, ServerThread

from .conftest import fetch, job, new, push, raw, status


def test_an_expired_member_counts_as_failed_and_the_batch_completes() -> None:
    clock = FakeClock()
    plugins = [("memory_store", memory_store), ("expiring", expiring), ("batch", BatchPlugin())]
    thread = ServerThread(
        MemoryStore(clock), clock=clock, timings=Timings(handshake=0.3), plugins=plugins
    )
    with ExitStack() as stack:
        stack.enter_context(thread)
        conn = FwpSocket.open(thread.port)
        stack.callback(conn.close)
        bid = new(conn, {"complete": {"jobtype": "Complete"}, "success": {"jobtype": "Success"}})
        assert push(conn, job(custom={"bid": bid, "expires_in": 10})) == b"+OK\r\n"
        assert raw(conn, f"BATCH COMMIT {bid}\r\n".encode()) == b"+OK\r\n"
        thread.call(clock.advance, 60)

        callback = fetch(conn)  # the member expired: dropped at FETCH; complete fired
        assert callback is not None
        assert callback["jobtype"] == "Complete"
        st = status(conn, bid)
        assert (st["pending"], st["failed"], st["complete_st"]) == (0, 1, "1")
