"""Testing modes for application code: push jobs without a server.

Like Sidekiq's ``Sidekiq::Testing.fake!`` / ``inline!`` and faktory_worker_go's test helpers.
While a mode is on, every :class:`~faktory_core.client.Client` and
:class:`~faktory_core.client.AsyncClient` in the process hands its pushes to it instead of
opening a connection (other commands still go to the server)::

    with jobs.fake() as pushed:           # record
        signup(user)                      # application code calling client.push(...)
        assert pushed.jobtypes() == ["SendWelcomeEmail"]
        pushed.drain(worker)              # run them (and whatever they push) now

    with jobs.inline(worker):             # run each job the moment it is pushed
        signup(user)                      # a job's exception propagates to the push

Jobs run from these modes see their payload after a JSON round trip, as a real worker would.

Both modes apply the Enterprise options as the server's unique and expiring plugins do
(docs/enterprise.md): a push of a job whose ``unique_for`` lock is held is refused (``push``
raises ``ServerError`` with code ``NOTUNIQUE``; ``push_bulk`` reports it under the jid), the lock
goes when the job runs (``unique_until="start"``) or succeeds, and runs out after ``unique_for``;
a job past its ``expires_at`` (or ``expires_in`` from its push) is dropped instead of run, and
listed in ``expired``. Time comes from ``clock`` (default: the real clock; pass a
``FakeClock`` to move it by hand).

Batches work too (``client.batch(...)``, ``open_batch``, ``batch_status``; docs/batches.md): the
modes keep them by the server's rules (:mod:`faktory_core.testing.batches`), and a callback job
that becomes due is recorded (fake mode; the drain runs it) or run at once (inline mode).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio
import attrs

from faktory_core import options
from faktory_core.client import _sink
from faktory_core.client.job import Job
from faktory_core.clock import Clock, SystemClock
from faktory_core.errors import messages
from faktory_core.testing.batches import TestBatches
from faktory_core.timefmt import format_ts, parse_ts
from faktory_core.worker import Discard, Worker

__all__ = ["NOT_UNIQUE", "FakeJobs", "InlineJobs", "JobOptions", "fake", "inline"]


def _refuse_inside_event_loop(advice: str) -> None:
    """Starting an event loop inside a running one fails obscurely; say what to do instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"cannot run jobs from inside a running event loop: {advice}")


def _payload(job: Job) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(json.dumps(job.to_dict()))
    return payload


#: PUSHB's text for a refused duplicate, as the server sends it.
NOT_UNIQUE = f"NOTUNIQUE {messages.NOT_UNIQUE}"


class JobOptions:
    """Unique locks, expiry and batches for the testing modes, by the server plugins' rules."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.locks: dict[str, tuple[str, float]] = {}
        self.expired: list[Job] = []
        self.batches = TestBatches(clock)
        self._guard = threading.Lock()

    def admit(self, job: Job) -> tuple[Job, str | None]:
        """The job as pushed (``expires_in`` turned into ``expires_at``), or the refusal."""
        now = self.clock.now()
        seconds = options.expires_in(job.custom)
        if seconds is not None and options.expires_at(job.custom) is None:
            stamp = format_ts(now + seconds)
            job = attrs.evolve(job, custom={**(job.custom or {}), options.EXPIRES_AT: stamp})
        wanted = options.uniqueness(job.custom)
        if wanted is None:
            return job, self.batches.admit(job)
        until = max(now, parse_ts(job.at) if job.at else now) + wanted.seconds
        with self._guard:
            held = self.locks.get(_key(job))
            if held is not None and held[1] > now:
                return job, NOT_UNIQUE
            self.locks[_key(job)] = (job.jid, until)
        refusal = self.batches.admit(job)
        if refusal is not None:  # not pushed: it holds no lock
            self._unlock(job)
        return job, refusal

    def live(self, job: Job) -> bool:
        """False (and the job listed in ``expired``) when it is past its expiry."""
        at = options.expires_at(job.custom)
        if at is not None and at <= self.clock.now():
            self.expired.append(job)
            self.batches.settled(job, ok=False)  # a member dropped at fetch counts as failed
            return False
        return True

    def release(self, job: Job, policy: str) -> None:
        wanted = options.uniqueness(job.custom)
        if wanted is not None and wanted.until == policy:
            self._unlock(job)

    def _unlock(self, job: Job) -> None:
        with self._guard:
            if self.locks.get(_key(job), ("",))[0] == job.jid:
                del self.locks[_key(job)]

    async def run(self, worker: Worker, job: Job) -> None:
        """Perform the job; its lock goes at the start or on success, as its policy says, and
        its batch counts it as the server would count its ACK (success, ``Discard``) or FAIL."""
        self.release(job, options.UNTIL_START)
        try:
            await worker.perform(_payload(job))
        except BaseException as exc:
            self.batches.settled(job, ok=isinstance(exc, Discard))
            raise
        self.release(job, options.UNTIL_SUCCESS)
        self.batches.settled(job, ok=True)


def _key(job: Job) -> str:
    return options.unique_key(job.jobtype, job.args, job.queue)


class _Mode:
    """What both modes share: the options, and the client's BATCH commands."""

    def __init__(self, clock: Clock | None) -> None:
        self.options = JobOptions(clock or SystemClock())

    @property
    def expired(self) -> list[Job]:
        """The jobs dropped because they had expired (at a drain, or at their push inline)."""
        return self.options.expired

    @property
    def batches(self) -> TestBatches:
        """The batches made in this mode (``batches.status(bid)`` reads one)."""
        return self.options.batches

    def _batch(self, op: str, arg: Any) -> Any:
        batches = self.options.batches
        if op == "NEW":
            return batches.new(arg)
        if op == "OPEN":
            return batches.open(arg)
        if op == "COMMIT":
            return batches.commit(arg)
        return batches.status(arg)

    def batch(self, op: str, arg: Any) -> Any:
        """``BATCH <op>`` from a blocking client; the callbacks it makes due go on at once."""
        found = self._batch(op, arg)
        self._due()
        return found

    async def abatch(self, op: str, arg: Any) -> Any:
        found = self._batch(op, arg)
        await self._adue()
        return found

    def _due(self) -> None:
        raise NotImplementedError

    async def _adue(self) -> None:
        raise NotImplementedError


class FakeJobs(_Mode):
    """The jobs pushed while :func:`fake` is on, in push order (batch callbacks included, as
    they become due)."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.jobs: list[Job] = []
        self._lock = threading.Lock()

    def push(self, jobs: Sequence[Job]) -> dict[str, str]:
        errors: dict[str, str] = {}
        with self._lock:
            for job in jobs:
                admitted, refusal = self.options.admit(job)
                if refusal is None:
                    self.jobs.append(admitted)
                else:
                    errors[job.jid] = refusal
        return errors

    async def apush(self, jobs: Sequence[Job]) -> dict[str, str]:
        return self.push(jobs)

    def _due(self) -> None:
        due = self.options.batches.take_due()
        if due:
            self.push(due)

    async def _adue(self) -> None:
        self._due()

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self.jobs))

    def jobtypes(self) -> list[str]:
        return [job.jobtype for job in self.jobs]

    def of_type(self, jobtype: str) -> list[Job]:
        return [job for job in self.jobs if job.jobtype == jobtype]

    def in_queue(self, queue: str) -> list[Job]:
        return [job for job in self.jobs if job.queue == queue]

    def clear(self) -> None:
        """Forget the recorded jobs and the unique locks they hold."""
        with self._lock:
            self.jobs.clear()
            self.options.locks.clear()

    def drain(self, worker: Worker) -> int:
        """Run every recorded job through ``worker`` in push order, including jobs pushed by
        those jobs and batch callbacks they make due, until none is left; returns how many ran
        (expired jobs are dropped, not run). An exception stops the drain (the failing job is
        already removed, its ``success`` lock kept, its batch told it failed). In async code,
        ``await adrain(worker)``."""
        _refuse_inside_event_loop("use await adrain(worker) in async code")
        return anyio.run(self.adrain, worker)

    async def adrain(self, worker: Worker) -> int:
        ran = 0
        while True:
            with self._lock:
                if not self.jobs:
                    return ran
                job = self.jobs.pop(0)
            try:
                if self.options.live(job):
                    await self.options.run(worker, job)
                    ran += 1
            finally:
                self._due()


class InlineJobs(_Mode):
    """Runs each pushed job at once with ``worker``; :attr:`performed` lists them (batch
    callbacks included: each runs the moment it becomes due)."""

    def __init__(self, worker: Worker, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.worker = worker
        self.performed: list[Job] = []

    def push(self, jobs: Sequence[Job]) -> dict[str, str]:
        # A blocking client has no event loop to run async jobs on: give it one (a plain job
        # pushing from its worker thread gets its own, which is allowed there).
        _refuse_inside_event_loop("push with AsyncClient in async code")
        return anyio.run(self.apush, jobs)

    async def apush(self, jobs: Sequence[Job]) -> dict[str, str]:
        errors: dict[str, str] = {}
        for job in jobs:
            admitted, refusal = self.options.admit(job)
            if refusal is not None:
                errors[job.jid] = refusal
                continue
            try:
                if self.options.live(admitted):
                    self.performed.append(admitted)
                    await self.options.run(self.worker, admitted)
            finally:
                await self._adue()
        return errors

    def _due(self) -> None:
        if self.options.batches.has_due():
            _refuse_inside_event_loop("use AsyncClient's batches in async code")
            anyio.run(self._adue)

    async def _adue(self) -> None:
        due = self.options.batches.take_due()
        if due:
            await self.apush(due)


@contextmanager
def _installed(sink: _sink.PushSink) -> Iterator[None]:
    previous, _sink.current = _sink.current, sink
    try:
        yield
    finally:
        _sink.current = previous


@contextmanager
def fake(clock: Clock | None = None) -> Iterator[FakeJobs]:
    """Record pushed jobs instead of sending them."""
    recorder = FakeJobs(clock)
    with _installed(recorder):
        yield recorder


@contextmanager
def inline(worker: Worker, clock: Clock | None = None) -> Iterator[InlineJobs]:
    """Run pushed jobs immediately with ``worker``'s functions and middleware."""
    runner = InlineJobs(worker, clock)
    with _installed(runner):
        yield runner
