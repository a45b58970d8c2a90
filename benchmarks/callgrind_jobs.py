"""Server instructions per job under callgrind: a noise-free figure on a shared machine.

    .venv/bin/python benchmarks/callgrind_jobs.py -n 2000
    .venv/bin/python benchmarks/callgrind_jobs.py -n 2000 --python /tmp/before-venv/bin/python

Starts ``faktory-core`` (of ``--python``'s venv, default this one's) under ``valgrind
--tool=callgrind`` with the default plugins, then, over 4 connections (one thread each):

1. ``push``: N PUSHes of Faktory's load-test job;
2. ``pushb``: N jobs in PUSHBs of 100;
3. ``fetch-ack``: the N jobs of step 2, each FETCHed and ACKed.

Before each step the counters are zeroed (``callgrind_control -z``) and after it dumped
(``callgrind_control -d``), so each step's instructions are its own: start-up, the other steps
and the shutdown are not counted. Prints Ir (instructions executed) per job for each step.
Wall and CPU time under valgrind mean nothing; instruction counts are repeatable to about 1 %
between runs, whatever else the machine is doing. Needs valgrind (Debian's package) and Linux.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import proc
from fwp import Conn, FwpError
from server import free_port
from workers import job

from faktory_core.protocol import encode_command, encode_json_command

CONNS = 4
START_TIMEOUT = 300.0


def start(
    python: str, port: int, tmp: Path, plugins: list[str], extra: list[str] | None = None
) -> subprocess.Popen[bytes]:
    exe = Path(python).with_name("faktory-core")
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={tmp}/callgrind.out.%p",
        str(exe),
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        ":0",
        "-d",
        str(tmp),
        *(f"--plugin={name}" for name in plugins),
        *(extra or []),
    ]
    log = (tmp / "server.log").open("wb")
    env = {**os.environ, "HOME": str(tmp)}
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            Conn(port, timeout=5).close()
            return
        except (OSError, FwpError):
            time.sleep(0.5)
    raise RuntimeError("the server did not start")


def control(*args: str, pid: int) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def in_threads(conns: list[Conn], work: list[list[bytes]], expect: str) -> None:
    errors: list[str] = []

    def run(conn: Conn, commands: list[bytes]) -> None:
        try:
            for command in commands:
                if expect == "ok":
                    conn.expect_ok(command)
                elif expect == "pushb":
                    if conn.call_json(command) != {}:
                        errors.append(f"PUSHB refused jobs: {command[:60]!r}")
                else:  # fetch then ack
                    reply = conn.call(command)
                    data = getattr(reply, "data", None)
                    if not data:
                        errors.append(f"FETCH answered {reply!r}")
                        return
                    jid = json.loads(data)["jid"]
                    conn.expect_ok(encode_json_command("ACK", {"jid": jid}))
        except Exception as exc:  # reported below: the run is invalid
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=pair) for pair in zip(conns, work, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"run invalid: {errors[:3]}")


def split(items: list[bytes]) -> list[list[bytes]]:
    return [items[i::CONNS] for i in range(CONNS)]


def total_ir(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def measure(
    python: str, jobs: int, plugins: list[str], extra: list[str] | None = None
) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="faktory-callgrind-"))
    port = free_port()
    process = start(python, port, tmp, plugins, extra)
    try:
        wait_ready(port, process)
        conns = [Conn(port, timeout=600) for _ in range(CONNS)]
        pushes = [
            encode_json_command("PUSH", job(f"push-{i:012d}", "bench-push", {}))
            for i in range(jobs)
        ]
        batches = [
            encode_json_command(
                "PUSHB", [job(f"fa-{i:012d}", "bench-fa", {}) for i in range(s, s + 100)]
            )
            for s in range(0, jobs, 100)
        ]
        fetches = [encode_command("FETCH", "bench-fa")] * jobs
        steps = [("push", pushes, "ok"), ("pushb", batches, "pushb"), ("fetch-ack", fetches, "fa")]
        result: dict[str, float] = {}
        for index, (name, commands, expect) in enumerate(steps, start=1):
            control("-z", pid=process.pid)
            in_threads(conns, split(commands), expect)
            control("-d", pid=process.pid)
            dumps = sorted(tmp.glob(f"callgrind.out.{process.pid}.*"), key=_dump_number)
            result[name] = total_ir(dumps[index - 1]) / jobs
        for conn in conns:
            conn.close()
        return result
    finally:
        # Its Redis child (--plugin redis_store) goes too: killed with the server it would be
        # left running, and its storage is removed below, so it could not save and stop.
        children = proc.descendants(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


def _dump_number(path: Path) -> int:
    match = re.search(r"\.(\d+)$", path.name)
    return int(match.group(1)) if match else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--jobs", type=int, default=2000, help="jobs per step (2000)")
    p.add_argument("--python", default=sys.executable, help="the venv's python whose server")
    p.add_argument("-r", "--rounds", type=int, default=1)
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        help="a plugin to add (repeatable), e.g. redis_store: its own Redis child runs natively,"
        " only the server's instructions are counted",
    )
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="passed on to faktory-core (repeatable): --server-arg=--no-plugin=metrics",
    )
    args = p.parse_args()
    for _ in range(args.rounds):
        result = measure(args.python, args.jobs, args.plugin, args.server_arg)
        line = "  ".join(f"{name} {ir:,.0f} Ir/job" for name, ir in result.items())
        print(f"{args.python}: {line}", flush=True)


if __name__ == "__main__":
    main()
