"""The INFO document (reference §7.1): exactly four top-level keys, ``tasks`` included.

Nothing is ever added at the top level; the Prometheus exporter and the web UIs read this shape.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

import attrs

from faktory_core import FAKTORY_VERSION
from faktory_core.store import StoreStats
from faktory_core.timefmt import format_ts

__all__ = ["ServerStats", "TaskStats", "build_info", "health", "rss_kb"]


@attrs.define
class TaskStats:
    """Counters of one background task, as INFO's ``tasks`` block reports them."""

    cycles: int = 0
    enqueued: int = 0
    reaped: int = 0
    wall_time_sec: float = 0.0


@attrs.define
class ServerStats:
    started_at: float
    connections: int = 0
    command_count: int = 0
    #: ``Faktory``, or ``Faktory Enterprise`` while an Enterprise feature plugin is loaded.
    description: str = "Faktory"


def rss_kb() -> int:
    """Resident memory of this process in KiB (current, from /proc; peak elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _scanner(stats: TaskStats, size: int) -> dict[str, Any]:
    return {
        "cycles": stats.cycles,
        "enqueued": stats.enqueued,
        "size": size,
        "wall_time_sec": round(stats.wall_time_sec, 6),
    }


def build_info(
    stats: StoreStats, tasks: dict[str, TaskStats], server: ServerStats, now: float
) -> dict[str, Any]:
    queues = dict(sorted(stats.queues.items()))
    return {
        "now": format_ts(now),
        "server_utc_time": time.strftime("%H:%M:%S UTC", time.gmtime(now)),
        "faktory": {
            "queues": queues,
            "sets": {
                "dead": stats.dead,
                "retries": stats.retries,
                "scheduled": stats.scheduled,
                "working": stats.working,
            },
            "tasks": {
                "Busy": {"reaped": tasks["Busy"].reaped, "size": stats.working},
                "Dead": _scanner(tasks["Dead"], stats.dead),
                "Retries": _scanner(tasks["Retries"], stats.retries),
                "Scheduled": _scanner(tasks["Scheduled"], stats.scheduled),
                "Workers": {"reaped": tasks["Workers"].reaped, "size": stats.workers},
            },
            "total_failures": stats.failures,
            "total_processed": stats.processed,
            "total_enqueued": sum(queues.values()),
            "total_queues": len(queues),
        },
        "server": {
            "description": server.description,
            "faktory_version": FAKTORY_VERSION,
            "uptime": int(now - server.started_at),
            "connections": server.connections,
            "command_count": server.command_count,
            "used_memory_mb": rss_kb() // 1024,
            **({"store": dict(stats.details)} if stats.details else {}),
        },
    }


def health(server: ServerStats, now: float) -> dict[str, Any]:
    """``/health`` (§7.3): unauthenticated, keys sorted as Go's map encoding sorts them."""
    return {
        "now": format_ts(now),
        "server": {
            "command_count": server.command_count,
            "connections": server.connections,
            "description": server.description,
            "faktory_version": FAKTORY_VERSION,
        },
    }
