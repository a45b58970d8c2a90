"""Idle identified connections held open while the load runs, all from one process.

Each says HELLO with its own wid and sends a BEAT every 15 s, as a real worker does: the server
forgets workers silent for 60 s and closes their connections, so idle ones must beat to stay.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
import traceback
from collections.abc import Iterator
from typing import Any

from fwp import Conn
from server import Target
from workers import CTX, JOIN_GRACE, BenchError

from faktory_core.protocol import encode_json_command

BEAT_EVERY = 15.0


def _open(count: int, target: Target, deadline: float) -> list[tuple[str, Conn]]:
    conns = []
    for index in range(count):
        wid = f"idle-{os.getpid()}-{index}"
        timeout = max(deadline - time.monotonic(), 0.001)
        conns.append((wid, Conn(target.port, timeout=timeout, password=target.password, wid=wid)))
    return conns


def idle_main(count: int, target: Target, deadline: float, status: Any, stop: Any) -> None:
    try:
        conns = _open(count, target, deadline)
        status.put(("ready", ""))
        while not stop.wait(BEAT_EVERY):
            for wid, conn in conns:
                conn.expect_ok(encode_json_command("BEAT", {"wid": wid}))
        for _, conn in conns:
            conn.close()
    except BaseException:
        status.put(("failed", traceback.format_exc()))


def _check_still_open(status: Any) -> None:
    """A BEAT that failed during the run means the connections were not all held: say so."""
    try:
        state, detail = status.get_nowait()
    except queue.Empty:
        return
    raise BenchError(f"idle connections failed during the run ({state}): {detail}")


@contextlib.contextmanager
def idle_connections(count: int, target: Target, deadline: float) -> Iterator[None]:
    """``count`` idle connections, open from entry to exit (none when ``count`` is 0)."""
    if count == 0:
        yield
        return
    status: Any = CTX.Queue()
    stop = CTX.Event()
    proc = CTX.Process(target=idle_main, args=(count, target, deadline, status, stop))
    proc.start()
    try:
        try:
            state, detail = status.get(timeout=max(deadline - time.monotonic(), 0.001))
        except queue.Empty:
            raise BenchError(f"timed out opening {count} idle connections") from None
        if state != "ready":
            raise BenchError(f"idle connections: {detail}")
        yield
        _check_still_open(status)
    finally:
        stop.set()
        proc.join(JOIN_GRACE)
        if proc.is_alive():
            proc.terminate()  # the process this function started, by its pid
            proc.join()
