"""``loadgen.py`` with the server's CPU split by process: the Python server and its Redis child.

    .venv/bin/python benchmarks/split.py push fetch-ack -n 20000 -c 4 --plugin redis_store

Same arguments and output as ``loadgen.py``; each run's JSON also holds
``cpu_us_per_job_by_process`` (process name from ``/proc/<pid>/stat`` → µs per job).
"""

from __future__ import annotations

import sys
from typing import Any

import loadgen
import modes
import proc

_seen: list[dict[str, float]] = []
_sample_of = modes.Sample.of
_measure = modes.measure


def _sample(cls: type[modes.Sample], pid: int) -> modes.Sample:
    _seen.append(proc.cpu_seconds_by_name(pid))
    return _sample_of(pid)


def _split_measure(
    tasks: list[Any], target: Any, settings: modes.Settings, mode: str
) -> modes.Measured:
    _seen.clear()
    measured = _measure(tasks, target, settings, mode)
    before, after = _seen[-2], _seen[-1]
    measured.extra["cpu_us_per_job_by_process"] = {
        name: round((after[name] - before.get(name, 0.0)) / settings.jobs * 1e6, 1)
        for name in after
    }
    print(f"  {mode} by process (us/job): {measured.extra['cpu_us_per_job_by_process']}")
    return measured


modes.Sample.of = classmethod(_sample)  # type: ignore[method-assign,assignment]
modes.measure = _split_measure

if __name__ == "__main__":
    sys.exit(loadgen.main())
