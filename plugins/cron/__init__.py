"""The cron plugin: periodic jobs from ``[[cron]]`` TOML, enqueued exactly once per tick.

Loaded by default when installed (``--no-plugin cron`` switches it off). docs/cron.md tells the
configuration, the firing rules and the tools; in short:

- entries come from conf.d's ``[[cron]]`` tables, from ``FAKTORY_CRON_TOML`` or
  ``FAKTORY_CRON_TOML_BASE64`` (read once, at start), and from other plugins'
  ``faktory_core_cron_entries``;
- any bad entry stops the start with a message naming the file or variable, the entry and the
  field; on SIGHUP a bad schedule is logged and the running one kept;
- a loop in the server's task group sleeps on the server's clock until the next tick and claims
  each tick in the store before pushing, so servers sharing a store enqueue it once.

The hooks delegate to one :class:`CronPlugin` per process; tests register their own instance
(with a fixed ``environ``) instead of this module.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.cron.entries import (
    ENV_BASE64,
    ENV_TOML,
    CronConfigError,
    CronEntry,
    check_unique,
    conf_d_entries,
    entries_from_env,
    parse_entries,
)
from faktory_core.plugins.cron.scheduler import Scheduler, UnknownEntry

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = [
    "CronConfigError",
    "CronEntry",
    "CronPlugin",
    "Scheduler",
    "UnknownEntry",
    "faktory_core_reload",
    "faktory_core_shutdown",
    "faktory_core_startup",
    "faktory_core_web_routes",
    "faktory_core_web_tabs",
    "faktory_core_web_templates",
    "scheduler_for",
]

log = logging.getLogger("faktory_core.plugins.cron")

#: How entries contributed through the hook are named in messages.
HOOK_SOURCE = "faktory_core_cron_entries"


class CronPlugin:
    """The cron hooks, with one :class:`Scheduler` per running server.

    ``environ`` is where ``FAKTORY_CRON_TOML``/``FAKTORY_CRON_TOML_BASE64`` are read at start
    (``os.environ`` when None).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._schedulers: WeakKeyDictionary[Server, Scheduler] = WeakKeyDictionary()

    def scheduler(self, server: Server) -> Scheduler | None:
        """The server's running scheduler (None before start-up or with cron switched off)."""
        return self._schedulers.get(server)

    # -- loading --------------------------------------------------------------------------------

    def load(
        self, server: Server, config: Config, env_entries: Sequence[CronEntry]
    ) -> tuple[CronEntry, ...]:
        """The whole schedule for ``config``: conf.d, then the environment's, then plugins'.

        Raises one :class:`CronConfigError` listing every problem of every source.
        """
        now = server.clock.now()
        entries: list[CronEntry] = []
        problems: list[str] = []
        try:
            entries.extend(conf_d_entries(config, now=now))
        except CronConfigError as exc:
            problems.extend(exc.problems)
        entries.extend(env_entries)
        try:
            contributed = server.kernel.cron_entries(config)
            entries.extend(parse_entries(contributed, source=HOOK_SOURCE, now=now))
        except CronConfigError as exc:
            problems.extend(exc.problems)
        except Exception as exc:  # a plugin's hook failed: name it as the source
            problems.append(f"{HOOK_SOURCE}: a plugin's hook failed: {exc!r}")
        if not problems:
            try:
                check_unique(entries)
            except CronConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise CronConfigError(problems)
        return tuple(entries)

    # -- hooks ----------------------------------------------------------------------------------

    @hookimpl
    def faktory_core_startup(self, server: Server) -> Awaitable[None]:
        return self._start(server)

    async def _start(self, server: Server) -> None:
        environ = os.environ if self._environ is None else self._environ
        problems: list[str] = []
        env_entries: list[CronEntry] = []
        try:
            env_entries = entries_from_env(environ, now=server.clock.now())
        except CronConfigError as exc:
            problems.extend(exc.problems)
        try:
            entries = self.load(server, server.config, env_entries)
        except CronConfigError as exc:
            raise CronConfigError([*problems, *exc.problems]) from None
        if problems:
            raise CronConfigError(problems)
        scheduler = Scheduler(server, entries, env_entries=tuple(env_entries))
        if server.task_group is None:
            raise RuntimeError("cron: the server has no task group to run in")
        await server.task_group.start(scheduler.run)
        self._schedulers[server] = scheduler
        log.info("cron: %s scheduled", _count(entries))

    @hookimpl
    def faktory_core_shutdown(self, server: Server) -> None:
        scheduler = self._schedulers.pop(server, None)
        if scheduler is not None:
            scheduler.stop()

    @hookimpl
    def faktory_core_reload(self, server: Server, config: Config) -> None:
        scheduler = self._schedulers.get(server)
        if scheduler is None:
            return
        try:
            entries = self.load(server, config, scheduler.env_entries)
        except CronConfigError as exc:
            log.error(
                "cron: schedule not reloaded, keeping the previous one (%s): %s",
                _count(scheduler.entries),
                exc,
            )
            return
        scheduler.replace(entries)
        log.info(
            "cron: schedule reloaded, %s (%s and %s are read at start only)",
            _count(entries),
            ENV_TOML,
            ENV_BASE64,
        )

    @hookimpl
    def faktory_core_web_routes(self, server: Server) -> Sequence[Any]:
        from faktory_core.plugins.cron.web import routes

        return routes(self, server)

    @hookimpl
    def faktory_core_web_tabs(self, server: Server) -> Sequence[tuple[str, str]]:
        from faktory_core.plugins.cron.web import tabs

        return tabs()

    @hookimpl
    def faktory_core_web_templates(self, server: Server) -> Mapping[str, str]:
        from faktory_core.plugins.cron.web import templates

        return templates()


def _count(entries: Sequence[CronEntry]) -> str:
    return f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"


#: The process's plugin, behind the module-level hooks the entry point registers.
PLUGIN = CronPlugin()


def scheduler_for(server: Server) -> Scheduler | None:
    """The scheduler the entry-point plugin runs for ``server``."""
    return PLUGIN.scheduler(server)


@hookimpl
def faktory_core_startup(server: Server) -> Awaitable[None]:
    return PLUGIN.faktory_core_startup(server)


@hookimpl
def faktory_core_shutdown(server: Server) -> None:
    PLUGIN.faktory_core_shutdown(server)


@hookimpl
def faktory_core_reload(server: Server, config: Config) -> None:
    PLUGIN.faktory_core_reload(server, config)


@hookimpl
def faktory_core_web_routes(server: Server) -> Sequence[Any]:
    return PLUGIN.faktory_core_web_routes(server)


@hookimpl
def faktory_core_web_tabs(server: Server) -> Sequence[tuple[str, str]]:
    return PLUGIN.faktory_core_web_tabs(server)


@hookimpl
def faktory_core_web_templates(server: Server) -> Mapping[str, str]:
    return PLUGIN.faktory_core_web_templates(server)
