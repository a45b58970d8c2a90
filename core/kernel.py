"""The plugin kernel: which plugins run, and the one place the server talks to pluggy.

Built-in behaviour (Faktory's retry policy, password auth) is registered as plugins exactly like
external ones. Plugins from the ``faktory_core`` entry-point group load only when named, except
the defaults (memory store, web UI, cron, metrics), which load unless switched off.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from faktory_core import auth, hookspecs, retry
from faktory_core.auth import Authenticator
from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.gate import FetchGate
from faktory_core.middleware import Chains, JobMiddleware, build_chains
from faktory_core.retry import RetryPolicy
from faktory_core.store import Store

if TYPE_CHECKING:
    from faktory_core.server.app import Server
    from faktory_core.server.commands import Handler

__all__ = [
    "BUILTIN_PLUGINS",
    "DEFAULT_PLUGINS",
    "Kernel",
    "PluginError",
    "installed_plugins",
    "load_kernel",
]

log = logging.getLogger("faktory_core.kernel")

#: Always registered: the fallbacks that answer the factory hooks last.
BUILTIN_PLUGINS: tuple[tuple[str, ModuleType], ...] = (("retry", retry), ("auth", auth))
#: Loaded unless switched off with ``--no-plugin`` (skipped quietly if not installed).
DEFAULT_PLUGINS = (
    "memory_store",
    "webui",
    "cron",
    "unique",
    "expiring",
    "metrics",
    "tracking",
    "throttle",
    "batch",
)
STORE_HOOK = "faktory_core_make_store"
OSS_DESCRIPTION = "Faktory"
ENTERPRISE_DESCRIPTION = "Faktory Enterprise"


class PluginError(RuntimeError):
    """A plugin could not be found, imported or combined; the message lists what is installed."""


def installed_plugins() -> dict[str, str]:
    """Entry-point name → module of every plugin in the ``faktory_core`` group."""
    return {ep.name: ep.value for ep in entry_points(group=hookspecs.PROJECT)}


def _listing() -> str:
    return ", ".join(sorted(installed_plugins())) or "none"


def _load(name: str) -> Any:
    found = {ep.name: ep for ep in entry_points(group=hookspecs.PROJECT)}
    if name not in found:
        raise PluginError(f"unknown plugin {name!r}; installed plugins: {_listing()}")
    try:
        return found[name].load()
    except Exception as exc:
        raise PluginError(
            f"plugin {name!r} ({found[name].value}) failed to import: {exc!r}; "
            f"installed plugins: {_listing()}"
        ) from exc


def select_plugins(requested: Sequence[str], disabled: Sequence[str] = ()) -> list[tuple[str, Any]]:
    """The plugins to register, in order: the named ones, then the defaults still wanted.

    Naming a store replaces the default memory store; naming two stores is an error.
    """
    for name in disabled:
        if name not in installed_plugins():
            raise PluginError(f"unknown plugin {name!r}; installed plugins: {_listing()}")
    chosen = [(name, _load(name)) for name in dict.fromkeys(requested) if name not in disabled]
    stores = [name for name, module in chosen if hasattr(module, STORE_HOOK)]
    if len(stores) > 1:
        raise PluginError(f"only one store plugin can run; named: {', '.join(stores)}")
    available = installed_plugins()
    for name in DEFAULT_PLUGINS:
        if name in disabled or name in dict(chosen) or (stores and name == "memory_store"):
            continue
        if name not in available:
            log.debug("default plugin %s is not installed; skipping", name)
            continue
        chosen.append((name, _load(name)))
    return chosen


async def _notify(caller: Any, kwargs: dict[str, Any], *, tolerant: bool) -> None:
    """Call every implementation of a notification hook in pluggy's order, awaiting each
    awaitable before the next runs. ``tolerant`` (shutdown) logs a failure and goes on;
    otherwise the first failure propagates and later implementations are not called."""
    for impl in reversed(caller.get_hookimpls()):
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            result = impl.function(**args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            if not tolerant:
                raise
            log.exception("plugin %s failed in %s", impl.plugin_name, caller.name)


@attrs.define(eq=False)
class Kernel:
    """A typed façade over one server's plugin manager."""

    pm: pluggy.PluginManager

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.pm.list_name_plugin()]

    def store(self, config: Config, clock: Clock) -> Store:
        store: Store | None = self.pm.hook.faktory_core_make_store(config=config, clock=clock)
        if store is None:
            raise PluginError(
                f"no store plugin is enabled; installed plugins: {_listing()} "
                "(try --plugin memory_store)"
            )
        return store

    def feature_storage(self, feature: str, store: Store, *, required: bool = True) -> Any:
        """The store's storage for an optional feature; when the store has none, PluginError
        naming both (or None, when the feature can do without: ``required=False``)."""
        found = self.pm.hook.faktory_core_feature_storage(feature=feature, store=store)
        if found is None and required:
            raise PluginError(
                f"the store {store!r} has no storage for the {feature!r} feature; use a store "
                f"plugin that has it, or turn the feature's plugin off (--no-plugin)"
            )
        return found

    def enterprise_features(self) -> list[str]:
        found = self.pm.hook.faktory_core_enterprise_features()
        return sorted({name for names in found for name in names or ()})

    @property
    def description(self) -> str:
        """INFO's ``server.description`` (``Faktory Enterprise`` while a feature is on)."""
        return ENTERPRISE_DESCRIPTION if self.enterprise_features() else OSS_DESCRIPTION

    def retry_policy(self, config: Config) -> RetryPolicy:
        policy: RetryPolicy = self.pm.hook.faktory_core_make_retry_policy(config=config)
        return policy

    def authenticator(self, config: Config) -> Authenticator:
        found: Authenticator = self.pm.hook.faktory_core_make_authenticator(config=config)
        return found

    def middleware(self, config: Config, clock: Clock) -> Chains:
        found: list[JobMiddleware | None] = self.pm.hook.faktory_core_job_middleware(
            config=config, clock=clock
        )
        return build_chains([m for m in found if m is not None])

    def fetch_gates(self, server: Server) -> tuple[FetchGate, ...]:
        found = self.pm.hook.faktory_core_fetch_gate(server=server)
        return tuple(gate for gate in reversed(found) if gate is not None)

    def commands(self, server: Server) -> dict[str, Handler]:
        table: dict[str, Handler] = {}
        # pluggy calls the last registered first; apply in registration order instead.
        contributed: list[Mapping[str, Handler] | None] = self.pm.hook.faktory_core_commands(
            server=server
        )
        for commands in reversed(contributed):
            table.update(commands or {})
        return table

    def web_routes(self, server: Server) -> list[Any]:
        found = self.pm.hook.faktory_core_web_routes(server=server)
        return [route for routes in reversed(found) for route in routes or ()]

    def web_tabs(self, server: Server) -> list[tuple[str, str]]:
        found = self.pm.hook.faktory_core_web_tabs(server=server)
        return [tab for tabs in reversed(found) for tab in tabs or ()]

    def web_templates(self, server: Server) -> dict[str, str]:
        found = self.pm.hook.faktory_core_web_templates(server=server)
        return {
            name: text for templates in reversed(found) for name, text in (templates or {}).items()
        }

    def web_job_progress(self, server: Server) -> list[Any]:
        found = self.pm.hook.faktory_core_web_job_progress(server=server)
        return [reader for reader in reversed(found) if reader is not None]

    def cron_entries(self, config: Config) -> list[Any]:
        found = self.pm.hook.faktory_core_cron_entries(config=config)
        return [entry for entries in reversed(found) for entry in entries or ()]

    async def startup(self, server: Server) -> None:
        await _notify(self.pm.hook.faktory_core_startup, {"server": server}, tolerant=False)

    async def shutdown(self, server: Server) -> None:
        await _notify(self.pm.hook.faktory_core_shutdown, {"server": server}, tolerant=True)

    async def reload(self, server: Server, config: Config) -> None:
        await _notify(
            self.pm.hook.faktory_core_reload, {"server": server, "config": config}, tolerant=True
        )


def load_kernel(
    plugins: Sequence[tuple[str, Any]] | None = None,
    *,
    requested: Sequence[str] = (),
    disabled: Sequence[str] = (),
) -> Kernel:
    """Register the built-ins and the chosen plugins (objects or modules), then check that
    every hook implementation matches a spec (a misspelled hook fails loudly here)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name, module in BUILTIN_PLUGINS:
        pm.register(module, name=name)
    chosen = select_plugins(requested, disabled) if plugins is None else list(plugins)
    try:
        for name, plugin in chosen:
            pm.register(plugin, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    return Kernel(pm)
