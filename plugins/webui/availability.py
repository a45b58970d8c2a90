"""The store, seen from the web UI: answer quickly when it is down or hung.

Before a page (anything but ``/static`` and ``/health``, which checks for itself) the store is
asked one cheap question (``working_size``) with a deadline of :data:`STORE_DEADLINE` seconds.
When that fails, or a page's own store call fails later with a ``StoreError``, the answer is a
503 page saying the store is unavailable and why, instead of a bare 500 after the store's own
5 s timeout.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING

import anyio
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from faktory_core.errors import FaktoryError
from faktory_core.plugins.webui.logsafe import loggable
from faktory_core.plugins.webui.security import Refusal

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

    from faktory_core.store import Store

__all__ = ["NO_STORE_CHECK", "STORE_DEADLINE", "StoreGate", "store_problem", "unavailable_page"]

log = logging.getLogger("faktory_core.webui")

#: Seconds the UI waits for the store's answer to its check before a page says "unavailable".
STORE_DEADLINE = 1.0
#: A handler's ``opt`` key that skips the check (static files; ``/health`` checks itself).
NO_STORE_CHECK = "webui_no_store_check"
#: Seconds a client is told to wait before asking again.
RETRY_AFTER = "5"


async def store_problem(store: Store, deadline: float = STORE_DEADLINE) -> str | None:
    """None when the store answers a cheap question within ``deadline``, else why not."""
    try:
        with anyio.fail_after(deadline):
            await store.working_size()
    except TimeoutError:
        return f"the {store.name} store did not answer within {deadline:g} s"
    except FaktoryError as exc:
        return f"the {store.name} store failed: {exc.message}"
    except OSError as exc:
        return f"the {store.name} store failed: {exc}"
    return None


def unavailable_page(reason: str) -> Refusal:
    body = (
        "<!doctype html><html><head><meta charset=utf-8><title>Store unavailable</title></head>"
        f"<body><h1>Store unavailable</h1><p>{html.escape(reason)}</p>"
        "<p>faktory-core is running; this page works again once the store answers.</p>"
        "</body></html>"
    )
    return Refusal(
        HTTP_503_SERVICE_UNAVAILABLE,
        body,
        (("Retry-After", RETRY_AFTER), ("Cache-Control", "no-cache")),
        "text/html; charset=utf-8",
    )


class StoreGate(ASGIMiddleware):
    """Checks the store before a page; a 503 page when it does not answer in time."""

    scopes = (ScopeType.HTTP,)
    exclude_opt_key = NO_STORE_CHECK

    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        problem = await store_problem(self.store)
        if problem is not None:
            log.warning("web UI %s: %s", loggable(scope.get("path", "")), problem)
            await unavailable_page(problem).send(send)
            return
        await next_app(scope, receive, send)
