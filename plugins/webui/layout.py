"""The site layout's data: nav tabs, the summary bar and the footer, built once per page.

An app-level ``before_request`` hook puts a :class:`Chrome` on ``request.state.webui`` for every
GET of a page (core or plugin); ``layout.html`` reads it there, so a plugin's page gets the
whole layout by extending ``layout.html`` with no extra context (docs/webui.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import attrs

from faktory_core import FAKTORY_VERSION, __version__, web
from faktory_core.plugins.webui.helpers import AnyRequest
from faktory_core.server.app import Server
from faktory_core.store import StoreStats

__all__ = ["CORE_TABS", "STATE_KEY", "Chrome", "Tab", "load_chrome"]

#: ``request.state`` key of the :class:`Chrome`.
STATE_KEY = "webui"
#: Handlers with this ``opt`` key get no layout data (JSON endpoints, static files, actions).
BARE = web.BARE


@attrs.frozen
class Tab:
    label: str
    path: str


CORE_TABS = (
    Tab("Dashboard", "/"),
    Tab("Busy", "/busy"),
    Tab("Queues", "/queues"),
    Tab("Retries", "/retries"),
    Tab("Scheduled", "/scheduled"),
    Tab("Dead", "/morgue"),
)


@attrs.frozen
class Chrome:
    """Everything ``layout.html`` shows around a page."""

    path: str
    tabs: Sequence[Tab]
    stats: StoreStats
    now: float
    binding: str
    environment: str
    version: str = __version__
    faktory_version: str = FAKTORY_VERSION

    @property
    def status(self) -> str:
        """``idle`` with nothing in progress, else ``active`` (Faktory's header badge)."""
        return "active" if self.stats.working else "idle"

    @property
    def enqueued(self) -> int:
        return sum(self.stats.queues.values())

    @property
    def utc_time(self) -> str:
        return time.strftime("%H:%M:%S UTC", time.gmtime(self.now))

    def active(self, tab: Tab) -> bool:
        """The tab whose path is the longest prefix of the current path."""
        matches = [t for t in self.tabs if _under(self.path, t.path)]
        return bool(matches) and max(matches, key=lambda t: len(t.path)) == tab


def _under(path: str, tab: str) -> bool:
    """``path`` is the tab's page or one below it (the dashboard's ``/`` only itself)."""
    return path == tab or (tab != "/" and path.startswith(tab.rstrip("/") + "/"))


def tabs_for(server: Server) -> tuple[Tab, ...]:
    extra = tuple(Tab(label, path) for label, path in server.kernel.web_tabs(server))
    return CORE_TABS + extra


async def load_chrome(request: AnyRequest) -> None:
    """before_request: compute the layout's data for a page."""
    if request.method != "GET" or request.route_handler.opt.get(BARE):
        return
    server: Server = request.app.state.server
    request.state[STATE_KEY] = Chrome(
        path=request.url.path,
        tabs=request.app.state.tabs,
        stats=await server.store.stats(),
        now=server.clock.now(),
        binding=server.config.binding,
        environment=server.config.environment,
    )
