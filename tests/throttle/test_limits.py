"""The manager leaves a fetch gate out of FETCHes, ACKs and FAILs on queues it does not limit
(core/gate.py, ``limits``), keeps calling a gate without ``limits`` for every queue, and still
admits a job whose queue a reload throttled while its FETCH waited."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import anyio
import attrs
import pytest

from faktory_core.clock import FakeClock
from faktory_core.manager import Manager
from faktory_core.model import Job, Reservation
from faktory_core.plugins.memory_store.store import MemoryStore
from faktory_core.retry import FaktoryRetryPolicy
from faktory_core.testing.contract import make_job

pytestmark = pytest.mark.anyio


@attrs.define
class Recording:
    """A gate that records its calls; ``limited`` is the set of queues it throttles."""

    limited: set[str] = attrs.field(factory=set)
    admits: bool = True
    calls: list[tuple[str, str]] = attrs.field(factory=list)

    async def closed(self, queues: Sequence[str], wid: str) -> Collection[str]:
        self.calls.append(("closed", ",".join(queues)))
        return ()

    async def admit(self, reservation: Reservation) -> bool:
        self.calls.append(("admit", reservation.job.queue))
        return self.admits

    async def release(self, job: Job) -> None:
        self.calls.append(("release", job.queue))

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        await anyio.sleep(timeout)


@attrs.define
class Limiting(Recording):
    def limits(self, queue: str) -> bool:
        return queue in self.limited


async def _manager(gate: Recording) -> Manager:
    clock = FakeClock(1_700_000_000.0)
    store = MemoryStore(clock)
    await store.open()
    return Manager(store, FaktoryRetryPolicy(), clock, gates=(gate,))


async def test_a_gate_is_skipped_for_queues_it_does_not_limit() -> None:
    gate = Limiting(limited={"limited"})
    manager = await _manager(gate)
    await manager.push(make_job(queue="default"))
    job = await manager.fetch(["default"], wait=False)
    assert job is not None
    await manager.ack(job.jid)
    assert gate.calls == []
    await manager.push(make_job(queue="limited"))
    job = await manager.fetch(["default", "limited"], wait=False)
    assert job is not None
    await manager.ack(job.jid)
    assert gate.calls == [
        ("closed", "default,limited"),
        ("admit", "limited"),
        ("release", "limited"),
    ]


async def test_a_gate_without_limits_sees_every_queue() -> None:
    gate = Recording()
    manager = await _manager(gate)
    await manager.push(make_job(queue="default"))
    job = await manager.fetch(["default"], wait=False)
    assert job is not None
    await manager.ack(job.jid)
    assert gate.calls == [("closed", "default"), ("admit", "default"), ("release", "default")]


async def test_a_queue_throttled_while_the_fetch_waited_is_admitted() -> None:
    gate = Limiting()
    manager = await _manager(gate)
    fetched: list[Job | None] = []
    async with anyio.create_task_group() as tg:

        async def fetch() -> None:
            fetched.append(await manager.fetch(["default"]))

        tg.start_soon(fetch)
        await anyio.sleep(0.05)  # the FETCH waits on the store, ungated
        gate.limited.add("default")  # as a reload adds a throttle
        await manager.push(make_job(queue="default"))
    assert fetched[0] is not None
    assert gate.calls == [("admit", "default")]


async def test_a_full_queue_throttled_while_the_fetch_waited_goes_back() -> None:
    gate = Limiting(admits=False)
    manager = await _manager(gate)
    fetched: list[Job | None] = []
    job = make_job(queue="default")
    async with anyio.create_task_group() as tg:

        async def fetch() -> None:
            fetched.append(await manager.fetch(["default"], wait=True))

        tg.start_soon(fetch)
        await anyio.sleep(0.05)
        gate.limited.add("default")
        await manager.push(job)
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()  # the gated FETCH waits for a slot that never comes
    assert fetched == []
    assert ("admit", "default") in gate.calls
    assert gate.calls[1:2] == [("closed", "default")]
    assert await manager.store.queue_size("default") == 1  # the job went back, not lost
