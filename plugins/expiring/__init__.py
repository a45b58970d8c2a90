"""The expiring plugin: Faktory Enterprise's expiring jobs (enterprise.md §4,
docs/enterprise.md).

A job pushed with ``custom.expires_at`` (RFC 3339) or ``custom.expires_in`` (seconds, turned into
``expires_at`` at PUSH) is dropped by the FETCH that finds it after that instant, and the FETCH
goes on to the next job. On by default; ``--no-plugin expiring`` turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.expiring.middleware import ExpiringMiddleware

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = [
    "ExpiringMiddleware",
    "faktory_core_enterprise_features",
    "faktory_core_job_middleware",
    "faktory_core_startup",
]

FEATURE = "expiring"


@hookimpl
def faktory_core_enterprise_features() -> Sequence[str]:
    return [FEATURE]


@hookimpl(tryfirst=True)
def faktory_core_job_middleware(config: Config, clock: Clock) -> ExpiringMiddleware:
    """Outermost: an expired job is dropped before any other fetch step sees it (a tracked job
    is not marked working, a ``start`` unique lock is not dropped)."""
    return ExpiringMiddleware(clock)


@hookimpl
def faktory_core_startup(server: Server) -> None:
    """Count on this server's counters."""
    for step in server.manager.chains.fetch:
        owner = getattr(step, "__self__", None)
        if isinstance(owner, ExpiringMiddleware):
            owner.counters = server.counters
