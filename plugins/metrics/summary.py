"""The Metrics page's numbers: per job type over the last hour (8 h, 24 h), from minute buckets.

Plain functions over a :class:`~.recorder.Recorder`; the page and its JSON endpoint share them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from faktory_core.plugins.metrics.recorder import (
    BUCKETS,
    FAILED,
    FIRST_BUCKET,
    PROCESSED,
    SECONDS,
    Minute,
)

__all__ = ["PERIODS", "SORTS", "histogram", "series", "summary"]

#: The page's periods: query value → minutes.
PERIODS = {"1h": 60, "8h": 480, "24h": 1440}
SORTS = ("jobtype", "processed", "failed", "seconds", "mean")
_LABELS = [*(f"≤ {bound:g} s" for bound in BUCKETS), f"> {BUCKETS[-1]:g} s"]


class Windowed(Protocol):
    """Minute buckets by minute: a :class:`~.recorder.Recorder`, or every server's
    (:class:`~.shared.Minutes`)."""

    def window(self, minutes: int) -> Iterator[tuple[int, dict[str, Minute]]]: ...


def _add(total: Minute, row: Minute) -> None:
    for index, value in enumerate(row):
        total[index] += value


def summary(recorder: Windowed, minutes: int, sort: str = "seconds") -> list[dict[str, Any]]:
    """One row per job type seen in the window: processed, failed, seconds, mean."""
    totals: dict[str, Minute] = {}
    for _minute, rows in recorder.window(minutes):
        for jobtype, row in rows.items():
            _add(totals.setdefault(jobtype, [0.0] * len(row)), row)
    found = [
        {
            "jobtype": jobtype,
            "processed": int(row[PROCESSED]),
            "failed": int(row[FAILED]),
            "seconds": round(row[SECONDS], 6),
            "mean": round(row[SECONDS] / timed, 6) if (timed := sum(row[FIRST_BUCKET:])) else 0.0,
        }
        for jobtype, row in totals.items()
    ]
    key = sort if sort in SORTS else "seconds"
    found.sort(key=lambda item: (item[key], item["jobtype"]), reverse=key != "jobtype")
    return found


def series(recorder: Windowed, minutes: int, jobtype: str = "") -> list[dict[str, Any]]:
    """Per minute (Unix seconds of its start): executions, failures and execution seconds, of
    one job type or of all."""
    points = []
    for minute, rows in recorder.window(minutes):
        picked = [rows[jobtype]] if jobtype in rows else [] if jobtype else list(rows.values())
        points.append(
            {
                "at": minute * 60,
                "processed": int(sum(row[PROCESSED] for row in picked)),
                "failed": int(sum(row[FAILED] for row in picked)),
                "seconds": round(sum(row[SECONDS] for row in picked), 6),
            }
        )
    return points


def histogram(recorder: Windowed, minutes: int, jobtype: str) -> list[dict[str, Any]]:
    """How many of ``jobtype``'s timed executions fell in each bucket during the window."""
    counts = [0.0] * (len(BUCKETS) + 1)
    for _minute, rows in recorder.window(minutes):
        row = rows.get(jobtype)
        if row is not None:
            for index, value in enumerate(row[FIRST_BUCKET:]):
                counts[index] += value
    return [{"bucket": label, "count": int(n)} for label, n in zip(_LABELS, counts, strict=True)]
