"""``[metrics] listen``: /metrics on a port of its own, with the web UI off, over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from faktory_core.plugins.metrics import MetricsPlugin
from faktory_core.plugins.metrics.settings import MetricsConfigError, metrics_settings

from ..redis import either_store  # noqa: TID252
from ..redis.either_store import Running  # noqa: TID252
from .support import Metrics, get

module_redis = either_store.module_redis
serve = either_store.serve


def own_port(serve: Callable[..., Running], **config: object) -> tuple[Metrics, int]:
    plugin = MetricsPlugin(environ={})
    toml = {"metrics": {"listen": "127.0.0.1:0", **config.pop("metrics", {})}}  # type: ignore[dict-item]
    running = serve(plugins=[("metrics", plugin)], web_binding=":0", toml=toml, **config)
    metrics = Metrics(running, plugin)
    assert metrics.state.port
    return metrics, metrics.state.port


def test_metrics_without_the_web_ui(serve: Callable[..., Running]) -> None:
    metrics, port = own_port(serve)
    conn = metrics.conn()
    metrics.push(conn, "Alone")
    status, content_type, body = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"faktory_jobs_pushed", "faktory_queue_size", "process_cpu_seconds"} <= names
    conn.close()


def test_own_port_keeps_the_ui_password(serve: Callable[..., Running]) -> None:
    _metrics, port = own_port(serve, web_password="pw")
    assert get(f"http://127.0.0.1:{port}/metrics")[0] == 401
    assert get(f"http://127.0.0.1:{port}/metrics", "nope")[0] == 401
    assert get(f"http://127.0.0.1:{port}/metrics", "pw")[0] == 200


def test_own_port_open(serve: Callable[..., Running]) -> None:
    _metrics, port = own_port(serve, web_password="pw", metrics={"open": True})
    assert get(f"http://127.0.0.1:{port}/metrics")[0] == 200


def test_other_paths_and_methods(serve: Callable[..., Running]) -> None:
    _metrics, port = own_port(serve)
    assert get(f"http://127.0.0.1:{port}/")[0] == 404
    assert raw(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.0 405")
    assert raw(port, b"garbage\r\n\r\n").startswith(b"HTTP/1.0 400")
    head = raw(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert head.endswith(b"\r\n\r\n")


def test_an_endless_request_is_cut_off(serve: Callable[..., Running]) -> None:
    metrics, port = own_port(serve)
    assert raw(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20_000) == b""
    assert get(f"http://127.0.0.1:{port}/metrics")[0] == 200  # still serving
    metrics.conn().close()


def raw(port: int, request: bytes) -> bytes:
    """The whole answer to ``request`` (b"" when the server closes without one)."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:  # closed with our bytes unread
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"listen": "nowhere"}, "listen must be host:port"),
        ({"open": "yes"}, "open must be a bool"),
        ({"max_jobtypes": 0}, "max_jobtypes must be at least 1"),
        ({"colour": 1}, "unknown keys: colour"),
    ],
)
def test_bad_metrics_settings_are_named(table: dict[str, object], message: str) -> None:
    with pytest.raises(MetricsConfigError, match=message):
        metrics_settings({"metrics": table})
