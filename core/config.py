"""Configuration as data: one frozen :class:`Config`, built once at start-up.

:mod:`faktory_core.settings` builds it from flags, environment variables and conf.d TOML; the
precedence is written down in docs/configuration.md. On SIGHUP a new one is built and handed to
``Server.reload``; nothing ever mutates a ``Config``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from faktory_core.protocol.buffer import DEFAULT_MAX_LINE

__all__ = ["ENVIRONMENTS", "LIMIT_KEYS", "Config", "Timings", "freeze", "thaw"]

ENVIRONMENTS = ("development", "staging", "production")
#: The ``[faktory]`` keys that bound what clients can take (docs/running.md, "Limits"), each a
#: positive integer field of :class:`Config` of the same name.
LIMIT_KEYS = (
    "max_hello_line",
    "max_handshaking",
    "max_buffered",
    "max_unsent",
    "max_fetch_queues",
    "idle_timeout",
)


def freeze(value: Any) -> Any:
    """A read-only deep copy of parsed TOML: tables become mapping proxies, arrays tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy (dicts and lists) of a frozen value, e.g. to serialise as JSON."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def _empty_toml() -> Mapping[str, Any]:
    return MappingProxyType({})


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
    """Everything the server and its plugins are configured with (docs/configuration.md)."""

    binding: str = "localhost:7419"
    web_binding: str = "localhost:7420"
    environment: str = "development"
    log_level: str = "info"
    storage_dir: Path = Path.home() / ".faktory" / "db"
    config_dir: Path = Path.home() / ".faktory"
    #: The command-port password ("" = none); read once at boot.
    password: str = ""
    #: ``[web] password``; "" = unset, the web UI then uses :attr:`password`
    #: (:attr:`web_ui_password` applies that fallback).
    web_password: str = ""
    max_line: int = DEFAULT_MAX_LINE
    max_connections: int = 2000
    #: The longest line before the HELLO is accepted (a HELLO is small; an attacker's is not).
    max_hello_line: int = 64 * 1024
    #: Connections that have not finished the handshake, at once; more are closed on accept.
    max_handshaking: int = 500
    #: Bytes buffered by all connections together; past it the largest holders are closed.
    max_buffered: int = 256 * 1024 * 1024
    #: Unsent reply bytes of one connection before it is read again (back-pressure).
    max_unsent: int = 1024 * 1024
    #: Queues one FETCH (or QUEUE subcommand) may name.
    max_fetch_queues: int = 1000
    #: Seconds a connection without a ``wid`` may stay silent before it is closed.
    idle_timeout: int = 1800
    timings: Timings = Timings()
    #: Plugins named with --plugin or ``[faktory] plugins``, beside the defaults.
    plugins: tuple[str, ...] = ()
    #: Default plugins switched off with --no-plugin.
    disabled_plugins: tuple[str, ...] = ()
    #: The raw ``[[cron]]`` tables of every conf.d file, in file order, for the cron plugin to
    #: interpret. Plain dicts (JSON-ready copies); treat them as read-only.
    cron: tuple[dict[str, Any], ...] = attrs.field(default=(), hash=False)
    #: The whole merged conf.d document, read-only (:func:`freeze`; :func:`thaw` for a plain
    #: copy), so plugins can read their own tables.
    toml: Mapping[str, Any] = attrs.field(factory=_empty_toml, hash=False)

    @property
    def web_ui_password(self) -> str:
        """The password the web UI asks for: ``[web] password``, else the server password."""
        return self.web_password or self.password
