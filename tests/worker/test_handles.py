"""Job handles (``@worker.job`` returns one) and the clients jobs get (``ctx.client``)."""

from __future__ import annotations

from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import AsyncClient, Client, Job
from faktory_core.model import SortedSet
from faktory_core.worker import JobContext, JobHandle, Worker, WrongClient


async def test_handles_push_checked_jobs_that_the_worker_runs(server: Any) -> None:
    done: list[tuple[Any, ...]] = []
    worker = support.make_worker(server.url, queues=["default", "mail"])

    @worker.job("SendEmail", timeout=30)
    async def send_email(user_id: int, subject: str = "hi") -> None:
        done.append(("email", user_id, subject))

    @worker.job
    def resize(path: str) -> None:
        done.append(("resize", path))

    @worker.job("Audit", context=True)
    def audit(ctx: JobContext, what: str) -> None:
        done.append(("audit", what))

    assert isinstance(send_email, JobHandle)
    assert (send_email.jobtype, resize.jobtype, audit.jobtype) == ("SendEmail", "resize", "Audit")
    job = send_email.job(42, queue="mail")
    assert (job.jobtype, job.args, job.queue, job.reserve_for) == ("SendEmail", [42], "mail", 90)
    assert resize.job("a.png").reserve_for is None  # no timeout, the server's default
    async with AsyncClient(server.url) as client:
        await send_email.push(client, 42, "welcome")
        await audit.push(client, "login")
    with Client(server.url) as sync_client:
        resize.push_sync(sync_client, "a.png")
    await support.push(server.url, job)
    async with support.running(worker):
        await support.async_wait_until(lambda: len(done) == 4)
    assert sorted(done) == [
        ("audit", "login"),
        ("email", 42, "hi"),
        ("email", 42, "welcome"),
        ("resize", "a.png"),
    ]
    resize("direct")  # a handle is still the function
    assert done[-1] == ("resize", "direct")


def test_wrong_arguments_fail_at_push_time() -> None:
    worker = Worker()

    @worker.job("SendEmail")
    async def send_email(user_id: int, subject: str) -> None: ...

    @worker.job("Audit", context=True)
    def audit(ctx: JobContext, what: str) -> None: ...

    with pytest.raises(TypeError, match=r"job 'SendEmail': arguments \[1\] do not fit"):
        send_email.job(1)
    with pytest.raises(TypeError, match="too many positional arguments"):
        send_email.job(1, "a", "b")
    with pytest.raises(TypeError, match=r"job 'Audit': arguments \[\] do not fit"):
        audit.job()
    assert audit.job("x").args == ["x"]


def test_a_function_needing_keyword_arguments_is_refused_at_definition() -> None:
    worker = Worker()
    with pytest.raises(TypeError, match="required keyword-only parameter 'lang'"):

        @worker.job()
        def greet(name: str, *, lang: str) -> None: ...


def test_the_worker_default_timeout_sets_the_reservation() -> None:
    worker = Worker(job_timeout=600)
    handle = worker.register("Long", lambda: None)
    assert handle.job().reserve_for == 660
    assert handle.job(reserve_for=7200).reserve_for == 7200  # given: kept


async def test_ctx_client_fits_the_job_kind_and_sync_client_refuses_the_loop(
    server: Any,
) -> None:
    children: list[str] = []
    worker = support.make_worker(server.url)

    @worker.job("PlainParent", context=True)
    def plain_parent(ctx: JobContext) -> None:
        ctx.client.push(Job("Child", ["from a plain job"]))  # type: ignore[unused-coroutine]

    @worker.job("AsyncParent", context=True)
    async def async_parent(ctx: JobContext) -> None:
        ctx.sync_client.push(Job("Child", ["never"]))

    @worker.job("Child")
    async def child(origin: str) -> None:
        children.append(origin)

    wrong = Job("AsyncParent")
    await support.push(server.url, Job("PlainParent"), wrong)
    async with support.running(worker):
        await support.async_wait_until(lambda: children and server.stats()["sets"]["retries"])
    assert children == ["from a plain job"]
    [failed] = server.set_jobs(SortedSet.RETRIES)
    assert (failed.jid, failed.failure.errtype) == (wrong.jid, WrongClient.__name__)
    assert failed.failure.message == (
        "ctx.sync_client blocks the event loop and every job on it: in an async def job "
        "(or middleware), use await ctx.client.push(...)"
    )
