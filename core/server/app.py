"""The server: one task group owns the listener, every connection and every background loop."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.abc
import attrs
from anyio.streams.tls import TLSStream

from faktory_core import __version__
from faktory_core.auth import Authenticator
from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.counters import Counters
from faktory_core.info import ServerStats, TaskStats, build_info, health
from faktory_core.kernel import Kernel
from faktory_core.manager import Manager
from faktory_core.retry import RetryPolicy
from faktory_core.server.commands import Handler, build_table
from faktory_core.server.connection import Connection
from faktory_core.server.guard import (
    AuthFailures,
    accept_forever,
    enable_keepalive,
    peer_name,
    raise_fd_limit,
)
from faktory_core.server.tasks import TASK_NAMES, run_task, task_bodies
from faktory_core.store import Store

__all__ = ["Server", "parse_binding"]

log = logging.getLogger("faktory_core.server")

#: How long a graceful stop waits for commands in progress (a FETCH blocks up to 2 s).
DRAIN_SECONDS = 5.0
#: The longest pause between two looks for connections silent for ``idle_timeout``.
IDLE_SWEEP = 1.0


def parse_binding(binding: str) -> tuple[str | None, int]:
    """``host:port`` as Faktory's ``-b`` takes it; an empty host means every interface."""
    host, sep, port = binding.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"invalid binding {binding!r}: expected host:port")
    host = host.strip("[]")
    return (host or None), int(port)


@attrs.define(eq=False)
class Server:
    config: Config
    manager: Manager
    stats: ServerStats
    kernel: Kernel
    authenticator: Authenticator
    tasks: dict[str, TaskStats] = attrs.field(factory=lambda: {n: TaskStats() for n in TASK_NAMES})
    table: dict[str, Handler] = attrs.field(factory=dict)
    connections: set[Connection] = attrs.field(factory=set)
    #: Connections accepted that have not finished the handshake (see max_handshaking).
    handshaking: int = 0
    #: Bytes held in every connection's line buffer together (see max_buffered).
    buffered: int = 0
    auth_failures: AuthFailures = attrs.field(factory=AuthFailures)
    #: Event counters plugins bump (expired jobs, unique refusals, ...); metrics reads them.
    counters: Counters = attrs.field(factory=Counters)
    shutting_down: bool = False
    port: int = 0
    #: True once the server has started (listening, plugins started): a later failure is a stop's.
    serving: bool = False
    #: The task group that owns everything running; plugins start their work in it at startup.
    task_group: anyio.abc.TaskGroup | None = None
    # Created inside serve(): an anyio Event needs a running event loop.
    _stop: anyio.Event | None = None
    _stop_requested: bool = False
    _tls: ssl.SSLContext | None = None

    @classmethod
    def create(
        cls,
        config: Config,
        kernel: Kernel,
        clock: Clock,
        *,
        store: Store | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Server:
        """Resolve the store, policy, authenticator, middleware and commands once, here."""
        manager = Manager(
            store=store or kernel.store(config, clock),
            retry_policy=retry_policy or kernel.retry_policy(config),
            clock=clock,
            timings=config.timings,
            chains=kernel.middleware(config, clock),
        )
        server = cls(
            config=config,
            manager=manager,
            stats=ServerStats(started_at=clock.now(), description=kernel.description),
            kernel=kernel,
            authenticator=kernel.authenticator(config),
        )
        manager.gates = kernel.fetch_gates(server)
        server.table = {**build_table(server), **kernel.commands(server)}
        return server

    @property
    def clock(self) -> Clock:
        return self.manager.clock

    @property
    def store(self) -> Store:
        return self.manager.store

    # -- running ----------------------------------------------------------------------------

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the store, listen, run until :meth:`stop`, then drain and save the store."""
        self._stop = anyio.Event()
        if self._stop_requested:
            self._stop.set()
        raise_fd_limit()
        await self.store.open()
        try:
            host, port = parse_binding(self.config.binding)
            listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
            self.port = _bound_port(listener)
            self._tls = make_tls_context(self.config.config_dir)
            async with listener, anyio.create_task_group() as tg:
                self.task_group = tg
                self._start_tasks(tg)
                await self.kernel.startup(self)
                for each in cast(Sequence[anyio.abc.SocketListener], listener.listeners):
                    tg.start_soon(accept_forever, each, self._accept, tg)
                log.info(
                    "faktory-core %s listening on %s%s (store: %s)",
                    __version__,
                    self.config.binding,
                    " with TLS" if self._tls else "",
                    self.store.name,
                )
                self.serving = True
                task_status.started(self.port)
                await self._stop.wait()
                await self._drain()
                with anyio.CancelScope(shield=True):
                    await self.kernel.shutdown(self)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.store.close()
            log.info("store closed; bye")

    async def reload(self, config: Config) -> None:
        """SIGHUP: take a new, already validated configuration and tell the plugins.

        The bindings and the command-port password are read once at boot (as in Faktory) and
        stay; everything else plugins read from ``server.config`` takes effect.
        """
        self.config = attrs.evolve(
            config,
            binding=self.config.binding,
            password=self.config.password,
            storage_dir=self.config.storage_dir,
        )
        await self.kernel.reload(self, self.config)

    def stop(self) -> None:
        """Begin a graceful stop (safe to call before serve() has started)."""
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    def _start_tasks(self, tg: anyio.abc.TaskGroup) -> None:
        for name, (every, body) in task_bodies(self).items():
            tg.start_soon(run_task, name, every, body, self.tasks[name], self.clock.sleep)
        tg.start_soon(self._close_idle)

    async def _close_idle(self) -> None:
        """Close connections without a ``wid`` silent for ``idle_timeout`` seconds (real time),
        looking every tenth of the timeout, at most every IDLE_SWEEP seconds."""
        while True:
            timeout = self.config.idle_timeout
            await anyio.sleep(min(IDLE_SWEEP, timeout / 10))
            self.close_idle(time.monotonic(), self.config.idle_timeout)

    def close_idle(self, now: float, timeout: float) -> None:
        for connection in list(self.connections):
            if connection.idle_for(now) >= timeout:
                connection.time_out(timeout)

    async def _accept(self, stream: anyio.abc.SocketStream) -> None:
        """Serve one accepted connection. Whatever it raises (an ``Exception``) is logged with
        the peer's address and ends this connection only, never the server."""
        if self.handshaking >= self.config.max_handshaking:
            log.warning(
                "closing the connection from %s: %d connections are already in their "
                "handshake (max_handshaking)",
                peer_name(stream),
                self.handshaking,
            )
            await anyio.aclose_forcefully(stream)
            return
        self.handshaking += 1
        counted = True
        try:
            enable_keepalive(stream)
            served = await self._secure(stream)
            if served is None:
                return
            connection = Connection(self, served)
            counted = False  # the connection counts itself down when its handshake ends
            self.connections.add(connection)
            try:
                await connection.run()
            finally:
                self.connections.discard(connection)
        except Exception:
            log.exception("connection from %s failed", peer_name(stream))
            await anyio.aclose_forcefully(stream)
        finally:
            if counted:
                self.handshaking -= 1

    async def _secure(self, stream: anyio.abc.SocketStream) -> anyio.abc.ByteStream | None:
        """The stream to speak FWP on: TLS-wrapped when the server has a key pair (the TLS
        handshake within the FWP handshake's deadline), else ``stream`` itself."""
        if self._tls is None:
            return stream
        try:
            with anyio.fail_after(self.config.timings.handshake):
                return await TLSStream.wrap(
                    stream, server_side=True, ssl_context=self._tls, standard_compatible=False
                )
        except Exception as exc:
            log.debug("TLS handshake with %s failed: %r", peer_name(stream), exc)
            await anyio.aclose_forcefully(stream)
            return None

    def shed_buffers(self) -> None:
        """Over ``max_buffered``: close the connections holding the most until under it."""
        over = self.buffered - self.config.max_buffered
        for connection in sorted(self.connections, key=lambda c: c.buffered, reverse=True):
            if over <= 0 or not connection.buffered:
                break
            released = connection.evict()
            self.buffered -= released
            over -= released

    async def _drain(self) -> None:
        """Refuse new commands, let those in progress finish, then close every connection."""
        self.shutting_down = True
        with anyio.move_on_after(DRAIN_SECONDS):
            # Shutdown only: a short poll is simpler than an event per connection.
            while any(c.busy for c in self.connections):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        for connection in list(self.connections):
            connection.close()

    # -- shared state -----------------------------------------------------------------------

    async def info(self) -> dict[str, Any]:
        stats = await self.store.stats()
        return build_info(stats, self.tasks, self.stats, self.clock.now())

    def health(self) -> dict[str, Any]:
        return health(self.stats, self.clock.now())

    async def flush(self) -> None:
        """FLUSH: the store empties its data; workers' records stay (Store.flush), so a
        running worker is never "unknown" on its next BEAT, through any server."""
        await self.store.flush()

    async def reap_workers(self) -> int:
        """Drop workers silent for too long and close their connections here (§5.7)."""
        cutoff = self.clock.now() - self.config.timings.heartbeat_expiry
        wids = await self.store.reap_workers(cutoff)
        for wid in wids:
            log.warning(
                "worker %s sent no heartbeat for %ss; closing its connections",
                wid,
                self.config.timings.heartbeat_expiry,
            )
        self.close_workers(wids)
        return len(wids)

    def close_workers(self, wids: Sequence[str]) -> None:
        doomed = set(wids)
        for connection in list(self.connections):
            if connection.session.wid in doomed:
                connection.close()


def make_tls_context(config_dir: Path) -> ssl.SSLContext | None:
    """TLS when both ``private.key.pem`` and ``public.cert.pem`` are in the config directory
    (§10.5); either missing means plaintext; an unreadable pair is an error at start."""
    key, cert = config_dir / "private.key.pem", config_dir / "public.cert.pem"
    if not (key.is_file() and cert.is_file()):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"cannot use the TLS key pair in {config_dir}: {exc}") from exc
    return context


def _bound_port(listener: anyio.abc.Listener[Any]) -> int:
    listeners = getattr(listener, "listeners", [listener])
    port: int = listeners[0].extra(anyio.abc.SocketAttribute.local_port)
    return port
