"""The Python batch API (client and job context) against a real server on both stores."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from faktory_core.client import AsyncClient, Client, Job, Settings
from faktory_core.client.batch import Batch
from faktory_core.client.errors import ServerError
from faktory_core.worker.batch import NotInBatch
from faktory_core.worker.context import Clients, JobContext

from .conftest import Running, ack, fetch


def url(server: Running) -> str:
    return f"tcp://127.0.0.1:{server.thread.port}"


def drain_and_ack(server: Running, count: int) -> list[dict[str, object]]:
    conn = server.conn()
    done = []
    for _ in range(count):
        got = fetch(conn)
        assert got is not None
        ack(conn, str(got["jid"]))
        done.append(got)
    return done


def test_blocking_client_batch(serve: Callable[..., Running]) -> None:
    server = serve()
    with Client(url(server)) as client:
        with client.batch(description="Import", success=Job("ImportDone")) as batch:
            batch.push(Job("ImportRow", [1]))
            batch.push_bulk([Job("ImportRow", [2]), Job("ImportRow", [3])])
        status = client.batch_status(batch.bid)
        assert (status.description, status.total, status.pending) == ("Import", 3, 3)
        assert status.parent_bid is None
        rows = drain_and_ack(server, 3)
        assert {row["custom"]["bid"] for row in rows} == {batch.bid}  # type: ignore[index]
        assert client.batch_status(batch.bid).succeeded
        (callback,) = drain_and_ack(server, 1)
        assert callback["jobtype"] == "ImportDone"
        assert client.batch_status(batch.bid).success_st == "2"


def test_block_that_raises_does_not_commit(serve: Callable[..., Running]) -> None:
    server = serve()
    with Client(url(server)) as client:
        batch = client.batch(complete=Job("Done"))
        with pytest.raises(RuntimeError, match="producer failed"):
            produce(batch)
        drain_and_ack(server, 1)
        assert client.batch_status(batch.bid).complete_st == ""
        with pytest.raises(ServerError, match="No such batch b-nope"):
            client.batch_status("b-nope")
    with pytest.raises(ValueError, match="callback"):
        Client(url(server)).batch(description="none")


def test_async_client_child_and_reopen(serve: Callable[..., Running]) -> None:
    server = serve()

    async def main() -> tuple[str, str]:
        async with AsyncClient(url(server)) as client:
            async with client.batch(success=Job("ParentDone")) as parent:
                await parent.push(Job("Step"))
                async with parent.child(success=Job("ChildDone")) as child:
                    await child.push(Job("SubStep"))
            async with client.open_batch(parent.bid) as again:
                await again.push(Job("Step"))
            status = await client.batch_status(child.bid)
            assert status.parent_bid == parent.bid
            assert (await client.batch_status(parent.bid)).total == 2
            return parent.bid, child.bid

    parent, child = anyio.run(main)
    jobs = drain_and_ack(server, 3)
    assert sorted(str(job["jobtype"]) for job in jobs) == ["Step", "Step", "SubStep"]
    (child_done,) = drain_and_ack(server, 1)
    assert child_done["custom"] == {"_bid": child, "_cb": "success", "_pbid": parent}
    (parent_done,) = drain_and_ack(server, 1)
    assert parent_done["jobtype"] == "ParentDone"


def test_job_context_opens_its_own_batch(serve: Callable[..., Running]) -> None:
    server = serve()
    with Client(url(server)) as client, client.batch(success=Job("Done")) as batch:
        batch.push(Job("First"))
    first = fetch(server.conn())
    assert first is not None
    clients = Clients(lambda: Settings.from_env(url(server)), 1)
    ctx = JobContext(first, clients)
    assert ctx.batch is not None
    assert ctx.batch.bid == batch.bid

    async def add_more() -> None:
        async with ctx.open_batch() as same:
            await same.push(Job("Second"))
        await clients.aclose()

    anyio.run(add_more)
    with ctx.open_batch_sync() as same:
        same.push(Job("Third"))
    with Client(url(server)) as client:
        assert client.batch_status(batch.bid).total == 3
    outside = JobContext({"jid": "x", "jobtype": "Plain", "args": []}, clients)
    assert outside.batch is None
    with pytest.raises(NotInBatch):
        outside.open_batch()
    anyio.run(clients.aclose)


def produce(batch: Batch) -> None:
    with batch:
        batch.push(Job("Row"))
        raise RuntimeError("producer failed")
