"""Batches: what the batch plugin costs a job outside any batch, and a 10,000-member batch.

Run from benchmarks/ (docs/performance.md, "Batches"):

    ../.venv/bin/python batch.py [--jobs 20000] [--rounds 3]

Each round starts a fresh server with the plugin on, then one with ``--no-plugin batch``, and
PUSHes then FETCH+ACKs ``--jobs`` plain jobs one at a time over one connection; then, plugin on,
a batch of 10,000 members: BATCH NEW, PUSHB in chunks of 1,000, COMMIT, FETCH+ACK each (the
callback enqueued on the last ACK). Reported: the server's CPU µs per job (from /proc) and the
wall µs per command round trip, median over the rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from fwp import Conn, FwpError
from proc import cpu_seconds
from server import free_port, server_command, stop, wait_until_ready

from faktory_core.protocol import Bulk, encode_command

BATCH_SIZE = 10_000
CHUNK = 1_000


@contextmanager
def server(extra: list[str]) -> Iterator[tuple[int, int]]:
    with TemporaryDirectory(prefix="faktory-bench-") as tmp:
        port = free_port()
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*server_command(port, Path(tmp), []), *extra], stdout=out, stderr=out
            )
        try:
            wait_until_ready(port, process, log)
            yield port, process.pid
        finally:
            stop(process, 10.0)


def job(jid: str, custom: dict[str, str] | None = None) -> dict[str, object]:
    data: dict[str, object] = {"jid": jid, "jobtype": "Bench", "args": [1]}
    if custom:
        data["custom"] = custom
    return data


def measure(pid: int, action: Callable[[], None], count: int) -> tuple[float, float]:
    """(server CPU µs per item, wall µs per item)."""
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    action()
    return (cpu_seconds(pid) - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6


def drain(conn: Conn, count: int) -> None:
    for _ in range(count):
        reply = conn.call(encode_command("FETCH", "default"))
        if not isinstance(reply, Bulk) or reply.data is None:
            raise FwpError(f"FETCH answered {reply!r}")
        jid = json.loads(reply.data)["jid"]
        conn.expect_ok(b'ACK {"jid":"' + jid.encode() + b'"}\r\n')


def plain_round(extra: list[str], jobs: int) -> dict[str, tuple[float, float]]:
    with server(extra) as (port, pid):
        conn = Conn(port, wid="bench")
        lines = [
            b"PUSH " + json.dumps(job(f"plain-{i:08d}")).encode() + b"\r\n" for i in range(jobs)
        ]

        def push() -> None:
            for line in lines:
                conn.expect_ok(line)

        return {
            "push": measure(pid, push, jobs),
            "fetch+ack": measure(pid, lambda: drain(conn, jobs), jobs),
        }


def batch_round() -> dict[str, tuple[float, float]]:
    with server([]) as (port, pid):
        conn = Conn(port, wid="bench")
        reply = conn.call(b'BATCH NEW {"success":{"jobtype":"Done","queue":"done"}}\r\n')
        if not isinstance(reply, Bulk) or reply.data is None:
            raise FwpError(f"BATCH NEW answered {reply!r}")
        bid = reply.data.decode()
        members = [job(f"member-{i:08d}", {"bid": bid}) for i in range(BATCH_SIZE)]
        lines = [
            b"PUSHB " + json.dumps(members[i : i + CHUNK]).encode() + b"\r\n"
            for i in range(0, BATCH_SIZE, CHUNK)
        ]

        def pushb() -> None:
            for line in lines:
                if conn.call_json(line) != {}:
                    raise FwpError("PUSHB refused members")
            conn.expect_ok(f"BATCH COMMIT {bid}\r\n".encode())

        result = {"batch pushb": measure(pid, pushb, BATCH_SIZE)}
        result["batch fetch+ack"] = measure(pid, lambda: drain(conn, BATCH_SIZE), BATCH_SIZE)
        status = conn.call_json(f"BATCH STATUS {bid}\r\n".encode())
        if status["pending"] != 0 or status["success_st"] != "1":
            raise FwpError(f"the batch did not finish: {status}")
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {}
    for _ in range(options.rounds):
        for label, extra in (("plugin on", []), ("plugin off", ["--no-plugin", "batch"])):
            for step, value in plain_round(extra, options.jobs).items():
                runs.setdefault(f"{label}: {step}", []).append(value)
        for step, value in batch_round().items():
            runs.setdefault(step, []).append(value)
    print(f"{'what':<28} {'server CPU µs/job':>18} {'wall µs/job':>12}")
    for name, values in runs.items():
        cpu = statistics.median(v[0] for v in values)
        wall = statistics.median(v[1] for v in values)
        print(f"{name:<28} {cpu:>18.1f} {wall:>12.1f}")


if __name__ == "__main__":
    main()
