"""The plugin kernel: a pluggy manager per server, built-in plugins registered like any other."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points

import pluggy

from faktory_core import hookspecs, retry
from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.retry import RetryPolicy
from faktory_core.store import Store

__all__ = [
    "DEFAULT_PLUGINS",
    "PluginError",
    "installed_plugins",
    "make_plugin_manager",
    "resolve_retry_policy",
    "resolve_store",
]

DEFAULT_PLUGINS = ("memory_store",)


class PluginError(RuntimeError):
    """A plugin could not be found, imported or used; the message lists what is installed."""


def installed_plugins() -> dict[str, str]:
    """Entry-point name → module of every plugin in the ``faktory_core`` group."""
    return {ep.name: ep.value for ep in entry_points(group=hookspecs.PROJECT)}


def make_plugin_manager(names: Sequence[str] = DEFAULT_PLUGINS) -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(retry, name="retry")
    available = {ep.name: ep for ep in entry_points(group=hookspecs.PROJECT)}
    for name in names:
        if name not in available:
            listing = ", ".join(sorted(available)) or "none"
            raise PluginError(f"unknown plugin {name!r}; installed plugins: {listing}")
        try:
            module = available[name].load()
        except Exception as exc:
            raise PluginError(f"plugin {name!r} failed to import: {exc!r}") from exc
        manager.register(module, name=name)
    manager.check_pending()
    return manager


def resolve_store(manager: pluggy.PluginManager, config: Config, clock: Clock) -> Store:
    store: Store | None = manager.hook.faktory_core_make_store(config=config, clock=clock)
    if store is None:
        raise PluginError("no store plugin is enabled; enable one, e.g. --plugin memory_store")
    return store


def resolve_retry_policy(manager: pluggy.PluginManager, config: Config) -> RetryPolicy:
    policy: RetryPolicy = manager.hook.faktory_core_make_retry_policy(config=config)
    return policy
