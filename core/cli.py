"""The ``faktory-core`` command: Faktory's flags and defaults (reference §10.1)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from faktory_core import FAKTORY_VERSION, __version__
from faktory_core.clock import SystemClock
from faktory_core.config import ENVIRONMENTS, Config
from faktory_core.kernel import PluginError, load_kernel
from faktory_core.logs import LEVELS, setup_logging
from faktory_core.server.app import Server

__all__ = ["build_config", "main"]

log = logging.getLogger("faktory_core.cli")

PASSWORD_REQUIRED = (
    "faktory requires a password to be set in staging or production, see the Security wiki page"
)


class ConfigError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faktory-core", description="A Faktory-compatible work server."
    )
    parser.add_argument(
        "-b",
        dest="binding",
        default="localhost:7419",
        help="command binding host:port (default localhost:7419)",
    )
    parser.add_argument(
        "-w",
        dest="web_binding",
        default="localhost:7420",
        help="web UI binding host:port (default localhost:7420; :0 disables)",
    )
    parser.add_argument(
        "-e",
        dest="environment",
        default=None,
        help="development, staging or production (default $FAKTORY_ENV)",
    )
    parser.add_argument("-l", dest="log_level", default="info", choices=sorted(LEVELS))
    parser.add_argument("-d", dest="storage_dir", default=None, help="storage directory")
    parser.add_argument("-c", dest="config_dir", default=None, help="configuration directory")
    parser.add_argument("-v", dest="version", action="store_true", help="print version and exit")
    parser.add_argument(
        "--plugin",
        dest="plugins",
        action="append",
        default=[],
        help="enable a plugin by its entry-point name (repeatable)",
    )
    parser.add_argument(
        "--no-plugin",
        dest="disabled_plugins",
        action="append",
        default=[],
        help="switch off a default plugin (repeatable)",
    )
    return parser


def _password(environment: str) -> str:
    value = os.environ.get("FAKTORY_PASSWORD", "")
    if value.startswith("/"):
        value = Path(value).read_text().strip()
    skip = os.environ.get("FAKTORY_SKIP_PASSWORD", "").lower() in ("1", "true", "yes")
    if not value and environment != "development" and not skip:
        raise ConfigError(PASSWORD_REQUIRED)
    return value


def build_config(argv: Sequence[str]) -> tuple[Config, argparse.Namespace]:
    args = _parser().parse_args(argv)
    environment = args.environment or os.environ.get("FAKTORY_ENV") or "development"
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f'Invalid environment "{environment}": legal values are development, staging or '
            "production"
        )
    dev = environment == "development"
    home = Path.home() / ".faktory"
    storage = (
        Path(args.storage_dir)
        if args.storage_dir
        else (home / "db" if dev else Path("/var/lib/faktory/db"))
    )
    config_dir = (
        Path(args.config_dir) if args.config_dir else (home if dev else Path("/etc/faktory"))
    )
    config = Config(
        binding=args.binding,
        web_binding=args.web_binding,
        environment=environment,
        log_level=args.log_level,
        storage_dir=storage,
        config_dir=config_dir,
        password=_password(environment),
        plugins=tuple(args.plugins),
        disabled_plugins=tuple(args.disabled_plugins),
    )
    return config, args


async def _run(server: Server) -> None:
    async with anyio.create_task_group() as tg:

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.info("received %s; shutting down", signal.Signals(signum).name)
                    server.stop()
                    return

        tg.start_soon(watch_signals)
        await server.serve()
        tg.cancel_scope.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, args = build_config(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"faktory-core: {exc}", file=sys.stderr)
        return 1
    if args.version:
        print(f"faktory-core {__version__} (Faktory {FAKTORY_VERSION} protocol)")
        return 0
    setup_logging(config.log_level)
    try:
        kernel = load_kernel(requested=config.plugins, disabled=config.disabled_plugins)
        server = Server.create(config, kernel, SystemClock())
        anyio.run(_run, server, backend_options={"use_uvloop": True})
    except (PluginError, ValueError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
