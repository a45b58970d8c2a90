"""Configuration as data: one frozen :class:`Config`, built once at start-up."""

from __future__ import annotations

from pathlib import Path

import attrs

from faktory_core.protocol.buffer import DEFAULT_MAX_LINE

__all__ = ["ENVIRONMENTS", "Config", "Timings"]

ENVIRONMENTS = ("development", "staging", "production")


@attrs.frozen
class Timings:
    """Every interval and timeout of the server, in seconds (reference §0.1, §5.6).

    Scheduled and retry jobs are checked every second (Faktory: 5 s), so due jobs may be
    enqueued sooner than Faktory would; docs/compatibility.md records it.
    """

    handshake: float = 2.0
    fetch_block: float = 2.0
    scheduled_every: float = 1.0
    retries_every: float = 1.0
    dead_every: float = 60.0
    busy_every: float = 15.0
    workers_every: float = 15.0
    heartbeat_expiry: float = 60.0
    batch: int = 100
    reaper_batch: int = 10


@attrs.frozen
class Config:
    binding: str = "localhost:7419"
    web_binding: str = "localhost:7420"
    environment: str = "development"
    log_level: str = "info"
    storage_dir: Path = Path.home() / ".faktory" / "db"
    config_dir: Path = Path.home() / ".faktory"
    password: str = ""
    max_line: int = DEFAULT_MAX_LINE
    max_connections: int = 2000
    timings: Timings = Timings()
    #: Plugins named with --plugin or ``[faktory] plugins``, beside the defaults.
    plugins: tuple[str, ...] = ()
    #: Default plugins switched off with --no-plugin.
    disabled_plugins: tuple[str, ...] = ()
