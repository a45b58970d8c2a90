"""faktory-core-hello: a small third-party faktory-core plugin.

- ``PING`` → ``+PONG`` (a command added through ``faktory_core_commands``);
- every pushed job gets ``custom.hello = "world"`` unless it already has a ``custom.hello``
  (a push step added through ``faktory_core_job_middleware``).

Installed, it is listed by ``faktory-core`` but loads only when named:
``faktory-core --plugin hello``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.middleware import JobMiddleware, Step
from faktory_core.model import Job
from faktory_core.protocol import replies
from faktory_core.server.app import Server
from faktory_core.server.commands import Handler, Session

__all__ = ["HelloMiddleware", "faktory_core_commands", "faktory_core_job_middleware", "ping"]

PONG = replies.simple("PONG")


async def ping(session: Session, payload: bytes | None) -> bytes:
    """``PING`` → ``+PONG``; any payload is ignored."""
    return PONG


class HelloMiddleware(JobMiddleware):
    """Adds ``custom.hello = "world"`` to jobs that have no ``custom.hello`` of their own."""

    async def push(self, job: Job, call_next: Step) -> None:
        custom = job.custom or {}
        if "hello" not in custom:
            job = attrs.evolve(job, custom={**custom, "hello": "world"})
        await call_next(job)


@hookimpl
def faktory_core_commands(server: Server) -> Mapping[str, Handler]:
    return {"PING": ping}


@hookimpl
def faktory_core_job_middleware(config: Config) -> JobMiddleware:
    return HelloMiddleware()
