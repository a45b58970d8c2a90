"""The batch plugin: Faktory Enterprise's batches (``BATCH NEW/OPEN/COMMIT/STATUS``).

Loaded by default (``--no-plugin batch`` switches it off, and BATCH answers the OSS refusal
again). docs/batches.md tells the rules; enterprise.md §2 is the contract. The plugin owns
the wire and the middleware; the state is the store's, through :class:`BatchStorage`
(``server.kernel.feature_storage("batch", store)``), implemented by the memory and Redis
stores.

The hooks delegate to one :class:`BatchPlugin` per process; tests that run several servers in
one process register an instance each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.batch.service import BatchMiddleware, BatchService
from faktory_core.plugins.batch.storage import BatchSpec, BatchStorage

if TYPE_CHECKING:
    from faktory_core.server.app import Server
    from faktory_core.server.commands import Handler, Session

__all__ = [
    "BatchPlugin",
    "BatchSpec",
    "BatchStorage",
    "faktory_core_commands",
    "faktory_core_enterprise_features",
    "faktory_core_job_middleware",
    "faktory_core_startup",
    "faktory_core_web_routes",
    "faktory_core_web_tabs",
    "faktory_core_web_templates",
    "service_for",
]

FEATURE = "batch"


class BatchPlugin:
    """The batch hooks, with one :class:`BatchService` per server."""

    def __init__(self) -> None:
        # Server.create asks for middleware, then commands, with the same Config object.
        self._made: dict[int, BatchService] = {}
        self._services: WeakKeyDictionary[Server, BatchService] = WeakKeyDictionary()

    def service(self, server: Server) -> BatchService | None:
        return self._services.get(server)

    @hookimpl
    def faktory_core_enterprise_features(self) -> Sequence[str]:
        return [FEATURE]

    @hookimpl(trylast=True)
    def faktory_core_job_middleware(self, config: Config, clock: Clock) -> BatchMiddleware:
        # trylast: innermost, so a unique-job refusal comes before a member is counted.
        service = self._made[id(config)] = BatchService(clock)
        return BatchMiddleware(service)

    @hookimpl
    def faktory_core_commands(self, server: Server) -> Mapping[str, Handler]:
        service = self._made.pop(id(server.config), None) or BatchService(server.clock)
        self._services[server] = service

        async def batch(session: Session, payload: bytes | None) -> bytes:
            return await service.command(payload)

        return {"BATCH": batch}

    @hookimpl
    def faktory_core_web_routes(self, server: Server) -> Sequence[Any]:
        from faktory_core.plugins.batch.web import routes

        return routes(self.service, server)

    @hookimpl
    def faktory_core_web_tabs(self, server: Server) -> Sequence[tuple[str, str]]:
        from faktory_core.plugins.batch.web import TAB

        return [TAB]

    @hookimpl
    def faktory_core_web_templates(self, server: Server) -> Mapping[str, str]:
        from faktory_core.plugins.batch.web import templates

        return templates()

    @hookimpl
    def faktory_core_startup(self, server: Server) -> None:
        service = self._services.get(server)
        if service is not None:
            service.storage = server.kernel.feature_storage(FEATURE, server.store)


_plugin = BatchPlugin()


def service_for(server: Server) -> BatchService | None:
    """The batches of a server running this module's hooks (the web pages use it)."""
    return _plugin.service(server)


@hookimpl
def faktory_core_enterprise_features() -> Sequence[str]:
    return _plugin.faktory_core_enterprise_features()


@hookimpl(trylast=True)
def faktory_core_job_middleware(config: Config, clock: Clock) -> BatchMiddleware:
    return _plugin.faktory_core_job_middleware(config, clock)


@hookimpl
def faktory_core_commands(server: Server) -> Mapping[str, Handler]:
    return _plugin.faktory_core_commands(server)


@hookimpl
def faktory_core_startup(server: Server) -> None:
    _plugin.faktory_core_startup(server)


@hookimpl
def faktory_core_web_routes(server: Server) -> Sequence[Any]:
    return _plugin.faktory_core_web_routes(server)


@hookimpl
def faktory_core_web_tabs(server: Server) -> Sequence[tuple[str, str]]:
    return _plugin.faktory_core_web_tabs(server)


@hookimpl
def faktory_core_web_templates(server: Server) -> Mapping[str, str]:
    return _plugin.faktory_core_web_templates(server)
