"""PUSHB when the store fails part way: the jobs of the chunks already pushed are in, and every
other job is reported by jid with the store's error, never a bare -ERR for the whole batch
(a client retrying that would duplicate the jobs that were in)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from faktory_core.clock import SystemClock
from faktory_core.errors import StoreError
from faktory_core.manager import PUSH_CHUNK
from faktory_core.model import Job
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import Bulk
from faktory_core.testing import FwpSocket, ServerThread
from tests.integration.conftest import make_job

MESSAGE = "Redis at unix:///x is unreachable (the test's outage)"


class FailingAfterFirstChunk(MemoryStore):
    """Takes one chunk, then is "unreachable"."""

    chunks = 0

    async def push_many(self, jobs: Sequence[Job]) -> None:
        if self.chunks:
            raise StoreError(MESSAGE)
        self.chunks += 1
        await super().push_many(jobs)


def test_a_store_failure_is_reported_per_job() -> None:
    store = FailingAfterFirstChunk(SystemClock())
    jobs = [make_job(args=[n]) for n in range(PUSH_CHUNK * 2 + 500)]
    later = make_job(at="2999-01-01T00:00:00Z")  # scheduled: not in push_many, pushed fine
    with ServerThread(store) as server:
        conn = FwpSocket.open(server.port)
        reply = conn.json_command("PUSHB", [*jobs, later])
        assert isinstance(reply, Bulk)
        assert reply.data is not None
        errors = json.loads(reply.data)
        assert errors == {job["jid"]: MESSAGE for job in jobs[PUSH_CHUNK:]}
        info = conn.bulk_json("INFO")["faktory"]
        assert info["queues"] == {"default": PUSH_CHUNK}
        assert info["tasks"]["Scheduled"]["size"] == 1
        conn.close()
