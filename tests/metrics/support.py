"""Shared by the metrics tests: a server on either store (tests/redis/either_store.py) with the
web UI and a metrics plugin of the test's own, and blocking HTTP and FWP helpers."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import attrs

from faktory_core.plugins import webui
from faktory_core.plugins.metrics import MetricsPlugin, MetricsState
from faktory_core.protocol import Bulk, SimpleString
from faktory_core.testing import FwpSocket

from ..redis.either_store import Running  # noqa: TID252

__all__ = ["Metrics", "get", "start_metrics"]


@attrs.define(eq=False)
class Metrics:
    """A running server with its metrics plugin, web UI port and an FWP connection."""

    running: Running
    plugin: MetricsPlugin

    @property
    def state(self) -> MetricsState:
        assert self.running.thread.server is not None
        found = self.plugin.state(self.running.thread.server)
        assert found is not None
        return found

    @property
    def web_port(self) -> int:
        assert self.running.thread.server is not None
        port = webui.web_port(self.running.thread.server)
        assert port is not None
        return port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def conn(self) -> FwpSocket:
        return self.running.conn()

    def push(self, conn: FwpSocket, jobtype: str = "Ordinary", queue: str = "default") -> str:
        jid = uuid.uuid4().hex[:16]
        job = {"jid": jid, "jobtype": jobtype, "args": [], "queue": queue}
        assert conn.json_command("PUSH", job) == SimpleString("OK")
        return jid

    def ack(self, conn: FwpSocket, jid: str) -> None:
        assert conn.json_command("ACK", {"jid": jid}) == SimpleString("OK")

    def fail(self, conn: FwpSocket, jid: str) -> None:
        failure = {"jid": jid, "errtype": "RuntimeError", "message": "boom"}
        assert conn.json_command("FAIL", failure) == SimpleString("OK")

    def fetch(self, conn: FwpSocket, *queues: str) -> dict[str, Any]:
        reply = conn.command("FETCH", *(queues or ("default",)))
        assert isinstance(reply, Bulk), reply
        assert reply.data is not None
        return dict(json.loads(reply.data))

    def advance(self, seconds: float) -> None:
        self.running.advance(seconds)

    def info(self) -> dict[str, Any]:
        conn = self.conn()
        try:
            reply = conn.command("INFO")
            assert isinstance(reply, Bulk)
            assert reply.data is not None
            return dict(json.loads(reply.data))
        finally:
            conn.close()


def get(url: str, password: str | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, with HTTP Basic auth when ``password`` is given."""
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"user:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def start_metrics(
    serve: Callable[..., Running], plugin: MetricsPlugin | None = None, **config: Any
) -> Metrics:
    """A server (either store, fake clock) with the web UI on a free port and ``plugin``."""
    plugin = plugin or MetricsPlugin(environ={})
    config.setdefault("web_binding", "127.0.0.1:0")
    running = serve(plugins=[("webui", webui), ("metrics", plugin)], **config)
    return Metrics(running, plugin)
