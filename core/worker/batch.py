"""Batches inside a running job (``ctx.batch``, ``ctx.open_batch()``; docs/batches.md).

A member job carries its batch in ``custom.bid``; a callback job carries ``custom._bid`` (the
batch that finished), ``custom._cb`` (``success``/``complete``) and, for a child batch's
callback, ``custom._pbid`` (the parent). ``ctx.open_batch()`` reopens the job's own batch to
add jobs to it, as faktory_worker_go's ``HelperFor(ctx).Batch`` does; in a callback it
reopens the parent batch (Ruby's ``parent_batch.jobs``), so workflows can add their next step.
"""

from __future__ import annotations

from typing import Any

import attrs

from faktory_core.client import AsyncClient, Client
from faktory_core.client.batch import AsyncBatch, Batch

__all__ = ["JobBatch", "NotInBatch", "job_batch"]


class NotInBatch(LookupError):
    """``open_batch()`` in a job that belongs to no batch."""


@attrs.frozen
class JobBatch:
    """The batch ids a job carries."""

    bid: str = ""
    callback_bid: str = ""
    callback: str = ""
    parent_bid: str = ""

    @property
    def target(self) -> str:
        """The batch ``open_batch()`` reopens: the job's own, or a callback's parent."""
        found = self.bid or self.parent_bid
        if not found:
            raise NotInBatch("this job belongs to no batch (no custom.bid, no custom._pbid)")
        return found


def _text(custom: dict[str, Any], key: str) -> str:
    value = custom.get(key)
    return value if isinstance(value, str) else ""


def job_batch(custom: dict[str, Any]) -> JobBatch | None:
    """The batch ids of a job's ``custom``; None for a job outside any batch."""
    found = JobBatch(*(_text(custom, key) for key in ("bid", "_bid", "_cb", "_pbid")))
    return None if found == JobBatch() else found


def open_async(custom: dict[str, Any], client: AsyncClient) -> AsyncBatch:
    batch = job_batch(custom) or JobBatch()
    return client.open_batch(batch.target)


def open_sync(custom: dict[str, Any], client: Client) -> Batch:
    batch = job_batch(custom) or JobBatch()
    return client.open_batch(batch.target)
