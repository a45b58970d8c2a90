"""The metrics plugin's cost: server CPU per job with it off, on, and on with statsd sending to
an agent that is not there, in one session, the settings interleaved round by round
(docs/performance.md).

    .venv/bin/python benchmarks/metrics.py --rounds 5 push fetch-ack pushb

Each round runs ``loadgen.py MODE --port --server-pid`` once per setting, each against a fresh
memory-store server (``--no-plugin metrics`` for "off", ``DD_DOGSTATSD_URL`` pointing at a
closed UDP port for "statsd"); prints a table of medians (and ranges) of server CPU µs per job
and the change against "off", then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from server import free_port, server_command, stop, wait_until_ready

HERE = Path(__file__).resolve().parent
SETTINGS: dict[str, tuple[list[str], dict[str, str]]] = {
    "off": (["--no-plugin", "metrics"], {}),
    "on": ([], {}),
    "statsd": ([], {"DD_DOGSTATSD_URL": "udp://127.0.0.1:9"}),  # discard port: nobody listens
}
JOBS = {"push": 20000, "fetch-ack": 20000, "pushb": 50000, "mixed": 20000}


def one_run(setting: str, mode: str, conns: int) -> float:
    flags, extra_env = SETTINGS[setting]
    tmp = Path(tempfile.mkdtemp(prefix="faktory-bench-metrics-"))
    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "HOME": str(tmp), **extra_env}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*server_command(port, tmp, []), *flags], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_ready(port, process, log)
        command = [sys.executable, str(HERE / "loadgen.py"), mode, "-n", str(JOBS[mode])]
        command += ["-c", str(conns), "--port", str(port), "--server-pid", str(process.pid)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    finally:
        stop(process, 30.0)
        shutil.rmtree(tmp, ignore_errors=True)
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    return float(doc["runs"][0]["server_cpu_us_per_job"])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="metrics.py", description=__doc__.splitlines()[0])
    p.add_argument("modes", nargs="+", choices=list(JOBS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("-c", "--conns", type=int, default=4)
    p.add_argument("--settings", default="off,on,statsd")
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
            change = f", {100 * (median / base - 1):+.1f} %" if setting != settings[0] else ""
            cells.append(f"{median:g} ({min(values):g}-{max(values):g}{change})")
        print(f"| {mode} | " + " | ".join(cells) + " |")
    print(json.dumps({"conns": args.conns, "rounds": args.rounds, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
