"""The throttle plugin: Faktory Enterprise's queue throttles (``[throttles]`` in conf.d).

On by default (``--no-plugin throttle`` switches it off). A throttled queue hands out at most
``concurrency`` jobs at once across every server sharing the store (or ``worker`` per worker
process); FETCH skips a full queue and goes on to the next one, and waits -- woken by a freed
slot -- when every queue it names is full. docs/tracking.md tells the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.throttle.config import (
    Throttle,
    ThrottleConfigError,
    parse_throttles,
)
from faktory_core.plugins.throttle.gate import ThrottleGate
from faktory_core.plugins.throttle.storage import FEATURE, ThrottleStorage

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = [
    "Throttle",
    "ThrottleConfigError",
    "ThrottleGate",
    "ThrottleStorage",
    "faktory_core_enterprise_features",
    "faktory_core_fetch_gate",
    "faktory_core_reload",
    "faktory_core_startup",
    "faktory_core_web_routes",
    "faktory_core_web_tabs",
    "faktory_core_web_templates",
    "gate_of",
]

log = logging.getLogger("faktory_core.plugins.throttle")

_GATES: WeakKeyDictionary[Server, ThrottleGate] = WeakKeyDictionary()


def gate_of(server: Server) -> ThrottleGate | None:
    """The server's throttles (None with the plugin off)."""
    return _GATES.get(server)


@hookimpl
def faktory_core_enterprise_features() -> list[str]:
    return ["throttle"]


@hookimpl
def faktory_core_fetch_gate(server: Server) -> ThrottleGate:
    gate = ThrottleGate(server.clock, parse_throttles(server.config.toml))
    _GATES[server] = gate
    return gate


@hookimpl
def faktory_core_startup(server: Server) -> None:
    gate = _GATES.get(server)
    if gate is not None:
        gate.storage = server.kernel.feature_storage(FEATURE, server.store)


@hookimpl
def faktory_core_reload(server: Server, config: Config) -> None:
    gate = _GATES.get(server)
    if gate is None:
        return
    try:
        gate.throttles = parse_throttles(config.toml)
    except ThrottleConfigError as exc:
        log.error("throttles not reloaded, the running ones are kept: %s", exc)
        return
    log.info("throttles reloaded: %s", ", ".join(sorted(gate.throttles)) or "none")


@hookimpl
def faktory_core_web_routes(server: Server) -> Sequence[Any]:
    from faktory_core.plugins.throttle.web import routes

    gate = _GATES.get(server)
    return [] if gate is None else routes(server, gate)


@hookimpl
def faktory_core_web_tabs(server: Server) -> Sequence[tuple[str, str]]:
    from faktory_core.plugins.throttle.web import PAGE_PATH

    return [("Throttles", PAGE_PATH)] if server in _GATES else []


@hookimpl
def faktory_core_web_templates(server: Server) -> Mapping[str, str]:
    from faktory_core.plugins.throttle.web import PAGE, TEMPLATE

    return {TEMPLATE: PAGE}
