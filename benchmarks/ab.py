"""Alternating runs of ``split.py`` against two or more servers (sides), summarised per mode.

    .venv/bin/python benchmarks/ab.py --side before=/tmp/before-venv/bin/python \\
        --side after=.venv/bin/python --rounds 3 --out /tmp/ab -- \\
        push fetch-ack -n 20000 -c 4 --plugin redis_store

    .venv/bin/python benchmarks/ab.py --faktory-side faktory=/path/to/faktory \\
        --side memory=.venv/bin/python --side redis=.venv/bin/python \\
        --side-plugin redis=redis_store --redis-server /path/to/valkey-server \\
        --rounds 3 --out /tmp/ab -- push fetch-ack pushb mixed -n 20000 -c 4

A side is faktory-core from a venv (``--side NAME=PYTHON``: split.py runs under that python
and starts the server; ``--side-plugin NAME=PLUGIN`` loads a plugin on that side only), or
Faktory itself (``--faktory-side NAME=BINARY``: a binary built elsewhere, which this script
starts fresh for each run on free loopback ports with its own storage, and split.py measures
with ``--port``/``--server-pid``: the Go process and its Redis child). ``--redis-server`` is
the one Redis binary for every side: ``FAKTORY_REDIS_SERVER`` for faktory-core, and
``redis-server`` on PATH for Faktory (a link in the run's directory).

With ``--load-tool BINARY``, each run is Faktory's own load test (``test/load`` in Faktory's
repository, built elsewhere: ``BINARY JOBS THREADS``, server from ``FAKTORY_URL``) against the
side's fresh server instead of split.py: the jobs/s it prints, and the server's CPU over the
run (by process) per job pushed.

Each round runs every side once, each on a fresh server; the order of the sides flips every
round, so a machine that gets busier or quieter is shared out. Per side and mode it prints the
server CPU per job of each round (total, and by process), then the median. The raw JSON lines
go to ``OUT/<side>.jsonl`` (``OUT/<side>-load-tool.jsonl`` with ``--load-tool``), each with a
``side`` entry saying what the side was.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import proc
from fwp import HOST, Conn
from report import machine
from server import Target, started_faktory, started_server

HERE = Path(__file__).parent
CORE = "faktory-core"
FAKTORY = "faktory"
LOAD_TOOL_MODE = "load-tool"
#: The load test's last line (test/load/main.go).
LOAD_TOOL_LINE = re.compile(
    r"Processed (\d+) pushes and (\d+) pops in ([\d.]+) seconds, rate: ([\d.]+) jobs/s"
)


@dataclass(frozen=True)
class Side:
    name: str
    kind: str  # CORE | FAKTORY
    path: str  # the venv's python, or Faktory's binary
    plugins: tuple[str, ...] = field(default=())


class AbError(Exception):
    """A run failed or was invalid: the comparison stops."""


def _named(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def _core_side(text: str) -> Side:
    name, python = _named(text)
    return Side(name, CORE, python)


def _faktory_side(text: str) -> Side:
    name, binary = _named(text)
    return Side(name, FAKTORY, binary)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ab.py", description=__doc__.splitlines()[0])
    p.add_argument(
        "--side", action="append", dest="sides", default=[], type=_core_side,
        metavar="NAME=PYTHON", help="faktory-core under this venv's python",
    )  # fmt: skip
    p.add_argument(
        "--faktory-side", action="append", dest="sides", type=_faktory_side,
        metavar="NAME=BINARY", help="Faktory (Go): this binary, started fresh per run",
    )  # fmt: skip
    p.add_argument(
        "--side-plugin", action="append", default=[], type=_named, metavar="NAME=PLUGIN",
        help="--plugin PLUGIN for the faktory-core side NAME only",
    )  # fmt: skip
    p.add_argument(
        "--redis-server", type=Path, default=os.environ.get("FAKTORY_REDIS_SERVER") or None,
        help="the Redis (or Valkey) binary of every side (default: $FAKTORY_REDIS_SERVER)",
    )  # fmt: skip
    p.add_argument("--load-tool", type=Path, help="run Faktory's load test instead of split.py")
    p.add_argument("--load-jobs", type=int, default=30000, help="its JOBS (30000)")
    p.add_argument("--load-threads", type=int, default=10, help="its THREADS (10)")
    p.add_argument("--timeout", type=float, default=600.0, help="per load-tool run (s)")
    p.add_argument("--stop-grace", type=float, default=60.0, help="SIGTERM to SIGKILL (s)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("loadgen", nargs=argparse.REMAINDER, help="-- then loadgen.py's arguments")
    args = p.parse_args(argv)
    args.loadgen = args.loadgen[1:] if args.loadgen[:1] == ["--"] else args.loadgen
    if not args.sides:
        p.error("give at least one --side or --faktory-side")
    names = [side.name for side in args.sides]
    if len(set(names)) != len(names):
        p.error(f"side names must differ: {names}")
    kinds = {side.name: side.kind for side in args.sides}
    plugins: dict[str, list[str]] = {}
    for name, plugin in args.side_plugin:
        if kinds.get(name) != CORE:
            p.error(f"--side-plugin {name}={plugin}: no faktory-core side is called {name!r}")
        plugins.setdefault(name, []).append(plugin)
    args.sides = [Side(s.name, s.kind, s.path, tuple(plugins.get(s.name, ()))) for s in args.sides]
    if FAKTORY in kinds.values() and args.redis_server is None:
        p.error("a --faktory-side needs --redis-server (or $FAKTORY_REDIS_SERVER)")
    if args.load_tool is not None and args.loadgen:
        p.error("--load-tool runs take no loadgen arguments")
    if args.load_tool is None and not args.loadgen:
        p.error("give loadgen.py's arguments after --")
    if args.rounds < 1 or args.load_jobs < 1 or args.load_threads < 1:
        p.error("--rounds, --load-jobs and --load-threads must be positive")
    return args


def missing_programs(args: argparse.Namespace) -> list[str]:
    """The programs named on the command line that are not executable files here."""
    programs = [Path(side.path) for side in args.sides]
    programs += [path for path in (args.redis_server, args.load_tool) if path is not None]
    return [str(path) for path in programs if not (path.is_file() and os.access(path, os.X_OK))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if missing := missing_programs(args):
        print(f"ab: not an executable file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.redis_server is not None:
        # Inherited by split.py and the faktory-core servers it (or this script) starts.
        os.environ["FAKTORY_REDIS_SERVER"] = str(args.redis_server.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {side.name: [] for side in args.sides}
    try:
        for round_no in range(args.rounds):
            order = args.sides if round_no % 2 == 0 else args.sides[::-1]
            for side in order:
                doc = load_tool_run(side, args) if args.load_tool else split_run(side, args)
                runs[side.name].append(doc)
                _show(round_no, side.name, doc)
    except (AbError, RuntimeError) as exc:  # RuntimeError: a server did not start
        print(f"ab: {exc}", file=sys.stderr)
        return 1
    _medians(runs)
    return 0


def describe_side(side: Side, args: argparse.Namespace, target: Target | None) -> dict[str, Any]:
    """What the side was, for its JSON lines."""
    about: dict[str, Any] = {"name": side.name, "kind": side.kind, "path": side.path}
    if side.kind == CORE:
        about["plugins"] = list(side.plugins)
    elif target is not None:
        conn = Conn(target.port, timeout=10.0)
        try:
            about["version"] = conn.info()["server"]["faktory_version"]
        finally:
            conn.close()
    if args.redis_server is not None:
        about["redis_server"] = str(args.redis_server.resolve())
    return about


@contextlib.contextmanager
def fresh_server(side: Side, args: argparse.Namespace) -> Iterator[Target]:
    if side.kind == FAKTORY:
        with started_faktory(Path(side.path), args.redis_server, args.stop_grace) as target:
            yield target
    else:
        with started_server(side.plugins, args.stop_grace, python=side.path) as target:
            yield target


def split_run(side: Side, args: argparse.Namespace) -> dict[str, Any]:
    """One run of split.py for ``side``; its JSON line, with ``side`` added."""
    out = args.out / f"{side.name}.jsonl"
    before = out.read_text().count("\n") if out.exists() else 0
    tail = ["--json-out", str(out)]
    if side.kind == CORE:
        plugins = [arg for plugin in side.plugins for arg in ("--plugin", plugin)]
        _split(side, [side.path, str(HERE / "split.py"), *args.loadgen, *plugins, *tail])
        about = describe_side(side, args, None)
    else:
        with fresh_server(side, args) as target:
            about = describe_side(side, args, target)
            where = ["--port", str(target.port), "--server-pid", str(target.pid)]
            _split(side, [sys.executable, str(HERE / "split.py"), *args.loadgen, *where, *tail])
    lines = out.read_text().splitlines()
    if len(lines) != before + 1:
        raise AbError(f"{side.name}: split.py wrote {len(lines) - before} lines, not 1")
    doc: dict[str, Any] = json.loads(lines[-1])
    doc["side"] = about
    lines[-1] = json.dumps(doc, separators=(",", ":"))
    out.write_text("\n".join(lines) + "\n")
    return doc


def _split(side: Side, command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AbError(f"{side.name}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")


def parse_load_tool(output: str) -> tuple[dict[str, float], list[str]]:
    """The load test's counts and rate, and every line that is neither its first nor its
    last (the errors it printed and carried on after)."""
    lines = [line for line in output.splitlines() if line.strip()]
    match = LOAD_TOOL_LINE.fullmatch(lines[-1].strip()) if lines else None
    if match is None:
        raise AbError(f"the load tool's output has no result line:\n{output[-2000:]}")
    pushes, pops, seconds, rate = match.groups()
    errors = [line for line in lines[:-1] if not line.startswith("Running loadtest")]
    numbers = {
        "pushes": int(pushes),
        "pops": int(pops),
        "seconds": float(seconds),
        "jobs_per_s": float(rate),
    }
    return numbers, errors


def load_tool_run(side: Side, args: argparse.Namespace) -> dict[str, Any]:
    """Faktory's load test against a fresh server of ``side``; appended to its JSON lines."""
    command = [str(args.load_tool), str(args.load_jobs), str(args.load_threads)]
    with fresh_server(side, args) as target:
        about = describe_side(side, args, target)
        env = {**os.environ, "FAKTORY_URL": f"tcp://{HOST}:{target.port}"}
        env.pop("FAKTORY_PROVIDER", None)
        before = proc.cpu_seconds_by_name(target.pid)
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=args.timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise AbError(f"{side.name}: the load tool ran past {args.timeout} s") from exc
        after = proc.cpu_seconds_by_name(target.pid)
    if done.returncode != 0:
        raise AbError(f"{side.name}: load tool exit {done.returncode}\n{done.stdout}{done.stderr}")
    numbers, errors = parse_load_tool(done.stdout)
    if errors:
        raise AbError(f"{side.name}: the load tool reported errors:\n" + "\n".join(errors[:20]))
    jobs = int(numbers["pushes"])
    by_process = {
        name: round((after[name] - before.get(name, 0.0)) / jobs * 1e6, 1) for name in after
    }
    run = {
        "mode": LOAD_TOOL_MODE,
        "jobs": args.load_jobs,
        "threads": args.load_threads,
        **numbers,
        "server_cpu_us_per_job": round(sum(by_process.values()), 1),
        "cpu_us_per_job_by_process": by_process,
        "output": done.stdout.strip().splitlines()[-1],
    }
    doc = {
        "command": shlex.join(command),
        "machine": machine(),
        "side": about,
        "runs": [run],
    }
    with (args.out / f"{side.name}-{LOAD_TOOL_MODE}.jsonl").open("a") as out:
        out.write(json.dumps(doc, separators=(",", ":")) + "\n")
    return doc


def _medians(runs: dict[str, list[dict[str, Any]]]) -> None:
    print("\nmedians (server CPU us/job: total, by process; jobs/s)")
    for name, docs in runs.items():
        for mode in [run["mode"] for run in docs[0]["runs"]]:
            mine = [run for doc in docs for run in doc["runs"] if run["mode"] == mode]
            total = statistics.median(run["server_cpu_us_per_job"] for run in mine)
            names = {key for run in mine for key in run.get("cpu_us_per_job_by_process", {})}
            split = {
                key: statistics.median(
                    run.get("cpu_us_per_job_by_process", {}).get(key, 0.0) for run in mine
                )
                for key in sorted(names)
            }
            rate = statistics.median(run["jobs_per_s"] for run in mine)
            every = ", ".join(f"{run['server_cpu_us_per_job']:g}" for run in mine)
            print(f"{name:>10} {mode:<10} {total:7.1f} ({every})  {split}  {rate:.0f}/s")


def _show(round_no: int, name: str, doc: dict[str, Any]) -> None:
    for run in doc["runs"]:
        split = run.get("cpu_us_per_job_by_process", {})
        print(
            f"round {round_no + 1} {name:>10} {run['mode']:<10} "
            f"{run['server_cpu_us_per_job']:7.1f} us/job {split} {run['jobs_per_s']}/s",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
