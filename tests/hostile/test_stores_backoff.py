"""Issue 13 item 7, over real sockets on both stores: a job whose backoff overflows the date
range, and a job no background loop can move, must not cost a FAIL, a reaper pass or a job."""

from __future__ import annotations

from collections.abc import Callable

from faktory_core.clock import FakeClock
from faktory_core.config import Timings
from faktory_core.manager import BURIED_ERRTYPE, EXPIRED_ERRTYPE
from faktory_core.model import DEFAULT_RESERVE_FOR, Job, SortedSet
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import ErrorReply, SimpleString
from faktory_core.retry import MAX_BACKOFF_SECONDS, FaktoryRetryPolicy
from faktory_core.store import FailureOutcome
from faktory_core.testing import ServerThread
from faktory_core.timefmt import format_ts

# tests/ is no package: a relative import is the way to share the Redis test helpers.
from ..redis import either_store  # noqa: TID252
from ..redis.either_store import Running, alive, fetch, job  # noqa: TID252

module_redis = either_store.module_redis
serve = either_store.serve

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
