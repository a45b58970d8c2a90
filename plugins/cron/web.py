"""The cron plugin's web routes (Litestar handlers handed to the web UI through its hook).

- ``GET /cron``: the Cron tab, a page extending the web UI's ``layout.html`` (docs/webui.md).
- ``GET /cron.json``: every entry with its schedule, a readable description, job type, queue,
  next run, last run and whether it is paused; the cron state lives here, never in ``/stats``.
- ``POST /cron/enqueue``, ``POST /cron/pause``, ``POST /cron/resume``: act on the entry named
  by ``entry`` (its identity), given as a query parameter or a form field. They answer JSON,
  or, for an HTML form's post, redirect back to ``/cron``.

The handlers close over the server and look its scheduler up per request, so they work
whichever plugin's start-up hook ran first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_303_SEE_OTHER, HTTP_503_SERVICE_UNAVAILABLE

from faktory_core.plugins.cron.page import CRON_PAGE
from faktory_core.plugins.cron.scheduler import Scheduler, UnknownEntry
from faktory_core.timefmt import format_ts
from faktory_core.web import BARE as BARE_KEY
from faktory_core.web import link, page

if TYPE_CHECKING:
    from faktory_core.plugins.cron import CronPlugin
    from faktory_core.server.app import Server

__all__ = ["JSON_PATH", "PAGE_PATH", "TAB", "TEMPLATE", "routes", "tabs", "templates"]

#: The Cron tab's page.
PAGE_PATH = "/cron"
TAB = ("Cron", PAGE_PATH)
#: The web UI's ``opt`` flag for handlers that need no layout data (JSON, actions).
BARE = {BARE_KEY: True}
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON_PATH = "/cron.json"


#: The page's template, contributed to the web UI (compiled once there).
TEMPLATE = "cron.html"


def tabs() -> list[tuple[str, str]]:
    return [TAB]


def templates() -> dict[str, str]:
    return {TEMPLATE: CRON_PAGE}


async def _entry_param(request: Request[Any, Any, Any]) -> str:
    given = request.query_params.get("entry")
    identity = given if isinstance(given, str) else None
    if identity is None and _is_form(request):
        form = await request.form()
        value = form.get("entry")
        identity = value if isinstance(value, str) else None
    if not identity:
        raise HTTPException(status_code=400, detail="name the cron entry: entry=<identity>")
    return identity


def _is_form(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("content-type", "").startswith(_FORMS)


def routes(plugin: CronPlugin, server: Server) -> list[Any]:
    """The handlers for ``server`` (built once, when the web UI builds its app)."""

    def scheduler() -> Scheduler:
        found = plugin.scheduler(server)
        if found is None:
            raise HTTPException(
                status_code=HTTP_503_SERVICE_UNAVAILABLE, detail="cron is not running"
            )
        return found

    @get(PAGE_PATH, name="cron_page", cache=False)
    async def cron_page() -> Template:
        running = scheduler()
        context = {"entries": await running.status(), "now": server.clock.now()}
        return page(TEMPLATE, **context)

    @get(JSON_PATH, name="cron_json", cache=False, opt=BARE)
    async def cron_json() -> dict[str, Any]:
        running = scheduler()
        return {"now": format_ts(server.clock.now()), "entries": await running.status()}

    async def act(request: Request[Any, Any, Any], action: str) -> dict[str, Any] | Redirect:
        running = scheduler()
        identity = await _entry_param(request)
        result: dict[str, Any] = {"entry": identity}
        try:
            if action == "enqueue":
                result["jid"] = (await running.enqueue_now(identity)).jid
            elif action == "pause":
                await running.pause(identity)
                result["paused"] = True
            else:
                await running.resume(identity)
                result["paused"] = False
        except UnknownEntry:
            raise NotFoundException(detail=f"no cron entry {identity!r}") from None
        if _is_form(request):
            return Redirect(path=link(request, PAGE_PATH), status_code=HTTP_303_SEE_OTHER)
        return result

    @post(f"{PAGE_PATH}/enqueue", name="cron_enqueue", status_code=HTTP_200_OK, opt=BARE)
    async def enqueue(request: Request[Any, Any, Any]) -> dict[str, Any] | Redirect:
        return await act(request, "enqueue")

    @post(f"{PAGE_PATH}/pause", name="cron_pause", status_code=HTTP_200_OK, opt=BARE)
    async def pause(request: Request[Any, Any, Any]) -> dict[str, Any] | Redirect:
        return await act(request, "pause")

    @post(f"{PAGE_PATH}/resume", name="cron_resume", status_code=HTTP_200_OK, opt=BARE)
    async def resume(request: Request[Any, Any, Any]) -> dict[str, Any] | Redirect:
        return await act(request, "resume")

    return [cron_page, cron_json, enqueue, pause, resume]
