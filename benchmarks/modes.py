"""The measured runs: push, pushb, fetch-ack, mixed and memory, each checked after it ran.

Server CPU and RSS are read from /proc just before the workers are released and just after the
last reply arrived; wall time runs from the first worker's start to the last worker's end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import proc
from fill import FILL_BATCH, info, pushb
from server import Target
from workers import BenchError, Result, Task, run_phase, shares

MODES = ("push", "pushb", "fetch-ack", "mixed", "memory")


@dataclass(frozen=True)
class Settings:
    jobs: int
    conns: int
    batch: int
    run_id: str
    deadline: float
    #: Called around each measured phase (a profiler attaching); returns the stop function.
    around: Callable[[str], Callable[[], None]] = lambda mode: lambda: None


@dataclass
class Sample:
    cpu: float = 0.0
    rss: int = 0

    @classmethod
    def of(cls, pid: int) -> Sample:
        return cls(proc.cpu_seconds(pid), proc.rss_bytes(pid))


@dataclass
class Measured:
    results: list[Result]
    before: Sample
    after: Sample
    extra: dict[str, Any] = field(default_factory=dict)


def measure(tasks: list[Task], target: Target, settings: Settings, mode: str) -> Measured:
    before = Sample()

    def on_start() -> None:
        nonlocal before
        before = Sample.of(target.pid)

    stop_profile = settings.around(mode)
    try:
        results = run_phase(tasks, target, settings.deadline, on_start)
        after = Sample.of(target.pid)
    finally:
        stop_profile()
    return Measured(results, before, after)


def queue_of(mode: str) -> str:
    # One queue per mode, so several modes can run against the same server one after another.
    return f"bench-{mode}"


def queued(target: Target, queue: str) -> int:
    size: int = info(target)["faktory"]["queues"].get(queue, 0)
    return size


def processed(target: Target) -> int:
    count: int = info(target)["faktory"]["total_processed"]
    return count


# -- the modes -------------------------------------------------------------------------------


def run_push(target: Target, s: Settings, mode: str) -> Measured:
    queue, tag = queue_of(mode), f"{s.run_id}-{mode}"
    batch = s.batch if mode == "pushb" else 1
    tasks = [Task(mode, queue, tag, first, n, batch) for first, n in shares(s.jobs, s.conns)]
    size = queued(target, queue)
    measured = measure(tasks, target, s, mode)
    expect(f"{queue} size", queued(target, queue) - size, s.jobs)
    return measured


def run_fetch_ack(target: Target, s: Settings, mode: str) -> Measured:
    """Fill the queue with ``jobs`` first (not measured), then fetch and ack every one."""
    queue, tag = queue_of(mode), f"{s.run_id}-{mode}"
    expect(f"{queue} size before the run", queued(target, queue), 0)
    started = time.monotonic()
    pushb(target, s.deadline, Task("pushb", queue, tag, 0, s.jobs), s.conns)
    prefill = time.monotonic() - started
    done = processed(target)
    tasks = [Task("fetch-ack", queue, count=n) for _, n in shares(s.jobs, s.conns)]
    measured = measure(tasks, target, s, mode)
    verify_fetched(measured.results, tag, s.jobs)
    expect("total_processed growth", processed(target) - done, s.jobs)
    expect(f"{queue} size after the run", queued(target, queue), 0)
    measured.extra["prefill_s"] = round(prefill, 3)
    return measured


def run_mixed(target: Target, s: Settings, mode: str) -> Measured:
    """Half the connections push ``jobs`` while the other half fetch and ack as many."""
    if s.conns < 2:
        raise BenchError("mixed needs at least 2 connections")
    queue, tag = queue_of(mode), f"{s.run_id}-{mode}"
    expect(f"{queue} size before the run", queued(target, queue), 0)
    pushers, fetchers = s.conns // 2, s.conns - s.conns // 2
    tasks = [Task("push", queue, tag, first, n) for first, n in shares(s.jobs, pushers)]
    tasks += [Task("fetch-ack", queue, count=n) for _, n in shares(s.jobs, fetchers)]
    done = processed(target)
    measured = measure(tasks, target, s, mode)
    verify_fetched(measured.results, tag, s.jobs)
    expect("total_processed growth", processed(target) - done, s.jobs)
    expect(f"{queue} size after the run", queued(target, queue), 0)
    return measured


def run_memory(target: Target, s: Settings, mode: str) -> Measured:
    """RSS before and after ``jobs`` more jobs are queued (pushed with PUSHB, fast)."""
    queue, tag = queue_of(mode), f"{s.run_id}-{mode}"
    size = queued(target, queue)
    before = Sample.of(target.pid)
    started = time.monotonic()
    pushb(target, s.deadline, Task("pushb", queue, tag, 0, s.jobs), s.conns)
    elapsed = time.monotonic() - started
    after = Sample.of(target.pid)
    expect(f"{queue} size", queued(target, queue) - size, s.jobs)
    return Measured([], before, after, {"push_s": round(elapsed, 3), "batch": FILL_BATCH})


RUNNERS: dict[str, Callable[[Target, Settings, str], Measured]] = {
    "push": run_push,
    "pushb": run_push,
    "fetch-ack": run_fetch_ack,
    "mixed": run_mixed,
    "memory": run_memory,
}


# -- checks ----------------------------------------------------------------------------------


def expect(what: str, got: int, wanted: int) -> None:
    if got != wanted:
        raise BenchError(f"{what}: {got}, expected {wanted}")


def verify_fetched(results: list[Result], tag: str, jobs: int) -> None:
    """Every pushed jid fetched and acked exactly once, and nothing else."""
    fetched = [jid for result in results for jid in result.jids]
    unique = set(fetched)
    expected = {f"{tag}-{i}" for i in range(jobs)}
    if len(fetched) != jobs or unique != expected:
        raise BenchError(
            f"fetched {len(fetched)} jids ({len(fetched) - len(unique)} duplicates), "
            f"{len(expected - unique)} of {jobs} pushed never fetched, "
            f"{len(unique - expected)} fetched that this run did not push"
        )
