"""The metrics count what happened, as the core's observers report it: a push refused by other
middleware or a job discarded at fetch is not counted; scheduled pushes are; and on Redis the
store's totals survive a restart while the process-local counters start again."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from faktory_core.clock import FakeClock
from faktory_core.config import Timings
from faktory_core.errors import CodedError, Discard
from faktory_core.hookspecs import hookimpl
from faktory_core.middleware import JobMiddleware, Step
from faktory_core.model import Job
from faktory_core.plugins import memory_store, redis_store, throttle, webui
from faktory_core.plugins.metrics import MetricsPlugin
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.protocol import ErrorReply
from faktory_core.testing import ServerThread
from faktory_core.timefmt import format_ts

from ..redis import either_store  # noqa: TID252
from ..redis.conftest import RedisServer  # noqa: TID252
from ..redis.either_store import Running  # noqa: TID252
from .support import Metrics
from .test_prometheus import Samples, scrape, value

module_redis = either_store.module_redis
own_redis = either_store.own_redis
serve = either_store.serve


class Picky(JobMiddleware):
    """Refuses to push ``Refused`` jobs and discards ``Dropped`` ones at fetch."""

    async def push(self, job: Job, call_next: Step) -> None:
        if job.jobtype == "Refused":
            raise CodedError("NOTUNIQUE", "Job not unique")
        await call_next(job)

    async def fetch(self, job: Job, call_next: Step) -> None:
        if job.jobtype == "Dropped":
            raise Discard()
        await call_next(job)


class PickyPlugin:
    @hookimpl
    def faktory_core_job_middleware(self) -> JobMiddleware:
        return Picky()


def counted(samples: Samples, name: str) -> dict[str, float]:
    return {
        dict(labels)["jobtype"]: count
        for (found, labels), count in samples.items()
        if found == f"faktory_jobs_{name}_total"
    }


def test_only_what_happened_is_counted(serve: Callable[..., Running]) -> None:
    plugin = MetricsPlugin(environ={})
    plugins = [("webui", webui), ("picky", PickyPlugin()), ("metrics", plugin)]
    running = serve(plugins=plugins, web_binding="127.0.0.1:0")
    metrics = Metrics(running, plugin)
    conn = metrics.conn()
    refused = {"jid": uuid.uuid4().hex, "jobtype": "Refused", "args": []}
    reply = conn.json_command("PUSH", refused)
    assert isinstance(reply, ErrorReply)
    later = {"jid": uuid.uuid4().hex, "jobtype": "Later", "args": []}
    later["at"] = format_ts(metrics.running.clock.now() + 3600)
    conn.json_command("PUSH", later)
    metrics.push(conn, "Dropped")
    kept = metrics.push(conn, "Kept")
    assert metrics.fetch(conn)["jid"] == kept  # the Dropped job was discarded on the way
    samples = scrape(metrics)
    assert counted(samples, "pushed") == {"Later": 1, "Dropped": 1, "Kept": 1}
    assert counted(samples, "fetched") == {"Kept": 1}
    conn.close()


def test_fetches_through_the_throttle_gates_are_counted(serve: Callable[..., Running]) -> None:
    """With a fetch gate installed (the throttle plugin, on by default) FETCH takes the gated
    path: its jobs reach the ``fetched`` observers too, and skip fetch steps nobody wants."""
    plugin = MetricsPlugin(environ={})
    stores = [("memory_store", memory_store), ("redis_store", redis_store)]  # throttle's storage
    plugins = [*stores, ("webui", webui), ("throttle", throttle), ("picky", PickyPlugin())]
    running = serve(plugins=[*plugins, ("metrics", plugin)], web_binding="127.0.0.1:0")
    assert running.thread.server is not None
    assert running.thread.server.manager.gates
    metrics = Metrics(running, plugin)
    conn = metrics.conn()
    metrics.push(conn, "Dropped")
    kept = metrics.push(conn, "Kept")
    assert metrics.fetch(conn)["jid"] == kept  # fetch steps still run on the gated path
    assert counted(scrape(metrics), "fetched") == {"Kept": 1}
    conn.close()


def test_store_totals_survive_a_restart_on_redis(own_redis: RedisServer) -> None:
    clock = FakeClock()

    def started() -> tuple[ServerThread, Metrics]:
        plugin = MetricsPlugin(environ={})
        store = RedisStore(clock, RedisSettings(url=own_redis.url))
        thread = ServerThread(
            store,
            clock=clock,
            timings=Timings(handshake=0.3),
            plugins=[("webui", webui), ("metrics", plugin)],
            web_binding="127.0.0.1:0",
        )
        thread.__enter__()
        return thread, Metrics(Running(thread, store, clock), plugin)

    thread, metrics = started()
    conn = metrics.conn()
    jid = metrics.push(conn)
    assert metrics.fetch(conn)["jid"] == jid
    metrics.ack(conn, jid)
    assert counted(scrape(metrics), "acked") == {"Ordinary": 1}
    conn.close()
    thread.__exit__(None, None, None)

    thread, metrics = started()
    try:
        samples = scrape(metrics)
        assert value(samples, "faktory_processed_total") == 1  # kept by Redis
        assert counted(samples, "acked") == {}  # process-local: a new process starts at zero
    finally:
        thread.__exit__(None, None, None)
