"""Basic auth, cross-origin protection and the reverse proxy's path prefix (reference §9.2).

- **Basic auth** when ``server.config.web_ui_password`` is set (read on every request, so a
  SIGHUP that changes ``[web] password`` applies at once): any user name, the password
  compared in constant time; 401 with ``WWW-Authenticate: Basic realm="Faktory"``.
- **Cross-origin protection** as Go's ``http.CrossOriginProtection`` (Faktory 1.9.4): unsafe
  methods are refused with 403 when ``Sec-Fetch-Site`` is present and not ``same-origin`` or
  ``none``, or, without it, when ``Origin`` is present and its host is not ``Host``.
- **Frames**: every response says ``X-Frame-Options: DENY`` and ``Content-Security-Policy:
  frame-ancestors 'none'`` (no clickjacking).
- **Host check** (DNS rebinding) when no password is set: the ``Host`` must be an IP address,
  ``localhost`` (or a name under ``.localhost``), the host the UI is bound to, or one listed in
  ``[web] allowed_hosts``; anything else is refused with 403. With a password, Basic auth
  already stops a rebound page (the browser has no credentials for the attacker's name).
- **X-Script-Name**: a prefix the proxy mounts the UI under; stripped from the path before
  routing (when the path carries it) and put in front of every link and redirect.

Handlers opt out with ``opt``: ``webui_public`` (no auth: ``/health``, ``/static``) and
``webui_cross_origin`` (no cross-origin check: ``/stats``, ``/health``, ``/static``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import attrs
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
)

from faktory_core import web
from faktory_core.plugins.webui.helpers import script_name

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPScope, LifeSpanScope, Message, Receive, Scope, Send

__all__ = [
    "FRAME_HEADERS",
    "BasicAuth",
    "CrossOriginProtection",
    "check_host",
    "check_path",
    "deny_frames",
    "host_allowed",
    "strip_script_name",
]

PUBLIC = web.PUBLIC
CROSS_ORIGIN_OK = "webui_cross_origin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = (("WWW-Authenticate", 'Basic realm="Faktory"'),)
SEC_FETCH_SITE_REFUSED = "cross-origin request detected from Sec-Fetch-Site header"
ORIGIN_REFUSED = (
    "cross-origin request detected, and/or browser is out of date: "
    "Sec-Fetch-Site is missing, and Origin does not match Host"
)


#: Added to every response of the UI: no page of it may be framed.
FRAME_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)
PATH_REFUSED = "the path has a control character"
#: Host names always accepted by the host check (besides IP addresses).
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})
HOST_REFUSED = (
    "Host {host!r} is not allowed: without a password the web UI answers only to an IP "
    "address, localhost and the host it is bound to; add the name to [web] allowed_hosts, "
    "or set a password"
)


@attrs.frozen
class Refusal:
    """An error answered by a middleware before the handler runs (plain text by default)."""

    status: int
    text: str
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "text/plain; charset=utf-8"

    async def send(self, send: Send) -> None:
        body = self.text.encode()
        headers = [
            (b"content-type", self.content_type.encode()),
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


def _host_name(host: str) -> str:
    """The name of a ``Host`` header value, without its port and brackets, lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str | None, allowed: Collection[str]) -> bool:
    """Whether a request naming ``host`` may be answered without a password: an IP address
    (a rebinding attack needs a name), a local name, or one of ``allowed`` (``*`` = any)."""
    if "*" in allowed:
        return True
    name = _host_name(host or "").rstrip(".")
    if not name:
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return True
    return name in LOCAL_NAMES or name.endswith(".localhost") or name in allowed


def deny_frames(send: Send) -> Send:
    """``send`` adding :data:`FRAME_HEADERS` to the response's headers."""

    async def send_framed(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {name.lower() for name, _ in headers}
            headers += [pair for pair in FRAME_HEADERS if pair[0] not in names]
            message = {**message, "headers": headers}
        await send(message)

    return send_framed


def check_path(path: str) -> Refusal | None:
    """400 for a path with a control character (``%00``, ``%0a``…): no page has one, and a
    NUL made the static files fail with a 500 that logged the path."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        return Refusal(HTTP_400_BAD_REQUEST, PATH_REFUSED)
    return None


def check_host(host: str | None, password: str, allowed: Collection[str]) -> Refusal | None:
    """403 for a ``Host`` that :func:`host_allowed` does not accept, when there is no
    password."""
    if password or host_allowed(host, allowed):
        return None
    return Refusal(HTTP_403_FORBIDDEN, HOST_REFUSED.format(host=host))


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
