"""Worker benchmark: no-op jobs at concurrency 20, our worker next to pyfaktory's (issue 8).

    .venv/bin/python benchmarks/worker_noop.py                       # all three kinds, 3 rounds
    .venv/bin/python benchmarks/worker_noop.py ours-async -n 20000 -r 5
    .venv/bin/python benchmarks/worker_noop.py ours-sync --profile /tmp/worker-profile
    .venv/bin/python benchmarks/worker_noop.py ours-sync --worker-python /tmp/old-venv/bin/python

Kinds: ``ours-async`` (faktory_core.worker.Worker, an ``async def`` no-op), ``ours-sync`` (the
same with a plain ``def`` no-op, run in a thread) and ``pyfaktory`` (its Consumer, which runs
each job in a child process of a pebble ProcessPool).

Each run: a fresh server (memory store), N jobs queued with PUSHB, then the worker started as a
subprocess of this script. The worker imports and registers everything, says ``ready`` and waits
for a line on stdin, so its start-up is not measured. Then the harness reads the worker's CPU
(utime + stime of the process and every descendant, from /proc), lets it go, polls INFO until
every job is acknowledged and the queue is empty, and reads the CPU again. jobs/s is N over that
time; CPU per job is the CPU difference over N. The server's CPU over the same span is shown for
context, and so is the CPU every other process on the machine used meanwhile (/proc/stat less
the worker, the server and this script): on a shared machine, runs where that is not near 0 are
skewed. A job lost, failed or run twice makes the run invalid (exit 1).

Prints a block per run, a side-by-side table of medians, and one JSON line with every number.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import proc
import profilers
from fwp import Conn
from report import machine
from server import Target, started_server
from workers import BenchError, Task, prepare_pushb

KINDS = ("ours-async", "ours-sync", "pyfaktory")
QUEUE = "bench-worker"
JOBTYPE = "BenchJob"  # what workers.job() makes
BATCH = 1000
#: Seconds between INFO polls while the worker drains the queue: half the time the rest should
#: take at the rate so far, within these bounds.
POLL_MIN, POLL_MAX = 0.01, 0.5
TARGET_US = 150.0  # issue 8: worker CPU per no-op job
READY_TIMEOUT = 60.0
STOP_GRACE = 10.0


# -- the worker side (this script run with --child) -------------------------------------------


def _ready_then_wait() -> None:
    """Set-up is done: tell the harness, then block until it says go."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()


def child_ours(kind: str, url: str, concurrency: int) -> None:
    # Imported here, before "ready", so the run measures jobs, not imports.
    import anyio._backends._asyncio  # noqa: F401
    import uvloop  # noqa: F401

    from faktory_core.worker import Worker

    worker = Worker(url, concurrency=concurrency, queues=[QUEUE])
    if kind == "ours-async":

        async def noop(*args: Any) -> None:
            return None

        worker.register(JOBTYPE, noop)
    else:

        def noop_sync(*args: Any) -> None:
            return None

        worker.register(JOBTYPE, noop_sync)
    _ready_then_wait()
    worker.run()  # until SIGTERM


def noop(*args: Any) -> None:
    """pyfaktory's job: module level, so its process pool can pickle it."""
    return None


def child_pyfaktory(url: str, concurrency: int) -> None:
    import pyfaktory  # installs a SIGTERM handler that raises KeyboardInterrupt

    client = pyfaktory.Client(faktory_url=url, role="consumer", worker_id=f"pyf-{os.getpid()}")
    client.connect()
    consumer = pyfaktory.Consumer(
        client=client, queues=[QUEUE], concurrency=concurrency, grace_period=5
    )
    consumer.register(JOBTYPE, noop)
    _ready_then_wait()
    try:
        consumer.run()  # until SIGTERM; exits with sys.exit(1)
    finally:
        client.disconnect()


def child_main(kind: str, url: str, concurrency: int) -> None:
    if kind == "pyfaktory":
        child_pyfaktory(url, concurrency)
    else:
        child_ours(kind, url, concurrency)


# -- the harness side -------------------------------------------------------------------------


def info(target: Target) -> dict[str, Any]:
    conn = Conn(target.port, timeout=30.0)
    try:
        return conn.info()
    finally:
        conn.close()


def prefill(target: Target, jobs: int, tag: str) -> None:
    conn = Conn(target.port, timeout=60.0)
    try:
        prepare_pushb(conn, Task("pushb", QUEUE, tag, 0, jobs, BATCH))()
    finally:
        conn.close()
    queued = info(target)["faktory"]["queues"].get(QUEUE, 0)
    if queued != jobs:
        raise BenchError(f"prefill: {queued} jobs queued, expected {jobs}")


def start_worker(
    kind: str, target: Target, concurrency: int, python: str, log: IO[bytes]
) -> subprocess.Popen[str]:
    url = f"tcp://127.0.0.1:{target.port}"
    command = [python, __file__, "--child", kind, url, str(concurrency)]
    worker = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
    )
    assert worker.stdout is not None
    line = worker.stdout.readline()  # blocks until ready (or EOF if it died)
    if line.strip() != "ready":
        worker.wait(READY_TIMEOUT)
        raise BenchError(f"{kind} worker exited before it was ready ({worker.returncode})")
    return worker


def wait_drained(target: Target, jobs: int, processed0: int, failed0: int, deadline: float) -> None:
    """Until every job is acknowledged and the queue and the working set are empty."""
    started = time.monotonic()
    while True:
        doc = info(target)["faktory"]
        done = doc["total_processed"] - processed0
        failed = doc["total_failures"] - failed0
        if failed:
            raise BenchError(f"{failed} job(s) failed")
        if done >= jobs and not doc["queues"].get(QUEUE, 0) and not doc["sets"]["working"]:
            if done != jobs:
                raise BenchError(f"{done} jobs acknowledged, expected {jobs}")
            return
        now = time.monotonic()
        if now > deadline:
            raise BenchError(f"timed out with {done} of {jobs} jobs acknowledged")
        # INFO costs the server CPU too: poll often only when the end is near.
        left = (jobs - done) * (now - started) / done if done > 0 else POLL_MAX
        time.sleep(min(max(left / 2, POLL_MIN), POLL_MAX))


def stop_worker(worker: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL for it and whatever it left behind (the run is over by then)."""
    if worker.poll() is not None:
        return
    family = proc.descendants(worker.pid)
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    for pid in family:  # processes the worker started (pyfaktory's pool), by pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run_once(kind: str, args: argparse.Namespace, name: str) -> dict[str, Any]:
    jobs, concurrency = args.jobs, args.concurrency
    with started_server((), STOP_GRACE) as target, tempfile.TemporaryFile() as log:
        prefill(target, jobs, f"{kind}-{os.getpid()}-{time.monotonic_ns()}")
        worker = start_worker(kind, target, concurrency, args.worker_python, log)
        try:
            # py-spy (when asked) attaches to the ready worker before it is let go.
            stop_profile = profilers.around("py-spy", args.profile, worker.pid)(name)
            try:
                run = measure(worker, target, jobs, args.timeout)
            finally:
                stop_profile()
        except BenchError as exc:
            log.seek(0)
            raise BenchError(
                f"{kind}: {exc}\n{log.read()[-3000:].decode(errors='replace')}"
            ) from None
        finally:
            stop_worker(worker)
    return {"kind": kind, "jobs": jobs, "concurrency": concurrency, **run}


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat's first line)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / proc.TICKS


def own_seconds() -> float:
    times = os.times()
    return times.user + times.system


def measure(
    worker: subprocess.Popen[str], target: Target, jobs: int, timeout: float
) -> dict[str, Any]:
    """Let the ready worker go and sample both processes around the drain."""
    doc = info(target)["faktory"]
    processed0, failed0 = doc["total_processed"], doc["total_failures"]
    worker_cpu0, server_cpu0 = proc.cpu_seconds(worker.pid), proc.cpu_seconds(target.pid)
    busy0, own0 = busy_seconds(), own_seconds()
    started = time.monotonic()
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    wait_drained(target, jobs, processed0, failed0, started + timeout)
    elapsed = time.monotonic() - started
    worker_cpu = proc.cpu_seconds(worker.pid) - worker_cpu0
    server_cpu = proc.cpu_seconds(target.pid) - server_cpu0
    # Whatever else ran meanwhile (other processes on a shared machine) skews the figures.
    others = busy_seconds() - busy0 - worker_cpu - server_cpu - (own_seconds() - own0)
    return {
        "seconds": round(elapsed, 3),
        "jobs_per_s": round(jobs / elapsed),
        "worker_cpu_us_per_job": round(worker_cpu / jobs * 1e6, 1),
        "server_cpu_us_per_job": round(server_cpu / jobs * 1e6, 1),
        "worker_processes": 1 + len(proc.descendants(worker.pid)),
        "worker_cpu_share": round(worker_cpu / elapsed, 2),
        "others_cpu_share": round(max(others, 0.0) / elapsed, 2),
    }


def text(run: dict[str, Any]) -> str:
    return (
        f"{run['kind']:<10} {run['jobs']} jobs in {run['seconds']:.2f} s: "
        f"{run['jobs_per_s']} jobs/s, worker CPU {run['worker_cpu_us_per_job']} µs/job "
        f"({run['worker_processes']} process(es), {run['worker_cpu_share']:.0%} of a core), "
        f"server CPU {run['server_cpu_us_per_job']} µs/job, "
        f"other processes {run['others_cpu_share']:.0%} of a core"
    )


def table(runs: list[dict[str, Any]]) -> str:
    rows = [
        "| worker | jobs/s | worker CPU µs/job | server CPU µs/job | others (cores) | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for kind in dict.fromkeys(run["kind"] for run in runs):
        mine = [run for run in runs if run["kind"] == kind]

        def cell(key: str, mine: list[dict[str, Any]] = mine) -> str:
            values = [run[key] for run in mine]
            median = statistics.median(values)
            return (
                f"{median:g} ({min(values):g}-{max(values):g})"
                if len(values) > 1
                else f"{median:g}"
            )

        cpu = statistics.median(run["worker_cpu_us_per_job"] for run in mine)
        verdict = "met" if cpu <= TARGET_US else "not met"
        if kind == "pyfaktory":
            verdict = "(for comparison)"
        rows.append(
            f"| {kind} | {cell('jobs_per_s')} | **{cell('worker_cpu_us_per_job')}** "
            f"| {cell('server_cpu_us_per_job')} | {cell('others_cpu_share')} "
            f"| ≤ {TARGET_US:g}: {verdict} |"
        )
    return "\n".join(rows)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="worker_noop.py", description=__doc__.splitlines()[0])
    p.add_argument("kinds", nargs="*", metavar="KIND", help=f"{' | '.join(KINDS)} (all)")
    p.add_argument("-n", "--jobs", type=int, default=10000, help="jobs per run (10000)")
    p.add_argument("-c", "--concurrency", type=int, default=20, help="worker concurrency (20)")
    p.add_argument("-r", "--rounds", type=int, default=3, help="runs of each kind (3)")
    p.add_argument("--timeout", type=float, default=600.0, help="per run, seconds (600)")
    p.add_argument("--profile", type=Path, help="py-spy the worker of each run into this folder")
    p.add_argument("--json-out", type=Path, help="also append the JSON line to this file")
    p.add_argument(
        "--worker-python",
        default=sys.executable,
        help="run the worker with this interpreter, e.g. a venv with another faktory-core "
        "(the server stays the one next to this script's interpreter)",
    )
    args = p.parse_args(argv)
    args.kinds = args.kinds or list(KINDS)
    if unknown := sorted(set(args.kinds) - set(KINDS)):
        p.error(f"unknown kind(s) {', '.join(unknown)}: choose from {', '.join(KINDS)}")
    if args.jobs < 1 or args.concurrency < 1 or args.rounds < 1:
        p.error("--jobs, --concurrency and --rounds must be positive")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        child_main(argv[1], argv[2], int(argv[3]))
        return 0
    args = parse_args(argv)
    doc: dict[str, Any] = {
        "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": machine(),
        "worker_python": args.worker_python,
        "runs": [],
    }
    try:
        # Rounds outside kinds, so a drift of the machine over time hits every kind alike.
        for round_no in range(args.rounds):
            for kind in args.kinds:
                name = f"{kind}-{round_no + 1}"
                run = run_once(kind, args, name)
                doc["runs"].append(run)
                print(text(run), flush=True)
    except BenchError as exc:
        print(f"worker_noop: RUN INVALID: {exc}", file=sys.stderr)
        return 1
    print()
    print(table(doc["runs"]))
    line = json.dumps(doc)
    print(line)
    if args.json_out:
        with args.json_out.open("a") as out:
            out.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
