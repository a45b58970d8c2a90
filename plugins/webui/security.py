"""Basic auth, cross-origin protection and the reverse proxy's path prefix (reference §9.2).

- **Basic auth** when ``server.config.web_ui_password`` is set (read on every request, so a
  SIGHUP that changes ``[web] password`` applies at once): any user name, the password
  compared in constant time; 401 with ``WWW-Authenticate: Basic realm="Faktory"``.
- **Cross-origin protection** as Go's ``http.CrossOriginProtection`` (Faktory 1.9.4): unsafe
  methods are refused with 403 when ``Sec-Fetch-Site`` is present and not ``same-origin`` or
  ``none``, or, without it, when ``Origin`` is present and its host is not ``Host``.
- **X-Script-Name**: a prefix the proxy mounts the UI under; stripped from the path before
  routing (when the path carries it) and put in front of every link and redirect.

Handlers opt out with ``opt``: ``webui_public`` (no auth: ``/health``, ``/static``) and
``webui_cross_origin`` (no cross-origin check: ``/stats``, ``/health``, ``/static``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import attrs
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN

from faktory_core.plugins.webui.helpers import script_name

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPScope, LifeSpanScope, Receive, Scope, Send

__all__ = ["BasicAuth", "CrossOriginProtection", "strip_script_name"]

PUBLIC = "webui_public"
CROSS_ORIGIN_OK = "webui_cross_origin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = (("WWW-Authenticate", 'Basic realm="Faktory"'),)
SEC_FETCH_SITE_REFUSED = "cross-origin request detected from Sec-Fetch-Site header"
ORIGIN_REFUSED = (
    "cross-origin request detected, and/or browser is out of date: "
    "Sec-Fetch-Site is missing, and Origin does not match Host"
)


@attrs.frozen
class Refusal:
    """A plain-text error answered by a middleware before the handler runs."""

    status: int
    text: str
    headers: tuple[tuple[str, str], ...] = ()

    async def send(self, send: Send) -> None:
        body = self.text.encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in self.headers),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _basic_password(header: str | None) -> str | None:
    """The password of an ``Authorization: Basic`` header; None when absent or malformed."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, sep, password = decoded.partition(":")
    return password if sep else None


def check_auth(password: str, header: str | None) -> Refusal | None:
    """None when the request may pass, else the 401 to send."""
    if not password:
        return None
    given = _basic_password(header)
    if given is None:
        return Refusal(HTTP_401_UNAUTHORIZED, "Authorization required", _CHALLENGE)
    if not hmac.compare_digest(given.encode(), password.encode()):
        return Refusal(HTTP_401_UNAUTHORIZED, "Authorization failed", _CHALLENGE)
    return None


def check_cross_origin(method: str, headers: Headers) -> Refusal | None:
    """None when the request may pass, else the 403 Go's CrossOriginProtection sends."""
    if method in SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site in ("same-origin", "none"):
            return None
        return Refusal(HTTP_403_FORBIDDEN, SEC_FETCH_SITE_REFUSED)
    origin = headers.get("origin")
    if origin is None or urlsplit(origin).netloc == headers.get("host"):
        return None
    return Refusal(HTTP_403_FORBIDDEN, ORIGIN_REFUSED)


class BasicAuth(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    exclude_opt_key = PUBLIC

    def __init__(self, password: Callable[[], str]) -> None:
        self.password = password

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = Headers.from_scope(scope)
        refusal = check_auth(self.password(), headers.get("authorization"))
        if refusal is not None:
            await refusal.send(send)
            return
        await next_app(scope, receive, send)


class CrossOriginProtection(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    exclude_opt_key = CROSS_ORIGIN_OK

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        http: HTTPScope = scope  # type: ignore[assignment]
        refusal = check_cross_origin(http["method"], Headers.from_scope(scope))
        if refusal is not None:
            await refusal.send(send)
            return
        await next_app(scope, receive, send)


def strip_script_name(scope: Scope | LifeSpanScope) -> Scope | LifeSpanScope:
    """An HTTP scope with the ``X-Script-Name`` prefix removed from its path, when it starts
    so; any other scope as it is."""
    if scope["type"] != ScopeType.HTTP:
        return scope
    http = cast("HTTPScope", scope)
    prefix = script_name(Headers.from_scope(http))
    path = http["path"]
    if not prefix or not (path == prefix or path.startswith(prefix + "/")):
        return scope
    stripped = path[len(prefix) :] or "/"
    raw, raw_prefix = http.get("raw_path") or path.encode(), prefix.encode()
    raw = raw[len(raw_prefix) :] if raw.startswith(raw_prefix) else stripped.encode()
    return {**http, "path": stripped, "raw_path": raw or b"/"}
