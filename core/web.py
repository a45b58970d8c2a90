"""What a plugin needs to add a page to the web UI, reachable without importing the UI plugin.

Plugins never import each other (``faktory_core.plugins.<other>``); a page goes through the core:

- ``faktory_core_web_routes(server)``: Litestar handlers, mounted in the UI's app;
- ``faktory_core_web_tabs(server)``: ``(label, path)`` navigation tabs;
- ``faktory_core_web_templates(server)``: ``{name: Jinja source}``, added to the UI's template
  loader, so they are compiled once (Jinja caches them) and may ``{% extends LAYOUT %}``;
- and, here, the helpers handlers use: :func:`page` renders a template by name, :func:`link`
  and :func:`redirect` keep the reverse proxy's ``X-Script-Name`` prefix, :data:`UiServer` is
  the server as a handler dependency. docs/webui.md has the layout contract and an example.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from litestar import Request
from litestar.datastructures import Headers
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.response import Redirect, Template

from faktory_core.server.app import Server

__all__ = [
    "BARE",
    "LAYOUT",
    "PUBLIC",
    "AnyRequest",
    "UiServer",
    "job_progress",
    "link",
    "page",
    "redirect",
    "script_name",
]

#: The template a page extends to get the site layout (nav, summary bar, footer, styles).
LAYOUT = "layout.html"
#: Every request the UI handles (no user, auth or state types).
AnyRequest = Request[Any, Any, Any]
#: Handler ``opt`` keys the UI honours: ``{PUBLIC: True}`` serves a route without the UI's
#: password; ``{BARE: True}`` skips the page chrome (summary bar) a plain endpoint does not need.
PUBLIC = "webui_public"
BARE = "webui_bare"
#: How a handler asks for the server (the UI's app provides it as the dependency ``server``).
UiServer = NamedDependency[Server]
_PREFIX = re.compile(r"(/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)+")


def script_name(headers: Headers | Mapping[str, str]) -> str:
    """The ``X-Script-Name`` prefix (``/faktory``), or "" when absent or malformed."""
    prefix = (headers.get("x-script-name") or "").rstrip("/")
    return prefix if _PREFIX.fullmatch(prefix) else ""


def link(request: AnyRequest, path: str, **query: Any) -> str:
    """``path`` under the request's prefix, with the non-empty ``query`` values."""
    pairs = [(key, value) for key, value in query.items() if value not in (None, "")]
    suffix = "?" + urlencode(pairs) if pairs else ""
    return script_name(request.headers) + path + suffix


def redirect(request: AnyRequest, path: str, **query: Any) -> Redirect:
    """A 302 to ``path`` under the request's prefix."""
    return Redirect(path=link(request, path, **query), status_code=302)


def page(template: str, **context: Any) -> Template:
    """A page: the template named ``template`` (the UI's own, or one a plugin contributed with
    ``faktory_core_web_templates``) rendered as HTML."""
    return Template(template_name=template, context=context, media_type=MediaType.HTML)


async def job_progress(server: Server, jids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """jid → progress (``percent``, ``desc``, ``state``) from the plugins that track jobs
    (``faktory_core_web_job_progress``); jobs nobody tracks are left out."""
    readers = server.kernel.web_job_progress(server)
    found: dict[str, Mapping[str, Any]] = {}
    for jid in jids if readers else ():
        for reader in readers:
            progress = await reader(jid)
            if progress is not None:
                found[jid] = progress
                break
    return found
