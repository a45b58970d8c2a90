"""What a running job knows about itself: :class:`JobContext`, reached with :func:`current_job`
or passed as the first argument to functions registered with ``context=True``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import anyio.to_thread

from faktory_core.client import AsyncClient, Client, Settings
from faktory_core.client.batch import AsyncBatch, Batch
from faktory_core.worker import batch as _batch

__all__ = ["Clients", "JobContext", "current_job"]


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
    """The job being run: its payload as fetched, and clients to push more jobs with."""

    __slots__ = ("_clients", "payload")

    def __init__(self, payload: dict[str, Any], clients: Clients) -> None:
        self.payload = payload
        self._clients = clients

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
        """For ``async def`` jobs: ``await ctx.client.push(Job(...))``."""
        return self._clients.async_client

    @property
    def sync_client(self) -> Client:
        """For plain (threaded) jobs: ``ctx.sync_client.push(Job(...))``."""
        return self._clients.client

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
