"""uvicorn, embedded: the UI's HTTP server runs in the server's task group, on its event loop.

Three things differ from ``uvicorn.run``:

- the listening sockets are bound here, before the server reports it has started, so a busy
  port stops the start with a clear error and ``127.0.0.1:0`` has a known port at once;
- uvicorn does not touch signals (:meth:`EmbeddedServer.capture_signals` does nothing):
  SIGTERM, SIGINT and SIGHUP stay with faktory-core, which stops the UI in its shutdown hook;
- uvicorn does not touch logging (``log_config=None``); its loggers propagate as any other.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Generator
from typing import Any

import anyio
import anyio.abc
import attrs
import uvicorn

from faktory_core.config import Config
from faktory_core.server.app import make_tls_context, parse_binding

__all__ = ["EmbeddedServer", "WebServer", "bind_sockets", "web_address"]

log = logging.getLogger("faktory_core.webui")

#: How long a stopping UI waits for requests in progress before closing their connections.
GRACEFUL_SECONDS = 2


class EmbeddedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass


def web_address(config: Config) -> tuple[str | None, int] | None:
    """Where the UI listens; None when it is off (``-w :0``: no host and port 0)."""
    host, port = parse_binding(config.web_binding)
    if host is None and port == 0:
        return None
    return host, port


def bind_sockets(host: str | None, port: int) -> list[socket.socket]:
    """Listening sockets for every address of ``host`` (all interfaces when None); with port 0
    the first gets a free port and the others share it."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if sockets[1:]:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(2048)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@attrs.define(eq=False)
class WebServer:
    """One running UI: its uvicorn server and the port it listens on."""

    uvicorn: EmbeddedServer
    sockets: list[socket.socket]
    scheme: str
    done: anyio.Event = attrs.field(factory=anyio.Event)

    @property
    def port(self) -> int:
        port: int = self.sockets[0].getsockname()[1]
        return port

    @classmethod
    def create(cls, app: Any, config: Config) -> WebServer:
        address = web_address(config)
        if address is None:
            raise ValueError(f"the web UI is off (-w {config.web_binding})")
        tls = make_tls_context(config.config_dir) is not None
        pem = config.config_dir
        settings = uvicorn.Config(
            app,
            lifespan="on",
            log_level="warning",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            ssl_keyfile=str(pem / "private.key.pem") if tls else None,
            ssl_certfile=str(pem / "public.cert.pem") if tls else None,
        )
        settings.load()  # TLS and protocol errors surface here, at start-up
        sockets = bind_sockets(*address)
        return cls(EmbeddedServer(settings), sockets, "https" if tls else "http")

    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        task_group.start_soon(self._serve, name="webui")
        log.info("web UI on %s://%s", self.scheme, _where(self.sockets[0]))

    async def _serve(self) -> None:
        try:
            await self.uvicorn.serve(sockets=self.sockets)
        finally:
            # Cancelled (the server's task group failed, not stopped): uvicorn's own shutdown
            # did not run, and a listening server left open keeps the event loop from closing.
            for server in getattr(self.uvicorn, "servers", ()):
                server.close()
            for sock in self.sockets:
                sock.close()
            self.done.set()

    async def stop(self) -> None:
        self.uvicorn.should_exit = True
        with anyio.move_on_after(GRACEFUL_SECONDS + 3):
            await self.done.wait()


def _where(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
