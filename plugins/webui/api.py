"""``/stats`` (INFO as JSON, §7.2) and ``/health`` (unauthenticated, §7.3): never cached.

Both answer any method, as Faktory's handlers do; neither is checked for cross-origin requests.
``/stats`` is behind Basic auth when a password is set; ``/health`` never is (decisions.md:
load balancers use it). ``/health`` answers 503, with the reason, when the store does not
answer (:mod:`.availability`).
"""

from __future__ import annotations

from typing import Any

from litestar import Response, route
from litestar.enums import HttpMethod
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from faktory_core.plugins.webui.availability import NO_STORE_CHECK, RETRY_AFTER, store_problem
from faktory_core.plugins.webui.helpers import UiServer
from faktory_core.plugins.webui.layout import BARE
from faktory_core.plugins.webui.security import CROSS_ORIGIN_OK, PUBLIC

__all__ = ["health", "stats"]

ANY_METHOD = [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE]
NO_CACHE = {"Cache-Control": "no-cache"}


def _json(data: dict[str, Any], status: int = 200) -> Response[dict[str, Any]]:
    headers = NO_CACHE if status == 200 else {**NO_CACHE, "Retry-After": RETRY_AFTER}
    return Response(data, media_type="application/json", headers=headers, status_code=status)


@route("/stats", http_method=ANY_METHOD, opt={CROSS_ORIGIN_OK: True, BARE: True})
async def stats(server: UiServer) -> Response[dict[str, Any]]:
    return _json(await server.info())


HEALTH_OPT = {PUBLIC: True, CROSS_ORIGIN_OK: True, BARE: True, NO_STORE_CHECK: True}


@route("/health", http_method=ANY_METHOD, opt=HEALTH_OPT)
async def health(server: UiServer) -> Response[dict[str, Any]]:
    """200 with the server's health; 503 with ``"store": "<why>"`` added when the store does
    not answer within the UI's store deadline (load balancers take the server out)."""
    problem = await store_problem(server.store)
    if problem is not None:
        return _json({**server.health(), "store": problem}, HTTP_503_SERVICE_UNAVAILABLE)
    return _json(server.health())
