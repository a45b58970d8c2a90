"""Load generator for faktory-core (or any FWP server): see docs/performance.md.

    .venv/bin/python benchmarks/loadgen.py push -n 20000 -c 4
    .venv/bin/python benchmarks/loadgen.py push fetch-ack --prefill 1000000 --sets 100000
    .venv/bin/python benchmarks/loadgen.py mixed --port 7419 --server-pid 1234

Prints a block per run and, last, one JSON line with every number. Exits 1 if a run is invalid
(a wrong reply, a job lost or delivered twice, the timeout).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import profilers
from fill import fill, info, sizes
from fwp import FwpError
from idle import idle_connections
from modes import MODES, RUNNERS, Settings
from report import machine, summary, text
from server import Target, started_server
from workers import BenchError


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="loadgen.py", description=__doc__.splitlines()[0])
    p.add_argument("modes", nargs="+", choices=MODES, metavar="MODE", help=" | ".join(MODES))
    p.add_argument("-n", "--jobs", type=int, default=20000, help="jobs per run (default 20000)")
    p.add_argument("-c", "--conns", type=int, default=4, help="connections = processes (4)")
    p.add_argument("--batch", type=int, default=100, help="jobs per PUSHB in pushb (100)")
    p.add_argument("--prefill", type=int, default=0, help="jobs queued in 'backlog' first")
    p.add_argument("--sets", type=int, default=0, help="jobs put in scheduled, retries, dead")
    p.add_argument("--idle", type=int, default=0, help="idle worker connections held open")
    p.add_argument("--timeout", type=float, default=300.0, help="abort after this many seconds")
    p.add_argument("--port", type=int, help="use the server already on 127.0.0.1:PORT")
    p.add_argument("--server-pid", type=int, help="its pid, for CPU and RSS (with --port)")
    p.add_argument("--password", default=os.environ.get("FAKTORY_PASSWORD"))
    p.add_argument("--plugin", action="append", default=[], help="passed to faktory-core")
    p.add_argument("--stop-grace", type=float, default=60.0, help="SIGTERM to SIGKILL (s)")
    p.add_argument("--profile", type=Path, help="profile each run's server into this folder")
    p.add_argument("--profiler", choices=profilers.KINDS, default="py-spy", help="(py-spy)")
    p.add_argument("--json-out", type=Path, help="also append the JSON line to this file")
    args = p.parse_args(argv)
    if (args.port is None) != (args.server_pid is None):
        p.error("--port and --server-pid go together")
    if args.jobs < 1 or args.conns < 1 or args.batch < 1:
        p.error("--jobs, --conns and --batch must be positive")
    return args


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[Target]:
    if args.port is not None:
        yield Target(args.port, args.server_pid, args.password)
        return
    with started_server(args.plugin, args.stop_grace) as target:
        yield Target(target.port, target.pid, args.password)


def _shown(path: str) -> str:
    """``path`` relative to the working directory when it is below it (as it was typed)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def run(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.timeout
    run_id = secrets.token_hex(3)
    doc: dict[str, Any] = {
        "command": shlex.join([_shown(sys.executable), *sys.argv]),
        "machine": machine(),
        "server": "external" if args.port else "started",
        "setup": {"prefill": args.prefill, "sets": args.sets, "idle": args.idle},
        "runs": [],
    }
    with server(args) as target:
        held = _set_up(target, args, deadline, run_id, doc["setup"])
        settings = Settings(
            args.jobs,
            args.conns,
            args.batch,
            run_id,
            deadline,
            profilers.around(args.profiler, args.profile, target.pid),
        )
        with idle_connections(args.idle, target, deadline):
            for mode in args.modes:
                measured = RUNNERS[mode](target, settings, mode)
                result = summary(mode, args.jobs, args.conns, args.batch, measured)
                doc["runs"].append(result)
                print(text(result), flush=True)
        if held and sizes(info(target)) != held:
            # e.g. retries coming due: the runs were not made against the backlog claimed
            raise BenchError(
                f"backlog and sets changed during the runs: {held} -> {sizes(info(target))}"
            )
    return doc


def _set_up(
    target: Target, args: argparse.Namespace, deadline: float, run_id: str, setup: dict[str, Any]
) -> dict[str, int] | None:
    """Fill the backlog and sets; returns their sizes, which must hold until the end."""
    if not (args.prefill or args.sets):
        return None
    seconds = fill(
        target, deadline, backlog=args.prefill, sets=args.sets, procs=args.conns, run_id=run_id
    )
    setup["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    print(f"set-up: {setup}", flush=True)
    held = sizes(info(target))
    setup["sizes"] = held
    return held


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        doc = run(args)
    except (BenchError, FwpError) as exc:
        print(f"loadgen: RUN INVALID: {exc}", file=sys.stderr)
        return 1
    line = json.dumps(doc, separators=(",", ":"))
    print(line)
    if args.json_out:
        with args.json_out.open("a") as out:
            out.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
