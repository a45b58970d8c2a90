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
from faktory_core.timefmt import format_ts, parse_ts
from faktory_core.worker import Worker

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
    """Unique locks and expiry for the testing modes, by the server plugins' rules."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.locks: dict[str, tuple[str, float]] = {}
        self.expired: list[Job] = []
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
            return job, None
        until = max(now, parse_ts(job.at) if job.at else now) + wanted.seconds
        with self._guard:
            held = self.locks.get(_key(job))
            if held is not None and held[1] > now:
                return job, NOT_UNIQUE
            self.locks[_key(job)] = (job.jid, until)
        return job, None

    def live(self, job: Job) -> bool:
        """False (and the job listed in ``expired``) when it is past its expiry."""
        at = options.expires_at(job.custom)
        if at is not None and at <= self.clock.now():
            self.expired.append(job)
            return False
        return True

    def release(self, job: Job, policy: str) -> None:
        wanted = options.uniqueness(job.custom)
        if wanted is None or wanted.until != policy:
            return
        with self._guard:
            if self.locks.get(_key(job), ("",))[0] == job.jid:
                del self.locks[_key(job)]

    async def run(self, worker: Worker, job: Job) -> None:
        """Perform the job; its lock goes at the start or on success, as its policy says."""
        self.release(job, options.UNTIL_START)
        await worker.perform(_payload(job))
        self.release(job, options.UNTIL_SUCCESS)


def _key(job: Job) -> str:
    return options.unique_key(job.jobtype, job.args, job.queue)


class FakeJobs:
    """The jobs pushed while :func:`fake` is on, in push order."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.jobs: list[Job] = []
        self.options = JobOptions(clock or SystemClock())
        self._lock = threading.Lock()

    @property
    def expired(self) -> list[Job]:
        """The jobs a drain dropped because they had expired."""
        return self.options.expired

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
        those jobs, until none is left; returns how many ran (expired jobs are dropped, not
        run). An exception stops the drain (the failing job is already removed, its
        ``success`` lock kept). In async code, ``await adrain(worker)``."""
        _refuse_inside_event_loop("use await adrain(worker) in async code")
        return anyio.run(self.adrain, worker)

    async def adrain(self, worker: Worker) -> int:
        ran = 0
        while True:
            with self._lock:
                if not self.jobs:
                    return ran
                job = self.jobs.pop(0)
            if self.options.live(job):
                await self.options.run(worker, job)
                ran += 1


class InlineJobs:
    """Runs each pushed job at once with ``worker``; :attr:`performed` lists them."""

    def __init__(self, worker: Worker, clock: Clock | None = None) -> None:
        self.worker = worker
        self.performed: list[Job] = []
        self.options = JobOptions(clock or SystemClock())

    @property
    def expired(self) -> list[Job]:
        """The jobs dropped because they had expired by the time they were pushed."""
        return self.options.expired

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
            elif self.options.live(admitted):
                self.performed.append(admitted)
                await self.options.run(self.worker, admitted)
        return errors


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
