"""What a running job knows about itself: :class:`JobContext`, reached with :func:`current_job`
or passed as the first argument to functions registered with ``context=True``."""

from __future__ import annotations

import asyncio
import sys
import threading
import types
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import anyio.to_thread

from faktory_core.client import AsyncClient, Client, Settings
from faktory_core.client.batch import AsyncBatch, Batch
from faktory_core.worker import batch as _batch

__all__ = ["Clients", "JobContext", "WrongClient", "current_job", "on_event_loop"]


class WrongClient(RuntimeError):
    """A job asked for the kind of client that cannot work where it runs."""


def on_event_loop() -> bool:
    """True on an event loop's thread (an ``async def`` job or middleware), False in a thread
    of its own (a plain job)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        trio = sys.modules.get("trio")
        return trio is not None and bool(trio.lowlevel.in_trio_task())
    return True


class Clients:
    """The clients jobs push through, opened on first use and sized for ``connections`` jobs.

    Async jobs use :attr:`async_client`; plain functions run in threads, where an async client
    cannot be awaited, so they get the blocking :attr:`client`.
    """

    def __init__(self, settings: Callable[[], Settings], connections: int) -> None:
        self._settings = settings
        self._connections = connections
        self._async: AsyncClient | None = None
        self._sync: Client | None = None
        self._lock = threading.Lock()

    def _sized(self) -> Settings:
        return self._settings().with_pool(self._connections)

    @property
    def async_client(self) -> AsyncClient:
        if self._async is None:
            self._async = AsyncClient(settings=self._sized())
        return self._async

    @property
    def client(self) -> Client:
        with self._lock:  # plain jobs ask from several threads at once
            if self._sync is None:
                self._sync = Client(settings=self._sized())
            return self._sync

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
        if self._sync is not None:
            await anyio.to_thread.run_sync(self._sync.close)


class JobContext:
    """The job being run: its payload as fetched, clients to push more jobs with, and the
    ``state`` the worker's startup hooks filled."""

    __slots__ = ("_clients", "payload", "state")

    def __init__(
        self,
        payload: dict[str, Any],
        clients: Clients,
        state: types.SimpleNamespace | None = None,
    ) -> None:
        self.payload = payload
        self._clients = clients
        #: Shared with the lifecycle hooks' ``ctx.state`` (a database pool, a session...).
        self.state = types.SimpleNamespace() if state is None else state

    def __repr__(self) -> str:
        return f"JobContext(jid={self.jid!r}, jobtype={self.jobtype!r})"

    @property
    def jid(self) -> str:
        return str(self.payload.get("jid", ""))

    @property
    def jobtype(self) -> str:
        return str(self.payload.get("jobtype", ""))

    @property
    def args(self) -> list[Any]:
        args = self.payload.get("args")
        return args if isinstance(args, list) else []

    @property
    def queue(self) -> str:
        return str(self.payload.get("queue", ""))

    @property
    def custom(self) -> dict[str, Any]:
        custom = self.payload.get("custom")
        return custom if isinstance(custom, dict) else {}

    @property
    def retry_count(self) -> int:
        """How many times this job has failed before (0 on the first run)."""
        failure = self.payload.get("failure")
        if not isinstance(failure, dict):
            return 0
        return int(failure.get("retry_count", 0)) + 1

    @property
    def client(self) -> AsyncClient:
        """The client for where the job runs: in ``async def`` jobs the async client
        (``await ctx.client.push(...)``); in plain jobs, which run in a thread, the blocking
        client (``ctx.client.push(...)``; typed code there can say ``ctx.sync_client``)."""
        if on_event_loop():
            return self._clients.async_client
        return self._clients.client  # type: ignore[return-value]  # see the docstring

    @property
    def sync_client(self) -> Client:
        """For plain (threaded) jobs: ``ctx.sync_client.push(Job(...))``. Refused on the event
        loop, where a blocking call would stall every other job."""
        if on_event_loop():
            raise WrongClient(
                "ctx.sync_client blocks the event loop and every job on it: in an async def "
                "job (or middleware), use await ctx.client.push(...)"
            )
        return self._clients.client

    async def track(self, percent: int | None = None, desc: str | None = None) -> None:
        """Report progress of a job pushed with ``track=True`` (``await`` it; docs/tracking.md)."""
        await self.client.track_set(self.jid, percent, desc)

    def track_sync(self, percent: int | None = None, desc: str | None = None) -> None:
        """:meth:`track` for plain (threaded) jobs."""
        self.sync_client.track_set(self.jid, percent, desc)

    @property
    def batch(self) -> _batch.JobBatch | None:
        """The job's batch ids (``bid``, ``callback_bid``, ``parent_bid``), None outside one."""
        return _batch.job_batch(self.custom)

    def open_batch(self) -> AsyncBatch:
        """``async with ctx.open_batch() as batch:`` adds jobs to this job's batch."""
        return _batch.open_async(self.custom, self.client)

    def open_batch_sync(self) -> Batch:
        """The same for plain (threaded) jobs: ``with ctx.open_batch_sync() as batch:``."""
        return _batch.open_sync(self.custom, self.sync_client)


_current: ContextVar[JobContext] = ContextVar("faktory_core_current_job")


def current_job() -> JobContext:
    """The context of the job running in this task or thread; LookupError outside a job."""
    return _current.get()
