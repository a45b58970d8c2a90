"""What the unique and expiring plugins cost: the same jobs pushed to a server with the plugins
on and to one with ``--no-plugin unique --no-plugin expiring``, alternately, in one run.

Server CPU per job (utime + stime of its process tree, from /proc) for:

- ``push``: PUSH of plain jobs (no option): must cost the same on and off;
- ``pushb``: PUSHB of plain jobs in batches of 100 (the bulk path must survive);
- ``fetch-ack``: FETCH + ACK of plain jobs (the fetch step runs for every job when on);
- ``unique``: PUSH of jobs with ``unique_for`` (distinct args: every push takes a lock);
- ``expiring``: PUSH of jobs with ``expires_in``.

    .venv/bin/python benchmarks/options.py -n 20000 --rounds 3 [--plugin redis_store]

Prints one line per round and variant, then the medians, and a JSON line at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fwp import Conn
from proc import cpu_seconds
from server import free_port, server_command, stop, wait_until_ready

from faktory_core.protocol import encode_command, encode_json_command

OFF = ["--no-plugin", "unique", "--no-plugin", "expiring"]
BATCH = 100
STOP_GRACE = 30.0


@contextlib.contextmanager
def started(flags: list[str], plugins: list[str]) -> Iterator[tuple[int, int]]:
    tmp = Path(tempfile.mkdtemp(prefix="faktory-options-"))
    port = free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*server_command(port, tmp, plugins), *flags],
            env={"HOME": str(tmp), "PATH": "/usr/bin:/bin"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(port, process, log)
        yield port, process.pid
    finally:
        stop(process, STOP_GRACE)
        shutil.rmtree(tmp, ignore_errors=True)


def job(n: int, queue: str, custom: dict[str, Any] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"jid": uuid.uuid4().hex, "jobtype": "Bench", "args": [n]}
    item["queue"] = queue
    if custom:
        item["custom"] = custom
    return item


def push_each(conn: Conn, n: int, queue: str, custom: dict[str, Any] | None) -> None:
    for i in range(n):
        conn.expect_ok(encode_json_command("PUSH", job(i, queue, custom)))


def push_bulk(conn: Conn, n: int, queue: str) -> None:
    for start in range(0, n, BATCH):
        jobs = [job(i, queue) for i in range(start, min(start + BATCH, n))]
        assert conn.call_json(encode_json_command("PUSHB", jobs)) == {}


def fetch_ack(conn: Conn, n: int, queue: str) -> None:
    for _ in range(n):
        got = conn.call_json(encode_command("FETCH", queue))
        conn.expect_ok(encode_json_command("ACK", {"jid": got["jid"]}))


def measure(pid: int, action: Callable[[], None], n: int) -> float:
    before = cpu_seconds(pid)
    action()
    return (cpu_seconds(pid) - before) / n * 1e6


def one_server(flags: list[str], plugins: list[str], n: int) -> dict[str, float]:
    with started(flags, plugins) as (port, pid):
        conn = Conn(port, wid=uuid.uuid4().hex[:8])
        try:
            result = {
                "push": measure(pid, lambda: push_each(conn, n, "push", None), n),
                "pushb": measure(pid, lambda: push_bulk(conn, n, "pushb"), n),
                "fetch-ack": measure(pid, lambda: fetch_ack(conn, n, "push"), n),
                "unique": measure(
                    pid, lambda: push_each(conn, n, "unique", {"unique_for": 3600}), n
                ),
                "expiring": measure(
                    pid, lambda: push_each(conn, n, "expiring", {"expires_in": 3600}), n
                ),
            }
        finally:
            conn.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--jobs", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--plugin", action="append", default=[], help="passed to faktory-core")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for round_ in range(args.rounds):
        for variant, flags in (("on", []), ("off", OFF)):
            got = one_server(flags, args.plugin, args.jobs)
            runs[variant].append(got)
            shown = "  ".join(f"{mode} {value:6.1f}" for mode, value in got.items())
            print(f"round {round_ + 1} plugins {variant:3}  µs/job  {shown}", flush=True)
    medians = {
        variant: {mode: statistics.median(r[mode] for r in rs) for mode in rs[0]}
        for variant, rs in runs.items()
    }
    for variant, values in medians.items():
        shown = "  ".join(f"{mode} {value:6.1f}" for mode, value in values.items())
        print(f"median  plugins {variant:3}  µs/job  {shown}")
    print(json.dumps({"jobs": args.jobs, "plugins": args.plugin, "runs": runs, "medians": medians}))


if __name__ == "__main__":
    main()
