"""docs/performance.md's same-run comparison with Faktory says what its committed runs say."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "performance.md").read_text("utf-8")
RESULTS = ROOT / "benchmarks" / "results" / "2026-12-06-faktory"
TITLE = "## Same-run comparison with Faktory 1.10 (issue 20)"
#: The page's multiplication sign, en dash (of ranges) and greater-or-equal sign.
TIMES, DASH, AT_LEAST = "\u00d7", "\u2013", "\u2265"
#: The page rounds ratios to two decimals (0.875 -> 0.88): half a hundredth, and a hair for floats.
HUNDREDTH = 0.005 + 1e-9
SIDES = ("faktory", "memory", "redis")
#: The tables' row labels, by the mode of the runs behind them.
MODES = {
    "PUSH": "push",
    "FETCH + ACK": "fetch-ack",
    "PUSHB, batches of 100 (per job)": "pushb",
    "PUSHB (per job)": "pushb",
    "mixed (PUSH, FETCH and ACK per job)": "mixed",
    "mixed": "mixed",
    "Faktory's load test (per job)": "load-tool",
    "Faktory's load test": "load-tool",
}


def _section() -> str:
    start = DOC.index(TITLE)
    end = DOC.find("\n## ", start + len(TITLE))
    return DOC[start : None if end < 0 else end]


def _tables() -> list[list[list[str]]]:
    """Each table of the section: its body rows (header and rule left out), cells stripped."""
    tables: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*_section().splitlines(), ""]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            tables.append(rows[2:])
            rows = []
    return tables


def _runs(side: str, mode: str, folder: Path = RESULTS) -> list[dict[str, Any]]:
    name = f"{side}-load-tool.jsonl" if mode == "load-tool" else f"{side}.jsonl"
    docs = [json.loads(line) for line in (folder / name).read_text().splitlines()]
    assert all(doc["side"]["name"] == side for doc in docs)
    return [run for doc in docs for run in doc["runs"] if run["mode"] == mode]


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("*", "").replace(TIMES, ""))


def _cell(cell: str) -> tuple[float, float, float]:
    """``**18.5** (16.5 DASH 24.5)`` -> (18.5, 16.5, 24.5): a median and its range."""
    number = rf"[\d,.*{TIMES}]+"
    match = re.fullmatch(rf"({number})\s*\(({number}){DASH}({number})\)", cell)
    assert match, cell
    return _number(match[1]), _number(match[2]), _number(match[3])


def _summary(values: list[float]) -> tuple[float, float, float]:
    """Median, lowest, highest."""
    return statistics.median(values), min(values), max(values)


def test_the_runs_are_alternating_rounds_of_the_three_servers() -> None:
    for mode in ("push", "fetch-ack", "pushb", "mixed", "load-tool"):
        for side in SIDES:
            assert len(_runs(side, mode)) == 5, (side, mode)
            assert len(_runs(side, mode, RESULTS / "repeat")) == 3, (side, mode)
    faktory = json.loads((RESULTS / "faktory.jsonl").read_text().splitlines()[0])
    assert faktory["side"]["kind"] == "faktory"
    assert faktory["side"]["version"] == "1.10.0"
    assert faktory["server"] == "external"


def test_cpu_table_is_the_medians_and_ranges_of_the_runs() -> None:
    rows = _tables()[0]
    assert {MODES[row[0]] for row in rows} == {"push", "fetch-ack", "pushb", "mixed", "load-tool"}
    for label, *cells in rows:
        for side, cell in zip(SIDES, cells, strict=True):
            values = [run["server_cpu_us_per_job"] for run in _runs(side, MODES[label])]
            assert _cell(cell) == pytest.approx(_summary(values)), (label, side)


def test_by_process_table_is_the_medians_of_the_runs() -> None:
    columns = [
        ("faktory", "faktory"),
        ("faktory", "redis-server"),
        ("redis", "faktory-core"),
        ("redis", "valkey-server"),
    ]
    for label, *cells in _tables()[1]:
        for (side, process), cell in zip(columns, cells, strict=True):
            runs = _runs(side, MODES[label])
            median = statistics.median(run["cpu_us_per_job_by_process"][process] for run in runs)
            assert _number(cell) == pytest.approx(median), (label, side, process)


def test_throughput_table_is_the_medians_and_ranges_of_the_runs() -> None:
    for label, *cells in _tables()[2]:
        for side, cell in zip(SIDES, cells, strict=True):
            values = [run["jobs_per_s"] for run in _runs(side, MODES[label])]
            # The page rounds to whole jobs per second.
            assert _cell(cell) == pytest.approx(_summary(values), abs=0.5), (label, side)


def test_ratios_against_the_targets_follow_from_the_runs() -> None:
    wanted = {
        ("redis", "push", "server_cpu_us_per_job"),
        ("redis", "fetch-ack", "server_cpu_us_per_job"),
        ("redis", "load-tool", "jobs_per_s"),
        ("memory", "push", "server_cpu_us_per_job"),
        ("memory", "fetch-ack", "server_cpu_us_per_job"),
    }
    rows = _tables()[3]
    assert len(rows) == len(wanted)
    seen = set()
    for target, cell, verdict in rows:
        side = "redis" if target.startswith("Redis store") else "memory"
        key = "jobs_per_s" if "rate" in target else "server_cpu_us_per_job"
        mode = (
            "load-tool" if "load test" in target else "fetch-ack" if "FETCH" in target else "push"
        )
        seen.add((side, mode, key))
        ours, theirs = _runs(side, mode), _runs("faktory", mode)
        ratio = statistics.median(r[key] for r in ours) / statistics.median(r[key] for r in theirs)
        per_round = [a[key] / b[key] for a, b in zip(ours, theirs, strict=True)]
        assert _cell(cell) == pytest.approx(
            (ratio, min(per_round), max(per_round)), abs=HUNDREDTH
        ), target
        bound = _number(re.findall(rf"[\d.]+{TIMES}", target)[0])
        met = ratio >= bound if AT_LEAST in target else ratio <= bound
        assert verdict == ("met" if met else "not met"), target
    assert seen == wanted


def test_the_second_commands_table_is_its_medians_ranges_and_ratios() -> None:
    rows = _tables()[4]
    assert {MODES[row[0]] for row in rows} == {"push", "fetch-ack", "pushb", "mixed", "load-tool"}
    for label, *cells in rows:
        medians = {}
        for side, cell in zip(SIDES, cells[:3], strict=True):
            values = [
                r["server_cpu_us_per_job"] for r in _runs(side, MODES[label], RESULTS / "repeat")
            ]
            assert _cell(cell) == pytest.approx(_summary(values)), (label, side)
            medians[side] = statistics.median(values)
        for side, cell in zip(("memory", "redis"), cells[3:], strict=True):
            assert _number(cell) == pytest.approx(medians[side] / medians["faktory"], abs=HUNDREDTH)
