"""Small, real plugins used by the plugin tests (datasette keeps its test plugins beside its
tests the same way). Each class is a plugin object: its ``@hookimpl`` methods are the hooks, and
a test registers an instance with ``ServerThread(store, plugins=[(name, instance)])``.

Most of them are their own middleware: a :class:`JobMiddleware` subclass whose
``faktory_core_job_middleware`` hook returns ``self``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio.lowlevel
import attrs

from faktory_core.auth import Authenticator, Challenge
from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.errors import CodedError, Discard, FaktoryError
from faktory_core.hookspecs import hookimpl
from faktory_core.middleware import JobMiddleware, Step
from faktory_core.model import Job, SortedSet
from faktory_core.protocol import replies
from faktory_core.protocol.events import Hello
from faktory_core.retry import RetryPolicy
from faktory_core.server.app import Server
from faktory_core.server.commands import Handler, Session
from faktory_core.store import FailureOutcome
from faktory_core.timefmt import parse_ts

# -- job middleware ------------------------------------------------------------------------------


class UniqueJobs(JobMiddleware):
    """Like Faktory Enterprise's unique jobs (§11.3), minus the TTL: a job whose jobtype and
    args match one pushed earlier and not yet acknowledged is refused with NOTUNIQUE."""

    def __init__(self) -> None:
        self.locked: set[str] = set()

    @staticmethod
    def key(job: Job) -> str:
        return job.jobtype + json.dumps(job.args, sort_keys=True)

    @hookimpl
    def faktory_core_job_middleware(self, config: Config) -> JobMiddleware:
        return self

    async def push(self, job: Job, call_next: Step) -> None:
        if self.key(job) in self.locked:
            raise CodedError("NOTUNIQUE", "Job not unique")
        await call_next(job)
        self.locked.add(self.key(job))

    async def ack(self, job: Job, call_next: Step) -> None:
        self.locked.discard(self.key(job))
        await call_next(job)


class ExpiringJobs(JobMiddleware):
    """Like Faktory Enterprise's expiring jobs (§11.4): a job fetched after its
    ``custom.expires_at`` is discarded and the worker gets the next job instead."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.discarded: list[str] = []

    @hookimpl
    def faktory_core_job_middleware(self, config: Config) -> JobMiddleware:
        return self

    async def fetch(self, job: Job, call_next: Step) -> None:
        expires_at = (job.custom or {}).get("expires_at")
        if isinstance(expires_at, str) and parse_ts(expires_at) <= self.clock.now():
            self.discarded.append(job.jid)
            raise Discard(f"job {job.jid} expired at {expires_at}")
        await call_next(job)


class RefuseOnce(JobMiddleware):
    """Refuses the first fetch of each job of ``jobtype`` with a coded error."""

    def __init__(self, jobtype: str, code: str = "BUSY", message: str = "try again later") -> None:
        self.jobtype, self.code, self.message = jobtype, code, message
        self.refused: list[str] = []

    @hookimpl
    def faktory_core_job_middleware(self, config: Config) -> JobMiddleware:
        return self

    async def fetch(self, job: Job, call_next: Step) -> None:
        if job.jobtype == self.jobtype and job.jid not in self.refused:
            self.refused.append(job.jid)
            raise CodedError(self.code, self.message)
        await call_next(job)


class Refuse(JobMiddleware):
    """Raises ``CodedError(code, message)`` in the ack and/or fail steps named in ``steps``."""

    def __init__(self, *steps: str, code: str = "NOPE", message: str = "refused") -> None:
        self.steps, self.code, self.message = set(steps), code, message

    @hookimpl
    def faktory_core_job_middleware(self, config: Config) -> JobMiddleware:
        return self

    async def ack(self, job: Job, call_next: Step) -> None:
        if "ack" in self.steps:
            raise CodedError(self.code, self.message)
        await call_next(job)

    async def fail(self, job: Job, call_next: Step) -> None:
        if "fail" in self.steps:
            raise CodedError(self.code, self.message)
        await call_next(job)


class Recorder(JobMiddleware):
    """Records every step it wraps in ``log`` as ``(name, step, "in"|"out", job)``."""

    def __init__(self, name: str, log: list[tuple[str, str, str, Job]] | None = None) -> None:
        self.name = name
        self.log: list[tuple[str, str, str, Job]] = [] if log is None else log

    @hookimpl
    def faktory_core_job_middleware(self, config: Config) -> JobMiddleware:
        return self

    def calls(self, step: str) -> list[Job]:
        return [
            job for name, s, edge, job in self.log if (name, s, edge) == (self.name, step, "in")
        ]

    def order(self, step: str) -> list[str]:
        """``name:in`` / ``name:out`` for every recorded call of ``step``, in order."""
        return [f"{name}:{edge}" for name, s, edge, _ in self.log if s == step]

    async def _around(self, step: str, job: Job, call_next: Step) -> None:
        self.log.append((self.name, step, "in", job))
        await call_next(job)
        self.log.append((self.name, step, "out", job))

    async def push(self, job: Job, call_next: Step) -> None:
        await self._around("push", job, call_next)

    async def fetch(self, job: Job, call_next: Step) -> None:
        await self._around("fetch", job, call_next)

    async def ack(self, job: Job, call_next: Step) -> None:
        await self._around("ack", job, call_next)

    async def fail(self, job: Job, call_next: Step) -> None:
        await self._around("fail", job, call_next)


class TryFirstRecorder(Recorder):
    """A Recorder whose hook asks pluggy to run it first (``tryfirst``)."""

    @hookimpl(tryfirst=True)
    def faktory_core_job_middleware(self, config: Config) -> JobMiddleware:
        return self


class TryLastRecorder(Recorder):
    """A Recorder whose hook asks pluggy to run it last (``trylast``)."""

    @hookimpl(trylast=True)
    def faktory_core_job_middleware(self, config: Config) -> JobMiddleware:
        return self


# -- commands ------------------------------------------------------------------------------------


class Echo:
    """``ECHO <text>`` → ``+<text>``."""

    @hookimpl
    def faktory_core_commands(self, server: Server) -> Mapping[str, Handler]:
        async def echo(session: Session, payload: bytes | None) -> bytes:
            return replies.simple((payload or b"").decode())

        return {"ECHO": echo}


class Batches:
    """Answers ``BATCH NEW`` with a batch id instead of the built-in Enterprise-only error."""

    def __init__(self) -> None:
        self.created = 0

    @hookimpl
    def faktory_core_commands(self, server: Server) -> Mapping[str, Handler]:
        async def batch(session: Session, payload: bytes | None) -> bytes:
            sub, _, _ = (payload or b"").partition(b" ")
            if sub.upper() != b"NEW":
                raise FaktoryError(f"unknown BATCH subcommand {sub.decode()}")
            self.created += 1
            return replies.bulk(b"b-%d" % self.created)

        return {"BATCH": batch}


# -- lifecycle -----------------------------------------------------------------------------------


@attrs.define(eq=False)
class SyncStartAsyncStop:
    """A sync startup hook, an async shutdown hook and an async reload hook; each appends
    ``"<name>: <what>"`` to ``events`` (shared between plugins to see the order)."""

    name: str
    events: list[str] = attrs.field(factory=list)

    @hookimpl
    def faktory_core_startup(self, server: Server) -> None:
        self.events.append(f"{self.name}: sync startup, task group {server.task_group is not None}")

    @hookimpl
    async def faktory_core_shutdown(self, server: Server) -> None:
        await anyio.lowlevel.checkpoint()  # only an awaited coroutine gets past here
        self.events.append(f"{self.name}: async shutdown")

    @hookimpl
    async def faktory_core_reload(self, server: Server, config: Config) -> None:
        await anyio.lowlevel.checkpoint()
        self.events.append(f"{self.name}: async reload, environment {config.environment}")


@attrs.define(eq=False)
class AsyncStartSyncStop:
    """An async startup hook, a sync shutdown hook and a sync reload hook."""

    name: str
    events: list[str] = attrs.field(factory=list)

    @hookimpl
    async def faktory_core_startup(self, server: Server) -> None:
        await anyio.lowlevel.checkpoint()
        self.events.append(f"{self.name}: async startup, store {server.store.name}")

    @hookimpl
    def faktory_core_shutdown(self, server: Server) -> None:
        self.events.append(f"{self.name}: sync shutdown")

    @hookimpl
    def faktory_core_reload(self, server: Server, config: Config) -> None:
        self.events.append(f"{self.name}: sync reload, environment {config.environment}")


class FailingStop:
    """Shutdown and reload hooks that raise, to show the other plugins' hooks still run."""

    @hookimpl
    def faktory_core_shutdown(self, server: Server) -> None:
        raise RuntimeError("shutdown exploded")

    @hookimpl
    async def faktory_core_reload(self, server: Server, config: Config) -> None:
        raise RuntimeError("reload exploded")


# -- factories -----------------------------------------------------------------------------------


class StraightToDead:
    """A retry policy that sends every failed job to the dead set."""

    async def decide(self, job: Job, now: float) -> FailureOutcome:
        return FailureOutcome(job, SortedSet.DEAD, now + 3600)


class DeadPolicyPlugin:
    @hookimpl
    def faktory_core_make_retry_policy(self, config: Config) -> RetryPolicy:
        return StraightToDead()


@attrs.frozen
class OnlyWid:
    """Accepts a HELLO only from one worker id; asks for no password."""

    wid: str

    def challenge(self) -> Challenge:
        return None

    async def authenticate(self, hello: Hello, challenge: Challenge) -> bool:
        return hello.wid == self.wid


@attrs.frozen
class OnlyWidPlugin:
    wid: str

    @hookimpl
    def faktory_core_make_authenticator(self, config: Config) -> Authenticator:
        return OnlyWid(self.wid)


class MisspelledStore:
    """``faktory_core_make_stor``: a hook nobody specified, which check_pending rejects."""

    @hookimpl
    def faktory_core_make_stor(self, config: Config, clock: Clock) -> Any:
        raise AssertionError("never called")
