"""Helpers for the cron tests: servers running the cron plugin with given ``[[cron]]`` entries
and environment, and a look at their schedulers and queues."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from faktory_core.model import Job
from faktory_core.plugins.cron import CronConfigError, CronPlugin, Scheduler
from faktory_core.server.app import Server
from faktory_core.store import Store
from faktory_core.testing import FakeClock, running_server

#: 2025-06-15T15:00:30Z: half a minute past a round hour, so "the tick's minute" is clear.
START = 1_749_999_630.0
MINUTE = 60.0
#: The config directory of servers not given one: conf.d is never read from it.
NO_CONFIG_DIR = Path("/nonexistent/faktory-core-cron-tests")
#: Real seconds a cron loop may take to finish a pass (a few store round trips).
REAL_SECONDS = 5.0


def every_minute(jobtype: str = "Tick", **job: Any) -> dict[str, Any]:
    return {"schedule": "* * * * *", "job": {"type": jobtype, **job}}


@asynccontextmanager
async def cron_server(
    store: Store,
    clock: FakeClock,
    entries: Sequence[Mapping[str, Any]] = (),
    *,
    environ: Mapping[str, str] | None = None,
    plugin: CronPlugin | None = None,
    plugins: Sequence[tuple[str, object]] = (),
    **config: Any,
) -> AsyncIterator[Server]:
    """A server on ``store`` running the cron plugin with ``entries`` as conf.d's ``[[cron]]``
    (after those of a ``cron`` keyword, as read from a config directory)."""
    cron = plugin or CronPlugin(environ={} if environ is None else environ)
    config.setdefault("config_dir", NO_CONFIG_DIR)  # never the real ~/.faktory
    async with running_server(
        store,
        clock=clock,
        plugins=[("cron", cron), *plugins],
        cron=(*config.pop("cron", ()), *(dict(entry) for entry in entries)),
        **config,
    ) as server:
        yield server


def scheduler(server: Server) -> Scheduler:
    """The scheduler of a server started by :func:`cron_server`."""
    plugin = server.kernel.pm.get_plugin("cron")
    assert isinstance(plugin, CronPlugin)
    found = plugin.scheduler(server)
    assert found is not None
    return found


async def queued(store: Store, queue: str = "default") -> list[Job]:
    """The jobs in ``queue``, oldest first."""
    return list(reversed(await store.queue_page(queue, 0, 1000)))


async def start_fails(store: Store, clock: FakeClock, *args: Any, **kwargs: Any) -> CronConfigError:
    """Start :func:`cron_server` expecting the cron plugin to refuse; its error."""
    try:
        async with cron_server(store, clock, *args, **kwargs):
            pass
    except BaseException as exc:  # a task group's exception group, around the error
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        if isinstance(exc, CronConfigError):
            return exc
        raise
    raise AssertionError("the server started")


async def advance(clock: FakeClock, seconds: float, *servers: Server, step: float = 1.0) -> None:
    """Move the clock ``step`` by ``step``, each time waiting (in real time) until every
    server's cron loop is waiting again: a store with real I/O (Redis) takes real time to
    enqueue, and the fake clock must not run ahead of it."""
    target = clock.now() + seconds
    await settled(clock, *servers)
    while clock.now() < target:
        await clock.advance(min(step, target - clock.now()))
        await settled(clock, *servers)


async def settled(clock: FakeClock, *servers: Server) -> None:
    """Wait until every server's cron loop is waiting for a future instant."""
    with anyio.fail_after(REAL_SECONDS):
        # Real time for real I/O: no event says "the store answered"; poll briefly.
        while any(scheduler(server).next_wake <= clock.now() for server in servers):  # noqa: ASYNC110
            await anyio.sleep(0.001)
