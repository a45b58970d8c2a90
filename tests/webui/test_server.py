"""The embedded uvicorn: started by the plugin in the server's task group, on its event loop, on
``-w`` (off with ``:0``), over HTTPS with the server's key pair, and leaving signals alone."""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from faktory_core.clock import SystemClock
from faktory_core.kernel import installed_plugins
from faktory_core.plugins import webui
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.webui.runner import bind_sockets

from .support import job, serving


async def test_the_ui_serves_on_its_own_port(tmp_path: Path) -> None:
    clock = SystemClock()
    async with serving(MemoryStore(clock), clock, tmp_path) as server:
        port = webui.web_port(server)
        assert port is not None
        assert port != server.port
        await server.manager.push(job())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = await client.get("/health")
            assert health.status_code == 200
            stats = (await client.get("/stats")).json()
            assert stats["faktory"]["queues"] == {"default": 1}
            assert "uptime" in (await client.get("/")).text


async def test_stopping_the_server_stops_the_ui(tmp_path: Path) -> None:
    clock = SystemClock()
    async with serving(MemoryStore(clock), clock, tmp_path) as server:
        port = webui.web_port(server)
    assert webui.web_port(server) is None
    assert port is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_binding_colon_zero_turns_the_ui_off(tmp_path: Path) -> None:
    clock = SystemClock()
    async with serving(MemoryStore(clock), clock, tmp_path, web_binding=":0") as server:
        assert webui.web_port(server) is None


async def test_a_busy_port_stops_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        binding = f"127.0.0.1:{taken.getsockname()[1]}"
        clock = SystemClock()
        with pytest.raises(BaseExceptionGroup) as caught:
            async with serving(MemoryStore(clock), clock, tmp_path, web_binding=binding):
                pass
        assert caught.group_contains(OSError, match="in use")


async def test_uvicorn_leaves_the_signal_handlers_alone(tmp_path: Path) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    clock = SystemClock()
    async with serving(MemoryStore(clock), clock, tmp_path) as server:
        port = webui.web_port(server)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        during = {sig: signal.getsignal(sig) for sig in before}
    assert during == before
    assert {sig: signal.getsignal(sig) for sig in before} == before


def make_key_pair(folder: Path) -> Path:
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - openssl ships with every image we use
        pytest.fail("the TLS test needs the openssl command")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(folder / "private.key.pem"), "-out", str(folder / "public.cert.pem"),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder / "public.cert.pem"


async def test_https_with_the_servers_key_pair(tmp_path: Path) -> None:
    cert = make_key_pair(tmp_path / "conf")
    clock = SystemClock()
    async with serving(MemoryStore(clock), clock, tmp_path) as server:
        port = webui.web_port(server)
        trusted = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=trusted) as client:
            response = await client.get(f"https://127.0.0.1:{port}/health")
            assert response.status_code == 200
        async with httpx.AsyncClient() as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get(f"http://127.0.0.1:{port}/health")


def test_bind_sockets_shares_one_ephemeral_port_across_addresses() -> None:
    sockets = bind_sockets("localhost", 0)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1
        assert ports != {0}
    finally:
        for sock in sockets:
            sock.close()


def test_webui_is_an_installed_default_plugin() -> None:
    assert installed_plugins()["webui"] == "faktory_core.plugins.webui"
