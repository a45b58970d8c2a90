"""``create_app(server)``: the web UI as a Litestar app over one running server.

One controller per page (dashboard, busy, queues, retries, scheduled, dead, debug), the JSON
endpoints ``/stats`` and ``/health``, the static files, and whatever plugins contribute through
``faktory_core_web_routes`` and ``faktory_core_web_tabs``. Templates and static files ship in the
package; Jinja autoescapes everything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader
from litestar import Litestar, Response
from litestar.datastructures import CacheControlHeader, Headers, State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import (
    HTTPScope,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Receive,
    Scope,
    Send,
)

from faktory_core.errors import StoreError
from faktory_core.plugins.webui import helpers
from faktory_core.plugins.webui.api import health, stats
from faktory_core.plugins.webui.availability import NO_STORE_CHECK, StoreGate, unavailable_page
from faktory_core.plugins.webui.busy import BusyController
from faktory_core.plugins.webui.dashboard import DashboardController
from faktory_core.plugins.webui.debug import DebugController
from faktory_core.plugins.webui.helpers import AnyRequest
from faktory_core.plugins.webui.layout import BARE, load_chrome, tabs_for
from faktory_core.plugins.webui.logsafe import loggable
from faktory_core.plugins.webui.queues import QueuesController
from faktory_core.plugins.webui.security import (
    CROSS_ORIGIN_OK,
    PUBLIC,
    BasicAuth,
    CrossOriginProtection,
    check_host,
    check_path,
    deny_frames,
    strip_script_name,
)
from faktory_core.plugins.webui.sets import (
    MorgueController,
    RetriesController,
    ScheduledController,
)
from faktory_core.server.app import Server, parse_binding
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
    """Litestar with, before routing (so for every response, a 404 too): the ``X-Script-Name``
    prefix stripped, frames denied, and the path and ``Host`` checked (:mod:`.security`)."""

    #: The UI's password, read on every request, and the names the Host check accepts.
    password: Callable[[], str] = staticmethod(lambda: "")
    hosts: frozenset[str] = frozenset()

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        scope = strip_script_name(scope)
        if scope["type"] == ScopeType.HTTP:
            send = deny_frames(cast("Send", send))
            http = cast("HTTPScope", scope)
            host = Headers.from_scope(http).get("host")
            refusal = check_path(http["path"]) or check_host(host, self.password(), self.hosts)
            if refusal is not None:
                await refusal.send(send)
                return
        await super().__call__(scope, receive, send)


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
    log.exception(
        "web UI request %s %s failed", loggable(request.method), loggable(request.url.path)
    )
    return Response("Internal Server Error", status_code=500, media_type="text/plain")


def _store_error(request: AnyRequest, exc: StoreError) -> Response[str]:
    """A store call of the page failed (after the check passed): the 503 page, not a 500."""
    log.warning("web UI %s: the store failed: %s", loggable(request.url.path), exc.message)
    page = unavailable_page(f"the {request.app.state['server'].store.name} store failed: {exc}")
    return Response(
        page.text, status_code=page.status, media_type=page.content_type, headers=dict(page.headers)
    )


def allowed_hosts(server: Server) -> frozenset[str]:
    """The names the host check accepts besides IP addresses and localhost: the host the UI is
    bound to and ``[web] allowed_hosts`` (a list of names; ``"*"`` accepts any)."""
    names = set()
    host, _port = parse_binding(server.config.web_binding)
    if host:
        names.add(host.lower())
    web = server.config.toml.get("web")
    listed = web.get("allowed_hosts", ()) if isinstance(web, Mapping) else ()
    if isinstance(listed, str) or not all(isinstance(name, str) for name in listed):
        raise ValueError("[web] allowed_hosts must be a list of host names")
    names.update(name.lower().rstrip(".") for name in listed)
    return frozenset(names)


def create_app(server: Server) -> Litestar:
    """The UI for ``server``; plugins' routes and tabs are collected once, here."""
    static = create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(public=True, max_age=3600),
        opt={PUBLIC: True, CROSS_ORIGIN_OK: True, BARE: True, NO_STORE_CHECK: True},
    )
    password = lambda: server.config.web_ui_password  # noqa: E731 -- read on every request
    app = WebApp(
        route_handlers=[*CONTROLLERS, stats, health, static, *server.kernel.web_routes(server)],
        dependencies={"server": Provide(lambda: server, use_cache=True, sync_to_thread=False)},
        middleware=[
            BasicAuth(password),
            CrossOriginProtection(),
            StoreGate(server.store),
        ],
        before_request=load_chrome,
        template_config=TemplateConfig(
            instance=_template_engine(server.kernel.web_templates(server))
        ),
        exception_handlers={
            HTTPException: _http_error,
            StoreError: _store_error,
            Exception: _internal_error,
        },
        state=State({"server": server, "tabs": tabs_for(server)}),
        openapi_config=None,
        logging_config=None,
    )
    app.password, app.hosts = password, allowed_hosts(server)
    return app
