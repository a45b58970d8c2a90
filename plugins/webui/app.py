"""``create_app(server)``: the web UI as a Litestar app over one running server.

One controller per page (dashboard, busy, queues, retries, scheduled, dead, debug), the JSON
endpoints ``/stats`` and ``/health``, the static files, and whatever plugins contribute through
``faktory_core_web_routes`` and ``faktory_core_web_tabs``. Templates and static files ship in the
package; Jinja autoescapes everything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader
from litestar import Litestar, Response
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send

from faktory_core.plugins.webui import helpers
from faktory_core.plugins.webui.api import health, stats
from faktory_core.plugins.webui.busy import BusyController
from faktory_core.plugins.webui.dashboard import DashboardController
from faktory_core.plugins.webui.debug import DebugController
from faktory_core.plugins.webui.helpers import AnyRequest
from faktory_core.plugins.webui.layout import BARE, load_chrome, tabs_for
from faktory_core.plugins.webui.queues import QueuesController
from faktory_core.plugins.webui.security import (
    CROSS_ORIGIN_OK,
    PUBLIC,
    BasicAuth,
    CrossOriginProtection,
    strip_script_name,
)
from faktory_core.plugins.webui.sets import (
    MorgueController,
    RetriesController,
    ScheduledController,
)
from faktory_core.server.app import Server
from faktory_core.web import LAYOUT

__all__ = ["LAYOUT", "STATIC_DIR", "TEMPLATE_DIR", "WebApp", "create_app", "environment"]

log = logging.getLogger("faktory_core.webui")

HERE = Path(__file__).parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
CONTROLLERS = (
    DashboardController,
    BusyController,
    QueuesController,
    RetriesController,
    ScheduledController,
    MorgueController,
    DebugController,
)


class WebApp(Litestar):
    """Litestar with the ``X-Script-Name`` prefix stripped before routing."""

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        await super().__call__(strip_script_name(scope), receive, send)


def _url(
    context: Mapping[str, Any], /, path: str, *queries: Mapping[str, Any], **query: Any
) -> str:
    """Template callable ``url('/busy', {'jobtype': 'x'}, page=2)``: a link under the proxy's
    prefix, with the query values of the mappings and keywords (later ones win)."""
    request: AnyRequest = context["request"]
    merged: dict[str, Any] = {}
    for mapping in (*queries, query):
        merged.update(mapping or {})
    return helpers.link(request, path, **merged)


def environment(contributed: Mapping[str, str] | None = None) -> Environment:
    """The Jinja environment: autoescape always on, the display helpers as filters; the UI's
    own templates first, then the ones plugins contributed (compiled once, then cached)."""
    loader = ChoiceLoader([FileSystemLoader(TEMPLATE_DIR), DictLoader(dict(contributed or {}))])
    env = Environment(loader=loader, autoescape=True)
    env.filters.update(
        jobtype=helpers.display_type,
        args=helpers.display_args,
        ago=helpers.relative_time,
        iso=helpers.iso,
        ts=helpers.timestamp,
        latency=helpers.format_latency,
        latency_class=helpers.latency_category,
        pretty=helpers.pretty_json,
    )
    return env


def _template_engine(contributed: Mapping[str, str]) -> JinjaTemplateEngine:
    engine = JinjaTemplateEngine.from_environment(environment(contributed))
    engine.register_template_callable("url", _url)
    return engine


def _http_error(request: AnyRequest, exc: HTTPException) -> Response[str]:
    return Response(
        exc.detail, status_code=exc.status_code, media_type="text/plain", headers=exc.headers
    )


def _internal_error(request: AnyRequest, exc: Exception) -> Response[str]:
    log.exception("web UI request %s %s failed", request.method, request.url.path)
    return Response("Internal Server Error", status_code=500, media_type="text/plain")


def create_app(server: Server) -> Litestar:
    """The UI for ``server``; plugins' routes and tabs are collected once, here."""
    static = create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(public=True, max_age=3600),
        opt={PUBLIC: True, CROSS_ORIGIN_OK: True, BARE: True},
    )
    return WebApp(
        route_handlers=[*CONTROLLERS, stats, health, static, *server.kernel.web_routes(server)],
        dependencies={"server": Provide(lambda: server, use_cache=True, sync_to_thread=False)},
        middleware=[BasicAuth(lambda: server.config.web_ui_password), CrossOriginProtection()],
        before_request=load_chrome,
        template_config=TemplateConfig(
            instance=_template_engine(server.kernel.web_templates(server))
        ),
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        state=State({"server": server, "tabs": tabs_for(server)}),
        openapi_config=None,
        logging_config=None,
    )
