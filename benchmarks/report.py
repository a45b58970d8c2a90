"""Numbers out: a summary per run as a dict (for the JSON line) and as a human-readable block."""

from __future__ import annotations

import datetime
import os
import platform
from array import array
from importlib import metadata
from pathlib import Path
from typing import Any

from modes import Measured

import faktory_core

#: Issue 4's targets, server CPU per job with the memory store and 4 connections. Mixed is the
#: sum of the two (each job there is pushed, fetched and acked); PUSHB jobs are pushed jobs.
TARGET_US = {"push": 70.0, "pushb": 70.0, "fetch-ack": 150.0, "mixed": 220.0}
MIB = 1024 * 1024


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if "model name" in ln), "?"
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / MIB, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvloop": _version("uvloop"),
        "faktory_core": _version("faktory-core"),
        # Which copy of the code the harness (and a server it starts) ran: a venv's, a checkout's.
        "faktory_core_at": str(Path(faktory_core.__file__).parent),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _stats(samples: list[array[int]]) -> dict[str, float]:
    """Nearest-rank percentiles in microseconds over every worker's samples."""
    values = sorted(v for part in samples for v in part)
    n = len(values)

    def rank(q: float) -> float:
        return round(values[min(n - 1, int(q * n))] / 1000, 1)

    return {
        "count": n,
        "p50_us": rank(0.50),
        "p99_us": rank(0.99),
        "mean_us": round(sum(values) / n / 1000, 1),
    }


def summary(mode: str, jobs: int, conns: int, batch: int, m: Measured) -> dict[str, Any]:
    rss = {
        "rss_before_mib": round(m.before.rss / MIB, 1),
        "rss_after_mib": round(m.after.rss / MIB, 1),
    }
    if mode == "memory":
        per_job = (m.after.rss - m.before.rss) / jobs
        return {"mode": mode, "jobs": jobs, **rss, "bytes_per_job": round(per_job), **m.extra}
    wall = max(r.end for r in m.results) - min(r.start for r in m.results)
    cpu = m.after.cpu - m.before.cpu
    commands: dict[str, list[array[int]]] = {}
    for result in m.results:
        for verb, lat in result.latencies.items():
            commands.setdefault(verb, []).append(lat)
    return {
        "mode": mode,
        "jobs": jobs,
        "connections": conns,
        **({"batch": batch} if mode == "pushb" else {}),
        "wall_s": round(wall, 3),
        "jobs_per_s": round(jobs / wall),
        "server_cpu_s": round(cpu, 2),
        "server_cpu_us_per_job": round(cpu / jobs * 1e6, 1),
        "target_us_per_job": TARGET_US.get(mode),
        "client_cpu_us_per_job": round(sum(r.cpu for r in m.results) / jobs * 1e6, 1),
        **rss,
        "empty_fetches": sum(r.empty_fetches for r in m.results),
        "latency": {verb: _stats(parts) for verb, parts in commands.items()},
        **m.extra,
    }


def text(run: dict[str, Any]) -> str:
    rss = f"server RSS {run['rss_before_mib']} MiB -> {run['rss_after_mib']} MiB"
    if run["mode"] == "memory":
        return (
            f"memory - {run['jobs']} jobs queued (PUSHB, {run['push_s']} s): {rss}, "
            f"{run['bytes_per_job']} bytes per queued job"
        )
    target = run["target_us_per_job"]
    verdict = ""
    if target is not None:
        met = "met" if run["server_cpu_us_per_job"] <= target else "NOT met"
        verdict = f" (target <= {target:g}: {met})"
    lines = [
        f"{run['mode']} - {run['jobs']} jobs over {run['connections']} connections"
        + (f", batches of {run['batch']}" if "batch" in run else "")
        + f": {run['wall_s']} s, {run['jobs_per_s']} jobs/s",
        f"  server CPU {run['server_cpu_s']} s = {run['server_cpu_us_per_job']} us/job{verdict};"
        f" client CPU {run['client_cpu_us_per_job']} us/job",
        f"  {rss}" + (f"; {run['empty_fetches']} empty FETCHes" if run["empty_fetches"] else ""),
        f"  {'command':<8}{'count':>9}{'p50 us':>10}{'p99 us':>10}{'mean us':>10}",
    ]
    for verb, st in run["latency"].items():
        lines.append(
            f"  {verb:<8}{st['count']:>9}{st['p50_us']:>10}{st['p99_us']:>10}{st['mean_us']:>10}"
        )
    return "\n".join(lines)
