"""The metrics plugin: Prometheus ``/metrics``, DogStatsD in Enterprise's names, a Metrics page.

Loaded by default when installed (``--no-plugin metrics`` switches it off). docs/metrics.md
lists every metric and setting; in short:

- a job middleware's observers count pushes, fetches, ACKs and FAILs by queue and job type and
  time each execution (FETCH → ACK/FAIL) into a :class:`Recorder`: plain dictionary updates;
- ``GET /metrics`` on the web UI's port (behind its password unless ``[metrics] open``), and on
  ``[metrics] listen`` if set, renders the Prometheus text format at scrape time;
- ``[statsd]`` or ``DD_DOGSTATSD_URL`` sends DogStatsD over UDP (or a Unix socket);
- the Metrics tab shows, per job type, the last hour's (8 h, 24 h) executions and their time;
  on a store with the ``metrics`` feature storage (Redis), every server's added up
  (:mod:`.shared`).

It is not an Enterprise feature: INFO's description stays ``Faktory`` even with statsd on, since
clients read that description to use BATCH, TRACK and unique jobs, which this plugin does not add.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import anyio
import attrs

from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.metrics.listener import serve_metrics
from faktory_core.plugins.metrics.prometheus import CONTENT_TYPE, scrape
from faktory_core.plugins.metrics.recorder import Labeller, MetricsMiddleware, Recorder
from faktory_core.plugins.metrics.settings import (
    MetricsConfigError,
    MetricsSettings,
    metrics_settings,
    statsd_settings,
)
from faktory_core.plugins.metrics.shared import FEATURE, Minutes, Sharer, final_save
from faktory_core.plugins.metrics.statsd import Intervals, Statsd

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = [
    "PLUGIN",
    "MetricsConfigError",
    "MetricsPlugin",
    "MetricsState",
    "Recorder",
    "faktory_core_job_middleware",
    "faktory_core_shutdown",
    "faktory_core_startup",
    "faktory_core_web_routes",
    "faktory_core_web_tabs",
    "faktory_core_web_templates",
    "state_for",
]

log = logging.getLogger("faktory_core.plugins.metrics")


@attrs.define(eq=False)
class MetricsState:
    """The plugin's parts for one running server."""

    server: Server
    recorder: Recorder
    settings: MetricsSettings
    statsd: Statsd | None = None
    #: Shares the Metrics page's minutes through the store, when it can.
    sharer: Sharer | None = None
    #: The port of ``[metrics] listen`` once bound.
    port: int | None = None
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)

    async def scrape(self) -> tuple[bytes, str]:
        return await scrape(self.server, self.recorder), CONTENT_TYPE

    async def minutes(self, minutes: int) -> Minutes | Recorder:
        """The Metrics page's minute buckets: every server's when shared, else this one's."""
        if self.sharer is None:
            return self.recorder
        return await self.sharer.minutes(minutes)

    def password(self) -> str:
        return "" if self.settings.open else self.server.config.web_ui_password


class MetricsPlugin:
    """The hooks, with one :class:`MetricsState` per running server.

    ``environ`` is where ``DD_DOGSTATSD_URL`` is read (``os.environ`` when None); ``statsd``
    the statsd client's intervals (tests shorten them)."""

    def __init__(
        self, environ: Mapping[str, str] | None = None, statsd: Intervals | None = None
    ) -> None:
        self._environ = environ
        self._statsd = statsd or Intervals()
        self._recorders: list[Recorder] = []
        self._states: WeakKeyDictionary[Server, MetricsState] = WeakKeyDictionary()

    def state(self, server: Server) -> MetricsState | None:
        return self._states.get(server)

    @hookimpl
    def faktory_core_job_middleware(self, config: Config, clock: Clock) -> MetricsMiddleware:
        settings = metrics_settings(config.toml)
        recorder = Recorder(
            clock, jobtypes=Labeller(settings.max_jobtypes), queues=Labeller(settings.max_queues)
        )
        self._recorders.append(recorder)
        return MetricsMiddleware(recorder)

    def _recorder_of(self, server: Server) -> Recorder:
        for step in server.manager.chains.acked:
            # The chain holds the recorder's own bound method (MetricsMiddleware's docstring).
            recorder = getattr(step, "__self__", None)
            if isinstance(recorder, Recorder) and recorder in self._recorders:
                self._recorders.remove(recorder)
                return recorder
        raise RuntimeError("metrics: the server was built without the metrics middleware")

    @hookimpl
    def faktory_core_startup(self, server: Server) -> Awaitable[None]:
        return self._start(server)

    async def _start(self, server: Server) -> None:
        if server.task_group is None:
            raise RuntimeError("metrics: the server has no task group to run in")
        settings = metrics_settings(server.config.toml)
        environ = os.environ if self._environ is None else self._environ
        found = statsd_settings(server.config.toml, environ)
        state = MetricsState(server, self._recorder_of(server), settings)
        storage = server.kernel.feature_storage(FEATURE, server.store, required=False)
        if storage is not None:
            state.sharer = Sharer(state.recorder, storage)
        if found is not None:
            state.statsd = Statsd(found, every=self._statsd)
            await state.statsd.open()
            state.recorder.listeners.append(state.statsd.on_finished)
        listener = None
        if settings.listen:
            host, _, port = settings.listen.rpartition(":")
            listener = await anyio.create_tcp_listener(
                local_host=host.strip("[]") or None, local_port=int(port)
            )
            state.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._states[server] = state
        server.task_group.start_soon(self._run, state, listener)
        log.info(
            "metrics: /metrics on the web UI%s%s",
            f" and on {settings.listen} (port {state.port})" if settings.listen else "",
            f"; statsd to {found.address[1]}" if found else "",
        )

    async def _run(self, state: MetricsState, listener: Any) -> None:
        with state.scope:
            async with anyio.create_task_group() as tg:
                if state.statsd is not None:
                    tg.start_soon(state.statsd.run, state.server)
                if state.sharer is not None:
                    tg.start_soon(state.sharer.run)
                if listener is not None:
                    async with listener:
                        await serve_metrics(listener, state.password, state.scrape)

    @hookimpl
    def faktory_core_shutdown(self, server: Server) -> Awaitable[None] | None:
        state = self._states.pop(server, None)
        if state is None:
            return None
        state.scope.cancel()
        if state.statsd is not None:
            state.statsd.close()
        return None if state.sharer is None else final_save(state.sharer)

    @hookimpl
    def faktory_core_web_routes(self, server: Server) -> Sequence[Any]:
        from faktory_core.plugins.metrics.web import routes

        return routes(self, server)

    @hookimpl
    def faktory_core_web_tabs(self, server: Server) -> Sequence[tuple[str, str]]:
        from faktory_core.plugins.metrics.web import TAB

        return [TAB]

    @hookimpl
    def faktory_core_web_templates(self, server: Server) -> Mapping[str, str]:
        from faktory_core.plugins.metrics.page import TEMPLATES

        return TEMPLATES


#: The process's plugin, behind the module-level hooks the entry point registers.
PLUGIN = MetricsPlugin()


def state_for(server: Server) -> MetricsState | None:
    """The metrics of ``server`` run by the entry-point plugin (None when not running)."""
    return PLUGIN.state(server)


@hookimpl
def faktory_core_job_middleware(config: Config, clock: Clock) -> MetricsMiddleware:
    return PLUGIN.faktory_core_job_middleware(config, clock)


@hookimpl
def faktory_core_startup(server: Server) -> Awaitable[None]:
    return PLUGIN.faktory_core_startup(server)


@hookimpl
def faktory_core_shutdown(server: Server) -> Awaitable[None] | None:
    return PLUGIN.faktory_core_shutdown(server)


@hookimpl
def faktory_core_web_routes(server: Server) -> Sequence[Any]:
    return PLUGIN.faktory_core_web_routes(server)


@hookimpl
def faktory_core_web_tabs(server: Server) -> Sequence[tuple[str, str]]:
    return PLUGIN.faktory_core_web_tabs(server)


@hookimpl
def faktory_core_web_templates(server: Server) -> Mapping[str, str]:
    return PLUGIN.faktory_core_web_templates(server)
