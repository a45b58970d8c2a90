"""The two clients: :class:`Client` (blocking, thread-safe) and :class:`AsyncClient` (anyio).

Both are thin: each method builds a :class:`~faktory_core.client.commands.Request` and hands it
to a pool, so the two cannot drift apart in what they send or how they read replies.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from faktory_core.client import _sink, commands
from faktory_core.client.batch import (
    AsyncBatch,
    Batch,
    BatchStatus,
    batch_status,
    definition,
    status_of,
)
from faktory_core.client.commands import MutateCommand, MutateTarget
from faktory_core.client.info import Info
from faktory_core.client.job import Job
from faktory_core.client.pool import AsyncPool, Pool
from faktory_core.client.settings import Settings

__all__ = ["AsyncClient", "Client"]

_BUILD_A_JOB = (
    "build one with Job('SendEmail', ['ada@example.com'], queue='mail') from "
    "faktory_core.client (a dict with Job's field names converts with Job(**payload))"
)


def _checked(method: str, jobs: list[object]) -> list[Job]:
    """The jobs, or a TypeError that says how to build one (a dict is the usual mistake)."""
    for job in jobs:
        if not isinstance(job, Job):
            raise TypeError(f"{method} takes a Job, not a {type(job).__name__}: {_BUILD_A_JOB}")
    return jobs  # type: ignore[return-value]


def _settings(
    url: str | None,
    settings: Settings | None,
    password: str | None,
    connections: int | None,
    timeout: float | None,
    ssl_context: ssl.SSLContext | None,
) -> Settings:
    if settings is not None:
        return settings
    return Settings.from_env(
        url, password=password, connections=connections, timeout=timeout, ssl_context=ssl_context
    )


class Client:
    """A blocking client with a thread-safe connection pool, for scripts, Django, Flask...

    ``Client()`` reads FAKTORY_PROVIDER / FAKTORY_URL; ``Client("tcp://:pw@host:7419")`` or
    ``Client(settings=...)`` say it explicitly. Connections open on first use.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        password: str | None = None,
        connections: int | None = None,
        timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = _settings(url, settings, password, connections, timeout, ssl_context)
        self._pool = Pool(self.settings)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    def push(self, job: Job) -> str:
        """Push one job; returns its jid."""
        _checked("push()", [job])
        sink = _sink.current
        if sink is not None:
            _sink.refused(sink.push([job]))
        else:
            self._pool.execute(commands.push(job))
        return job.jid

    def push_bulk(self, jobs: Iterable[Job]) -> dict[str, str]:
        """Push many jobs in one PUSHB; returns ``{jid: reason}`` for each job refused."""
        batch = _checked("push_bulk()", list(jobs))
        if not batch:
            return {}
        sink = _sink.current
        if sink is not None:
            return sink.push(batch)
        return self._pool.execute(commands.push_bulk(batch))

    def info(self) -> Info:
        return self._pool.execute(commands.info())

    def flush(self) -> None:
        """Delete every job, queue and counter on the server."""
        self._pool.execute(commands.flush())

    def queue_pause(self, *names: str) -> None:
        self._pool.execute(commands.queue_pause(names))

    def queue_resume(self, *names: str) -> None:
        self._pool.execute(commands.queue_resume(names))

    def queue_remove(self, *names: str) -> None:
        self._pool.execute(commands.queue_remove(names))

    def queue_latency(self, *names: str) -> dict[str, float]:
        return self._pool.execute(commands.queue_latency(names))

    def mutate(
        self,
        cmd: MutateCommand,
        target: MutateTarget,
        *,
        jobtype: str | None = None,
        regexp: str | None = None,
        jids: Sequence[str] | None = None,
    ) -> None:
        """``clear``, ``kill``, ``discard`` or ``requeue`` jobs of the retries, scheduled or
        dead set, optionally only those matching ``jobtype``, a ``regexp`` glob or ``jids``."""
        request = commands.mutate(cmd, target, jobtype=jobtype, regexp=regexp, jids=jids)
        self._pool.execute(request)

    def track(self, jid: str) -> dict[str, Any]:
        """The job's tracking record (Enterprise ``TRACK GET``, docs/tracking.md)."""
        return self._pool.execute(commands.track_get(jid))

    def track_set(
        self,
        jid: str,
        percent: int | None = None,
        desc: str | None = None,
        *,
        reserve_until: str = "",
    ) -> None:
        """Report a tracked job's progress and/or keep a reserved job until ``reserve_until``
        (RFC 3339) with ``TRACK SET``; None keeps the stored value."""
        self._pool.execute(commands.track_set(jid, percent, desc, reserve_until))

    # -- batches (docs/batches.md) ----------------------------------------------------------
    def batch(self, **kwargs: Any) -> Batch:
        """``with client.batch(description=..., success=Job(...), complete=Job(...))``;
        ``parent_bid=`` makes a child batch. Commits when the block ends without error."""
        return Batch(self, definition(**kwargs))

    def open_batch(self, bid: str) -> Batch:
        """``with client.open_batch(bid) as batch:`` adds members to an existing batch."""
        return Batch(self, None, bid)

    def batch_status(self, bid: str) -> BatchStatus:
        sink = _sink.current
        if sink is not None:
            return status_of(sink.batch("STATUS", bid))
        return self._pool.execute(batch_status(bid))


class AsyncClient:
    """The anyio client: the same methods as :class:`Client`, awaited.

    Use ``async with AsyncClient() as client:`` (or ``await client.aclose()``) so its
    connections close with the task group that used them.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        password: str | None = None,
        connections: int | None = None,
        timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = _settings(url, settings, password, connections, timeout, ssl_context)
        self._pool = AsyncPool(self.settings)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def push(self, job: Job) -> str:
        _checked("push()", [job])
        sink = _sink.current
        if sink is not None:
            _sink.refused(await sink.apush([job]))
        else:
            await self._pool.execute(commands.push(job))
        return job.jid

    async def push_bulk(self, jobs: Iterable[Job]) -> dict[str, str]:
        batch = _checked("push_bulk()", list(jobs))
        if not batch:
            return {}
        sink = _sink.current
        if sink is not None:
            return await sink.apush(batch)
        return await self._pool.execute(commands.push_bulk(batch))

    async def info(self) -> Info:
        return await self._pool.execute(commands.info())

    async def flush(self) -> None:
        await self._pool.execute(commands.flush())

    async def queue_pause(self, *names: str) -> None:
        await self._pool.execute(commands.queue_pause(names))

    async def queue_resume(self, *names: str) -> None:
        await self._pool.execute(commands.queue_resume(names))

    async def queue_remove(self, *names: str) -> None:
        await self._pool.execute(commands.queue_remove(names))

    async def queue_latency(self, *names: str) -> dict[str, float]:
        return await self._pool.execute(commands.queue_latency(names))

    async def mutate(
        self,
        cmd: MutateCommand,
        target: MutateTarget,
        *,
        jobtype: str | None = None,
        regexp: str | None = None,
        jids: Sequence[str] | None = None,
    ) -> None:
        request = commands.mutate(cmd, target, jobtype=jobtype, regexp=regexp, jids=jids)
        await self._pool.execute(request)

    async def track(self, jid: str) -> dict[str, Any]:
        return await self._pool.execute(commands.track_get(jid))

    async def track_set(
        self,
        jid: str,
        percent: int | None = None,
        desc: str | None = None,
        *,
        reserve_until: str = "",
    ) -> None:
        await self._pool.execute(commands.track_set(jid, percent, desc, reserve_until))

    # -- batches (docs/batches.md) ----------------------------------------------------------
    def batch(self, **kwargs: Any) -> AsyncBatch:
        """``async with client.batch(description=..., success=Job(...))``; see Client.batch."""
        return AsyncBatch(self, definition(**kwargs))

    def open_batch(self, bid: str) -> AsyncBatch:
        return AsyncBatch(self, None, bid)

    async def batch_status(self, bid: str) -> BatchStatus:
        sink = _sink.current
        if sink is not None:
            return status_of(await sink.abatch("STATUS", bid))
        return await self._pool.execute(batch_status(bid))
