"""Alternating runs of ``split.py`` under two or more venvs (builds), summarised per mode.

    .venv/bin/python benchmarks/ab.py --side before=/tmp/before-venv/bin/python \\
        --side after=.venv/bin/python --rounds 3 --out /tmp/ab -- \\
        push fetch-ack -n 20000 -c 4 --plugin redis_store

Each round runs every side once, each on a fresh server; the order of the sides flips every
round, so a machine that gets busier or quieter is shared out. Per side and mode it prints the
server CPU per job of each round (total, and by process), then the median. The raw JSON lines
go to ``OUT/<side>.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", action="append", required=True, help="NAME=PYTHON")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("loadgen", nargs=argparse.REMAINDER, help="-- then loadgen.py's arguments")
    args = p.parse_args()
    sides = [tuple(side.split("=", 1)) for side in args.side]
    rest = args.loadgen[1:] if args.loadgen[:1] == ["--"] else args.loadgen
    args.out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in sides}
    for round_no in range(args.rounds):
        order = sides if round_no % 2 == 0 else sides[::-1]
        for name, python in order:
            out = args.out / f"{name}.jsonl"
            before = out.read_text().count("\n") if out.exists() else 0
            command = [python, str(HERE / "split.py"), *rest, "--json-out", str(out)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{name}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
                return 1
            lines = out.read_text().splitlines()[before:]
            runs[name].append(json.loads(lines[-1]))
            _show(round_no, name, runs[name][-1])
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
    return 0


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
