"""The memory store's journal: server CPU per job with the journal off, ``everysec`` and
``always``, in one session, the settings interleaved round by round (docs/performance.md).

    .venv/bin/python benchmarks/journal.py --rounds 3 push fetch-ack pushb

Each round runs ``loadgen.py MODES`` once per setting, each on a fresh server started with
``FAKTORY_MEMORY_JOURNAL`` / ``FAKTORY_MEMORY_FSYNC`` set; prints a table of medians (and
ranges) of server CPU µs per job and the change against the journal off, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = {
    "off": {"FAKTORY_MEMORY_JOURNAL": "off"},
    "everysec": {"FAKTORY_MEMORY_JOURNAL": "on", "FAKTORY_MEMORY_FSYNC": "everysec"},
    "always": {"FAKTORY_MEMORY_JOURNAL": "on", "FAKTORY_MEMORY_FSYNC": "always"},
}
JOBS = {"push": 20000, "fetch-ack": 20000, "pushb": 50000, "mixed": 20000}


def one_run(setting: str, mode: str, conns: int) -> float:
    env = {**os.environ, **SETTINGS[setting]}
    command = [sys.executable, str(HERE / "loadgen.py"), mode, "-n", str(JOBS[mode])]
    command += ["-c", str(conns)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    return float(doc["runs"][0]["server_cpu_us_per_job"])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="journal.py", description=__doc__.splitlines()[0])
    p.add_argument("modes", nargs="+", choices=list(JOBS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("-c", "--conns", type=int, default=4)
    p.add_argument("--settings", default="off,everysec,always")
    args = p.parse_args(argv)
    settings = args.settings.split(",")
    results: dict[str, dict[str, list[float]]] = {m: {s: [] for s in settings} for m in args.modes}
    for _ in range(args.rounds):
        for mode in args.modes:
            for setting in settings:
                results[mode][setting].append(one_run(setting, mode, args.conns))
    print("| mode | " + " | ".join(settings) + " |")
    print("|---|" + "---:|" * len(settings))
    for mode, by_setting in results.items():
        base = statistics.median(by_setting[settings[0]])
        cells = []
        for setting in settings:
            values = by_setting[setting]
            median = statistics.median(values)
            change = f", {100 * (median / base - 1):+.0f} %" if setting != settings[0] else ""
            cells.append(f"{median:g} ({min(values):g}-{max(values):g}{change})")
        print(f"| {mode} | " + " | ".join(cells) + " |")
    print(json.dumps({"conns": args.conns, "rounds": args.rounds, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
