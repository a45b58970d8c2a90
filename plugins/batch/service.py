"""The BATCH command and the middleware that counts members, over one server's storage."""

from __future__ import annotations

import json
from typing import Any

import attrs

from faktory_core.clock import Clock
from faktory_core.errors import FaktoryError
from faktory_core.middleware import JobMiddleware, Step
from faktory_core.model import Job
from faktory_core.plugins.batch import errors
from faktory_core.plugins.batch.definition import parse_definition, public_status
from faktory_core.plugins.batch.storage import CALLBACK_KINDS, BatchStorage
from faktory_core.protocol import replies

__all__ = ["BatchMiddleware", "BatchService", "member_bid"]


def member_bid(job: Job) -> str | None:
    """The batch a job is a member of (``custom.bid``), None for any other job."""
    custom = job.custom
    if not custom or "bid" not in custom:
        return None
    bid = custom["bid"]
    if not isinstance(bid, str):
        raise FaktoryError(errors.bad_field("custom.bid", "a string"))
    return bid or None


def callback_of(job: Job) -> tuple[str, str] | None:
    """``(bid, kind)`` of a batch callback job (``custom._bid``/``_cb``), else None."""
    custom = job.custom
    if not custom or "_bid" not in custom:
        return None
    bid, kind = custom.get("_bid"), custom.get("_cb")
    if isinstance(bid, str) and kind in CALLBACK_KINDS:
        return bid, str(kind)
    return None


@attrs.define(eq=False)
class BatchService:
    """One server's batches: its storage (bound at start-up) and clock."""

    clock: Clock
    storage: BatchStorage | None = None

    @property
    def batches(self) -> BatchStorage:
        if self.storage is None:
            raise FaktoryError("the batch plugin has not started")
        return self.storage

    # -- BATCH ----------------------------------------------------------------------------------
    async def command(self, payload: bytes | None) -> bytes:
        """``BATCH <SUB> <arg>``, split on the first space after the verb (§11)."""
        if not payload:
            raise FaktoryError(errors.BAD_COMMAND)
        sub, _, rest = payload.partition(b" ")
        op = sub.decode("utf-8", "replace")
        handler = _SUBCOMMANDS.get(op)
        if handler is None:
            raise FaktoryError(errors.bad_operation(op))
        if not rest:
            raise FaktoryError(errors.BAD_COMMAND)
        reply: bytes = await handler(self, rest)
        return reply

    async def new(self, payload: bytes) -> bytes:
        now = self.clock.now()
        spec = parse_definition(payload, now)
        if not await self.batches.create(spec, now):
            raise FaktoryError(errors.no_such_batch(spec.parent_bid))
        return replies.bulk(spec.bid.encode())

    async def open(self, payload: bytes) -> bytes:
        bid = payload.decode("utf-8", "replace")
        if not await self.batches.open(bid, self.clock.now()):
            raise FaktoryError(errors.no_such_batch(bid))
        return replies.bulk(payload)

    async def commit(self, payload: bytes) -> bytes:
        bid = payload.decode("utf-8", "replace")
        if not await self.batches.commit(bid, self.clock.now()):
            raise FaktoryError(errors.no_such_batch(bid))
        return replies.OK

    async def status(self, payload: bytes) -> bytes:
        bid = payload.decode("utf-8", "replace")
        found = await self.batches.status(bid, self.clock.now())
        if found is None:
            raise FaktoryError(errors.no_such_batch(bid))
        text = json.dumps(public_status(found), separators=(",", ":"), ensure_ascii=False)
        return replies.bulk(text.encode())


_SUBCOMMANDS: dict[str, Any] = {
    "NEW": BatchService.new,
    "OPEN": BatchService.open,
    "COMMIT": BatchService.commit,
    "STATUS": BatchService.status,
}


@attrs.define(eq=False)
class BatchMiddleware(JobMiddleware):
    """Counts members at PUSH, their first ACK or FAIL, and callback ACKs (§2.7, §11).

    A job with neither ``custom.bid`` nor ``custom._bid`` pays one dictionary lookup."""

    service: BatchService

    custom_only = True  # wants() looks in job.custom only

    def wants(self, job: Job) -> bool:
        """Only batch members and callbacks: other jobs skip the batch steps entirely."""
        custom = job.custom
        return custom is not None and ("bid" in custom or "_bid" in custom)

    async def discarded(self, job: Job, reason: str) -> None:
        """A member dropped at FETCH (expired, enterprise.md §12.9): it ran, and failed."""
        await self._settled(job, ok=False)

    async def push(self, job: Job, call_next: Step) -> None:
        bid = member_bid(job)
        if bid is None:
            await call_next(job)
            return
        batches, now = self.service.batches, self.service.clock.now()
        if not await batches.add_member(bid, job.jid, now):
            raise FaktoryError(errors.no_such_batch(bid))
        try:
            await call_next(job)
        except BaseException:
            await batches.member_done(bid, job.jid, True, now)  # not pushed: not pending
            raise

    async def ack(self, job: Job, call_next: Step) -> None:
        await call_next(job)
        await self._settled(job, ok=True)

    async def fail(self, job: Job, call_next: Step) -> None:
        await call_next(job)
        await self._settled(job, ok=False)

    async def _settled(self, job: Job, *, ok: bool) -> None:
        custom = job.custom
        if not custom:
            return
        now = self.service.clock.now()
        callback = callback_of(job)
        if callback is not None:
            if ok:
                await self.service.batches.callback_done(*callback, now)
            return
        bid = custom.get("bid")
        if isinstance(bid, str) and bid:
            await self.service.batches.member_done(bid, job.jid, ok, now)
