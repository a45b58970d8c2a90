"""Every hook faktory-core calls, in one module.

One name ties the pieces together: the marker project name, the plugin manager, the
entry-point group and the hook prefix are all ``faktory_core``.

firstresult hooks are synchronous factories that return an object with async methods (pluggy
does not await: an ``async def`` firstresult hook would hand back a coroutine as its answer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from faktory_core.clock import Clock
    from faktory_core.config import Config
    from faktory_core.retry import RetryPolicy
    from faktory_core.store import Store

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "faktory_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- storage -------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def faktory_core_make_store(config: Config, clock: Clock) -> Store | None:
    """Build the Store the server runs on. Implemented by store plugins (``memory_store``,
    ``redis_store``); the first non-None answer wins. Called once at start-up."""


# -- retry policy --------------------------------------------------------------------------------


@hookspec(firstresult=True)
def faktory_core_make_retry_policy(config: Config) -> RetryPolicy | None:
    """Build the policy that decides where a failed job goes (retry, dead, or dropped).
    The built-in ``retry`` plugin answers with Faktory's policy (§5.3, §5.4)."""
