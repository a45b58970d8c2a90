"""Batches from Python (Faktory Enterprise's ``BATCH`` commands; docs/batches.md).

::

    async with client.batch(description="Import", success=Job("ImportDone")) as batch:
        await batch.push(Job("ImportRow", [1]))       # custom.bid set for you
    status = await client.batch_status(batch.bid)   # committed when the block ended

The block commits on a normal exit; when it raises, the batch is left uncommitted (it expires
after 30 minutes and fires nothing). ``client.open_batch(bid)`` reopens a batch to add jobs
(as a member job does to add work to its own batch) and commits again on exit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from faktory_core.client import _sink
from faktory_core.client.commands import Request, _json_object, _ok, _unexpected
from faktory_core.client.errors import ProtocolError
from faktory_core.client.job import Job
from faktory_core.protocol import Bulk, Reply, SimpleString, encode_command

if TYPE_CHECKING:
    from faktory_core.client.clients import AsyncClient, Client

__all__ = [
    "AsyncBatch",
    "Batch",
    "BatchStatus",
    "batch_commit",
    "batch_new",
    "batch_open",
    "batch_status",
    "definition",
    "member",
    "status_of",
]


@attrs.frozen
class BatchStatus:
    """``BATCH STATUS``: counts and callback states (``""``, ``"1"`` enqueued, ``"2"`` ACKed)."""

    bid: str
    description: str
    created_at: str
    total: int
    pending: int
    failed: int
    complete_st: str
    success_st: str
    parent_bid: str | None = None

    @property
    def complete(self) -> bool:
        """Every member ran once (the complete callback, if any, is enqueued)."""
        return self.complete_st != ""

    @property
    def succeeded(self) -> bool:
        return self.success_st != ""


def _string(reply: Reply) -> str:
    if isinstance(reply, SimpleString):
        return reply.text
    if isinstance(reply, Bulk) and reply.data is not None:
        return reply.data.decode()
    raise _unexpected(reply, "a batch id")


def _status(reply: Reply) -> BatchStatus:
    return status_of(_json_object(reply))


def status_of(data: dict[str, Any]) -> BatchStatus:
    """A :class:`BatchStatus` from ``BATCH STATUS``'s JSON object."""
    try:
        fields = {f.name: data[f.name] for f in attrs.fields(BatchStatus) if f.name in data}
        return BatchStatus(**fields)
    except TypeError as exc:
        raise ProtocolError(f"bad BATCH STATUS reply: {exc}") from None


def definition(
    *,
    description: str = "",
    success: Job | None = None,
    complete: Job | None = None,
    parent_bid: str | None = None,
) -> dict[str, Any]:
    """The BATCH NEW object; a ValueError without any callback (the server would refuse)."""
    if success is None and complete is None:
        raise ValueError("a batch needs a success or a complete callback Job (or both)")
    data: dict[str, Any] = {"description": description}
    if parent_bid:
        data["parent_bid"] = parent_bid
    for kind, job in (("success", success), ("complete", complete)):
        if job is not None:
            data[kind] = job.to_dict()
    return data


def batch_new(data: dict[str, Any]) -> Request[str]:
    line = b"BATCH NEW " + json.dumps(data, separators=(",", ":")).encode() + b"\r\n"
    return Request(line, _string)


def batch_open(bid: str) -> Request[str]:
    return Request(encode_command("BATCH", "OPEN", bid), _string, retry=True)


def batch_commit(bid: str) -> Request[None]:
    return Request(encode_command("BATCH", "COMMIT", bid), _ok, retry=True)


def batch_status(bid: str) -> Request[BatchStatus]:
    return Request(encode_command("BATCH", "STATUS", bid), _status, retry=True)


def member(job: Job, bid: str) -> Job:
    """``job`` as a member of ``bid`` (``custom.bid``)."""
    return attrs.evolve(job, custom={**(job.custom or {}), "bid": bid})


class AsyncBatch:
    """``async with client.batch(...)`` / ``client.open_batch(bid)``: push members, commit."""

    def __init__(self, client: AsyncClient, data: dict[str, Any] | None, bid: str = "") -> None:
        self.client, self._data, self.bid = client, data, bid

    async def __aenter__(self) -> AsyncBatch:
        sink, pool = _sink.current, self.client._pool
        if sink is not None:  # a testing mode (faktory_core.testing.jobs)
            new = self._data is not None
            self.bid = await sink.abatch(*(("NEW", self._data) if new else ("OPEN", self.bid)))
        elif self._data is not None:
            self.bid = await pool.execute(batch_new(self._data))
        else:
            self.bid = await pool.execute(batch_open(self.bid))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            sink = _sink.current
            if sink is not None:
                await sink.abatch("COMMIT", self.bid)
            else:
                await self.client._pool.execute(batch_commit(self.bid))

    async def push(self, job: Job) -> str:
        return await self.client.push(member(job, self.bid))

    async def push_bulk(self, jobs: Iterable[Job]) -> dict[str, str]:
        return await self.client.push_bulk(member(job, self.bid) for job in jobs)

    def child(self, **kwargs: Any) -> AsyncBatch:
        """A child batch of this one (its callbacks run before this one's)."""
        return AsyncBatch(self.client, definition(parent_bid=self.bid, **kwargs))


class Batch:
    """The blocking twin of :class:`AsyncBatch`: ``with client.batch(...) as batch:``."""

    def __init__(self, client: Client, data: dict[str, Any] | None, bid: str = "") -> None:
        self.client, self._data, self.bid = client, data, bid

    def __enter__(self) -> Batch:
        sink, pool = _sink.current, self.client._pool
        if sink is not None:  # a testing mode (faktory_core.testing.jobs)
            new = self._data is not None
            self.bid = sink.batch(*(("NEW", self._data) if new else ("OPEN", self.bid)))
        elif self._data is not None:
            self.bid = pool.execute(batch_new(self._data))
        else:
            self.bid = pool.execute(batch_open(self.bid))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            sink = _sink.current
            if sink is not None:
                sink.batch("COMMIT", self.bid)
            else:
                self.client._pool.execute(batch_commit(self.bid))

    def push(self, job: Job) -> str:
        return self.client.push(member(job, self.bid))

    def push_bulk(self, jobs: Iterable[Job]) -> dict[str, str]:
        return self.client.push_bulk(member(job, self.bid) for job in jobs)

    def child(self, **kwargs: Any) -> Batch:
        return Batch(self.client, definition(parent_bid=self.bid, **kwargs))
