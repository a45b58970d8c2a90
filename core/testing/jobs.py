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
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio

from faktory_core.client import _sink
from faktory_core.client.job import Job
from faktory_core.worker import Worker

__all__ = ["FakeJobs", "InlineJobs", "fake", "inline"]


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


class FakeJobs:
    """The jobs pushed while :func:`fake` is on, in push order."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._lock = threading.Lock()

    def push(self, jobs: Sequence[Job]) -> dict[str, str]:
        with self._lock:
            self.jobs.extend(jobs)
        return {}

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
        with self._lock:
            self.jobs.clear()

    def drain(self, worker: Worker) -> int:
        """Run every recorded job through ``worker`` in push order, including jobs pushed by
        those jobs, until none is left; returns how many ran. An exception stops the drain
        (the failing job is already removed). In async code, ``await adrain(worker)``."""
        _refuse_inside_event_loop("use await adrain(worker) in async code")
        return anyio.run(self.adrain, worker)

    async def adrain(self, worker: Worker) -> int:
        ran = 0
        while True:
            with self._lock:
                if not self.jobs:
                    return ran
                job = self.jobs.pop(0)
            await worker.perform(_payload(job))
            ran += 1


class InlineJobs:
    """Runs each pushed job at once with ``worker``; :attr:`performed` lists them."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.performed: list[Job] = []

    def push(self, jobs: Sequence[Job]) -> dict[str, str]:
        # A blocking client has no event loop to run async jobs on: give it one (a plain job
        # pushing from its worker thread gets its own, which is allowed there).
        _refuse_inside_event_loop("push with AsyncClient in async code")
        for job in jobs:
            self.performed.append(job)
            anyio.run(self.worker.perform, _payload(job))
        return {}

    async def apush(self, jobs: Sequence[Job]) -> dict[str, str]:
        for job in jobs:
            self.performed.append(job)
            await self.worker.perform(_payload(job))
        return {}


@contextmanager
def _installed(sink: _sink.PushSink) -> Iterator[None]:
    previous, _sink.current = _sink.current, sink
    try:
        yield
    finally:
        _sink.current = previous


@contextmanager
def fake() -> Iterator[FakeJobs]:
    """Record pushed jobs instead of sending them."""
    recorder = FakeJobs()
    with _installed(recorder):
        yield recorder


@contextmanager
def inline(worker: Worker) -> Iterator[InlineJobs]:
    """Run pushed jobs immediately with ``worker``'s functions and middleware."""
    runner = InlineJobs(worker)
    with _installed(runner):
        yield runner
