"""``[metrics] listen = "host:port"``: ``GET /metrics`` on a port of its own, without the web UI.

A small HTTP/1.0 responder in the server's task group: one request per connection, read within
:data:`REQUEST_SECONDS` and :data:`MAX_REQUEST_BYTES`, answered and closed. Behind the web UI's
password (HTTP Basic, any user name) unless ``[metrics] open = true``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc

__all__ = ["MAX_REQUEST_BYTES", "REQUEST_SECONDS", "authorized", "serve_metrics"]

log = logging.getLogger("faktory_core.plugins.metrics")

MAX_REQUEST_BYTES = 8192
REQUEST_SECONDS = 5.0
_END = b"\r\n\r\n"


def authorized(password: str, header: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``password`` (always, with no password)."""
    if not password:
        return True
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(decoded.partition(":")[2].encode(), password.encode())


def _response(status: str, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


async def _read_head(stream: anyio.abc.ByteStream) -> bytes | None:
    data = b""
    with anyio.move_on_after(REQUEST_SECONDS):
        while _END not in data and len(data) <= MAX_REQUEST_BYTES:
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return None
        return data if _END in data else None
    return None


def _parse(head: bytes) -> tuple[str, str, dict[str, str]] | None:
    lines = head.split(_END, 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1].split("?", 1)[0], headers


async def _answer(
    head: bytes, password: Callable[[], str], render: Callable[[], Awaitable[tuple[bytes, str]]]
) -> bytes:
    request = _parse(head)
    plain = "text/plain; charset=utf-8"
    if request is None:
        return _response("400 Bad Request", b"bad request\n", plain)
    method, path, headers = request
    if path != "/metrics":
        return _response("404 Not Found", b"not found: try /metrics\n", plain)
    if method not in ("GET", "HEAD"):
        return _response("405 Method Not Allowed", b"GET only\n", plain, "Allow: GET, HEAD\r\n")
    if not authorized(password(), headers.get("authorization")):
        challenge = 'WWW-Authenticate: Basic realm="Faktory"\r\n'
        return _response("401 Unauthorized", b"password required\n", plain, challenge)
    body, content_type = await render()
    return _response("200 OK", b"" if method == "HEAD" else body, content_type)


async def serve_metrics(
    listener: anyio.abc.Listener[anyio.abc.SocketStream],
    password: Callable[[], str],
    render: Callable[[], Awaitable[tuple[bytes, str]]],
) -> None:
    """Answer ``GET /metrics`` on ``listener`` until cancelled; ``password()`` is read per request
    ("" for none)."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            head = await _read_head(stream)
            if head is None:
                return
            try:
                reply = await _answer(head, password, render)
            except Exception:
                log.exception("metrics listener: the scrape failed")
                reply = _response("500 Internal Server Error", b"scrape failed\n", "text/plain")
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.send(reply)

    await listener.serve(handle)
