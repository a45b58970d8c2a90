"""Debug (``/debug``): versions, the store, this process's memory, disk usage and, when the store
offers it, its own report.

A store may define ``async def debug_info(self) -> Mapping[str, Any]`` (the Redis store: the
server's ``INFO``, round-trip time); it is optional and looked up by name, so the Store protocol
does not change. A failing ``debug_info`` is shown as its error, never as a broken page.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from litestar import Controller, get
from litestar.response import Template

from faktory_core.info import rss_kb
from faktory_core.plugins.webui.helpers import UiServer, page

__all__ = ["DebugController", "store_report"]

log = logging.getLogger("faktory_core.webui")


async def store_report(store: object) -> Mapping[str, Any] | str | None:
    """The store's ``debug_info()``, its error text if it fails, or None without one."""
    report = getattr(store, "debug_info", None)
    if not callable(report):
        return None
    try:
        result: Mapping[str, Any] = await report()
    except Exception as exc:
        log.warning("the store's debug_info failed: %r", exc)
        return f"unavailable: {exc!r}"
    return result


def disk_usage(path: Path) -> dict[str, str] | None:
    """Space on the file system of ``path`` (or of its nearest existing parent)."""
    existing = next((folder for folder in (path, *path.parents) if folder.exists()), path)
    try:
        usage = shutil.disk_usage(existing)
    except OSError:
        return None
    gib = 1024**3
    return {
        "total": f"{usage.total / gib:.1f} GiB",
        "used": f"{usage.used / gib:.1f} GiB",
        "free": f"{usage.free / gib:.1f} GiB",
    }


class DebugController(Controller):
    path = "/debug"

    @get("/")
    async def index(self, server: UiServer) -> Template:
        process = {
            "pid": os.getpid(),
            "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
            "RSS": f"{rss_kb() / 1024:.1f} MiB",
            "CPUs": os.cpu_count() or 0,
            "connections": server.stats.connections,
            "commands": server.stats.command_count,
        }
        return page(
            "debug.html",
            store_name=server.store.name,
            storage_dir=server.config.storage_dir,
            process=process,
            disk=disk_usage(server.config.storage_dir),
            report=await store_report(server.store),
        )
