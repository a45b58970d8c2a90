"""``/stats`` (INFO as JSON, §7.2) and ``/health`` (unauthenticated, §7.3): never cached.

Both answer any method, as Faktory's handlers do; neither is checked for cross-origin requests.
``/stats`` is behind Basic auth when a password is set; ``/health`` never is (decisions.md:
load balancers use it).
"""

from __future__ import annotations

from typing import Any

from litestar import Response, route
from litestar.enums import HttpMethod

from faktory_core.plugins.webui.helpers import UiServer
from faktory_core.plugins.webui.layout import BARE
from faktory_core.plugins.webui.security import CROSS_ORIGIN_OK, PUBLIC

__all__ = ["health", "stats"]

ANY_METHOD = [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE]
NO_CACHE = {"Cache-Control": "no-cache"}


def _json(data: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(data, media_type="application/json", headers=NO_CACHE, status_code=200)


@route("/stats", http_method=ANY_METHOD, opt={CROSS_ORIGIN_OK: True, BARE: True})
async def stats(server: UiServer) -> Response[dict[str, Any]]:
    return _json(await server.info())


@route("/health", http_method=ANY_METHOD, opt={PUBLIC: True, CROSS_ORIGIN_OK: True, BARE: True})
async def health(server: UiServer) -> Response[dict[str, Any]]:
    return _json(server.health())
