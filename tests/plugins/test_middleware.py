"""Job middleware, extra commands and lifecycle hooks, over real sockets.

Each test starts a server with sample plugins from ``sample_plugins`` and talks FWP to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from faktory_core.clock import FakeClock
from faktory_core.config import Config
from faktory_core.model import SortedSet
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import Bulk, SimpleString
from faktory_core.testing import ServerThread

from .harness import Client, Running, error, make_job
from .sample_plugins import (
    AsyncStartSyncStop,
    Batches,
    Echo,
    ExpiringJobs,
    FailingStop,
    Recorder,
    Refuse,
    RefuseOnce,
    SyncStartAsyncStop,
    TryFirstRecorder,
    TryLastRecorder,
    UniqueJobs,
)

Serve = Callable[..., Running]
Connect = Callable[..., Client]

NOTUNIQUE = b"-NOTUNIQUE Job not unique\r\n"


# -- push middleware: unique jobs ----------------------------------------------------------------


def test_push_middleware_refuses_a_duplicate_with_its_own_code(serve: Serve, connect: Connect):
    running = serve(("unique", UniqueJobs()))
    client = connect(running)
    first = make_job("Report", [1, "a"])
    duplicate = make_job("Report", [1, "a"])
    other_args = make_job("Report", [2, "a"])

    assert client.push_raw(first) == b"+OK\r\n"
    assert client.push_raw(duplicate) == NOTUNIQUE
    assert client.push_raw(other_args) == b"+OK\r\n"

    assert running.queued() == [first["jid"], other_args["jid"]]


def test_the_refused_job_can_be_pushed_once_the_first_is_acknowledged(
    serve: Serve, connect: Connect
):
    running = serve(("unique", UniqueJobs()))
    client = connect(running)
    first, again = make_job("Report", [1]), make_job("Report", [1])
    client.push(first)
    assert client.push_raw(again) == NOTUNIQUE

    client.ack(client.fetch()["jid"])

    assert client.push_raw(again) == b"+OK\r\n"
    assert running.queued() == [again["jid"]]


def test_pushb_reports_the_refusal_with_code_and_message(serve: Serve, connect: Connect):
    running = serve(("unique", UniqueJobs()))
    client = connect(running)
    jobs = [make_job("Report", [1]), make_job("Report", [1]), make_job("Report", [2])]

    assert client.pushb(jobs) == {jobs[1]["jid"]: "NOTUNIQUE Job not unique"}
    assert running.queued() == [jobs[0]["jid"], jobs[2]["jid"]]


def test_push_middleware_runs_for_scheduled_jobs(serve: Serve, connect: Connect):
    running = serve(("unique", UniqueJobs()))
    client = connect(running)
    later = make_job("Report", [7], at=running.at(3600))
    duplicate = make_job("Report", [7], at=running.at(7200))

    assert client.push_raw(later) == b"+OK\r\n"
    assert client.push_raw(duplicate) == NOTUNIQUE

    scheduled = running.call(running.store.set_page, SortedSet.SCHEDULED, 0, 10)
    assert [entry.job.jid for entry in scheduled] == [later["jid"]]
    assert running.queued() == []


# -- fetch middleware: discard and refuse --------------------------------------------------------


def test_discard_drops_the_job_and_fetch_returns_the_next_one(
    serve: Serve, connect: Connect, clock: FakeClock
):
    expiring = ExpiringJobs(clock)
    running = serve(("expiring", expiring))
    client = connect(running)
    expired = make_job("Report", custom={"expires_at": running.at(-1)})
    fresh = make_job("Report", custom={"expires_at": running.at(3600)})
    client.push(expired)
    client.push(fresh)

    fetched = client.fetch()

    assert fetched["jid"] == fresh["jid"]
    assert expiring.discarded == [expired["jid"]]
    assert running.queued() == []
    assert running.reserved() == [fresh["jid"]]
    client.ack(fresh["jid"])
    stats = running.call(running.store.stats)
    assert (stats.processed, stats.failures, stats.working) == (1, 0, 0)


def test_a_job_without_expiry_is_delivered(serve: Serve, connect: Connect, clock: FakeClock):
    running = serve(("expiring", ExpiringJobs(clock)))
    client = connect(running)
    job = make_job("Report", custom={"other": 1})
    client.push(job)

    assert client.fetch()["custom"] == {"other": 1}


def test_another_fetch_error_reaches_the_client_and_requeues_at_the_head(
    serve: Serve, connect: Connect
):
    refuse = RefuseOnce("Picky", code="BUSY", message="try again later")
    running = serve(("refuse", refuse))
    client = connect(running)
    picky, plain = make_job("Picky"), make_job("Plain")
    client.push(picky)
    client.push(plain)

    assert client.fetch_reply() == error("BUSY", "try again later")
    assert refuse.refused == [picky["jid"]]
    assert running.queued() == [picky["jid"], plain["jid"]]
    assert running.reserved() == []

    assert client.fetch()["jid"] == picky["jid"]
    assert client.fetch()["jid"] == plain["jid"]


# -- ack and fail middleware ---------------------------------------------------------------------


def test_ack_and_fail_middleware_run(serve: Serve, connect: Connect):
    recorder = Recorder("rec")
    running = serve(("rec", recorder))
    client = connect(running)
    done, broken = make_job("Done"), make_job("Broken", retry=3)
    client.push(done)
    client.push(broken)

    client.ack(client.fetch()["jid"])
    client.fail(client.fetch()["jid"], message="it broke")

    assert [job.jid for job in recorder.calls("push")] == [done["jid"], broken["jid"]]
    assert [job.jid for job in recorder.calls("fetch")] == [done["jid"], broken["jid"]]
    assert [job.jid for job in recorder.calls("ack")] == [done["jid"]]
    [failed] = recorder.calls("fail")
    assert failed.jid == broken["jid"]
    assert failed.failure is not None
    assert (failed.failure.errtype, failed.failure.message) == ("RuntimeError", "it broke")
    assert failed.failure.retry_count == 0
    assert running.call(running.store.set_size, SortedSet.RETRIES) == 1


def test_ack_of_an_unknown_job_does_not_run_ack_middleware(serve: Serve, connect: Connect):
    recorder = Recorder("rec")
    running = serve(("rec", recorder))
    client = connect(running)

    client.ack("not-reserved")

    assert recorder.calls("ack") == []


def test_an_ack_step_error_reaches_the_client_after_the_ack(serve: Serve, connect: Connect):
    running = serve(("refuse", Refuse("ack", code="NOPE", message="not now")))
    client = connect(running)
    client.push(make_job())
    jid = client.fetch()["jid"]

    assert client.json_command("ACK", {"jid": jid}) == error("NOPE", "not now")
    assert running.reserved() == []
    assert running.call(running.store.stats).processed == 1


def test_a_fail_step_error_leaves_the_job_reserved(serve: Serve, connect: Connect):
    running = serve(("refuse", Refuse("fail", code="NOPE", message="not now")))
    client = connect(running)
    client.push(make_job())
    jid = client.fetch()["jid"]

    payload = {"jid": jid, "errtype": "E", "message": "m"}
    assert client.json_command("FAIL", payload) == error("NOPE", "not now")
    assert running.reserved() == [jid]
    stats = running.call(running.store.stats)
    assert (stats.failures, stats.retries) == (0, 0)


# -- order ---------------------------------------------------------------------------------------


def _push_order(serve: Serve, connect: Connect, *plugins: tuple[str, Recorder]) -> list[str]:
    running = serve(*plugins)
    connect(running).push(make_job())
    return plugins[0][1].order("push")


def test_the_plugin_registered_last_runs_outermost(serve: Serve, connect: Connect):
    log: list = []
    order = _push_order(
        serve, connect, ("first", Recorder("first", log)), ("second", Recorder("second", log))
    )
    assert order == ["second:in", "first:in", "first:out", "second:out"]


def test_tryfirst_runs_outermost_whatever_the_registration_order(serve: Serve, connect: Connect):
    log: list = []
    order = _push_order(
        serve, connect, ("eager", TryFirstRecorder("eager", log)), ("plain", Recorder("plain", log))
    )
    assert order == ["eager:in", "plain:in", "plain:out", "eager:out"]


def test_trylast_runs_innermost_whatever_the_registration_order(serve: Serve, connect: Connect):
    log: list = []
    order = _push_order(
        serve, connect, ("plain", Recorder("plain", log)), ("late", TryLastRecorder("late", log))
    )
    assert order == ["plain:in", "late:in", "late:out", "plain:out"]


def test_an_outer_middleware_refusal_stops_the_inner_ones(serve: Serve, connect: Connect):
    log: list = []
    inner = Recorder("inner", log)
    running = serve(("inner", inner), ("unique", UniqueJobs()))
    client = connect(running)
    client.push(make_job("Report", [1]))

    assert client.push_raw(make_job("Report", [1])) == NOTUNIQUE
    assert len(inner.calls("push")) == 1


# -- commands ------------------------------------------------------------------------------------


def test_a_plugin_adds_a_command(serve: Serve, connect: Connect):
    client = connect(serve(("echo", Echo())))

    assert client.command("ECHO", "hello", "there") == SimpleString("hello there")
    assert client.call(b"ECHO\r\n") == SimpleString("")


def test_a_plugin_replaces_a_built_in_command(serve: Serve, connect: Connect):
    client = connect(serve(("batches", Batches())))

    assert client.command("BATCH", "NEW", "{}") == Bulk(b"b-1")
    assert client.command("BATCH", "OPEN", "b-1") == error("ERR", "unknown BATCH subcommand OPEN")


def test_without_the_plugin_batch_is_enterprise_only(serve: Serve, connect: Connect):
    client = connect(serve())

    assert client.command("BATCH", "NEW", "{}") == error(
        "ERR", "batch subsystem is only available in Faktory Enterprise"
    )
    assert client.command("ECHO", "x") == error("ERR", "unknown command ECHO")


# -- lifecycle -----------------------------------------------------------------------------------


def test_startup_and_shutdown_hooks_run_sync_and_async(clock: FakeClock):
    first, second = SyncStartAsyncStop("first"), AsyncStartSyncStop("second")
    plugins = [("first", first), ("second", second)]

    with ServerThread(MemoryStore(clock), clock=clock, plugins=plugins) as thread:
        client = Client.open(thread.port)
        client.push(make_job())
        client.close()
        assert first.events == ["first: sync startup, task group True"]
        assert second.events == ["second: async startup, store memory"]

    assert first.events[1:] == ["first: async shutdown"]
    assert second.events[1:] == ["second: sync shutdown"]


def test_reload_hooks_get_the_new_config(clock: FakeClock):
    first, second = SyncStartAsyncStop("first"), AsyncStartSyncStop("second")

    with ServerThread(
        MemoryStore(clock), clock=clock, plugins=[("first", first), ("second", second)]
    ) as thread:
        assert thread.server is not None
        thread.call(thread.server.reload, Config(environment="staging"))

    assert "first: async reload, environment staging" in first.events
    assert "second: sync reload, environment staging" in second.events


def test_a_failing_reload_or_shutdown_hook_is_logged_and_the_others_still_run(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    events: list[str] = []
    # Registered last, "failing" runs first: "steady" still gets both notifications.
    plugins = [("steady", AsyncStartSyncStop("steady", events)), ("failing", FailingStop())]

    with (
        caplog.at_level(logging.ERROR, "faktory_core.kernel"),
        ServerThread(MemoryStore(clock), clock=clock, plugins=plugins) as thread,
    ):
        assert thread.server is not None
        thread.call(thread.server.reload, Config(environment="staging"))

    assert events[1:] == ["steady: sync reload, environment staging", "steady: sync shutdown"]
    assert [r.getMessage() for r in caplog.records if r.name == "faktory_core.kernel"] == [
        "plugin failing failed in faktory_core_reload",
        "plugin failing failed in faktory_core_shutdown",
    ]


def test_notifications_run_one_after_another_last_registered_first(
    clock: FakeClock,
):
    events: list[str] = []
    plugins = [
        ("a", AsyncStartSyncStop("a", events)),
        ("b", AsyncStartSyncStop("b", events)),
        ("c", SyncStartAsyncStop("c", events)),
    ]

    with ServerThread(MemoryStore(clock), clock=clock, plugins=plugins):
        pass

    assert events == [
        "c: sync startup, task group True",
        "b: async startup, store memory",
        "a: async startup, store memory",
        "c: async shutdown",
        "b: sync shutdown",
        "a: sync shutdown",
    ]
