"""INFO as typed values (reference §7.1), structured by one cattrs converter.

Every field has a default and unknown keys are ignored, so a server that adds or drops a field
(another Faktory version, another implementation) still gives a usable :class:`Info`.
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs

__all__ = [
    "Info",
    "QueueStats",
    "ServerInfo",
    "SetSizes",
    "TaskInfo",
    "make_converter",
    "structure_info",
]


@attrs.frozen
class SetSizes:
    dead: int = 0
    retries: int = 0
    scheduled: int = 0
    working: int = 0


@attrs.frozen
class TaskInfo:
    """One background task's counters; each task reports a subset of these."""

    size: int = 0
    cycles: int = 0
    enqueued: int = 0
    reaped: int = 0
    wall_time_sec: float = 0.0


@attrs.frozen
class QueueStats:
    """INFO's ``faktory`` block: queue sizes, set sizes and the job counters."""

    queues: dict[str, int] = attrs.field(factory=dict)
    sets: SetSizes = SetSizes()
    tasks: dict[str, TaskInfo] = attrs.field(factory=dict)
    total_failures: int = 0
    total_processed: int = 0
    total_enqueued: int = 0
    total_queues: int = 0


@attrs.frozen
class ServerInfo:
    description: str = ""
    faktory_version: str = ""
    uptime: int = 0
    connections: int = 0
    command_count: int = 0
    used_memory_mb: int = 0


@attrs.frozen
class Info:
    """The INFO reply: ``info.faktory.queues["default"]``, ``info.server.connections``..."""

    now: str = ""
    server_utc_time: str = ""
    faktory: QueueStats = QueueStats()
    server: ServerInfo = ServerInfo()


def make_converter() -> cattrs.Converter:
    """The one converter of the client: attrs classes from JSON-decoded dicts."""
    converter = cattrs.Converter(forbid_extra_keys=False)
    # INFO numbers are JSON numbers; a float where we expect an int (e.g. memory in MiB from
    # another server) is truncated rather than refused.
    converter.register_structure_hook(int, lambda value, _: int(value))
    return converter


_CONVERTER = make_converter()


def structure_info(data: Any) -> Info:
    return _CONVERTER.structure(data, Info)
