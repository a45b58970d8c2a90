"""The tracking plugin: Faktory Enterprise's job tracking (``custom.track``, ``TRACK``).

On by default (``--no-plugin tracking`` switches it off, and TRACK answers the OSS error again).
docs/tracking.md tells the wire and the decisions; :mod:`.tracker` does the work; each store
keeps the records (the ``"track"`` feature storage, :class:`.storage.TrackStorage`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.tracking.storage import FEATURE, TrackStorage
from faktory_core.plugins.tracking.tracker import RECORD_TTL, Tracker, TrackError

if TYPE_CHECKING:
    from faktory_core.server.app import Server
    from faktory_core.server.commands import Handler

__all__ = [
    "RECORD_TTL",
    "TrackError",
    "TrackStorage",
    "Tracker",
    "faktory_core_commands",
    "faktory_core_enterprise_features",
    "faktory_core_job_middleware",
    "faktory_core_startup",
    "faktory_core_web_job_progress",
    "tracker_of",
]


def tracker_of(server: Server) -> Tracker | None:
    """The server's Tracker: the middleware this plugin gave its chains (None if off)."""
    for step in server.manager.chains.ack:
        owner = getattr(step, "__self__", None)
        if isinstance(owner, Tracker):
            return owner
    return None


@hookimpl
def faktory_core_enterprise_features() -> list[str]:
    return ["tracking"]


@hookimpl
def faktory_core_job_middleware(config: Config, clock: Clock) -> Tracker:
    return Tracker(clock)


@hookimpl
def faktory_core_commands(server: Server) -> Mapping[str, Handler]:
    tracker = tracker_of(server)
    return {} if tracker is None else {"TRACK": tracker.command}


@hookimpl
def faktory_core_startup(server: Server) -> None:
    tracker = tracker_of(server)
    if tracker is not None:
        tracker.storage = server.kernel.feature_storage(FEATURE, server.store)
        tracker.manager = server.manager


@hookimpl
def faktory_core_web_job_progress(
    server: Server,
) -> Callable[[str], Awaitable[Mapping[str, Any] | None]] | None:
    tracker = tracker_of(server)
    return None if tracker is None else tracker.progress
