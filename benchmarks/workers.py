"""Client processes: one connection each, so the load generator does not share a GIL.

A phase starts every worker, waits until all are connected with their commands encoded, lets the
caller sample the server (CPU, RSS), releases them together, and collects their results. Any
worker error, a dead worker or the deadline aborts the phase with an exception.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fwp import OK, Conn, FwpError, describe
from server import Target

from faktory_core.protocol import Bulk, encode_command, encode_json_command

# fork: the children inherit the task list and modules without re-importing this script.
CTX = mp.get_context("fork")
POLL = 0.5
JOIN_GRACE = 5.0


class BenchError(Exception):
    """The run is invalid (a wrong reply, a lost job, a timeout): nothing it measured counts."""


@dataclass(frozen=True)
class Task:
    """What one worker process does: ``count`` jobs, jids ``{tag}-{first}`` onwards."""

    kind: str  # push | pushb | fetch-ack | fetch-fail
    queue: str
    tag: str = ""
    first: int = 0
    count: int = 0
    batch: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    #: The server to connect to when not the phase's target (scaling.py spreads connections
    #: over several servers); 0: the target.
    port: int = 0


@dataclass
class Result:
    latencies: dict[str, array[int]]
    jids: list[str]
    start: float
    end: float
    cpu: float
    empty_fetches: int = 0


@dataclass(frozen=True)
class Failed:
    message: str


def job(jid: str, queue: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The job shape of Faktory's own load test (test/load/main.go)."""
    return {"jid": jid, "jobtype": "BenchJob", "args": [1, "string", 3], "queue": queue, **extra}


def jobs(task: Task) -> Iterator[dict[str, Any]]:
    for i in range(task.first, task.first + task.count):
        yield job(f"{task.tag}-{i}", task.queue, task.extra)


def shares(total: int, parts: int) -> list[tuple[int, int]]:
    """(first, count) for ``parts`` workers splitting ``total`` jobs as evenly as possible."""
    base, rest = divmod(total, parts)
    out, first = [], 0
    for index in range(parts):
        count = base + (index < rest)
        out.append((first, count))
        first += count
    return out


# -- what a worker does with its connection ------------------------------------------------------
# Each preparer encodes everything before the start line (so encoding is not timed) and returns
# the loop to run after it. Latencies are in nanoseconds, from send to the whole reply parsed.


Loop = Callable[[], Result]


def _timed(conn: Conn, command: bytes, into: array[int]) -> Any:
    start = time.perf_counter_ns()
    reply = conn.call(command)
    into.append(time.perf_counter_ns() - start)
    return reply


def prepare_push(conn: Conn, task: Task) -> Loop:
    commands = [encode_json_command("PUSH", item) for item in jobs(task)]

    def loop() -> Result:
        lat: array[int] = array("q")
        for command in commands:
            reply = _timed(conn, command, lat)
            if reply != OK:
                raise FwpError(f"PUSH answered {describe(reply)}")
        return Result({"PUSH": lat}, [], 0, 0, 0)

    return loop


def _batches(task: Task) -> list[list[dict[str, Any]]]:
    items = list(jobs(task))
    return [items[i : i + task.batch] for i in range(0, len(items), task.batch)]


def prepare_pushb(conn: Conn, task: Task) -> Loop:
    commands = [encode_json_command("PUSHB", batch) for batch in _batches(task)]

    def loop() -> Result:
        lat: array[int] = array("q")
        for command in commands:
            reply = _timed(conn, command, lat)
            if not isinstance(reply, Bulk) or reply.data != b"{}":
                raise FwpError(f"PUSHB answered {describe(reply)}")
        return Result({"PUSHB": lat}, [], 0, 0, 0)

    return loop


def _jid(reply: Any) -> str | None:
    """The jid of a FETCH reply; None for the null bulk of an empty queue."""
    if not isinstance(reply, Bulk):
        raise FwpError(f"FETCH answered {describe(reply)}")
    if reply.data is None:
        return None
    jid: str = json.loads(reply.data)["jid"]
    return jid


def prepare_fetch_ack(conn: Conn, task: Task) -> Loop:
    fetch = encode_command("FETCH", task.queue)

    def loop() -> Result:
        fetch_lat: array[int] = array("q")
        ack_lat: array[int] = array("q")
        jids: list[str] = []
        empty = 0
        while len(jids) < task.count:
            jid = _jid(_timed(conn, fetch, fetch_lat))
            if jid is None:
                empty += 1  # mixed runs: the pushers have not caught up; FETCH again
                continue
            reply = _timed(conn, encode_json_command("ACK", {"jid": jid}), ack_lat)
            if reply != OK:
                raise FwpError(f"ACK answered {describe(reply)}")
            jids.append(jid)
        return Result({"FETCH": fetch_lat, "ACK": ack_lat}, jids, 0, 0, 0, empty)

    return loop


def prepare_fetch_fail(conn: Conn, task: Task) -> Loop:
    """Set-up only (fills the retries set): pipelined FETCH, then pipelined FAIL."""
    fetch = encode_command("FETCH", task.queue)

    def loop() -> Result:
        done: list[str] = []
        while len(done) < task.count:
            want = min(task.batch, task.count - len(done))
            conn.sock.sendall(fetch * want)
            got = [jid for jid in (_jid(conn.read()) for _ in range(want)) if jid is not None]
            fails = [{"jid": jid, "errtype": "Bench", "message": "benchmark fill"} for jid in got]
            conn.sock.sendall(b"".join(encode_json_command("FAIL", f) for f in fails))
            for _ in got:
                if (reply := conn.read()) != OK:
                    raise FwpError(f"FAIL answered {describe(reply)}")
            done += got
        return Result({}, done, 0, 0, 0)

    return loop


PREPARERS: dict[str, Callable[[Conn, Task], Loop]] = {
    "push": prepare_push,
    "pushb": prepare_pushb,
    "fetch-ack": prepare_fetch_ack,
    "fetch-fail": prepare_fetch_fail,
}


# -- the worker process ----------------------------------------------------------------------


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def worker_main(
    task: Task,
    target: Target,
    deadline: float,
    barrier: Any,
    results: Any,
    done: Any,
) -> None:
    try:
        port = task.port or target.port
        conn = Conn(port, timeout=_left(deadline), password=target.password)
        loop = PREPARERS[task.kind](conn, task)
        barrier.wait(_left(deadline))  # connected and encoded
        barrier.wait(_left(deadline))  # the caller has sampled the server: go
        cpu, start = _cpu(), time.monotonic()
        result = loop()
        result.start, result.end, result.cpu = start, time.monotonic(), _cpu() - cpu
        results.put(result)
        # Close only after the caller's final sample, so disconnects are not in the figures.
        done.wait(_left(deadline))
        conn.close()
    except BaseException:
        barrier.abort()
        results.put(Failed(f"{task.kind} worker {os.getpid()}:\n{traceback.format_exc()}"))


# -- the caller's side -----------------------------------------------------------------------


def run_phase(
    tasks: list[Task],
    target: Target,
    deadline: float,
    on_start: Callable[[], None] = lambda: None,
) -> list[Result]:
    """Run ``tasks`` in parallel processes; ``on_start`` runs once all are ready to go."""
    barrier = CTX.Barrier(len(tasks) + 1)
    results: Any = CTX.Queue()
    done = CTX.Event()
    procs = [
        CTX.Process(target=worker_main, args=(t, target, deadline, barrier, results, done))
        for t in tasks
    ]
    for proc in procs:
        proc.start()
    try:
        _start_line(barrier, results, deadline, on_start)
        collected = _collect(procs, results, deadline)
    except BaseException:
        _terminate(procs)  # an invalid run: no point letting the others finish
        raise
    done.set()
    for proc in procs:
        proc.join(JOIN_GRACE)
    _terminate(procs)
    return collected


def _start_line(barrier: Any, results: Any, deadline: float, on_start: Callable[[], None]) -> None:
    try:
        barrier.wait(_left(deadline))
        on_start()
        barrier.wait(_left(deadline))
    except threading.BrokenBarrierError:
        raise BenchError(_first_failure(results) or "timed out before the start") from None


def _first_failure(results: Any) -> str | None:
    try:
        item = results.get(timeout=1.0)
    except queue.Empty:
        return None
    return item.message if isinstance(item, Failed) else None


def _collect(procs: list[Any], results: Any, deadline: float) -> list[Result]:
    collected: list[Result] = []
    while len(collected) < len(procs):
        if time.monotonic() > deadline:
            raise BenchError("timed out: --timeout reached while the load was running")
        try:
            item = results.get(timeout=POLL)
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise BenchError(_first_failure(results) or "a worker died") from None
            continue
        if isinstance(item, Failed):
            raise BenchError(item.message)
        collected.append(item)
    return collected


def _terminate(procs: list[Any]) -> None:
    for proc in procs:
        if proc.is_alive():
            proc.terminate()  # by its own pid: only processes this phase started
            proc.join()
