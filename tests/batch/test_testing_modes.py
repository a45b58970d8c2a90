"""Batches in the testing modes (faktory_core.testing.jobs): the server's rules, no server.

The clients point at a port nothing listens on: a batch command that reached for a server
would fail with ConnectFailed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import pytest

from faktory_core.client import AsyncClient, Client, Job, ServerError
from faktory_core.clock import FakeClock
from faktory_core.testing import jobs
from faktory_core.worker import Discard, JobContext, Worker

NOWHERE = "tcp://127.0.0.1:1"


def make_worker(log: list[Any]) -> Worker:
    worker = Worker(NOWHERE)

    @worker.job("Row")
    def row(n: int) -> None:
        log.append(("row", n))
        if n < 0:
            raise ValueError(f"bad row {n}")
        if n == 0:
            raise Discard("nothing to do")

    @worker.job("Done", context=True)
    def done(ctx: JobContext, what: str) -> None:
        log.append((what, ctx.batch.callback if ctx.batch else None))

    @worker.job("Split", context=True)
    async def split(ctx: JobContext, n: int) -> None:
        log.append(("split", n))
        async with ctx.open_batch() as batch:  # more work for this job's own batch
            await batch.push(Job("Row", [n + 100]))

    return worker


def callbacks() -> dict[str, Job]:
    return {"complete": Job("Done", ["complete"]), "success": Job("Done", ["success"])}


def test_fake_mode_records_members_and_the_drain_fires_callbacks_in_order() -> None:
    log: list[Any] = []
    with jobs.fake() as pushed, Client(NOWHERE) as client:
        with client.batch(description="rows", **callbacks()) as batch:
            batch.push(Job("Row", [1]))
            batch.push_bulk([Job("Row", [2])])
        assert [job.custom for job in pushed] == [{"bid": batch.bid}] * 2
        status = client.batch_status(batch.bid)
        assert (status.description, status.total, status.pending, status.failed) == (
            "rows", 2, 2, 0,
        )  # fmt: skip
        assert not status.complete
        assert pushed.drain(make_worker(log)) == 4
        status = client.batch_status(batch.bid)
        assert (status.pending, status.complete_st, status.success_st) == (0, "2", "2")
    assert log == [("row", 1), ("row", 2), ("complete", "complete"), ("success", "success")]


def test_a_failed_member_fires_complete_but_not_success() -> None:
    log: list[Any] = []
    worker = make_worker(log)
    with jobs.fake() as pushed, Client(NOWHERE) as client:
        with client.batch(**callbacks()) as batch:
            batch.push(Job("Row", [-1]))
            batch.push(Job("Row", [0]))  # Discard: acknowledged, so it counts as a success
        with pytest.raises(ValueError, match="bad row -1"):
            pushed.drain(worker)
        assert pushed.jobtypes() == ["Row"]  # the failure stopped the drain
        with pytest.raises(Discard):  # a job's exception propagates, Discard included
            pushed.drain(worker)
        assert pushed.drain(worker) == 1
        status = client.batch_status(batch.bid)
    assert (status.failed, status.complete_st, status.success_st) == (1, "2", "")
    assert log == [("row", -1), ("row", 0), ("complete", "complete")]


def test_inline_mode_runs_members_at_push_and_callbacks_at_commit() -> None:
    log: list[Any] = []
    with jobs.inline(make_worker(log)) as ran, Client(NOWHERE) as client:
        with client.batch(success=Job("Done", ["success"])) as batch:
            batch.push(Job("Row", [1]))
            assert log == [("row", 1)]  # ran at once; nothing fires before the commit
        assert log == [("row", 1), ("success", "success")]
        assert client.batch_status(batch.bid).success_st == "2"
    assert [job.jobtype for job in ran.performed] == ["Row", "Done"]


async def test_a_job_adds_to_its_own_batch_and_the_callback_waits_for_it() -> None:
    log: list[Any] = []
    with jobs.fake() as pushed:
        async with AsyncClient(NOWHERE) as client:
            async with client.batch(success=Job("Done", ["success"])) as batch:
                await batch.push(Job("Split", [1]))
            assert await pushed.adrain(make_worker(log)) == 3
            status = await client.batch_status(batch.bid)
    assert (status.total, status.success_st) == (2, "2")
    assert log == [("split", 1), ("row", 101), ("success", "success")]


def test_a_parent_succeeds_after_its_child() -> None:
    log: list[Any] = []
    with jobs.inline(make_worker(log)), Client(NOWHERE) as client:
        with client.batch(success=Job("Done", ["parent"])) as parent:
            parent.push(Job("Row", [1]))
            with parent.child(success=Job("Done", ["child"])) as child:
                child.push(Job("Row", [2]))
        assert client.batch_status(child.bid).parent_bid == parent.bid
    assert log == [("row", 1), ("row", 2), ("child", "success"), ("parent", "success")]


def test_an_uncommitted_batch_fires_nothing() -> None:
    log: list[Any] = []
    bids: list[str] = []

    def give_up(client: Client) -> None:
        with client.batch(success=Job("Done", ["success"])) as batch:
            bids.append(batch.bid)
            batch.push(Job("Row", [1]))
            raise RuntimeError("the application gave up")

    with jobs.inline(make_worker(log)), Client(NOWHERE) as client:
        with pytest.raises(RuntimeError):
            give_up(client)
        assert not client.batch_status(bids[0]).succeeded
    assert log == [("row", 1)]


def test_an_expired_member_counts_as_failed() -> None:
    clock = FakeClock(1_700_000_000.0)
    log: list[Any] = []
    with jobs.fake(clock) as pushed, Client(NOWHERE) as client:
        with client.batch(**callbacks()) as batch:
            batch.push(Job("Row", [1], expires_in=timedelta(seconds=5)))
        anyio.run(clock.advance, 10)
        assert pushed.drain(make_worker(log)) == 1  # only the complete callback ran
        status = client.batch_status(batch.bid)
    assert [job.jobtype for job in pushed.expired] == ["Row"]
    assert (status.failed, status.complete_st, status.success_st) == (1, "2", "")


def test_unknown_batches_are_refused_as_the_server_refuses_them() -> None:
    with jobs.fake() as pushed, Client(NOWHERE) as client:
        with pytest.raises(ServerError, match="No such batch b-missing") as opened:
            client.open_batch("b-missing").__enter__()
        assert opened.value.code == "ERR"
        with pytest.raises(ServerError, match="No such batch b-missing"):
            client.batch_status("b-missing")
        with pytest.raises(ServerError, match="No such batch b-missing"):
            client.push(Job("Row", [1], custom={"bid": "b-missing"}))
        with pytest.raises(ServerError, match="No such batch b-missing"):
            client.batch(success=Job("Done", ["x"]), parent_bid="b-missing").__enter__()
        unique = Job("Row", [1], custom={"bid": "b-missing"}, unique_for=60)
        assert client.push_bulk([unique]) == {unique.jid: "No such batch b-missing"}
        client.push(Job("Row", [1], unique_for=60))  # the refused push held no lock
    assert pushed.jobtypes() == ["Row"]


def test_reopened_batch_fires_again_only_for_new_work() -> None:
    log: list[Any] = []
    with jobs.inline(make_worker(log)), Client(NOWHERE) as client:
        with client.batch(complete=Job("Done", ["complete"])) as batch:
            batch.push(Job("Row", [1]))
        with client.open_batch(batch.bid) as again:
            again.push(Job("Row", [2]))
        status = client.batch_status(batch.bid)
    assert status.total == 2
    assert log == [("row", 1), ("complete", "complete"), ("row", 2)]
