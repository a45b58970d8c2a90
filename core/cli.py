"""The ``faktory-core`` command: Faktory's flags and defaults (reference §10), a thin edge.

:mod:`faktory_core.settings` builds the configuration; this module prints its errors, sets up
logging, loads the plugins, runs the server and handles signals: SIGTERM/SIGINT stop it
gracefully, SIGHUP reloads the configuration (a bad one is logged and the old one kept).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

import anyio
import anyio.abc
import anyio.to_thread

from faktory_core import FAKTORY_VERSION, __version__
from faktory_core.clock import SystemClock
from faktory_core.kernel import load_kernel
from faktory_core.logs import setup_logging
from faktory_core.server.app import Server
from faktory_core.settings import (
    ConfigError,
    UsageError,
    build_config,
    parse_flags,
    redacted,
    reload_config,
    usage,
)

__all__ = ["main", "reload", "version_line"]

log = logging.getLogger("faktory_core.cli")

#: Errors that stop a start with a one-line message (plugins, store snapshots, sockets).
_START_ERRORS = (RuntimeError, ValueError, OSError)
#: Faktory Enterprise's license key: deployments set it; faktory-core needs none.
LICENSE_VARIABLE = "FAKTORY_LICENSE"


def version_line() -> str:
    return f"faktory-core {__version__} (Faktory {FAKTORY_VERSION} protocol)"


async def reload(server: Server, argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Read the configuration again and hand it to the server; keep the old one if it is bad."""
    try:
        config, notes = await anyio.to_thread.run_sync(reload_config, server.config, argv, environ)
    except ConfigError as exc:
        log.error("configuration not reloaded, keeping the previous one: %s", exc)
        return False
    for note in notes:
        log.warning("%s", note)
    await server.reload(config)  # a plugin's failing reload hook is logged by the kernel
    log.info("configuration reloaded from %s", config.config_dir / "conf.d")
    log.debug("configuration: %s", redacted(config))
    return True


async def _watch_stop(
    server: Server, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            log.info("received %s; shutting down", signal.Signals(signum).name)
            server.stop()


async def _watch_reload(
    server: Server,
    argv: Sequence[str],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.open_signal_receiver(signal.SIGHUP) as signals:
        task_status.started()
        async for _ in signals:
            log.info("received SIGHUP; reloading the configuration")
            await reload(server, argv, os.environ)


async def _run(server: Server, argv: Sequence[str]) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(_watch_stop, server)
        await tg.start(_watch_reload, server, argv)
        await server.serve()
        tg.cancel_scope.cancel()


def _leaf(exc: BaseException) -> BaseException:
    """The one error inside (nested) single-member exception groups, as task groups raise."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


#: ``faktory-core <name> ...`` runs another tool: module and function taking the rest of argv.
SUBCOMMANDS = {
    "worker": ("faktory_core.worker_cli", "run"),
    "cron": ("faktory_core.plugins.cron.cli", "run"),
    "journal": ("faktory_core.plugins.memory_store.repair", "run"),
}


def _subcommand(name: str, rest: list[str]) -> int:
    module_name, function = SUBCOMMANDS[name]
    run: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), function)
    return run(rest)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        return _subcommand(args[0], args[1:])
    try:
        flags = parse_flags(args)
        if flags.help:
            print(usage(), end="")
            return 0
        if flags.version:
            print(version_line())
            return 0
        config = build_config(args, os.environ)
    except UsageError as exc:
        print(f"faktory-core: {exc} (see faktory-core -h)", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"faktory-core: {exc}", file=sys.stderr)
        return 1
    setup_logging(config.log_level)
    if os.environ.get(LICENSE_VARIABLE):
        log.info(
            "%s is set; faktory-core needs no license (every feature is included), so it is "
            "not used",
            LICENSE_VARIABLE,
        )
    log.debug("configuration: %s", redacted(config))
    server: Server | None = None
    try:
        kernel = load_kernel(requested=config.plugins, disabled=config.disabled_plugins)
        server = Server.create(config, kernel, SystemClock())
        anyio.run(_run, server, args, backend_options={"use_uvloop": True})
    except Exception as exc:
        leaf = _leaf(exc)
        if not isinstance(leaf, _START_ERRORS):
            raise
        # A server that started got this far by failing to stop (e.g. saving its store).
        stopping = server is not None and server.serving
        failed = "stopped with an error" if stopping else "cannot start"
        log.error("%s: %s", failed, leaf)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
