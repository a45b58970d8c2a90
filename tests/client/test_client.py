"""Client and AsyncClient against a real faktory-core: every command, checked on the server side.

Each scenario runs with both clients: ``client`` is a Client, or an AsyncClient driven from a
blocking portal (its own event loop thread), so the same assertions cover both.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from faktory_core.client import AsyncClient, Client, Info, Job, ServerError
from faktory_core.model import SortedSet
from faktory_core.protocol import SimpleString

REFUSED = "Refused"  # refused by the test server's push middleware (support.RefusePlugin)


class Blocking:
    """An AsyncClient whose coroutine methods are called through a blocking portal."""

    def __init__(self, portal: BlockingPortal, client: AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._portal.call(functools.partial(method, *args, **kwargs))

        return call

    def close(self) -> None:
        self._portal.call(self._client.aclose)


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``make_client(url, **options)`` → a Client, or an AsyncClient used through a portal."""
    made: list[Any] = []
    with start_blocking_portal("asyncio") as portal:

        def make(url: str, **options: Any) -> Any:
            if request.param == "sync":
                client: Any = Client(url, **options)
            else:
                client = Blocking(portal, AsyncClient(url, **options))
            made.append(client)
            return client

        yield make
        for client in made:
            client.close()


@pytest.fixture
def client(server: Any, make_client: Callable[..., Any]) -> Any:
    return make_client(server.url)


@support.every_store
def test_push_one_job(server: Any, client: Any) -> None:
    job = Job(
        "Add", [1, {"b": [2.5, None]}], queue="math", retry=3, reserve_for=120, custom={"k": 1}
    )
    assert client.push(job) == job.jid
    [stored] = server.queue_jobs("math")
    assert (stored.jid, stored.jobtype, stored.args) == (job.jid, "Add", [1, {"b": [2.5, None]}])
    assert (stored.retry, stored.reserve_for, stored.custom) == (3, 120, {"k": 1})


@support.every_store
def test_push_scheduled_job(server: Any, client: Any) -> None:
    job = Job("Later", [], delay=3600)
    client.push(job)
    [scheduled] = server.set_jobs(SortedSet.SCHEDULED)
    assert (scheduled.jid, scheduled.at) == (job.jid, job.at)
    assert server.stats()["queues"] == {}


def test_a_coded_error_carries_its_code(server: Any, client: Any) -> None:
    with pytest.raises(ServerError) as caught:
        client.push(Job(REFUSED, [1]))
    assert (caught.value.code, caught.value.message) == ("NOTUNIQUE", "Job not unique")
    # The connection stays usable after an error reply.
    client.push(Job("Fine"))
    assert server.stats()["queues"] == {"default": 1}


@support.every_store
def test_push_bulk_reports_each_refused_job(server: Any, client: Any) -> None:
    good = [Job("Bulk", [n]) for n in range(3)]
    refused = Job(REFUSED, ["nope"])
    errors = client.push_bulk([good[0], refused, *good[1:]])
    assert errors == {refused.jid: "NOTUNIQUE Job not unique"}
    assert sorted(j.jid for j in server.queue_jobs("default")) == sorted(j.jid for j in good)
    assert client.push_bulk([]) == {}


@support.every_store
def test_info_is_typed(server: Any, client: Any) -> None:
    client.push(Job("A", queue="one"))
    client.push_bulk([Job("B", queue="two"), Job("C", queue="two")])
    info = client.info()
    assert isinstance(info, Info)
    assert info.faktory.queues == {"one": 1, "two": 2}
    assert (info.faktory.total_enqueued, info.faktory.total_queues) == (3, 2)
    assert info.faktory.sets.scheduled == 0
    assert info.faktory.tasks["Busy"].size == 0
    assert info.server.faktory_version == "1.10.0"
    assert info.server.connections >= 1
    assert info.now.endswith("Z")


@support.every_store
def test_pause_resume_and_latency(server: Any, client: Any) -> None:
    job = Job("Q", queue="slow")
    client.push(job)
    assert client.queue_latency("slow", "empty")["empty"] == 0
    assert client.queue_latency("slow")["slow"] >= 0
    client.queue_pause("slow")
    assert server.fetch_raw("slow") is None  # paused: FETCH skips it
    client.queue_resume("*")
    fetched = server.fetch_raw("slow")
    assert fetched is not None
    assert fetched["jid"] == job.jid


@support.every_store
def test_queue_remove_deletes_the_queue_and_its_jobs(server: Any, client: Any) -> None:
    client.push_bulk([Job("R", queue="doomed"), Job("R", queue="kept")])
    client.queue_remove("doomed")
    assert server.stats()["queues"] == {"kept": 1}


def _fail_one(server: Any, job: Job) -> None:
    with server.monitor() as conn:
        assert conn.command("FETCH", job.queue) is not None
        reply = conn.json_command("FAIL", {"jid": job.jid, "errtype": "E", "message": "m"})
        assert reply == SimpleString("OK")


@support.every_store
def test_mutate_requeue_kill_and_clear(server: Any, client: Any) -> None:
    first, second = Job("Send Email", ["a"]), Job("Send Email", ["b"])
    for job in (first, second):
        client.push(job)
        _fail_one(server, job)
    assert server.stats()["sets"]["retries"] == 2

    client.mutate("requeue", "retries", jids=[first.jid])
    assert [j.jid for j in server.queue_jobs("default")] == [first.jid]

    client.mutate("kill", "retries", jobtype="Send Email")  # a space in the filter
    assert [j.jid for j in server.set_jobs(SortedSet.DEAD)] == [second.jid]

    client.mutate("clear", "dead")
    assert server.stats()["sets"] == {"dead": 0, "retries": 0, "scheduled": 0, "working": 0}


@support.every_store
def test_flush_empties_the_server(server: Any, client: Any) -> None:
    client.push_bulk([Job("F", queue="a"), Job("F", delay=60)])
    client.flush()
    stats = server.stats()
    assert stats["total_enqueued"] == 0
    assert stats["sets"]["scheduled"] == 0


def test_one_pool_shared_by_many_threads(server: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(server.url, connections=3)
    threads, per_thread = 12, 25
    barrier = threading.Barrier(threads)

    def pushes(n: int) -> None:
        barrier.wait(timeout=10)
        for i in range(per_thread):
            client.push(Job("Many", [n, i]))

    workers = [threading.Thread(target=pushes, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=30)
    args = sorted(tuple(job.args) for job in server.queue_jobs("default"))
    assert args == sorted((n, i) for n in range(threads) for i in range(per_thread))
    # The pool never opened more than its size: 3 of ours plus the monitor's connection.
    assert server.info()["server"]["connections"] <= 4


def test_payload_on_the_wire_is_what_a_go_worker_expects(server: Any, client: Any) -> None:
    job = Job("Wire", [1, "x"], at="2000-01-01T00:00:00Z")  # in the past: enqueued now
    client.push(job)
    fetched = server.fetch_raw("default")
    assert fetched is not None
    assert json.dumps(fetched["args"]) == '[1, "x"]'
    assert (fetched["jid"], fetched["at"], fetched["retry"]) == (job.jid, job.at, 25)
