"""The web UI plugin: Faktory's dashboard as a Litestar app on ``-w`` (default ``localhost:7420``).

It serves from the server's own event loop and task group, so it works on every store (the
memory store too), and over HTTPS with the server's key pair when TLS is on. ``-w :0`` or
``-w off`` turns it off; ``-w host:0`` picks a free port. docs/webui.md describes the pages, the
security and how a plugin adds a page.
"""

from __future__ import annotations

import logging
import weakref

from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.webui.app import LAYOUT, create_app
from faktory_core.plugins.webui.runner import WebServer, web_address
from faktory_core.server.app import Server

__all__ = ["LAYOUT", "create_app", "faktory_core_shutdown", "faktory_core_startup", "web_port"]

log = logging.getLogger("faktory_core.webui")

_running: weakref.WeakKeyDictionary[Server, WebServer] = weakref.WeakKeyDictionary()


def web_port(server: Server) -> int | None:
    """The port the server's UI listens on; None while it is not running."""
    web = _running.get(server)
    return web.port if web is not None else None


@hookimpl
def faktory_core_startup(server: Server) -> None:
    if web_address(server.config) is None:
        log.info("web UI off (-w %s)", server.config.web_binding)
        return
    web = WebServer.create(create_app(server), server.config)
    assert server.task_group is not None, "startup runs inside the server's task group"
    web.start(server.task_group)
    _running[server] = web


@hookimpl
async def faktory_core_shutdown(server: Server) -> None:
    web = _running.pop(server, None)
    if web is not None:
        await web.stop()
