"""Batches in the testing modes: ``client.batch(...)`` without a server (docs/batches.md).

While :func:`faktory_core.testing.jobs.fake` or ``inline`` is on, ``BATCH NEW/OPEN/COMMIT/STATUS``
from any client go to a :class:`TestBatches` instead of a server. It keeps the batches in the
same state machine the memory store journals (:class:`faktory_core.batchstate.BatchState`), so
the rules are the server's: a member counts at push, its run settles it (success, or
:class:`~faktory_core.worker.Discard`, as an ACK; any other exception as a FAIL; an expired
member as a FAIL), and a callback job is due once — the complete callback when every member has
run, the success callback when every member has succeeded (and the complete callback has run),
children before their parent. The modes take the due callbacks with :meth:`TestBatches.take_due`:
fake mode records them (a drain runs them), inline mode runs them at once.
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

from faktory_core.batchstate import BatchState, no_such_batch
from faktory_core.client.errors import ServerError
from faktory_core.client.job import Job
from faktory_core.clock import Clock
from faktory_core.timefmt import format_ts

__all__ = ["TestBatches"]

#: The callbacks, in firing order.
CALLBACK_KINDS = ("complete", "success")
#: Characters after ``b-`` in a test batch id, as the server makes them.
BID_CHARS = 14


def _refused(bid: str) -> ServerError:
    return ServerError("ERR", no_such_batch(bid))


def _callback(job: dict[str, Any], kind: str, bid: str, parent: str) -> str:
    """The callback job as the batch plugin stores it: ``custom._bid``/``_cb``/``_pbid`` set."""
    custom = {k: v for k, v in (job.get("custom") or {}).items() if k != "bid"}
    custom.update({"_bid": bid, "_cb": kind, **({"_pbid": parent} if parent else {})})
    return json.dumps({**job, "jid": job.get("jid") or f"{bid}-{kind}", "custom": custom})


def _job(text: str) -> Job:
    data = json.loads(text)
    fields = ("queue", "jid", "at", "retry", "reserve_for", "backtrace", "custom")
    return Job(data["jobtype"], data["args"], **{k: data[k] for k in fields if k in data})


class TestBatches:
    """Every batch made while a testing mode is on, and the callback jobs they made due."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.state = BatchState()
        self._due: list[Job] = []
        self._guard = threading.Lock()

    def _emit(self, text: str) -> None:
        self._due.append(_job(text))

    def take_due(self) -> list[Job]:
        """The callback jobs made due since the last call, in the order they became due."""
        with self._guard:
            due, self._due = self._due, []
        return due

    def has_due(self) -> bool:
        return bool(self._due)

    def _live(self, bid: str, now: float) -> dict[str, Any]:
        record = self.state.get(bid, now)
        if record is None:
            raise _refused(bid)
        return record

    # -- the client's BATCH commands --------------------------------------------------------
    def new(self, data: dict[str, Any]) -> str:
        """``BATCH NEW``: the new batch's id (``data`` as :func:`~faktory_core.client.batch.
        definition` builds it)."""
        now = self.clock.now()
        parent = data.get("parent_bid") or ""
        with self._guard:
            if parent:
                self._live(parent, now)
            bid = "b-" + secrets.token_urlsafe(BID_CHARS)[:BID_CHARS]
            callbacks = {
                kind: _callback(data[kind], kind, bid, parent)
                for kind in CALLBACK_KINDS
                if data.get(kind) is not None
            }
            record = {
                "bid": bid,
                "parent_bid": parent,
                "description": data.get("description") or "",
                "created_at": format_ts(now),
                "created": now,
                "callbacks": callbacks,
            }
            self.state.op_new(record, now, emit=None)
        return bid

    def open(self, bid: str) -> str:
        with self._guard:
            self._live(bid, self.clock.now())
        return bid

    def commit(self, bid: str) -> None:
        now = self.clock.now()
        with self._guard:
            self._live(bid, now)
            self.state.op_commit(bid, now, emit=self._emit)

    def status(self, bid: str) -> dict[str, Any]:
        """``BATCH STATUS``'s fields (and the state's others: ``committed``, ``children``)."""
        with self._guard:
            return self.state.status(self._live(bid, self.clock.now()))

    # -- members and callbacks --------------------------------------------------------------
    def admit(self, job: Job) -> str | None:
        """Count a member pushed with ``custom.bid``; the refusal text when its batch is gone."""
        bid = (job.custom or {}).get("bid")
        if not isinstance(bid, str) or not bid:
            return None
        now = self.clock.now()
        with self._guard:
            record = self.state.get(bid, now)
            if record is None:
                return no_such_batch(bid)
            if job.jid not in record["pending"]:
                self.state.op_add(bid, job.jid, now, emit=None)
        return None

    def settled(self, job: Job, *, ok: bool) -> None:
        """A member ran (``ok``: it would have been ACKed), or a callback succeeded."""
        custom, now = job.custom or {}, self.clock.now()
        with self._guard:
            bid, kind = custom.get("_bid"), custom.get("_cb")
            if isinstance(bid, str) and kind in CALLBACK_KINDS:
                record = self.state.get(bid, now)
                if ok and record is not None and record["st"][kind] == "1":
                    self.state.op_cb(bid, kind, now, emit=self._emit)
                return
            bid = custom.get("bid")
            if isinstance(bid, str) and self.state.get(bid, now) is not None:
                self.state.op_done(bid, job.jid, ok, now, emit=self._emit)
