"""What the OS says about a server: CPU seconds and resident memory of a process tree (Linux).

The tree matters because a server may do its work in children: Faktory runs its Redis as a child
process, so its cost per job is the Go process plus Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields after ``comm`` (which may hold spaces); index 0 is field 3, ``state``."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None  # the process ended between listing and reading
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``, from one pass over /proc."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, plus cutime + cstime (children that
    already exited and were waited for)."""
    ticks = 0
    for member in (pid, *descendants(pid)):
        fields = _stat_fields(member)
        if fields is not None:
            # fields[11:15] are utime, stime, cutime, cstime (stat fields 14-17).
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / TICKS


def cpu_seconds_by_name(pid: int) -> dict[str, float]:
    """:func:`cpu_seconds` split by process name (``comm``): the server, its Redis child."""
    seconds: dict[str, float] = {}
    for member in (pid, *descendants(pid)):
        try:
            raw = (PROC / str(member) / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        ticks = sum(int(value) for value in fields[11:15])
        seconds[name] = seconds.get(name, 0.0) + ticks / TICKS
    return seconds


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` and its live descendants."""
    total = 0
    for member in (pid, *descendants(pid)):
        try:
            status = (PROC / str(member) / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total
