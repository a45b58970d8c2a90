"""The unique plugin: Faktory Enterprise's unique jobs (enterprise.md §3, docs/enterprise.md).

A job pushed with ``custom.unique_for`` (seconds) is refused with ``-NOTUNIQUE Job not unique``
while another job of the same type, arguments and queue holds the lock; ``custom.unique_until``
says when the lock goes: ``success`` (ACK, the default) or ``start`` (FETCH). The locks live in
the store (``UniqueLocks``, implemented by each store plugin), so servers sharing a Redis share
them. On by default; ``--no-plugin unique`` turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.unique.locks import FEATURE, UniqueLocks
from faktory_core.plugins.unique.middleware import UniqueMiddleware

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = [
    "UniqueLocks",
    "UniqueMiddleware",
    "faktory_core_enterprise_features",
    "faktory_core_job_middleware",
    "faktory_core_startup",
]


@hookimpl
def faktory_core_enterprise_features() -> Sequence[str]:
    return [FEATURE]


@hookimpl(tryfirst=True)
def faktory_core_job_middleware(config: Config, clock: Clock) -> UniqueMiddleware:
    """Outermost: a duplicate is refused before any other plugin counts it."""
    return UniqueMiddleware(clock)


@hookimpl
def faktory_core_startup(server: Server) -> None:
    """Attach this server's middleware to the store's locks and the server's counters."""
    locks = server.kernel.feature_storage(FEATURE, server.store)
    for step in server.manager.chains.push:
        owner = getattr(step, "__self__", None)
        if isinstance(owner, UniqueMiddleware):
            owner.locks, owner.counters = locks, server.counters
