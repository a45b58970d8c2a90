"""faktory_core.testing.jobs: application tests push jobs without a server.

No server runs here: while a mode is on, the clients never open a connection (they point at a
port nothing listens on, so any attempt would fail loudly).
"""

from __future__ import annotations

from typing import Any

import pytest

from faktory_core.client import AsyncClient, Client, ConnectFailed, Job
from faktory_core.testing import jobs
from faktory_core.worker import JobContext, UnknownJobType, Worker, current_job

NOWHERE = "tcp://127.0.0.1:1"


def signup(client: Client, user_id: int) -> None:
    """Application code under test."""
    client.push(Job("SendWelcomeEmail", [user_id], queue="mail"))
    client.push_bulk([Job("Audit", ["signup", user_id]), Job("Audit", ["welcome", user_id])])


def make_app_worker(log: list[Any]) -> Worker:
    worker = Worker(NOWHERE)

    @worker.job("SendWelcomeEmail", context=True)
    def send_welcome_email(ctx: JobContext, user_id: int) -> None:
        log.append(("email", user_id, ctx.queue))
        ctx.sync_client.push(Job("Audit", ["sent", user_id]))

    @worker.job("Audit")
    async def audit(event: str, user_id: int) -> None:
        log.append(("audit", event, user_id, current_job().jobtype))

    @worker.job("Fails")
    def fails() -> None:
        raise RuntimeError("job failed")

    return worker


def test_fake_mode_records_pushes() -> None:
    with jobs.fake() as pushed, Client(NOWHERE) as client:
        signup(client, 7)
        assert pushed.jobtypes() == ["SendWelcomeEmail", "Audit", "Audit"]
        [email] = pushed.of_type("SendWelcomeEmail")
        assert (email.args, email.queue) == ([7], "mail")
        assert len(pushed.in_queue("default")) == 2
        assert len(pushed) == 3
        pushed.clear()
        assert list(pushed) == []


async def test_fake_mode_with_the_async_client() -> None:
    with jobs.fake() as pushed:
        async with AsyncClient(NOWHERE) as client:
            jid = await client.push(Job("A", [1]))
            assert await client.push_bulk([Job("B"), Job("C")]) == {}
    assert pushed.jobs[0].jid == jid
    assert pushed.jobtypes() == ["A", "B", "C"]


def test_drain_runs_recorded_jobs_and_those_they_push() -> None:
    log: list[Any] = []
    worker = make_app_worker(log)
    with jobs.fake() as pushed, Client(NOWHERE) as client:
        signup(client, 7)
        assert log == []  # fake mode only records
        assert pushed.drain(worker) == 4
        assert len(pushed) == 0
    assert log == [
        ("email", 7, "mail"),
        ("audit", "signup", 7, "Audit"),
        ("audit", "welcome", 7, "Audit"),
        ("audit", "sent", 7, "Audit"),
    ]


def test_inline_mode_runs_jobs_at_once() -> None:
    log: list[Any] = []
    worker = make_app_worker(log)
    with jobs.inline(worker) as inline, Client(NOWHERE) as client:
        client.push(Job("SendWelcomeEmail", [3], queue="mail"))
        # The job ran before push returned, and so did the job it pushed.
        assert log == [("email", 3, "mail"), ("audit", "sent", 3, "Audit")]
        assert [job.jobtype for job in inline.performed] == ["SendWelcomeEmail", "Audit"]


def test_inline_mode_raises_the_job_exception() -> None:
    worker = make_app_worker([])
    with jobs.inline(worker), Client(NOWHERE) as client:
        with pytest.raises(RuntimeError, match="job failed"):
            client.push(Job("Fails"))
        with pytest.raises(UnknownJobType):
            client.push(Job("Nobody"))


async def test_inline_mode_with_the_async_client() -> None:
    log: list[Any] = []
    worker = make_app_worker(log)
    with jobs.inline(worker):
        async with AsyncClient(NOWHERE) as client:
            await client.push(Job("Audit", ["async", 1]))
    assert log == [("audit", "async", 1, "Audit")]


def test_jobs_see_json_not_python_objects() -> None:
    seen: list[Any] = []
    worker = Worker(NOWHERE)
    worker.register("Shape", lambda *args: seen.append(args))
    with jobs.inline(worker), Client(NOWHERE) as client:
        client.push(Job("Shape", [(1, 2), {"k": (3,)}]))
    assert seen == [([1, 2], {"k": [3]})]


def test_modes_nest_and_restore() -> None:
    with jobs.fake() as outer, Client(NOWHERE) as client:
        with jobs.fake() as inner:
            client.push(Job("Inner"))
        client.push(Job("Outer"))
    assert (inner.jobtypes(), outer.jobtypes()) == (["Inner"], ["Outer"])
    with Client(NOWHERE, timeout=1.0) as client, pytest.raises(ConnectFailed):
        client.push(Job("Real"))  # no mode: a real connection is attempted (and refused)


async def test_blocking_calls_inside_an_event_loop_say_what_to_use() -> None:
    worker = make_app_worker([])
    client = Client(NOWHERE)
    with jobs.inline(worker), client, pytest.raises(RuntimeError, match="push with AsyncClient"):
        client.push(Job("Audit", ["x", 1]))
    with jobs.fake() as pushed:
        async with AsyncClient(NOWHERE) as aclient:
            await aclient.push(Job("Audit", ["y", 2]))
        with pytest.raises(RuntimeError, match="await adrain"):
            pushed.drain(worker)
        assert await pushed.adrain(worker) == 1
