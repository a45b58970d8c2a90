"""Set-up that is not measured: a backlog in another queue and the three sorted sets filled.

Each step is timed and checked against INFO, so a scale run states how long its set-up took and
fails loudly if the server did not end up holding what the run claims.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fwp import Conn, mutate
from server import Target
from workers import BenchError, Task, run_phase, shares

#: Far enough ahead that no scheduled job comes due during a run.
FAR_FUTURE = "2100-01-01T00:00:00Z"
FILL_BATCH = 1000
FAIL_PIPELINE = 100
BACKLOG_QUEUE = "backlog"
RETRIES_QUEUE = "bench-fill-retries"
CONTROL_TIMEOUT = 60.0
#: A retry whose job has failed 19 times before waits 20**4 s (about 1.9 days) after this FAIL,
#: so the retries set stays full for the whole run instead of draining after ~15 s.
PRIOR_FAILURE = {"retry_count": 19, "remaining": 6, "errtype": "Bench", "message": "earlier"}


def info(target: Target) -> dict[str, Any]:
    """INFO over a short-lived connection, so it never counts against the load's connections."""
    conn = Conn(target.port, timeout=CONTROL_TIMEOUT, password=target.password)
    try:
        return conn.info()
    finally:
        conn.close()


def sizes(doc: dict[str, Any]) -> dict[str, int]:
    faktory = doc["faktory"]
    return {
        BACKLOG_QUEUE: faktory["queues"].get(BACKLOG_QUEUE, 0),
        "scheduled": faktory["sets"]["scheduled"],
        "retries": faktory["sets"]["retries"],
        "dead": faktory["sets"]["dead"],
    }


def pushb(target: Target, deadline: float, task: Task, procs: int) -> None:
    tasks = [
        Task("pushb", task.queue, task.tag, first, count, FILL_BATCH, task.extra)
        for first, count in shares(task.count, procs)
    ]
    run_phase(tasks, target, deadline)


def fill_retries(target: Target, deadline: float, count: int, procs: int, tag: str) -> None:
    extra = {"retry": 25, "failure": PRIOR_FAILURE}
    pushb(target, deadline, Task("pushb", RETRIES_QUEUE, tag, 0, count, extra=extra), procs)
    tasks = [
        Task("fetch-fail", RETRIES_QUEUE, count=n, batch=FAIL_PIPELINE)
        for _, n in shares(count, procs)
    ]
    run_phase(tasks, target, deadline)


def fill_dead(target: Target, deadline: float, count: int, procs: int, tag: str) -> None:
    """Scheduled first, then one MUTATE kill: much faster than a FETCH and FAIL per job."""
    extra = {"at": FAR_FUTURE, "jobtype": "BenchDead"}
    pushb(target, deadline, Task("pushb", "bench-fill-dead", tag, 0, count, extra=extra), procs)
    conn = Conn(
        target.port, timeout=max(deadline - time.monotonic(), 0.001), password=target.password
    )
    try:
        mutate(conn, {"cmd": "kill", "target": "scheduled", "filter": {"jobtype": "BenchDead"}})
    finally:
        conn.close()


def fill(
    target: Target, deadline: float, *, backlog: int, sets: int, procs: int, run_id: str
) -> dict[str, float]:
    """Fill, check and return the seconds each step took."""
    before = sizes(info(target))
    seconds: dict[str, float] = {}

    def timed(name: str, step: Callable[..., None], *args: Any) -> None:
        started = time.monotonic()
        step(target, deadline, *args)
        seconds[name] = time.monotonic() - started

    if backlog:
        timed(
            "backlog", pushb, Task("pushb", BACKLOG_QUEUE, f"{run_id}-backlog", 0, backlog), procs
        )
    if sets:
        timed("dead", fill_dead, sets, procs, f"{run_id}-dead")
        timed("retries", fill_retries, sets, procs, f"{run_id}-retry")
        scheduled = Task(
            "pushb", "bench-fill-scheduled", f"{run_id}-sched", 0, sets, extra={"at": FAR_FUTURE}
        )
        timed("scheduled", pushb, scheduled, procs)
    _check(before, sizes(info(target)), backlog, sets)
    return seconds


def _check(before: dict[str, int], after: dict[str, int], backlog: int, sets: int) -> None:
    wanted = {BACKLOG_QUEUE: backlog, "scheduled": sets, "retries": sets, "dead": sets}
    for key, count in wanted.items():
        if after[key] - before[key] != count:
            raise BenchError(
                f"set-up: {key} grew by {after[key] - before[key]}, expected {count} "
                f"(before {before}, after {after})"
            )
