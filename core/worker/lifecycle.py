"""Lifecycle hooks: functions run once when the worker starts, goes quiet and shuts down.

As faktory_worker_go's ``mgr.On(faktory.Startup|Quiet|Shutdown, fn)`` and arq's
``on_startup``/``on_shutdown``. Each hook gets the :class:`WorkerContext`; what it keeps on
``ctx.state`` (a database pool, an HTTP session) every job reaches as ``ctx.state`` too.
``async def`` hooks are awaited; plain ones are called on the event loop's thread (keep them
short). A startup hook that raises stops the worker with :class:`StartupError`; quiet and
shutdown hooks that raise are logged and the next hooks still run.
"""

from __future__ import annotations

import inspect
import logging
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from faktory_core.worker.worker import Worker

__all__ = ["Hook", "Hooks", "StartupError", "WorkerContext"]

log = logging.getLogger("faktory_core.worker")

Hook = Callable[["WorkerContext"], Any]


class StartupError(Exception):
    """A startup hook raised: the worker did not start (the hook's error is the cause)."""


@attrs.define(eq=False)
class WorkerContext:
    """What lifecycle hooks get: the worker, and ``state`` to keep shared resources on."""

    worker: Worker
    state: types.SimpleNamespace


@attrs.define(eq=False)
class Hooks:
    """The hooks of one worker, by event, in registration order."""

    startup: list[Hook] = attrs.field(factory=list)
    quiet: list[Hook] = attrs.field(factory=list)
    shutdown: list[Hook] = attrs.field(factory=list)

    async def run_startup(self, ctx: WorkerContext) -> None:
        for hook in self.startup:
            try:
                await _call(hook, ctx)
            except Exception as exc:
                name = _name(hook)
                raise StartupError(f"startup hook {name} failed: {exc!r}") from exc

    async def run_quiet(self, ctx: WorkerContext) -> None:
        await _run_logged("quiet", self.quiet, ctx)

    async def run_shutdown(self, ctx: WorkerContext) -> None:
        await _run_logged("shutdown", self.shutdown, ctx)


async def _run_logged(event: str, hooks: list[Hook], ctx: WorkerContext) -> None:
    for hook in hooks:
        try:
            await _call(hook, ctx)
        except Exception:
            log.exception("%s hook %s failed", event, _name(hook))


async def _call(hook: Hook, ctx: WorkerContext) -> None:
    result = hook(ctx)
    if inspect.isawaitable(result):
        await result


def _name(hook: Hook) -> str:
    return getattr(hook, "__qualname__", None) or repr(hook)
